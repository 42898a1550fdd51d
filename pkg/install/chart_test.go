package install

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/version"
)

// renderObjects renders the embedded chart with --set values.
func renderObjects(t *testing.T, d *Deps, set ...string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Manifest(render(t, d, ValueOptions{Values: set})).Objects()
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	return nil
}

func controllerImage(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	dep := find(objs, "Deployment")
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	return cs[0].(map[string]any)["image"].(string)
}

func sidecarImage(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	img, _, _ := unstructured.NestedString(find(objs, meshconfig.Kind).Object, "spec", "sidecar", "image")
	return img
}

// The chart on disk names the development version the Makefile builds, so
// a plain `helm install` of the source tree installs the images `make`
// builds; a release stamps both.
func TestChartOnDiskNamesTheDevelopmentVersion(t *testing.T) {
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VERSION \?= (v\S+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("the Makefile has no `VERSION ?= v...` line")
	}
	dev := string(m[1])
	raw, err := os.ReadFile("../../charts/mesh/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct{ Version, AppVersion, KubeVersion string }
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.AppVersion != dev || meta.Version != strings.TrimPrefix(dev, "v") {
		t.Errorf("Chart.yaml version %q, appVersion %q; want %q and %q, the Makefile's VERSION", meta.Version, meta.AppVersion, strings.TrimPrefix(dev, "v"), dev)
	}
	for v, want := range map[string]bool{RenderKubeVersion: true, "v1.34.2": true, "v1.31.0-gke.1": true, "v1.29.9": false} {
		if got := chartutil.IsCompatibleRange(meta.KubeVersion, v); got != want {
			t.Errorf("kubeVersion %q admits %s: %v, want %v", meta.KubeVersion, v, got, want)
		}
	}
}

// Both images default to <imageRegistry>/<name>:<appVersion>: meshctl's
// stamp makes them this build's (the names pkg/proxyconfig and pkg/meshconfig
// define), imageRegistry moves both, and a full image wins.
func TestImagesFollowRegistryAndAppVersion(t *testing.T) {
	d := loadChart(t)
	objs := renderObjects(t, d)
	if got, want := controllerImage(t, objs), meshconfig.ControllerImageRepository+":"+version.ImageTag(); got != want {
		t.Errorf("controller image %q, want %q", got, want)
	}
	if got, want := sidecarImage(t, objs), proxyconfig.DefaultImage(); got != want {
		t.Errorf("sidecar image %q, want %q", got, want)
	}
	objs = renderObjects(t, d, "imageRegistry=mirror.example.com:5000/team/")
	if got, want := controllerImage(t, objs), "mirror.example.com:5000/team/"+meshconfig.ControllerImageName+":"+version.ImageTag(); got != want {
		t.Errorf("with imageRegistry: controller image %q, want %q", got, want)
	}
	if got, want := sidecarImage(t, objs), "mirror.example.com:5000/team/"+proxyconfig.ImageName+":"+version.ImageTag(); got != want {
		t.Errorf("with imageRegistry: sidecar image %q, want %q", got, want)
	}
	objs = renderObjects(t, d, "imageRegistry=mirror.example.com", "controller.image=c:1", "meshConfig.sidecar.image=p:1")
	if controllerImage(t, objs) != "c:1" || sidecarImage(t, objs) != "p:1" {
		t.Errorf("full images lost to imageRegistry: %q, %q", controllerImage(t, objs), sidecarImage(t, objs))
	}
	if _, err := d.values(valueLayers{chartDefaults: d.Chart.Values, flags: ValueOptions{Values: []string{"imageRegistry="}}}); err == nil {
		t.Error("an empty imageRegistry passed the schema")
	}
}

// The webhook's selectors and pkg/meshconfig's enrolment rule agree: the API
// server never skips a pod the rule injects, and never calls the webhook for
// a namespace enrolled with injection disabled or a pod labelled out. The
// one case it still calls it for needlessly is an older enrolment (no label)
// with injection disabled, where the annotation decides.
func TestWebhookSelectorsFollowTheEnrolmentRule(t *testing.T) {
	d := loadChart(t)
	wh := find(renderObjects(t, d), "MutatingWebhookConfiguration")
	hooks, _, _ := unstructured.NestedSlice(wh.Object, "webhooks")
	if len(hooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(hooks))
	}
	selector := func(field string) labels.Selector {
		raw, _, _ := unstructured.NestedMap(hooks[0].(map[string]any), field)
		var ls metav1.LabelSelector
		if err := fromUnstructured(raw, &ls); err != nil {
			t.Fatal(err)
		}
		s, err := metav1.LabelSelectorAsSelector(&ls)
		if err != nil {
			t.Fatalf("%s: %v", field, err)
		}
		return s
	}
	nsSel, podSel := selector("namespaceSelector"), selector("objectSelector")
	mesh := d.MeshName
	enabledL, enabledA := meshconfig.EnrolmentMetadata(mesh, meshconfig.InjectionEnabled)
	disabledL, disabledA := meshconfig.EnrolmentMetadata(mesh, meshconfig.InjectionDisabled)
	otherL, otherA := meshconfig.EnrolmentMetadata("other", meshconfig.InjectionEnabled)
	withName := func(name string, l map[string]string) map[string]string {
		out := map[string]string{"kubernetes.io/metadata.name": name}
		for k, v := range l {
			out[k] = v
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		labels, ann map[string]string
		wantCalled  bool
	}{
		{"enrolled", enabledL, enabledA, true},
		{"enrolled, injection disabled", disabledL, disabledA, false},
		{"another mesh", otherL, otherA, false},
		{"not enrolled", nil, nil, false},
		{"older enrolment", map[string]string{meshconfig.LabelMonitoredBy: mesh}, map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionEnabled}, true},
		{"older enrolment, disabled", map[string]string{meshconfig.LabelMonitoredBy: mesh}, map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionDisabled}, true},
		{"label disabled, annotation edited to enabled", disabledL, enabledA, false},
	} {
		for _, name := range []string{"shop", d.Namespace, "kube-system"} {
			l := withName(name, tc.labels)
			called := nsSel.Matches(labels.Set(l))
			injects := meshconfig.InjectionOf(l, tc.ann).Injects(mesh) && name == "shop"
			if injects && !called {
				t.Errorf("%s (namespace %s): the rule injects but the namespaceSelector skips it", tc.name, name)
			}
			if want := tc.wantCalled && name == "shop"; called != want {
				t.Errorf("%s (namespace %s): webhook called = %v, want %v", tc.name, name, called, want)
			}
		}
	}
	for _, tc := range []struct {
		labels, ann map[string]string
		wantCalled  bool
	}{
		{nil, nil, true},
		{map[string]string{meshconfig.LabelSidecarInjection: meshconfig.InjectionDisabled}, nil, false},
		{map[string]string{meshconfig.LabelSidecarInjection: meshconfig.InjectionEnabled}, nil, true},
		// Opted out by annotation only: called, and the injector skips it.
		{nil, map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionDisabled}, true},
	} {
		called := podSel.Matches(labels.Set(tc.labels))
		if called != tc.wantCalled {
			t.Errorf("pod labels %v: webhook called = %v, want %v", tc.labels, called, tc.wantCalled)
		}
		if !called && !meshconfig.PodOptsOut(tc.labels, tc.ann) {
			t.Errorf("pod labels %v: the objectSelector skips a pod the rule would inject", tc.labels)
		}
	}
}

