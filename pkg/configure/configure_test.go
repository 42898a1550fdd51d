package configure

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

type streams struct{ in, out, errOut bytes.Buffer }

func (s *streams) io() genericiooptions.IOStreams {
	return genericiooptions.IOStreams{In: &s.in, Out: &s.out, ErrOut: &s.errOut}
}

func installMesh(t *testing.T) string {
	t.Helper()
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, "mesh", ns)
	return ns
}

func live(t *testing.T, ns string) *meshconfig.MeshConfig {
	t.Helper()
	mc, err := meshconfig.Get(testenv.Context(t), env.Clients.Dynamic, ns)
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

func permissive(s *streams, ns string, action PermissiveAction) *PermissiveOptions {
	return &PermissiveOptions{IOStreams: s.io(), Clients: kube.Static(env.Clients),
		Mesh: "mesh", MeshNamespace: ns, Action: action, Output: cli.FormatTable}
}

func assertContains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s %q does not contain %q", what, got, w)
		}
	}
}

func TestPermissiveToggle(t *testing.T) {
	ctx := testenv.Context(t)
	ns := installMesh(t)

	var s streams
	if err := permissive(&s, ns, PermissiveStatus).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if s.out.String() != "enabled\n" || s.errOut.Len() != 0 {
		t.Errorf("status: stdout %q, stderr %q", s.out.String(), s.errOut.String())
	}

	s = streams{}
	o := permissive(&s, ns, PermissiveDisable)
	o.Yes = true
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if s.out.String() != "meshconfig/mesh-config patched\n" {
		t.Errorf("disable stdout %q", s.out.String())
	}
	assertContains(t, "disable stderr", s.errOut.String(), `mode of mesh "mesh" is enabled.`, "enabled -> disabled")
	if live(t, ns).Spec.Traffic.EnablePermissiveTrafficPolicyMode {
		t.Error("still permissive after disable")
	}

	s = streams{}
	o = permissive(&s, ns, PermissiveStatus)
	o.Output = cli.FormatJSON
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var st PermissiveState
	if err := json.Unmarshal(s.out.Bytes(), &st); err != nil || st != (PermissiveState{Mesh: "mesh", Namespace: ns, Permissive: false}) {
		t.Errorf("status -o json = %s (%v)", s.out.String(), err)
	}

	// Disabling again asks nothing and changes nothing.
	s = streams{}
	if err := permissive(&s, ns, PermissiveDisable).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if s.out.String() != "meshconfig/mesh-config unchanged\n" {
		t.Errorf("second disable stdout %q", s.out.String())
	}

	s = streams{}
	if err := permissive(&s, ns, PermissiveEnable).Run(ctx); err != nil {
		t.Fatal(err)
	}
	assertContains(t, "enable stderr", s.errOut.String(), "disabled -> enabled")
	if !live(t, ns).Spec.Traffic.EnablePermissiveTrafficPolicyMode {
		t.Error("not permissive after enable")
	}

	// A dry run validates and stores nothing.
	s = streams{}
	o = permissive(&s, ns, PermissiveDisable)
	o.DryRun = true
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if s.out.String() != "meshconfig/mesh-config patched (server dry run)\n" || !live(t, ns).Spec.Traffic.EnablePermissiveTrafficPolicyMode {
		t.Errorf("dry run: stdout %q, or it changed the object", s.out.String())
	}
}

// TestPermissiveKeepsConcurrentEdit edits another field after the command
// has read the MeshConfig and before it patches: the edit must survive.
func TestPermissiveKeepsConcurrentEdit(t *testing.T) {
	ctx := testenv.Context(t)
	ns := installMesh(t)
	var s streams
	o := permissive(&s, ns, PermissiveDisable)
	o.Yes = true
	o.afterRead = func() {
		patch := []byte(`{"spec":{"sidecar":{"logLevel":"debug"},"traffic":{"outboundPortExclusionList":[25]}}}`)
		if _, err := env.Clients.Dynamic.Resource(meshconfig.GroupVersionResource).Namespace(ns).
			Patch(ctx, meshconfig.ObjectName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	got := live(t, ns).Spec
	if got.Traffic.EnablePermissiveTrafficPolicyMode || got.Sidecar.LogLevel != "debug" || len(got.Traffic.OutboundPortExclusionList) != 1 {
		t.Errorf("after a toggle racing an edit: %+v; want permissive off and the edit kept", got)
	}
}

func TestPermissiveDisableNeedsConfirmation(t *testing.T) {
	ctx := testenv.Context(t)
	ns := installMesh(t)
	var s streams
	err := permissive(&s, ns, PermissiveDisable).Run(ctx)
	var usage *cli.UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "pass --yes") {
		t.Errorf("error %v, want a usage error that says pass --yes", err)
	}
	if s.out.Len() != 0 || !live(t, ns).Spec.Traffic.EnablePermissiveTrafficPolicyMode {
		t.Errorf("stdout %q, or the mode changed without confirmation", s.out.String())
	}
}

func TestPermissiveNotInstalled(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	err := permissive(&streams{}, ns, PermissiveStatus).Run(testenv.Context(t))
	if err == nil || err.Error() != `no mesh "mesh" installed in namespace "`+ns+`": run meshctl install` {
		t.Errorf("error %v", err)
	}
}

func TestConfigGetGolden(t *testing.T) {
	ctx := testenv.Context(t)
	ns := installMesh(t)
	for _, tt := range []struct {
		name, field string
		format      cli.Format
	}{
		{"all.table", "", cli.FormatTable},
		{"all.yaml", "", cli.FormatYAML},
		{"permissive.table", "traffic.enablePermissiveTrafficPolicyMode", cli.FormatTable},
		{"tracing.json", "observability.tracing", cli.FormatJSON},
		{"tracing.table", "observability.tracing", cli.FormatTable},
		{"unset.table", "sidecar.image", cli.FormatTable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s streams
			o := &GetOptions{IOStreams: s.io(), Clients: kube.Static(env.Clients), Mesh: "mesh", MeshNamespace: ns, Field: tt.field, Output: tt.format}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := o.Run(ctx); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, "testdata/get."+tt.name+".golden", s.out.Bytes())
		})
	}
	err := (&GetOptions{Field: "traffic.permissive"}).Validate()
	var usage *cli.UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "traffic.enablePermissiveTrafficPolicyMode") {
		t.Errorf("unknown field: %v, want a usage error listing the valid fields", err)
	}
}

