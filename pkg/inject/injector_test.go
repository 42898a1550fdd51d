package inject

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

func appPod() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
	}
}

// applyPatch applies an RFC 6902 patch with an independent implementation,
// as the API server does with the webhook's response.
func applyJSONPatch(t *testing.T, obj any, p Patch) []byte {
	t.Helper()
	doc, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decoded.Apply(doc)
	if err != nil {
		t.Fatalf("applying %s: %v", raw, err)
	}
	return out
}

// TestInjectPodPatch is the webhook's path: the patch applies to the Pod as
// it is, adds exactly the sidecar, and the uninject patch takes it back out.
func TestInjectPodPatch(t *testing.T) {
	in := testInjector(t, testVersion)
	pod := appPod()
	r, err := in.InjectPod(pod, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if r.Action != Injected {
		t.Fatalf("action %s", r.Action)
	}
	var got corev1.Pod
	if err := json.Unmarshal(applyJSONPatch(t, pod, r.Patch), &got); err != nil {
		t.Fatal(err)
	}
	if n := len(got.Spec.InitContainers); n != 2 || got.Spec.InitContainers[0].Name != proxyconfig.InitContainerName ||
		got.Spec.InitContainers[1].Name != proxyconfig.ProxyContainerName {
		t.Errorf("init containers %v", got.Spec.InitContainers)
	}
	if n := len(got.Spec.Containers); n != 1 || got.Spec.Containers[0].Name != "web" {
		t.Errorf("containers %v", got.Spec.Containers)
	}
	if got.Annotations[AnnotationDefaultContainer] != "web" || got.Labels[meshconfig.LabelProxyVersion] != testVersion || got.Labels["app"] != "web" {
		t.Errorf("metadata %v %v", got.Annotations, got.Labels)
	}
	m, err := ParseMarker(got.Annotations[meshconfig.AnnotationInjected])
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != testVersion || m.Containers != nil ||
		!reflect.DeepEqual(m.InitContainers, []string{proxyconfig.InitContainerName, proxyconfig.ProxyContainerName}) {
		t.Errorf("marker %+v", m)
	}
	for _, op := range r.Patch {
		if strings.Contains(op.Path, "meshctl.io/") {
			t.Errorf("unescaped pointer %s", op.Path)
		}
	}

	again, err := in.InjectPod(&got, "shop")
	if err != nil || again.Action != Unchanged || len(again.Patch) != 0 {
		t.Errorf("second injection: %+v, %v", again, err)
	}

	// The API server fills defaults into the stored containers; that is not
	// a change of the sidecar.
	defaulted := got.DeepCopy()
	defaulted.Spec.InitContainers[1].TerminationMessagePath = "/dev/termination-log"
	if r, _ := in.InjectPod(defaulted, "shop"); r.Action != Unchanged {
		t.Errorf("defaulted pod: %s", r.Action)
	}

	u, err := in.Uninject(Target{Kind: "pod", Name: "web-1", Template: &corev1.PodTemplateSpec{ObjectMeta: got.ObjectMeta, Spec: got.Spec}})
	if err != nil || u.Action != Uninjected {
		t.Fatalf("uninject: %+v, %v", u, err)
	}
	back := applyJSONPatch(t, &got, u.Patch)
	want, _ := json.Marshal(pod)
	if string(back) != string(want) {
		t.Errorf("uninject:\n got %s\nwant %s", back, want)
	}
}

func TestUpgradeReplacesTheSidecar(t *testing.T) {
	old := testInjector(t, "v0.1.0")
	cur := testInjector(t, testVersion)
	pod := appPod()
	r, err := old.InjectPod(pod, "")
	if err != nil {
		t.Fatal(err)
	}
	var injected corev1.Pod
	if err := json.Unmarshal(applyJSONPatch(t, pod, r.Patch), &injected); err != nil {
		t.Fatal(err)
	}
	up, err := cur.InjectPod(&injected, "")
	if err != nil {
		t.Fatal(err)
	}
	if up.Action != Upgraded || up.Detail != "from v0.1.0" {
		t.Fatalf("got %s %q", up.Action, up.Detail)
	}
	for _, op := range up.Patch {
		if op.Op == OpAdd && strings.HasSuffix(op.Path, "/-") {
			t.Errorf("upgrade appended instead of replacing in place: %s", op.Path)
		}
	}
	var upgraded corev1.Pod
	if err := json.Unmarshal(applyJSONPatch(t, &injected, up.Patch), &upgraded); err != nil {
		t.Fatal(err)
	}
	fresh, _ := cur.InjectPod(pod, "")
	var want corev1.Pod
	if err := json.Unmarshal(applyJSONPatch(t, pod, fresh.Patch), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(upgraded, want) {
		t.Errorf("upgrade differs from a fresh injection:\n got %+v\nwant %+v", upgraded.Spec, want.Spec)
	}
}

func TestSkipReasons(t *testing.T) {
	in := testInjector(t, testVersion)
	tpl := func(edit func(*corev1.PodTemplateSpec)) *corev1.PodTemplateSpec {
		p := appPod()
		t := &corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}
		edit(t)
		return t
	}
	for _, tc := range []struct {
		name   string
		w      Target
		want   SkipReason
		detail string
	}{
		{"no template", Target{Kind: "replicationcontroller", Name: "x"}, SkipNoPodTemplate, ""},
		{"no containers", Target{Kind: "job", Template: tpl(func(t *corev1.PodTemplateSpec) { t.Spec.Containers = nil })}, SkipNoContainers, ""},
		{"opt out", Target{Kind: "deployment", Template: tpl(func(t *corev1.PodTemplateSpec) {
			t.Annotations = map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionDisabled}
		})}, SkipOptedOut, "meshctl.io/sidecar-injection: disabled"},
		{"opt out by label", Target{Kind: "deployment", Template: tpl(func(t *corev1.PodTemplateSpec) {
			t.Labels = map[string]string{meshconfig.LabelSidecarInjection: meshconfig.InjectionDisabled}
		})}, SkipOptedOut, "meshctl.io/sidecar-injection: disabled"},
		{"host network", Target{Kind: "daemonset", Template: tpl(func(t *corev1.PodTemplateSpec) { t.Spec.HostNetwork = true })}, SkipHostNetwork, ""},
		{"kube-system", Target{Kind: "pod", Namespace: "kube-system", Template: tpl(func(*corev1.PodTemplateSpec) {})}, SkipSystemNamespace, "kube-system"},
		{"kube-node-lease", Target{Kind: "pod", Namespace: "kube-node-lease", Template: tpl(func(*corev1.PodTemplateSpec) {})}, SkipSystemNamespace, "kube-node-lease"},
		{"control plane", Target{Kind: "pod", Namespace: meshconfig.DefaultMeshNamespace, Template: tpl(func(*corev1.PodTemplateSpec) {})}, SkipControlPlaneNamespace, "mesh-system"},
		{"istio", Target{Kind: "pod", Template: tpl(func(t *corev1.PodTemplateSpec) {
			t.Spec.Containers = append(t.Spec.Containers, corev1.Container{Name: "istio-proxy"})
		})}, SkipOtherMesh, "istio-proxy"},
		{"linkerd init", Target{Kind: "pod", Template: tpl(func(t *corev1.PodTemplateSpec) {
			t.Spec.InitContainers = []corev1.Container{{Name: "linkerd-init"}}
		})}, SkipOtherMesh, "linkerd-init"},
		{"name conflict", Target{Kind: "pod", Template: tpl(func(t *corev1.PodTemplateSpec) {
			t.Spec.InitContainers = []corev1.Container{{Name: proxyconfig.InitContainerName}}
		})}, SkipNameConflict, proxyconfig.InitContainerName},
		{"volume name conflict", Target{Kind: "pod", Template: tpl(func(t *corev1.PodTemplateSpec) {
			t.Spec.Volumes = []corev1.Volume{{Name: proxyconfig.IdentityVolumeName}}
		})}, SkipNameConflict, "volume " + proxyconfig.IdentityVolumeName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := in.Inject(tc.w)
			if err != nil {
				t.Fatal(err)
			}
			if r.Action != Skipped || r.Skip != tc.want || r.Detail != tc.detail || len(r.Patch) != 0 {
				t.Errorf("got %+v, want skipped %s (%s)", r, tc.want, tc.detail)
			}
		})
	}
	r, err := in.Uninject(Target{Kind: "pod", Template: tpl(func(*corev1.PodTemplateSpec) {})})
	if err != nil || r.Skip != SkipNotInjected {
		t.Errorf("uninject of a plain pod: %+v %v", r, err)
	}
	seen := map[string]bool{}
	for _, s := range SkipReasons() {
		if s.Message() == string(s) || seen[s.Message()] {
			t.Errorf("reason %s has no message of its own", s)
		}
		seen[s.Message()] = true
	}
}

