package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

const testMesh = "mesh"

type staticInjector struct {
	in  *inject.Injector
	err error
}

func (s staticInjector) Injector() (*inject.Injector, error) { return s.in, s.err }

type staticNamespaces map[string]*corev1.Namespace

func (s staticNamespaces) Namespace(_ context.Context, name string) (*corev1.Namespace, error) {
	if ns, ok := s[name]; ok {
		return ns, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, name)
}

func namespace(name, mesh, injection string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}, Annotations: map[string]string{}}}
	if mesh != "" {
		ns.Labels[meshconfig.LabelMonitoredBy] = mesh
	}
	if injection != "" {
		ns.Annotations[meshconfig.AnnotationSidecarInjection] = injection
	}
	return ns
}

// labelled adds the injection label to ns.
func labelled(ns *corev1.Namespace, injection string) *corev1.Namespace {
	ns.Labels[meshconfig.LabelSidecarInjection] = injection
	return ns
}

func testHandler(t testing.TB) *Handler {
	t.Helper()
	spec := meshconfig.DefaultSpec()
	spec.Sidecar.Image = proxyconfig.ImageRepository + ":v9.9.9"
	in, err := inject.New(spec, testMesh, meshconfig.DefaultMeshNamespace)
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{
		MeshName:  testMesh,
		Injectors: staticInjector{in: in},
		Namespaces: staticNamespaces{
			"shop":        namespace("shop", testMesh, meshconfig.InjectionEnabled),
			"plain":       namespace("plain", "", ""),
			"other":       namespace("other", "other-mesh", meshconfig.InjectionEnabled),
			"disabled":    namespace("disabled", testMesh, meshconfig.InjectionDisabled),
			"unset":       namespace("unset", testMesh, ""),
			"mesh-system": namespace(meshconfig.DefaultMeshNamespace, testMesh, meshconfig.InjectionEnabled),
			// As meshctl enrols now: the label decides, even against an
			// annotation edited by hand.
			"labelled":  labelled(namespace("labelled", testMesh, meshconfig.InjectionEnabled), meshconfig.InjectionEnabled),
			"label-off": labelled(namespace("label-off", testMesh, meshconfig.InjectionEnabled), meshconfig.InjectionDisabled),
		},
	}
}

func appPod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func podRequest(t testing.TB, ns string, pod *corev1.Pod) *admissionv1.AdmissionRequest {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return &admissionv1.AdmissionRequest{
		UID: "uid-1", Namespace: ns, Operation: admissionv1.Create,
		Kind:     metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource: podResource, Object: runtime.RawExtension{Raw: raw},
	}
}