// The chart's Lease is the one the controller elects through, and its Role
// lets the controller use it.
func TestChartLeaseAndShutdown(t *testing.T) {
	d := loadChart(t)
	objs := renderObjects(t, d)
	dep := find(objs, "Deployment")
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	args, _ := cs[0].(map[string]any)["args"].([]any)
	if !slices.Contains(args, any("--leader-election-lease="+meshconfig.LeaderLeaseName)) || !slices.Contains(args, any("--leader-election-id=$(POD_NAME)")) {
		t.Errorf("controller args %v lack the Lease %s and the pod's name", args, meshconfig.LeaderLeaseName)
	}
	// meshctl makes the mesh CA itself: its controller never generates one.
	if slices.Contains(args, any("--generate-ca")) {
		t.Errorf("meshctl's render has the controller generate the mesh CA: %v", args)
	}
	found := false
	for _, o := range objs {
		if o.GetKind() != "Role" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		for _, r := range rules {
			b, _ := json.Marshal(r)
			if strings.Contains(string(b), `"leases"`) && strings.Contains(string(b), meshconfig.LeaderLeaseName) && strings.Contains(string(b), `"update"`) {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no Role lets the controller get and update lease %s", meshconfig.LeaderLeaseName)
	}
	// The PodDisruptionBudget exists with two replicas or more only: over
	// one replica it would block every drain.
	if find(objs, "PodDisruptionBudget") == nil {
		t.Error("no PodDisruptionBudget with the default replicas")
	}
	if pdb := find(renderObjects(t, d, "controller.replicas=1"), "PodDisruptionBudget"); pdb != nil {
		t.Error("a PodDisruptionBudget over a single replica")
	}
	svc := find(objs, "Service")
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	var names []string
	for _, p := range ports {
		names = append(names, fmt.Sprint(p.(map[string]any)["name"]))
	}
	if !slices.Contains(names, "metrics") {
		t.Errorf("the Service's ports %v lack metrics", names)
	}
}

// Every object carries the standard labels besides the mesh's own.
func TestChartStandardLabels(t *testing.T) {
	d := loadChart(t)
	for _, o := range renderObjects(t, d) {
		l := o.GetLabels()
		for _, k := range []string{"app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "app.kubernetes.io/version", "helm.sh/chart"} {
			if l[k] == "" {
				t.Errorf("%s/%s lacks label %s", o.GetKind(), o.GetName(), k)
			}
		}
		if got, want := l["helm.sh/chart"], "mesh-"+version.ChartVersion(); got != want {
			t.Errorf("%s/%s: helm.sh/chart = %q, want %q", o.GetKind(), o.GetName(), got, want)
		}
	}
}

// schemaNode is what a JSON schema node says about the values it admits,
// for comparing the chart's values schema with the CRD's.
type schemaNode struct {
	types       []string
	enum        []string
	min, max    *float64
	maxLength   *int64
	maxItems    *int64
	pattern     string
	uniqueItems bool
	items       *schemaNode
	props       map[string]*schemaNode
	additional  *schemaNode
}

// valuesNode reads a node of values.schema.json, resolving $ref and
// folding anyOf; an alternative `{"type":"string","maxLength":0}` is the
// empty string, which the chart renders as "unset".
func valuesNode(t *testing.T, root, n map[string]any) *schemaNode {
	t.Helper()
	if ref, ok := n["$ref"].(string); ok {
		path := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		cur := root
		for _, p := range path {
			cur = cur[p].(map[string]any)
		}
		return valuesNode(t, root, cur)
	}
	if alts, ok := n["anyOf"].([]any); ok {
		var rest []map[string]any
		empty := false
		for _, a := range alts {
			am := a.(map[string]any)
			if am["type"] == "string" && am["maxLength"] == float64(0) {
				empty = true
				continue
			}
			rest = append(rest, am)
		}
		if len(rest) != 1 {
			t.Fatalf("anyOf %v: the comparison knows one alternative and the empty string only", alts)
		}
		s := valuesNode(t, root, rest[0])
		if empty {
			s.enum = append(s.enum, "")
		}
		return s
	}
	s := &schemaNode{pattern: str(n["pattern"]), uniqueItems: n["uniqueItems"] == true}
	switch ty := n["type"].(type) {
	case string:
		s.types = []string{ty}
	case []any:
		for _, x := range ty {
			s.types = append(s.types, x.(string))
		}
	}
	for _, e := range asSlice(n["enum"]) {
		s.enum = append(s.enum, fmt.Sprint(e))
	}
	s.min, s.max = num(n["minimum"]), num(n["maximum"])
	if v := num(n["maxLength"]); v != nil {
		s.maxLength = ptrInt(int64(*v))
	}
	if v := num(n["maxItems"]); v != nil {
		s.maxItems = ptrInt(int64(*v))
	}
	if it, ok := n["items"].(map[string]any); ok {
		s.items = valuesNode(t, root, it)
	}
	if props, ok := n["properties"].(map[string]any); ok {
		s.props = map[string]*schemaNode{}
		for k, v := range props {
			s.props[k] = valuesNode(t, root, v.(map[string]any))
		}
	}
	return s
}

// crdNode reads a node of the CRD's schema; int-or-string is the two types.
func crdNode(p *apiextensionsv1.JSONSchemaProps) *schemaNode {
	s := &schemaNode{pattern: p.Pattern, min: p.Minimum, max: p.Maximum, maxLength: p.MaxLength, maxItems: p.MaxItems}
	switch {
	case p.XIntOrString:
		s.types = []string{"integer", "string"}
	case p.Type != "":
		s.types = []string{p.Type}
	}
	for _, e := range p.Enum {
		s.enum = append(s.enum, strings.Trim(string(e.Raw), `"`))
	}
	if p.XListType != nil && *p.XListType == "set" {
		s.uniqueItems = true
	}
	if p.Items != nil && p.Items.Schema != nil {
		s.items = crdNode(p.Items.Schema)
	}
	if len(p.Properties) > 0 {
		s.props = map[string]*schemaNode{}
		for k, v := range p.Properties {
			s.props[k] = crdNode(&v)
		}
	}
	if p.AdditionalProperties != nil && p.AdditionalProperties.Schema != nil {
		s.additional = crdNode(p.AdditionalProperties.Schema)
	}
	return s
}

// compareNodes lists where the values schema and the CRD disagree on a
// field both have: its types, enum, bounds, pattern, length, item count and
// uniqueness, recursively; and every values field the CRD lacks.
func compareNodes(path string, v, c *schemaNode) []string {
	var out []string
	sorted := func(s []string) []string { s = slices.Clone(s); sort.Strings(s); return slices.Compact(s) }
	if len(v.types) > 0 && len(c.types) > 0 && !slices.Equal(sorted(v.types), sorted(c.types)) {
		out = append(out, fmt.Sprintf("%s: type %v, the CRD's %v", path, sorted(v.types), sorted(c.types)))
	}
	venum := slices.DeleteFunc(slices.Clone(v.enum), func(e string) bool { return e == "" })
	if !slices.Equal(sorted(venum), sorted(c.enum)) {
		out = append(out, fmt.Sprintf("%s: enum %v, the CRD's %v", path, venum, c.enum))
	}
	fp := func(f *float64) string {
		if f == nil {
			return "none"
		}
		return fmt.Sprint(*f)
	}
	ip := func(i *int64) string {
		if i == nil {
			return "none"
		}
		return fmt.Sprint(*i)
	}
	if fp(v.min) != fp(c.min) || fp(v.max) != fp(c.max) {
		out = append(out, fmt.Sprintf("%s: bounds [%s, %s], the CRD's [%s, %s]", path, fp(v.min), fp(v.max), fp(c.min), fp(c.max)))
	}
	if ip(v.maxLength) != ip(c.maxLength) {
		out = append(out, fmt.Sprintf("%s: maxLength %s, the CRD's %s", path, ip(v.maxLength), ip(c.maxLength)))
	}
	if ip(v.maxItems) != ip(c.maxItems) {
		out = append(out, fmt.Sprintf("%s: maxItems %s, the CRD's %s", path, ip(v.maxItems), ip(c.maxItems)))
	}
	if v.pattern != c.pattern {
		out = append(out, fmt.Sprintf("%s: pattern %q, the CRD's %q", path, v.pattern, c.pattern))
	}
	if v.uniqueItems != c.uniqueItems {
		out = append(out, fmt.Sprintf("%s: uniqueItems %v, the CRD's set list %v", path, v.uniqueItems, c.uniqueItems))
	}
	if v.items != nil && c.items != nil {
		out = append(out, compareNodes(path+"[]", v.items, c.items)...)
	}
	for k, vp := range v.props {
		cp, ok := c.props[k]
		if !ok && c.additional != nil {
			cp, ok = c.additional, true
		}
		if !ok {
			out = append(out, fmt.Sprintf("%s.%s: not a field of the CRD", path, k))
			continue
		}
		out = append(out, compareNodes(path+"."+k, vp, cp)...)
	}
	return out
}

// values.schema.json and the MeshConfig CRD agree on every field they share,
// so that a value the schema accepts is one the API server accepts, and a
// mistake is refused before anything changes, naming the value.
func TestValuesSchemaAgreesWithCRD(t *testing.T) {
	d := loadChart(t)
	var root map[string]any
	if err := json.Unmarshal(d.Chart.Schema, &root); err != nil {
		t.Fatal(err)
	}
	mc := root["properties"].(map[string]any)["meshConfig"].(map[string]any)
	crds, err := meshconfigtest.ReadCRDs()
	if err != nil {
		t.Fatal(err)
	}
	var spec *apiextensionsv1.JSONSchemaProps
	for _, c := range crds {
		if c.Spec.Names.Kind == meshconfig.Kind {
			s := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			spec = &s
		}
	}
	if spec == nil {
		t.Fatal("no MeshConfig CRD")
	}
	v, c := valuesNode(t, root, mc), crdNode(spec)
	if len(v.props) < 5 {
		t.Fatalf("the values schema's meshConfig has %d sections", len(v.props))
	}
	for _, problem := range compareNodes("meshConfig", v, c) {
		t.Error(problem)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func num(v any) *float64 {
	f, ok := v.(float64)
	if !ok {
		return nil
	}
	return &f
}

func ptrInt(i int64) *int64 { return &i }