func TestBadMarkerAndAnnotations(t *testing.T) {
	in := testInjector(t, testVersion)
	for _, tc := range []struct {
		ann  map[string]string
		want string
	}{
		{map[string]string{meshconfig.AnnotationInjected: "yes"}, `deployment/web: annotation meshctl.io/injected: not a marker written by meshctl`},
		{map[string]string{meshconfig.AnnotationInjected: `{"version":"v1"}`}, "version and hash are required"},
		{map[string]string{meshconfig.AnnotationInjected: `{"version":"v1","hash":"x","created":["spec"]}`}, `unknown created field "spec"`},
		{map[string]string{proxyconfig.AnnotationProxyLogLevel: "loud"}, `deployment/web: annotation config.meshctl.io/proxy-log-level: "loud"`},
		{map[string]string{proxyconfig.AnnotationSkipOutboundCIDRs: "10.0.0.0/99"}, `"10.0.0.0/99" is not a CIDR`},
	} {
		p := appPod()
		p.Annotations = tc.ann
		_, err := in.Inject(Target{Kind: "deployment", Name: "web", Template: &corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.ann, err, tc.want)
		}
	}
}

// TestEnrolNamespace: the Namespace documents of a stream may join the mesh
// on the terms of meshconfig.CheckEnrolment, as with `meshctl namespace add`.
func TestEnrolNamespace(t *testing.T) {
	in := testInjector(t, testVersion)
	enrolled := Patch{
		{Op: OpAdd, Path: "/metadata/labels", Value: map[string]string{meshconfig.LabelMonitoredBy: "mesh", meshconfig.LabelSidecarInjection: meshconfig.InjectionEnabled}},
		{Op: OpAdd, Path: "/metadata/annotations", Value: map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionEnabled}},
	}
	other := map[string]string{meshconfig.LabelMonitoredBy: "other"}
	moved := Patch{
		{Op: OpReplace, Path: "/metadata/labels/" + PointerToken(meshconfig.LabelMonitoredBy), Value: "mesh"},
		{Op: OpAdd, Path: "/metadata/labels/" + PointerToken(meshconfig.LabelSidecarInjection), Value: meshconfig.InjectionEnabled},
		{Op: OpAdd, Path: "/metadata/annotations", Value: map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionEnabled}},
	}
	for _, tc := range []struct {
		name   string
		ns     metav1.ObjectMeta
		force  bool
		want   Result
		refuse error
	}{
		{"new", metav1.ObjectMeta{Name: "shop"}, false, Result{Action: Enrolled, Patch: enrolled}, nil},
		{"already", metav1.ObjectMeta{Name: "shop", Labels: map[string]string{meshconfig.LabelMonitoredBy: "mesh", meshconfig.LabelSidecarInjection: meshconfig.InjectionEnabled},
			Annotations: map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionEnabled}}, false,
			Result{Action: Unchanged, Detail: "already enrolled"}, nil},
		// Enrolled by a meshctl that wrote the annotation only: the label the
		// webhook's selector reads is added.
		{"older enrolment", metav1.ObjectMeta{Name: "shop", Labels: map[string]string{meshconfig.LabelMonitoredBy: "mesh"},
			Annotations: map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionEnabled}}, false,
			Result{Action: Enrolled, Patch: Patch{{Op: OpAdd, Path: "/metadata/labels/" + PointerToken(meshconfig.LabelSidecarInjection), Value: meshconfig.InjectionEnabled}}}, nil},
		{"control plane", metav1.ObjectMeta{Name: "mesh-system"}, true, Result{Action: Skipped, Skip: SkipControlPlaneNamespace, Detail: "mesh-system"}, nil},
		{"system", metav1.ObjectMeta{Name: "kube-public"}, true, Result{Action: Skipped, Skip: SkipSystemNamespace, Detail: "kube-public"}, nil},
		{"other mesh", metav1.ObjectMeta{Name: "shop", Labels: other}, false, Result{}, meshconfig.ErrOtherMesh},
		{"other mesh, force", metav1.ObjectMeta{Name: "shop", Labels: other}, true, Result{Action: Enrolled, Detail: "moved from mesh other", Patch: moved}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := in.EnrolNamespace(&tc.ns, tc.force)
			if tc.refuse != nil {
				if !errors.Is(err, tc.refuse) || r != nil || !strings.Contains(err.Error(), `namespace "shop"`) || !strings.Contains(err.Error(), "--force") {
					t.Errorf("got %+v, %v; want an error naming the namespace and --force, wrapping %v", r, err, tc.refuse)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(*r, tc.want) {
				t.Errorf("got %+v, %v; want %+v", r, err, tc.want)
			}
		})
	}
}