func set(t *testing.T, ns string, dryRun bool, args ...string) (*streams, error) {
	t.Helper()
	var s streams
	o := &SetOptions{IOStreams: s.io(), Clients: kube.Static(env.Clients), Mesh: "mesh", MeshNamespace: ns, Assignments: args, DryRun: dryRun}
	if err := o.Validate(); err != nil {
		return &s, err
	}
	return &s, o.Run(testenv.Context(t))
}

func TestConfigSet(t *testing.T) {
	ns := installMesh(t)
	s, err := set(t, ns, false, "sidecar.logLevel=debug", "traffic.outboundPortExclusionList=25,587", "sidecar.resources.limits.memory=256Mi")
	if err != nil {
		t.Fatal(err)
	}
	if s.out.String() != "meshconfig/mesh-config patched\n" {
		t.Errorf("stdout %q", s.out.String())
	}
	assertContains(t, "stderr", s.errOut.String(), "sidecar.logLevel: info -> debug", `traffic.outboundPortExclusionList: "" -> 25,587`, `sidecar.resources.limits.memory: "" -> 256Mi`)
	got := live(t, ns).Spec
	if got.Sidecar.LogLevel != "debug" || len(got.Traffic.OutboundPortExclusionList) != 2 || got.Sidecar.Resources.Limits.Memory().String() != "256Mi" {
		t.Errorf("after set: %+v", got)
	}
	// Untouched fields keep their values.
	if !got.Traffic.EnablePermissiveTrafficPolicyMode || !got.Observability.Metrics.Enable {
		t.Errorf("set changed other fields: %+v", got)
	}

	// null returns a field to its default.
	if _, err := set(t, ns, false, "sidecar.logLevel=null"); err != nil {
		t.Fatal(err)
	}
	if l := live(t, ns).Spec.Sidecar.LogLevel; l != string(wire.DefaultLogLevel) {
		t.Errorf("logLevel after null = %q, want the default", l)
	}

	// Setting the same value again reports unchanged.
	s, err = set(t, ns, false, "sidecar.resources.limits.memory=256Mi")
	if err != nil || s.out.String() != "meshconfig/mesh-config unchanged\n" {
		t.Errorf("same value again: %q, %v", s.out.String(), err)
	}
}

// TestConfigSetRejected checks that the API server's schema refuses bad
// values with the field named, that nothing of a refused set is stored, and
// that a dry run validates the same way.
func TestConfigSetRejected(t *testing.T) {
	ns := installMesh(t)
	before := live(t, ns)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"sidecar.logLevel=loud"}, []string{"spec.sidecar.logLevel", "Unsupported value", `"loud"`}},
		{[]string{"traffic.enableEgress=maybe"}, []string{"spec.traffic.enableEgress", "boolean"}},
		{[]string{"traffic.inboundPortExclusionList=80,99999"}, []string{"spec.traffic.inboundPortExclusionList[1]"}},
		{[]string{"traffic.outboundIPRangeExclusionList=10.0.0.0/33"}, []string{"spec.traffic.outboundIPRangeExclusionList[0]", "CIDR"}},
		{[]string{"observability.tracing.enable=true"}, []string{"spec.observability.tracing", "address is required"}},
		{[]string{`observability.tracing={"enable":false,"adress":"x"}`}, []string{"unknown field", "spec.observability.tracing.adress"}},
		// A valid change beside an invalid one is not stored either.
		{[]string{"traffic.enableEgress=false", "observability.tracing.port=0"}, []string{"spec.observability.tracing.port"}},
	} {
		for _, dry := range []bool{false, true} {
			s, err := set(t, ns, dry, tt.args...)
			if err == nil {
				t.Errorf("set %v (dry run %v): accepted", tt.args, dry)
				continue
			}
			assertContains(t, "error", err.Error(), tt.want...)
			if s.out.Len() != 0 {
				t.Errorf("set %v: stdout %q on failure", tt.args, s.out.String())
			}
		}
	}
	after := live(t, ns)
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("a refused set changed the object: %+v", after.Spec)
	}

	// A valid dry run stores nothing.
	s, err := set(t, ns, true, "sidecar.logLevel=warn")
	if err != nil || s.out.String() != "meshconfig/mesh-config patched (server dry run)\n" {
		t.Errorf("dry run: %q, %v", s.out.String(), err)
	}
	if live(t, ns).Spec.Sidecar.LogLevel != string(wire.DefaultLogLevel) {
		t.Error("dry run stored the change")
	}

	// Unknown fields and malformed arguments fail before any request.
	_, err = set(t, ns, false, "traffic.egress=true", "nonsense")
	var usage *cli.UsageError
	if !errors.As(err, &usage) {
		t.Fatalf("error %v, want a usage error", err)
	}
	assertContains(t, "error", err.Error(), `unknown field "traffic.egress"`, "valid fields are", "traffic.enableEgress", `"nonsense" is not FIELD=VALUE`)
}

