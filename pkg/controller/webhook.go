package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// WebhookPath is where the API server sends AdmissionReviews; the chart's
// webhook configuration names it.
const WebhookPath = "/mutate-pods"

// maxReviewBytes bounds a request body. The API server sends at most its
// request limit (3 MiB) plus the AdmissionReview envelope.
const maxReviewBytes = 8 << 20

// Result is the outcome of one admission, as metrics count it.
type Result string

// The admission results.
const (
	ResultInjected    Result = "injected"     // patched (added, upgraded or updated)
	ResultUnchanged   Result = "unchanged"    // already carries this exact sidecar
	ResultSkipped     Result = "skipped"      // pkg/inject skipped it for a reason
	ResultNotEnrolled Result = "not_enrolled" // the namespace is not enrolled in this mesh
	ResultIgnored     Result = "ignored"      // not a Pod CREATE
	ResultDenied      Result = "denied"       // pkg/inject refused the pod
	ResultError       Result = "error"        // malformed review or controller not ready
)

// Results lists every Result, for metrics that start at zero.
func Results() []Result {
	return []Result{ResultInjected, ResultUnchanged, ResultSkipped, ResultNotEnrolled, ResultIgnored, ResultDenied, ResultError}
}

// InjectorSource gives the injector of the current MeshConfig; the error
// says why there is none yet.
type InjectorSource interface {
	Injector() (*inject.Injector, error)
}

// NamespaceGetter reads a namespace: the lister first, then the API server.
type NamespaceGetter interface {
	Namespace(ctx context.Context, name string) (*corev1.Namespace, error)
}

// Handler is the admission webhook: Pod CREATE in, the pkg/inject JSON patch
// out. It is safe for concurrent use.
type Handler struct {
	// MeshName is the mesh whose enrolled namespaces get the sidecar.
	MeshName string
	// Injectors gives the injector of the current MeshConfig.
	Injectors InjectorSource
	// Namespaces reads the pod's namespace, to check enrolment.
	Namespaces NamespaceGetter
	// Log receives one line per admission; nil discards.
	Log *slog.Logger
	// Metrics counts admissions; nil counts nothing.
	Metrics *Metrics
	// Now is the clock of the latency metric; nil is time.Now.
	Now func() time.Time
}

// ServeHTTP decodes an AdmissionReview and answers it. A body that is not an
// AdmissionReview gets 400 with the reason; a review whose request cannot be
// processed gets a response that refuses it with the reason (the API server
// then applies the webhook's failurePolicy or shows the message).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s: AdmissionReviews are POSTed", r.Method))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil {
		h.fail(w, http.StatusBadRequest, fmt.Errorf("reading the request: %w", err))
		return
	}
	if len(body) > maxReviewBytes {
		h.fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("the AdmissionReview is larger than %d bytes", maxReviewBytes))
		return
	}
	review, err := DecodeReview(body)
	if err != nil {
		h.fail(w, http.StatusBadRequest, err)
		return
	}
	resp, result := h.Review(r.Context(), review.Request)
	h.Metrics.observe(result, now().Sub(start))
	review.Response = resp
	review.Request = nil
	out, err := json.Marshal(review)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func (h *Handler) fail(w http.ResponseWriter, code int, err error) {
	h.Metrics.observe(ResultError, 0)
	h.logger().Error("bad admission request", "error", err)
	http.Error(w, err.Error(), code)
}

func (h *Handler) logger() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// DecodeReview parses an admission.k8s.io/v1 AdmissionReview that carries a
// request, and refuses anything else with an error that says what is wrong.
func DecodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	review := &admissionv1.AdmissionReview{}
	if err := json.Unmarshal(body, review); err != nil {
		return nil, fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	want := admissionv1.SchemeGroupVersion.WithKind("AdmissionReview")
	if gvk := review.GroupVersionKind(); gvk != want {
		return nil, fmt.Errorf("decoding the AdmissionReview: got apiVersion %q, kind %q; want %q, %q", review.APIVersion, review.Kind, want.GroupVersion(), want.Kind)
	}
	if review.Request == nil {
		return nil, errors.New("decoding the AdmissionReview: it has no request")
	}
	if review.Request.UID == "" {
		return nil, errors.New("decoding the AdmissionReview: request.uid is empty")
	}
	return review, nil
}

var podResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

// Review decides one admission request. It never panics on bad input: what
// cannot be decoded is refused with the reason.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, Result) {
	log := h.logger().With("uid", req.UID, "namespace", req.Namespace)
	allow := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Resource != podResource || req.SubResource != "" || req.Operation != admissionv1.Create {
		log.Debug("not a pod creation; allowed unchanged", "resource", req.Resource.Resource, "subResource", req.SubResource, "operation", req.Operation)
		return allow, ResultIgnored
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		log.Error("malformed pod", "error", err)
		return refuse(req.UID, http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err)), ResultError
	}
	name := podName(pod, req.Name)
	log = log.With("pod", name)
	ns, err := h.Namespaces.Namespace(ctx, req.Namespace)
	if err != nil {
		log.Error("reading the pod's namespace", "error", err)
		return refuse(req.UID, http.StatusInternalServerError, fmt.Errorf("namespace %q: %w", req.Namespace, err)), ResultError
	}
	if why := h.notEnrolled(ns); why != "" {
		log.Info("allowed unchanged", "reason", why)
		return allow, ResultNotEnrolled
	}
	inj, err := h.Injectors.Injector()
	if err != nil {
		log.Error("no injector", "error", err)
		return refuse(req.UID, http.StatusServiceUnavailable, err), ResultError
	}
	r, err := inj.InjectPod(pod, req.Namespace)
	if err != nil {
		log.Info("denied", "error", err)
		return refuse(req.UID, http.StatusUnprocessableEntity, fmt.Errorf("namespace %q: %w", req.Namespace, err)), ResultDenied
	}
	switch r.Action {
	case inject.Skipped:
		log.Info("allowed unchanged", "reason", r.Skip, "detail", r.Detail)
		return allow, ResultSkipped
	case inject.Unchanged:
		log.Info("allowed unchanged", "reason", r.Detail)
		return allow, ResultUnchanged
	}
	patch, err := json.Marshal(r.Patch)
	if err != nil {
		return refuse(req.UID, http.StatusInternalServerError, fmt.Errorf("encoding the patch: %w", err)), ResultError
	}
	pt := admissionv1.PatchTypeJSONPatch
	allow.Patch, allow.PatchType = patch, &pt
	log.Info(string(r.Action), "detail", r.Detail)
	return allow, ResultInjected
}

// notEnrolled says why ns is not enrolled in h's mesh, or "" when it is.
func (h *Handler) notEnrolled(ns *corev1.Namespace) string {
	inj := meshconfig.InjectionOf(ns.Labels, ns.Annotations)
	switch {
	case inj.Injects(h.MeshName):
		return ""
	case inj.Mesh == "":
		return "namespace not enrolled (no " + meshconfig.LabelMonitoredBy + " label)"
	case inj.Mesh != h.MeshName:
		return "namespace enrolled in mesh " + inj.Mesh
	case inj.LabelMissing:
		return fmt.Sprintf("namespace annotation %s is %q, not %q", meshconfig.AnnotationSidecarInjection, inj.Setting, meshconfig.InjectionEnabled)
	}
	return fmt.Sprintf("namespace label %s is %q, not %q", meshconfig.LabelSidecarInjection, inj.Setting, meshconfig.InjectionEnabled)
}

func podName(pod *corev1.Pod, reqName string) string {
	switch {
	case pod.Name != "":
		return pod.Name
	case reqName != "":
		return reqName
	case pod.GenerateName != "":
		return pod.GenerateName + "*"
	}
	return "(unnamed)"
}

func refuse(uid types.UID, code int32, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Message: "mesh-controller: " + err.Error(),
	}}
}
