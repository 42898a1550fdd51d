package install

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/version"
)

func loadChart(t testing.TB) *Deps {
	t.Helper()
	d, err := NewDeps(DepsConfig{MeshName: meshconfig.DefaultMeshName, Namespace: meshconfig.DefaultMeshNamespace})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func render(t testing.TB, d *Deps, flags ValueOptions) string {
	t.Helper()
	user, _, err := mergeValues(valueLayers{chartDefaults: d.Chart.Values, flags: flags}, d.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Render(d.Chart, d.MeshName, d.Namespace, user, false)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The golden files pin the templates, not this build's version: the version
// is replaced by a placeholder so the files survive a release.
func stable(s string) string {
	s = strings.ReplaceAll(s, version.Version(), "VERSION")
	return strings.ReplaceAll(s, "mesh-"+version.ChartVersion(), "mesh-CHART_VERSION") // helm.sh/chart
}

func TestRenderGolden(t *testing.T) {
	d := loadChart(t)
	tests := []struct {
		name  string
		flags ValueOptions
	}{
		{"default", ValueOptions{}},
		{"overrides", ValueOptions{ValueFiles: []string{"testdata/overrides.yaml"}}},
		{"monitoring", ValueOptions{Values: []string{"prometheus.podMonitor=true", "prometheus.monitorLabels.release=kube-prometheus-stack", "prometheus.interval=30s", "grafana.dashboards=true"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden.AssertString(t, "testdata/render-"+tt.name+".golden", stable(render(t, d, tt.flags)))
		})
	}
}

func TestChartStampedWithVersion(t *testing.T) {
	d := loadChart(t)
	if got := d.Chart.Metadata.Version; got != version.ChartVersion() {
		t.Errorf("chart version = %q, want %q", got, version.ChartVersion())
	}
	if got := d.Chart.Metadata.AppVersion; got != version.Version() {
		t.Errorf("appVersion = %q, want %q", got, version.Version())
	}
	objs, err := Manifest(render(t, d, ValueOptions{})).Objects()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetName() == meshconfig.ControllerName {
			found = true
			if got := o.GetLabels()[meshconfig.LabelVersion]; got != version.Version() {
				t.Errorf("controller %s label = %q, want %q", meshconfig.LabelVersion, got, version.Version())
			}
		}
	}
	if !found {
		t.Fatalf("no Deployment %s rendered", meshconfig.ControllerName)
	}
}

// Every rendered object carries the ownership labels uninstall and check
// select on.
func TestRenderLabelsEveryObject(t *testing.T) {
	d := loadChart(t)
	d.MeshName = "blue"
	objs, err := Manifest(render(t, d, ValueOptions{})).Objects()
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) < 9 {
		t.Fatalf("rendered %d objects, want at least 9", len(objs))
	}
	for _, o := range objs {
		l := o.GetLabels()
		if l[meshconfig.LabelPartOf] != meshconfig.PartOfValue || l[meshconfig.LabelMeshName] != "blue" {
			t.Errorf("%s/%s labels = %v, want %s=%s and %s=blue", o.GetKind(), o.GetName(), l, meshconfig.LabelPartOf, meshconfig.PartOfValue, meshconfig.LabelMeshName)
		}
		// The controller's objects carry the component label that the
		// controller, check and the e2e tests select them by.
		if o.GetName() == meshconfig.ControllerName && l[meshconfig.LabelComponent] != meshconfig.ComponentController {
			t.Errorf("%s/%s: label %s = %q, want %q", o.GetKind(), o.GetName(), meshconfig.LabelComponent, l[meshconfig.LabelComponent], meshconfig.ComponentController)
		}
	}
}

// The MeshConfig the chart renders by default is meshconfig.DefaultSpec with
// this build's sidecar image and the sidecar's default resources, which the
// chart takes from pkg/proxyconfig.
func TestRenderedMeshConfigIsDefaultSpec(t *testing.T) {
	d := loadChart(t)
	objs, err := Manifest(render(t, d, ValueOptions{})).Objects()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() != meshconfig.Kind {
			continue
		}
		var mc meshconfig.MeshConfig
		if err := fromUnstructured(o.Object, &mc); err != nil {
			t.Fatal(err)
		}
		want := meshconfig.DefaultSpec()
		want.Sidecar.Image = proxyconfig.DefaultImage()
		want.Sidecar.LogLevel = string(wire.DefaultLogLevel)
		want.Sidecar.Resources = proxyconfig.DefaultResources()
		if !reflect.DeepEqual(normalizeSpec(t, mc.Spec), normalizeSpec(t, want)) {
			t.Errorf("rendered MeshConfig spec\n%+v\nwant\n%+v", mc.Spec, want)
		}
		if o.GetName() != meshconfig.ObjectName || o.GetNamespace() != d.Namespace {
			t.Errorf("MeshConfig is %s/%s, want %s/%s", o.GetNamespace(), o.GetName(), d.Namespace, meshconfig.ObjectName)
		}
		return
	}
	t.Fatal("no MeshConfig rendered")
}

func TestValuesPrecedence(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.yaml", "controller: {logLevel: warn, replicas: 2}\n")
	b := write("b.yaml", "controller: {logLevel: error}\n")
	defaults := map[string]any{"controller": map[string]any{"logLevel": "info", "replicas": 1, "image": "default"}}
	tests := []struct {
		name   string
		layers valueLayers
		want   map[string]any // controller values after the merge
		user   map[string]any // controller values stored in the release
	}{
		{"defaults only", valueLayers{}, map[string]any{"logLevel": "info", "replicas": 1, "image": "default"}, nil},
		{"files left to right", valueLayers{flags: ValueOptions{ValueFiles: []string{a, b}}},
			map[string]any{"logLevel": "error", "replicas": float64(2), "image": "default"},
			map[string]any{"logLevel": "error", "replicas": float64(2)}},
		{"set beats files", valueLayers{flags: ValueOptions{ValueFiles: []string{a}, Values: []string{"controller.replicas=3"}}},
			map[string]any{"logLevel": "warn", "replicas": int64(3), "image": "default"},
			map[string]any{"logLevel": "warn", "replicas": int64(3)}},
		{"set-string beats set and stays a string", valueLayers{flags: ValueOptions{Values: []string{"controller.image=x"}, StringValues: []string{"controller.image=5"}}},
			map[string]any{"logLevel": "info", "replicas": 1, "image": "5"},
			map[string]any{"image": "5"}},
		{"set beats set-json", valueLayers{flags: ValueOptions{JSONValues: []string{`controller={"replicas":4,"logLevel":"debug"}`}, Values: []string{"controller.replicas=5"}}},
			map[string]any{"logLevel": "debug", "replicas": int64(5), "image": "default"},
			map[string]any{"logLevel": "debug", "replicas": int64(5)}},
		{"previous values survive, new flags win", valueLayers{previous: map[string]any{"controller": map[string]any{"logLevel": "debug", "replicas": 7}}, flags: ValueOptions{Values: []string{"controller.replicas=2"}}},
			map[string]any{"logLevel": "debug", "replicas": int64(2), "image": "default"},
			map[string]any{"logLevel": "debug", "replicas": int64(2)}},
		{"live edits beat previous values", valueLayers{previous: map[string]any{"controller": map[string]any{"logLevel": "debug"}}, liveEdits: map[string]any{"controller": map[string]any{"logLevel": "warn"}}},
			map[string]any{"logLevel": "warn", "replicas": 1, "image": "default"},
			map[string]any{"logLevel": "warn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.layers.chartDefaults = defaults
			user, merged, err := mergeValues(tt.layers, os.ReadFile)
			if err != nil {
				t.Fatal(err)
			}
			if got := merged["controller"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("merged controller = %#v, want %#v", got, tt.want)
			}
			got, _ := user["controller"].(map[string]any)
			if len(got) == 0 && len(tt.user) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.user) {
				t.Errorf("user controller = %#v, want %#v", got, tt.user)
			}
		})
	}
	if defaults["controller"].(map[string]any)["logLevel"] != "info" {
		t.Error("mergeValues modified the chart defaults")
	}
}