func TestLabelValue(t *testing.T) {
	for in, want := range map[string]string{"v0.2.0": "v0.2.0", "v1.0.0+abc.1": "v1.0.0_abc.1", "-x-": "x"} {
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEveryPodGetsANativeSidecar: whatever the pod's restartPolicy, the
// proxy is a native sidecar right after the rules' init container, with a
// startup probe, so that the kubelet starts the app only once the proxy is
// ready (and a Job's pod still completes); uninject takes both back out.
func TestEveryPodGetsANativeSidecar(t *testing.T) {
	in := testInjector(t, testVersion)
	for _, policy := range []corev1.RestartPolicy{"", corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure} {
		pod := appPod()
		pod.Spec.RestartPolicy = policy
		pod.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "migrate"}}
		r, err := in.InjectPod(pod, "")
		if err != nil {
			t.Fatal(err)
		}
		var got corev1.Pod
		if err := json.Unmarshal(applyJSONPatch(t, pod, r.Patch), &got); err != nil {
			t.Fatal(err)
		}
		if names, want := containerNames(got.Spec.InitContainers), []string{"migrate", proxyconfig.InitContainerName, proxyconfig.ProxyContainerName}; !reflect.DeepEqual(names, want) {
			t.Errorf("%q: init containers %v, want %v", policy, names, want)
		}
		if names := containerNames(got.Spec.Containers); !reflect.DeepEqual(names, []string{"web"}) {
			t.Errorf("%q: containers %v", policy, names)
		}
		proxy := got.Spec.InitContainers[2]
		if p := proxy.RestartPolicy; p == nil || *p != corev1.ContainerRestartPolicyAlways {
			t.Errorf("%q: the proxy is not a native sidecar", policy)
		}
		if proxy.StartupProbe == nil || proxy.StartupProbe.HTTPGet == nil {
			t.Errorf("%q: the proxy has no startup probe", policy)
		}
		if c := proxyconfig.ProxyContainerOf(&got.Spec); c == nil || c.Name != proxyconfig.ProxyContainerName {
			t.Errorf("%q: ProxyContainerOf does not find the proxy", policy)
		}
		u, err := in.Uninject(Target{Kind: "pod", Template: &corev1.PodTemplateSpec{ObjectMeta: got.ObjectMeta, Spec: got.Spec}})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(pod)
		if back := applyJSONPatch(t, &got, u.Patch); string(back) != string(want) {
			t.Errorf("%q: uninject:\n got %s\nwant %s", policy, back, want)
		}
	}
}

