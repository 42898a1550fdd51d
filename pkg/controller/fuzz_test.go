package controller

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzAdmissionReview feeds arbitrary bodies to the webhook: it must never
// panic, and must answer either an HTTP error or an AdmissionReview whose
// response carries the request's UID, with a reason when it refuses.
func FuzzAdmissionReview(f *testing.F) {
	for _, pod := range []*corev1.Pod{appPod(), appPod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), appPod(func(p *corev1.Pod) {
		p.Annotations = map[string]string{"config.meshctl.io/skip-outbound-cidrs": "10.0.0.0/8,x"}
	})} {
		for _, ns := range []string{"shop", "plain", "gone"} {
			b, err := json.Marshal(&admissionv1.AdmissionReview{
				TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
				Request:  podRequest(f, ns, pod),
			})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","resource":{"version":"v1","resource":"pods"},"operation":"CREATE","object":null}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","resource":{"version":"v1","resource":"pods"},"operation":"CREATE","namespace":"shop","object":{"metadata":{"annotations":{"meshctl.io/injected":"garbage"}},"spec":{"containers":[{"name":"a"}]}}}}`))
	f.Add([]byte("null"))
	h := testHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body)))
		if rec.Code != http.StatusOK {
			if rec.Body.Len() == 0 {
				t.Errorf("HTTP %d without a reason", rec.Code)
			}
			return
		}
		var in, out admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			t.Fatalf("200 for a body that does not decode: %v", err)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("200 without an AdmissionReview response: %v: %s", err, rec.Body.Bytes())
		}
		r := out.Response
		if r.UID != in.Request.UID {
			t.Errorf("uid %q, want %q", r.UID, in.Request.UID)
		}
		if !r.Allowed && (r.Result == nil || r.Result.Message == "") {
			t.Errorf("refused without a reason")
		}
		if r.Allowed && len(r.Patch) > 0 {
			var ops []map[string]any
			if err := json.Unmarshal(r.Patch, &ops); err != nil {
				t.Errorf("patch is not a JSON patch: %v", err)
			}
		}
	})
}