// TestReview is the decision table: who is injected, who passes unchanged,
// who is refused, and what each counts as.
func TestReview(t *testing.T) {
	tests := []struct {
		name   string
		ns     string
		pod    *corev1.Pod
		modify func(*admissionv1.AdmissionRequest)
		want   Result
		// allowed and patched say what the response carries.
		allowed, patched bool
	}{
		{name: "enrolled", ns: "shop", pod: appPod(), want: ResultInjected, allowed: true, patched: true},
		{name: "namespace without label", ns: "plain", pod: appPod(), want: ResultNotEnrolled, allowed: true},
		{name: "namespace of another mesh", ns: "other", pod: appPod(), want: ResultNotEnrolled, allowed: true},
		{name: "namespace injection disabled", ns: "disabled", pod: appPod(), want: ResultNotEnrolled, allowed: true},
		{name: "namespace injection annotation missing", ns: "unset", pod: appPod(), want: ResultNotEnrolled, allowed: true},
		{name: "namespace labelled", ns: "labelled", pod: appPod(), want: ResultInjected, allowed: true, patched: true},
		{name: "namespace label disabled, annotation enabled", ns: "label-off", pod: appPod(), want: ResultNotEnrolled, allowed: true},
		{name: "pod opted out by label", ns: "shop", want: ResultSkipped, allowed: true, pod: appPod(func(p *corev1.Pod) {
			p.Labels = map[string]string{meshconfig.LabelSidecarInjection: meshconfig.InjectionDisabled}
		})},
		{name: "pod opted out", ns: "shop", want: ResultSkipped, allowed: true, pod: appPod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionDisabled}
		})},
		{name: "host network", ns: "shop", want: ResultSkipped, allowed: true, pod: appPod(func(p *corev1.Pod) { p.Spec.HostNetwork = true })},
		{name: "control-plane namespace", ns: "mesh-system", pod: appPod(), want: ResultSkipped, allowed: true},
		{name: "bad per-workload annotation", ns: "shop", want: ResultDenied, pod: appPod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{"config.meshctl.io/skip-inbound-ports": "http"}
		})},
		{name: "update is not ours", ns: "shop", pod: appPod(), want: ResultIgnored, allowed: true,
			modify: func(r *admissionv1.AdmissionRequest) { r.Operation = admissionv1.Update }},
		{name: "another resource", ns: "shop", pod: appPod(), want: ResultIgnored, allowed: true,
			modify: func(r *admissionv1.AdmissionRequest) { r.Resource.Resource = "services" }},
		{name: "a subresource", ns: "shop", pod: appPod(), want: ResultIgnored, allowed: true,
			modify: func(r *admissionv1.AdmissionRequest) { r.SubResource = "ephemeralcontainers" }},
		{name: "pod that is not JSON", ns: "shop", pod: appPod(), want: ResultError,
			modify: func(r *admissionv1.AdmissionRequest) { r.Object.Raw = []byte("{nope") }},
		{name: "unknown namespace", ns: "gone", pod: appPod(), want: ResultError},
	}
	h := testHandler(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := podRequest(t, tt.ns, tt.pod)
			if tt.modify != nil {
				tt.modify(req)
			}
			resp, got := h.Review(context.Background(), req)
			if got != tt.want {
				t.Errorf("result %s, want %s", got, tt.want)
			}
			if resp.UID != req.UID {
				t.Errorf("uid %q, want %q", resp.UID, req.UID)
			}
			if resp.Allowed != tt.allowed {
				t.Errorf("allowed %v, want %v (result %+v)", resp.Allowed, tt.allowed, resp.Result)
			}
			if !resp.Allowed && (resp.Result == nil || resp.Result.Message == "") {
				t.Errorf("a refusal without a message: %+v", resp.Result)
			}
			if (len(resp.Patch) > 0) != tt.patched {
				t.Errorf("patch %s, want patched %v", resp.Patch, tt.patched)
			}
		})
	}
}

// TestReviewPatchEqualsInject: the webhook's patch is pkg/inject's, and
// applied to the pod it gives the injected pod.
func TestReviewPatchEqualsInject(t *testing.T) {
	h := testHandler(t)
	pod := appPod()
	resp, _ := h.Review(context.Background(), podRequest(t, "shop", pod))
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v", resp.PatchType)
	}
	in, _ := h.Injectors.Injector()
	r, err := in.InjectPod(pod, "shop")
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(r.Patch)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.Patch, want) {
		t.Errorf("patch\n%s\nwant\n%s", resp.Patch, want)
	}
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(pod)
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	// The proxy is a native sidecar right after the rules' init container;
	// the app's containers are left as they were.
	if len(got.Spec.Containers) != 1 || len(got.Spec.InitContainers) != 2 ||
		got.Spec.InitContainers[0].Name != proxyconfig.InitContainerName ||
		got.Spec.InitContainers[1].Image != in.Sidecar.Image || proxyconfig.ProxyContainerOf(&got.Spec) != &got.Spec.InitContainers[1] {
		t.Errorf("init containers %+v, containers %+v", got.Spec.InitContainers, got.Spec.Containers)
	}
}

// TestReviewWithoutInjector: before the MeshConfig is read, enrolled pods
// are refused (the failurePolicy decides), others pass.
func TestReviewWithoutInjector(t *testing.T) {
	h := testHandler(t)
	h.Injectors = staticInjector{err: fmt.Errorf("the MeshConfig has not been read yet")}
	resp, got := h.Review(context.Background(), podRequest(t, "shop", appPod()))
	if got != ResultError || resp.Allowed || resp.Result.Code != http.StatusServiceUnavailable {
		t.Errorf("result %s, response %+v", got, resp)
	}
	if _, got := h.Review(context.Background(), podRequest(t, "plain", appPod())); got != ResultNotEnrolled {
		t.Errorf("unenrolled namespace: %s", got)
	}
}

