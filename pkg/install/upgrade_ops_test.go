package install

import (
	"bytes"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

func TestRefuseDowngrade(t *testing.T) {
	rel := func(v string) *release.Release {
		return &release.Release{Name: "mesh", Chart: &chart.Chart{Metadata: &chart.Metadata{Version: v}}}
	}
	cases := []struct {
		installed, next string
		force, refused  bool
	}{
		{"0.2.0", "0.3.0", false, false},
		{"0.3.0", "0.3.0", false, false},
		{"0.3.0", "0.2.9", false, true},
		{"0.3.0", "0.2.9", true, false},
		{"1.0.0", "1.0.0-rc.1", false, true},
		{"0.1.0-dev", "0.1.0", false, false},
		{"not-semver", "0.1.0", false, false},
	}
	for _, tc := range cases {
		err := refuseDowngrade(rel(tc.installed), tc.next, tc.force)
		if (err != nil) != tc.refused {
			t.Errorf("installed %s, next %s, force %v: err = %v, want refused=%v", tc.installed, tc.next, tc.force, err, tc.refused)
		}
		if err != nil && (!strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "runs chart "+tc.installed)) {
			t.Errorf("refusal %q does not name the installed chart and --force", err)
		}
	}
}

// TestUpgradeRefusesADowngrade installs a mesh from a newer chart than
// this meshctl's: upgrade refuses, --force goes on.
func TestUpgradeRefusesADowngrade(t *testing.T) {
	ns := env.Namespace(t, nil)
	newer := newTestDeps(t, testenv.UniqueName("mesh"), ns)
	newer.Chart.Metadata.Version = "99.0.0"
	if _, err := newer.Install(testenv.Context(t), installOptions()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uninstallQuietly(t, newer) })
	ctx := testenv.Context(t)
	up := &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Timeout: testTimeout, Atomic: true}}
	d := newTestDeps(t, newer.MeshName, ns)
	if _, err := d.Upgrade(ctx, up); err == nil || !strings.Contains(err.Error(), "runs chart 99.0.0, newer than this meshctl's") {
		t.Fatalf("downgrade: err = %v", err)
	}
	if rel, _ := d.Helm.Releases.Last(d.MeshName); rel.Version != 1 {
		t.Errorf("the refused downgrade wrote revision %d", rel.Version)
	}
	up.DryRun = DryRunClient
	if _, err := d.Upgrade(ctx, up); err == nil {
		t.Error("a dry run of a downgrade is not refused")
	}
	up.DryRun, up.Force = DryRunNone, true
	if res, err := d.Upgrade(ctx, up); err != nil || res.Revision != 2 {
		t.Errorf("--force: %v, %+v", err, res)
	}
}

// TestRollback: rollback restores the previous revision's values (the
// MeshConfig with them) as a new revision; a revision that is not kept is
// refused with the ones that are.
func TestRollback(t *testing.T) {
	d, _ := installMesh(t, "meshConfig.sidecar.logLevel=debug")
	ctx := testenv.Context(t)
	up := &UpgradeOptions{ReleaseOptions: ReleaseOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Values: ValueOptions{Values: []string{"meshConfig.sidecar.logLevel=error"}}, Timeout: testTimeout, Atomic: true}}
	if _, err := newTestDeps(t, d.MeshName, d.Namespace).Upgrade(ctx, up); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(getMeshConfig(t, d).Object, "spec", "sidecar", "logLevel"); got != "error" {
		t.Fatalf("after upgrade, logLevel = %q", got)
	}
	o := &RollbackOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Timeout: testTimeout}
	res, err := newTestDeps(t, d.MeshName, d.Namespace).Rollback(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 3 {
		t.Errorf("revision = %d, want 3", res.Revision)
	}
	if last := res.Changes[len(res.Changes)-1]; last.Kind != "release" || !strings.HasPrefix(last.Verb, "rolled back to revision 1 (chart ") {
		t.Errorf("last change %+v", last)
	}
	if got, _, _ := unstructured.NestedString(getMeshConfig(t, d).Object, "spec", "sidecar", "logLevel"); got != "debug" {
		t.Errorf("after rollback, logLevel = %q, want revision 1's debug", got)
	}
	o.Revision = 7
	if _, err := newTestDeps(t, d.MeshName, d.Namespace).Rollback(ctx, o); err == nil || !strings.Contains(err.Error(), "has no revision 7 to roll back to: it keeps revisions 1 to 3") {
		t.Errorf("rollback to 7: %v", err)
	}
	o.Revision = 3
	if _, err := newTestDeps(t, d.MeshName, d.Namespace).Rollback(ctx, o); err == nil || !strings.Contains(err.Error(), "is the current revision") {
		t.Errorf("rollback to the current revision: %v", err)
	}
	other := newTestDeps(t, testenv.UniqueName("mesh"), env.Namespace(t, nil))
	if _, err := other.Rollback(ctx, &RollbackOptions{Timeout: testTimeout}); err == nil || !strings.Contains(err.Error(), "is not installed") {
		t.Errorf("rollback of no mesh: %v", err)
	}
}