func containerNames(cs []corev1.Container) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

// legacyInjected is pod as an older meshctl injected it: the rules' init
// container appended to the init containers, the proxy as a regular
// container after the app's, and a marker listing it under Containers.
func legacyInjected(t *testing.T, pod *corev1.Pod, version string) *corev1.Pod {
	t.Helper()
	c := testInjector(t, version).Sidecar
	p := pod.DeepCopy()
	p.Spec.InitContainers = append(p.Spec.InitContainers, c.InitContainer())
	p.Spec.Containers = append(p.Spec.Containers, c.ProxyContainer())
	m := &Marker{Version: version, Hash: "0123456789abcdef",
		InitContainers: []string{proxyconfig.InitContainerName}, Containers: []string{proxyconfig.ProxyContainerName},
		Annotations: []string{AnnotationDefaultContainer}, Labels: []string{meshconfig.LabelProxyVersion}}
	if p.Spec.InitContainers[0].Name == proxyconfig.InitContainerName {
		m.Created = append(m.Created, CreatedInitContainers)
	}
	if p.Annotations == nil {
		m.Created = append([]string{CreatedAnnotations}, m.Created...)
		p.Annotations = map[string]string{}
	}
	p.Labels[meshconfig.LabelProxyVersion] = version
	p.Annotations[AnnotationDefaultContainer] = p.Spec.Containers[0].Name
	p.Annotations[meshconfig.AnnotationInjected] = m.String()
	return p
}