// TestServeHTTPMalformed: whatever arrives, the answer is an HTTP error or an
// AdmissionReview, and the reasons are clear (golden).
func TestServeHTTPMalformed(t *testing.T) {
	valid, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  podRequest(t, "shop", appPod()),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, body string
	}{
		{"get", http.MethodGet, ""},
		{"empty body", http.MethodPost, ""},
		{"not json", http.MethodPost, "<xml/>"},
		{"json array", http.MethodPost, "[1,2]"},
		{"v1beta1", http.MethodPost, `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}`},
		{"wrong kind", http.MethodPost, `{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}`},
		{"no request", http.MethodPost, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`},
		{"no uid", http.MethodPost, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`},
		{"object not a pod", http.MethodPost, strings.Replace(string(valid), `"object":{`, `"object":{"spec":"x",`, 1)},
		{"valid", http.MethodPost, string(valid)},
	}
	h := testHandler(t)
	var out strings.Builder
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, WebhookPath, strings.NewReader(tt.body)))
		body := rec.Body.String()
		if rec.Code == http.StatusOK {
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil {
				t.Errorf("%s: 200 without an AdmissionReview response: %v", tt.name, err)
				continue
			}
			r := review.Response
			body = fmt.Sprintf("uid=%s allowed=%v patched=%v", r.UID, r.Allowed, len(r.Patch) > 0)
			if r.Result != nil {
				body += fmt.Sprintf(" code=%d message=%q", r.Result.Code, r.Result.Message)
			}
		}
		fmt.Fprintf(&out, "%s: %d %s\n", tt.name, rec.Code, strings.TrimSpace(body))
	}
	golden.AssertString(t, "testdata/malformed.golden", out.String())
}

// TestMetricsCountResults: the counter starts at zero for every result and
// counts each admission once.
func TestMetricsCountResults(t *testing.T) {
	h := testHandler(t)
	h.Metrics = NewMetrics()
	body, _ := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  podRequest(t, "shop", appPod()),
	})
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body)))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader("x")))
	rec := httptest.NewRecorder()
	HealthHandler(NewReadiness(), h.Metrics).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`meshctl_controller_admissions_total{result="injected"} 3`,
		`meshctl_controller_admissions_total{result="error"} 1`,
		`meshctl_controller_admissions_total{result="not_enrolled"} 0`,
		`meshctl_controller_admission_duration_seconds_count 3`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestReadiness: /readyz names what is missing until everything is in place.
func TestReadiness(t *testing.T) {
	r := NewReadiness(ReadyCertificate, ReadyCABundle)
	h := HealthHandler(r, NewMetrics())
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d", code)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "caBundle: not yet") || !strings.Contains(body, "certificate: not yet") {
		t.Errorf("/readyz %d %q", code, body)
	}
	r.Set(ReadyCertificate, nil)
	r.Set(ReadyCABundle, fmt.Errorf("forbidden"))
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || strings.Contains(body, "certificate") || !strings.Contains(body, "caBundle: forbidden") {
		t.Errorf("/readyz %d %q", code, body)
	}
	r.Set(ReadyCABundle, nil)
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d when ready", code)
	}
	// A warning is listed but does not fail the probe.
	r.Warn(ReadyIssuer, fmt.Errorf("secret refused"))
	if code, body := get("/readyz"); code != http.StatusOK || body != "ok\nwarning: issuer: secret refused\n" {
		t.Errorf("/readyz with a warning: %d %q", code, body)
	}
	r.Warn(ReadyIssuer, nil)
	if code, body := get("/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz once the warning is cleared: %d %q", code, body)
	}
}

// BenchmarkServeHTTP is the handler alone, in process: decode the review,
// inject, encode the response with its patch.
func BenchmarkServeHTTP(b *testing.B) {
	h := testHandler(b)
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  podRequest(b, "shop", appPod()),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body)))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Body.String())
		}
	}
}

// TestReviewAlreadyInjected: a pod that already carries this sidecar (made
// by `meshctl inject`, say) passes unchanged.
func TestReviewAlreadyInjected(t *testing.T) {
	h := testHandler(t)
	pod := appPod()
	resp, _ := h.Review(context.Background(), podRequest(t, "shop", pod))
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(pod)
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	injected := &corev1.Pod{}
	if err := json.Unmarshal(out, injected); err != nil {
		t.Fatal(err)
	}
	resp, got := h.Review(context.Background(), podRequest(t, "shop", injected))
	if got != ResultUnchanged || !resp.Allowed || len(resp.Patch) > 0 {
		t.Errorf("result %s, allowed %v, patch %s", got, resp.Allowed, resp.Patch)
	}
}