// TestProxiesReport: after a release change the workloads of enrolled
// namespaces whose proxies run another image than the MeshConfig's are
// listed, with what to run.
func TestProxiesReport(t *testing.T) {
	d, _ := installMesh(t)
	ctx := testenv.Context(t)
	patch := []byte(`{"spec":{"sidecar":{"image":"registry.example/mesh-proxy:v2"}}}`)
	if _, err := env.Clients.Dynamic.Resource(meshConfigResource()).Namespace(d.Namespace).Patch(ctx, meshconfig.ObjectName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// Enrolled once its pods exist: the mesh's webhook does not run here.
	app := env.Namespace(t, nil)
	for name, image := range map[string]string{"old": proxyconfig.DefaultImage(), "current": "registry.example/mesh-proxy:v2"} {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				Containers:     []corev1.Container{{Name: "app", Image: "app:1"}},
				InitContainers: []corev1.Container{{Name: proxyconfig.ProxyContainerName, Image: image, RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}},
			},
		}
		if _, err := env.Clients.Kube.CoreV1().Pods(app).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	enrol := []byte(`{"metadata":{"labels":{"` + meshconfig.LabelMonitoredBy + `":"` + d.MeshName + `"}}}`)
	if _, err := env.Clients.Kube.CoreV1().Namespaces().Patch(ctx, app, types.MergePatchType, enrol, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	s, err := d.proxies(ctx, ProxyOptions{}, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Workloads) != 1 || s.Workloads[0].Workload != "pod/old" || s.Workloads[0].Result != "outdated" {
		t.Errorf("summary %+v", s.Workloads)
	}
	for _, want := range []string{"1 workload(s) run an older proxy than registry.example/mesh-proxy:v2", app, "pod/old", "meshctl upgrade --restart-proxies --mesh-name " + d.MeshName} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, errOut.String())
		}
	}
}

func TestRegistryValue(t *testing.T) {
	user, _, err := mergeValues(valueLayers{flags: ValueOptions{Values: []string{"imageRegistry=from-set.example"}, Registry: "registry.example.com:5000/team"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user[RegistryValue] != "registry.example.com:5000/team" {
		t.Errorf("imageRegistry = %v", user[RegistryValue])
	}
	for reg, ok := range map[string]bool{
		"registry.example.com/team": true, "localhost:5000": true, "127.0.0.1:5000/x/y": true, "docker.io/team": true,
		"https://registry.example.com": false, "team": false, "registry.example.com/team:v1": false, "Registry.Example/UPPER": false, "": true,
	} {
		if err := validateRegistry(reg); (err == nil) != ok {
			t.Errorf("validateRegistry(%q) = %v, want ok=%v", reg, err, ok)
		}
	}
}