// TestUpgradeFromTheLegacyLayout: a pod injected by an older meshctl, with
// the proxy among its containers, gets this version's native sidecar, the
// same as a fresh injection, even with an init container added after the
// rules' since; and uninjecting the old layout gives the pod back.
func TestUpgradeFromTheLegacyLayout(t *testing.T) {
	in := testInjector(t, testVersion)
	for _, extraInit := range []bool{false, true} {
		pod := appPod()
		old := legacyInjected(t, pod, "v0.1.0")
		if extraInit {
			// Added to the injected pod template after the old injection:
			// it stays, and the proxy still goes right after the rules.
			old.Spec.InitContainers = append(old.Spec.InitContainers, corev1.Container{Name: "late", Image: "late"})
			pod.Spec.InitContainers = []corev1.Container{{Name: "late", Image: "late"}}
		}
		up, err := in.InjectPod(old, "")
		if err != nil {
			t.Fatal(err)
		}
		if up.Action != Upgraded || up.Detail != "from v0.1.0" {
			t.Fatalf("got %s %q", up.Action, up.Detail)
		}
		var upgraded corev1.Pod
		if err := json.Unmarshal(applyJSONPatch(t, old, up.Patch), &upgraded); err != nil {
			t.Fatal(err)
		}
		wantInit := []string{proxyconfig.InitContainerName, proxyconfig.ProxyContainerName}
		if extraInit {
			wantInit = []string{proxyconfig.InitContainerName, proxyconfig.ProxyContainerName, "late"}
		}
		if names := containerNames(upgraded.Spec.InitContainers); !reflect.DeepEqual(names, wantInit) {
			t.Errorf("extra init %v: init containers %v, want %v", extraInit, names, wantInit)
		}
		if names := containerNames(upgraded.Spec.Containers); !reflect.DeepEqual(names, []string{"web"}) {
			t.Errorf("extra init %v: containers %v", extraInit, names)
		}
		if !extraInit {
			fresh, _ := in.InjectPod(pod, "")
			var want corev1.Pod
			if err := json.Unmarshal(applyJSONPatch(t, pod, fresh.Patch), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(upgraded, want) {
				t.Errorf("upgrade differs from a fresh injection:\n got %+v\nwant %+v", upgraded, want)
			}
		}
		if again, err := in.InjectPod(&upgraded, ""); err != nil || again.Action != Unchanged {
			t.Errorf("extra init %v: injecting the upgrade again: %+v, %v", extraInit, again, err)
		}

		u, err := in.Uninject(Target{Kind: "pod", Template: &corev1.PodTemplateSpec{ObjectMeta: old.ObjectMeta, Spec: old.Spec}})
		if err != nil || u.Action != Uninjected {
			t.Fatalf("uninject: %+v, %v", u, err)
		}
		back := applyJSONPatch(t, old, u.Patch)
		if want, _ := json.Marshal(pod); string(back) != string(want) {
			t.Errorf("extra init %v: uninject of the legacy layout:\n got %s\nwant %s", extraInit, back, want)
		}
	}
}

// TestIsZeroMeta checks isZeroMeta against the reflect.DeepEqual it
// replaces: empty maps and slices are not zero.
func TestIsZeroMeta(t *testing.T) {
	for _, m := range []metav1.ObjectMeta{
		{},
		{Labels: map[string]string{}},
		{Annotations: map[string]string{}},
		{Finalizers: []string{}},
		{Name: "a"},
		{CreationTimestamp: metav1.Now()},
		{DeletionGracePeriodSeconds: new(int64)},
	} {
		if got, want := isZeroMeta(&m), reflect.DeepEqual(m, metav1.ObjectMeta{}); got != want {
			t.Errorf("isZeroMeta(%+v) = %v, want %v", m, got, want)
		}
	}
}