// A misspelt or unknown key, or a value of the wrong type, is refused with
// an error that names the key.
func TestSchemaRejectsBadValues(t *testing.T) {
	d := loadChart(t)
	tests := []struct {
		set  string
		want []string
	}{
		{"controller.replicaz=2", []string{"replicaz"}},
		{"meshConfig.traffic.enablePermisiveTrafficPolicyMode=false", []string{"enablePermisiveTrafficPolicyMode"}},
		{"controller.replicas=two", []string{"/controller/replicas", "integer"}},
		{"meshConfig.traffic.enableEgress=maybe", []string{"/meshConfig/traffic/enableEgress", "boolean"}},
		{"controller.logLevel=loud", []string{"/controller/logLevel"}},
		{"unknown=1", []string{"unknown"}},
		{"controller.webhook.timeoutSeconds=60", []string{"/controller/webhook/timeoutSeconds"}},
		{"meshConfig.traffic.inboundPortExclusionList={0}", []string{"/meshConfig/traffic/inboundPortExclusionList/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			_, err := d.values(valueLayers{chartDefaults: d.Chart.Values, flags: ValueOptions{Values: []string{tt.set}}})
			if err == nil {
				t.Fatalf("--set %s passed validation", tt.set)
			}
			if !strings.HasPrefix(err.Error(), "invalid values") {
				t.Errorf("error %q does not say the values are invalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestValueFlagErrorsNameTheFlag(t *testing.T) {
	tests := []struct {
		flags ValueOptions
		want  string
	}{
		{ValueOptions{ValueFiles: []string{"testdata/missing.yaml"}}, "values file testdata/missing.yaml"},
		{ValueOptions{ValueFiles: []string{"testdata/not-yaml.txt"}}, "values file testdata/not-yaml.txt"},
		{ValueOptions{Values: []string{"a.b"}}, `--set "a.b"`},
		{ValueOptions{JSONValues: []string{"a={"}}, `--set-json "a={"`},
		{ValueOptions{StringValues: []string{"a.b"}}, `--set-string "a.b"`},
	}
	for _, tt := range tests {
		_, _, err := mergeValues(valueLayers{flags: tt.flags}, os.ReadFile)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("mergeValues(%+v) = %v, want an error naming %s", tt.flags, err, tt.want)
		}
	}
}

// The chart passes `helm lint`, with the values meshctl computes.
func TestChartLint(t *testing.T) {
	d := loadChart(t)
	dir := t.TempDir()
	if err := chartutil.SaveDir(d.Chart, dir); err != nil {
		t.Fatal(err)
	}
	// SaveDir writes the templates and values, but not the CRDs (they are
	// Files to it); lint them too.
	for _, f := range d.Chart.Files {
		p := filepath.Join(dir, d.Chart.Name(), f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	linter := lint.All(filepath.Join(dir, d.Chart.Name()), computedDefaults(), meshconfig.DefaultMeshNamespace, false)
	for _, m := range linter.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		}
	}
	if len(linter.Messages) > 0 {
		t.Logf("helm lint messages: %v", linter.Messages)
	}
}

func BenchmarkRender(b *testing.B) {
	d := loadChart(b)
	user, _, err := mergeValues(valueLayers{chartDefaults: d.Chart.Values}, d.ReadFile)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(d.Chart, d.MeshName, d.Namespace, user, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadChart(b *testing.B) {
	fsys := ChartFS()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadChart(fsys); err != nil {
			b.Fatal(err)
		}
	}
}

// The webhook never matches the system namespaces nor the control plane's
// own, whatever their labels say: the chart spells the list out (so that it
// works under a plain `helm install`), and this holds it to
// meshconfig.SystemNamespaces, the list inject and namespace add use.
func TestWebhookExcludesSystemNamespaces(t *testing.T) {
	d := loadChart(t)
	d.Namespace = "blue-system"
	objs, err := Manifest(render(t, d, ValueOptions{})).Objects()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range objs {
		if o.GetKind() != "MutatingWebhookConfiguration" {
			continue
		}
		hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		for _, h := range hooks {
			exprs, _, _ := unstructured.NestedSlice(h.(map[string]any), "namespaceSelector", "matchExpressions")
			for _, e := range exprs {
				e := e.(map[string]any)
				if e["key"] != "kubernetes.io/metadata.name" || e["operator"] != "NotIn" {
					continue
				}
				found = true
				var got []string
				for _, v := range e["values"].([]any) {
					got = append(got, v.(string))
				}
				want := append([]string{d.Namespace}, meshconfig.SystemNamespaces()...)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("webhook %v excludes namespaces %v, want %v (meshconfig.SystemNamespaces and the control plane's)", h.(map[string]any)["name"], got, want)
				}
			}
		}
	}
	if !found {
		t.Fatal("no webhook with a kubernetes.io/metadata.name NotIn selector: the system namespaces are not excluded")
	}
}