func TestConfigSetForbidden(t *testing.T) {
	ns := installMesh(t)
	cfg, _ := env.User(t, rbacv1.PolicyRule{APIGroups: []string{meshconfig.GroupName}, Resources: []string{meshconfig.Resource}, Verbs: []string{"get"}})
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var s streams
	o := &SetOptions{IOStreams: s.io(), Clients: kube.Static(&kube.Clients{Dynamic: dc}), Mesh: "mesh", MeshNamespace: ns, Assignments: []string{"sidecar.logLevel=debug"}}
	err = o.Run(testenv.Context(t))
	var fe *kube.ForbiddenError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v, want a ForbiddenError", err)
	}
	assertContains(t, "error", err.Error(), "setting sidecar.logLevel", "you may not patch meshconfigs.config.meshctl.io in namespace \""+ns+"\"")
}

// TestPermissiveDisablePrompt answers the question on a (pretend) terminal.
func TestPermissiveDisablePrompt(t *testing.T) {
	ctx := testenv.Context(t)
	ns := installMesh(t)
	terminal := func(any) bool { return true }

	for _, answer := range []string{"n\n", "\n", "nope\n", ""} {
		var s streams
		s.in.WriteString(answer)
		o := permissive(&s, ns, PermissiveDisable)
		o.isTerminal = terminal
		err := o.Run(ctx)
		var silent *cli.SilentError
		if answer == "" {
			if err == nil || errors.As(err, &silent) {
				t.Errorf("answer %q (end of input): error %v, want a reported error", answer, err)
			}
		} else if !errors.As(err, &silent) {
			t.Errorf("answer %q: error %v, want an already-reported abort", answer, err)
		}
		assertContains(t, "stderr", s.errOut.String(), `Disable permissive traffic policy mode of mesh "mesh"? [y/N] `)
		if s.out.Len() != 0 || !live(t, ns).Spec.Traffic.EnablePermissiveTrafficPolicyMode {
			t.Fatalf("answer %q changed the mode (stdout %q)", answer, s.out.String())
		}
	}

	var s streams
	s.in.WriteString("yes\n")
	o := permissive(&s, ns, PermissiveDisable)
	o.isTerminal = terminal
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if live(t, ns).Spec.Traffic.EnablePermissiveTrafficPolicyMode {
		t.Error("answer yes did not disable")
	}
}

// TestPermissiveLimitedUser may read and patch the MeshConfig and nothing
// else: the report of unreachable services becomes a warning, and the switch
// still happens. A user who may only read it gets the permission named.
func TestPermissiveLimitedUser(t *testing.T) {
	ctx := testenv.Context(t)
	ns := installMesh(t)
	mcRule := func(verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{meshconfig.GroupName}, Resources: []string{meshconfig.Resource}, Verbs: verbs}
	}

	cfg, _ := env.User(t, mcRule("get"))
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var s streams
	o := permissive(&s, ns, PermissiveDisable)
	o.Clients, o.Yes = kube.Static(&kube.Clients{Kube: kc, Dynamic: dc}), true
	err = o.Run(ctx)
	if err == nil {
		t.Fatal("a user who may not patch disabled permissive mode")
	}
	assertContains(t, "error", err.Error(), `you may not patch meshconfigs.config.meshctl.io in namespace "`+ns+`"`)
	assertContains(t, "stderr", s.errOut.String(), "Warning: cannot tell what would stop working", "you may not list traffictargets")

	cfg, _ = env.User(t, mcRule("get", "patch"))
	if dc, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	o.Clients = kube.Static(&kube.Clients{Kube: kc, Dynamic: dc})
	s = streams{}
	o.IOStreams = s.io()
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if live(t, ns).Spec.Traffic.EnablePermissiveTrafficPolicyMode {
		t.Error("still permissive")
	}
}
