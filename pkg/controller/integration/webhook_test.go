package integration_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/controller"
	"github.com/meshctl/meshctl/pkg/inject/manifest"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// TestEnrolledPodEqualsMeshctlInject: a Pod created in an enrolled namespace
// is stored with the sidecar, and it is the Pod that `meshctl inject
// --from-cluster` makes of the same manifest (created where no webhook
// acts, so the API server applies the same defaults to both).
func TestEnrolledPodEqualsMeshctlInject(t *testing.T) {
	m := startMesh(t, false)
	ctx := testenv.Context(t)
	podManifest := `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
  annotations:
    config.meshctl.io/skip-outbound-ports: "5432"
spec:
  serviceAccountName: default # as the ServiceAccount admission plugin would name it
  containers:
    - name: web
      image: registry.example/web:1
      ports:
        - name: http
          containerPort: 8080
`
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict([]byte(podManifest), pod); err != nil {
		t.Fatal(err)
	}
	ns := m.enrolledNamespace(t)
	webhooked, err := m.createPod(t, ns, pod, false)
	if err != nil {
		t.Fatal(err)
	}
	if !hasSidecar(webhooked) || len(webhooked.Spec.InitContainers) != 2 || webhooked.Annotations[meshconfig.AnnotationInjected] == "" {
		t.Fatalf("stored pod not injected:\n%s", toJSON(t, webhooked))
	}

	var out, report bytes.Buffer
	o := &manifest.Options{
		FromCluster: true, MeshName: m.Name, MeshNamespace: m.Namespace,
		Clients: kube.Static(env.Clients),
	}
	o.In, o.Out, o.ErrOut = strings.NewReader(podManifest), &out, &report
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(report.String(), "pod/web injected") {
		t.Errorf("meshctl inject report: %q", report.String())
	}
	offline := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(out.Bytes(), offline); err != nil {
		t.Fatal(err)
	}
	plain := env.Namespace(t, nil)
	stored, err := m.createPod(t, plain, offline, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"labels", webhooked.Labels, stored.Labels},
		{"annotations", webhooked.Annotations, stored.Annotations},
		{"spec", webhooked.Spec, stored.Spec},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s differ:\nwebhook:\n%s\nmeshctl inject:\n%s", f.name, toJSON(t, f.got), toJSON(t, f.want))
		}
	}
}

// TestDeploymentPodEqualsMeshctlInject: the webhook's pod of a
// Deployment (owned by its ReplicaSet "<deployment>-<pod-template-hash>",
// as the Deployment controller makes it) names the Deployment in its
// proxy's arguments exactly as `meshctl inject` of the Deployment does,
// and gets the same annotations.
func TestDeploymentPodEqualsMeshctlInject(t *testing.T) {
	m := startMesh(t, false)
	ctx := testenv.Context(t)
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      serviceAccountName: default
      containers:
        - name: web
          image: registry.example/web:1
`
	var out, report bytes.Buffer
	o := &manifest.Options{FromCluster: true, MeshName: m.Name, MeshNamespace: m.Namespace, Clients: kube.Static(env.Clients)}
	o.In, o.Out, o.ErrOut = strings.NewReader(deployment), &out, &report
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var offline appsv1.Deployment
	if err := yaml.UnmarshalStrict(out.Bytes(), &offline); err != nil {
		t.Fatal(err)
	}

	ns := m.enrolledNamespace(t)
	const hash = "5d8f7c9b6"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "web-" + hash + "-",
			Labels:       map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: hash},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-" + hash,
				UID: "6d1b1a55-0000-4000-8000-000000000001", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: *offline.Spec.Template.Spec.DeepCopy(),
	}
	// The pod the ReplicaSet would make from the template before injection.
	pod.Spec.InitContainers, pod.Spec.Volumes = nil, nil
	webhooked, err := m.createPod(t, ns, pod, false)
	if err != nil {
		t.Fatal(err)
	}
	got, want := proxyContainer(webhooked), proxyconfig.ProxyContainerOf(&offline.Spec.Template.Spec)
	if got == nil || want == nil {
		t.Fatalf("proxy containers: webhook %v, meshctl inject %v", got, want)
	}
	if !reflect.DeepEqual(got.Args, want.Args) || !slices.Contains(got.Args, "--workload-kind=deployment") || !slices.Contains(got.Args, "--workload-name=web") {
		t.Errorf("proxy arguments differ or do not name deployment/web:\nwebhook:        %q\nmeshctl inject: %q", got.Args, want.Args)
	}
	for _, k := range proxyconfig.PrometheusAnnotationKeys() {
		if webhooked.Annotations[k] == "" || webhooked.Annotations[k] != offline.Spec.Template.Annotations[k] {
			t.Errorf("annotation %s: webhook %q, meshctl inject %q", k, webhooked.Annotations[k], offline.Spec.Template.Annotations[k])
		}
	}
	if webhooked.Annotations[meshconfig.AnnotationInjected] != offline.Spec.Template.Annotations[meshconfig.AnnotationInjected] {
		t.Errorf("markers differ:\nwebhook:        %s\nmeshctl inject: %s", webhooked.Annotations[meshconfig.AnnotationInjected], offline.Spec.Template.Annotations[meshconfig.AnnotationInjected])
	}
}

// TestNotInjected: pods of namespaces that are not enrolled, enrolled in
// another mesh, or enrolled with injection disabled or unset, and pods that
// opt out or run on the host network, are stored exactly as sent.
func TestNotInjected(t *testing.T) {
	m := startMesh(t, false)
	optedOut := appPod()
	optedOut.Annotations = map[string]string{meshconfig.AnnotationSidecarInjection: meshconfig.InjectionDisabled}
	hostNet := appPod()
	hostNet.Spec.HostNetwork = true
	disabled := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: m.Name})
	m.annotate(t, disabled, meshconfig.InjectionDisabled)
	tests := []struct {
		name string
		ns   string
		pod  *corev1.Pod
	}{
		{"namespace not enrolled", env.Namespace(t, nil), appPod()},
		{"namespace of another mesh", env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: "other"}), appPod()},
		{"namespace injection disabled", disabled, appPod()},
		{"namespace injection unset", env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: m.Name}), appPod()},
		{"pod opted out", m.enrolledNamespace(t), optedOut},
		{"host network", m.enrolledNamespace(t), hostNet},
	}
	ref := env.Namespace(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.createPod(t, tt.ns, tt.pod, false)
			if err != nil {
				t.Fatal(err)
			}
			// The same pod where no webhook is registered: what untouched is.
			want, err := m.createPod(t, ref, tt.pod, false)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Spec, want.Spec) || !reflect.DeepEqual(got.Labels, want.Labels) || !reflect.DeepEqual(got.Annotations, want.Annotations) {
				t.Errorf("stored pod was changed:\n%s\nwant:\n%s", toJSON(t, got), toJSON(t, want))
			}
		})
	}
}

// TestBadAnnotationRefused: a pod whose per-workload proxy annotation does
// not parse is refused, and the user reads why in the API server's answer.
func TestBadAnnotationRefused(t *testing.T) {
	m := startMesh(t, false)
	pod := appPod()
	pod.Annotations = map[string]string{"config.meshctl.io/skip-inbound-ports": "http"}
	_, err := m.createPod(t, m.enrolledNamespace(t), pod, false)
	if err == nil || !strings.Contains(err.Error(), "mesh-controller: ") || !strings.Contains(err.Error(), "skip-inbound-ports") {
		t.Errorf("error %v, want the controller's reason naming the annotation", err)
	}
}

// TestMeshConfigImageChange: after the MeshConfig's proxy image changes, the
// next pod gets the new image, with no restart.
func TestMeshConfigImageChange(t *testing.T) {
	m := startMesh(t, false)
	ctx := testenv.Context(t)
	ns := m.enrolledNamespace(t)
	before, err := m.createPod(t, ns, appPod(), false)
	if err != nil {
		t.Fatal(err)
	}
	image := proxyconfig.ImageRepository + ":v7.7.7"
	if proxyContainer(before).Image == image {
		t.Fatalf("the proxy already runs %s", image)
	}
	patch := fmt.Sprintf(`{"spec":{"sidecar":{"image":%q}}}`, image)
	if _, err := env.Clients.Dynamic.Resource(meshconfig.GroupVersionResource).Namespace(m.Namespace).
		Patch(ctx, meshconfig.ObjectName, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// The informer delivers the change a moment later; dry runs find when.
	eventually(t, "the webhook injects the new image", func() bool {
		p, err := m.createPod(t, ns, appPod(), true)
		return err == nil && proxyContainer(p).Image == image
	})
	after, err := m.createPod(t, ns, appPod(), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := proxyContainer(after).Image; got != image {
		t.Errorf("proxy image %s, want %s", got, image)
	}
	if got := after.Spec.InitContainers[0].Image; got != image {
		t.Errorf("init image %s, want %s", got, image)
	}
}

// TestChartRBAC: the controller needs no more than the chart grants. Run as
// its ServiceAccount with only the chart's roles, it creates its Secret,
// patches the caBundle, reads namespaces and the MeshConfig, and injects.
func TestChartRBAC(t *testing.T) {
	m := startMesh(t, true)
	// The clients really are limited: no listing of Secrets.
	if _, err := m.Options.Kube.CoreV1().Secrets(m.Namespace).List(testenv.Context(t), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the ServiceAccount lists Secrets: %v", err)
	}
	p, err := m.createPod(t, m.enrolledNamespace(t), appPod(), false)
	if err != nil || !hasSidecar(p) {
		t.Fatalf("admission by the least-privileged controller: %v", err)
	}
	rotated, err := (&controller.Certs{
		Client: m.Options.Kube, Namespace: m.Namespace, SecretName: m.Secret, MeshName: m.Name,
		DNSNames: controller.ServiceDNSNames(m.Options.WebhookService, m.Namespace), IPs: m.Options.ExtraIPs,
	}).Rotate(testenv.Context(t))
	if err != nil {
		t.Fatalf("rotating as the ServiceAccount (update on its Secret): %v", err)
	}
	serial := rotated.Leaf.SerialNumber.Text(16)
	eventually(t, "the controller serves the rotated certificate", func() bool { return m.servedSerial(t) == serial })
}

// TestCertificateRotation: the controller created its Secret (the standard
// TLS keys plus the CA, labelled as the mesh's) and patched the caBundle;
// when the certificate is rotated (here by what another replica would do),
// the running controller serves the new one, and admission keeps working.
func TestCertificateRotation(t *testing.T) {
	m := startMesh(t, false)
	ctx := testenv.Context(t)
	sec, err := env.Clients.Kube.CoreV1().Secrets(m.Namespace).Get(ctx, m.Secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != corev1.SecretTypeTLS || sec.Labels[meshconfig.LabelPartOf] != meshconfig.PartOfValue || sec.Labels[meshconfig.LabelMeshName] != m.Name {
		t.Errorf("secret type %s, labels %v", sec.Type, sec.Labels)
	}
	wh, err := env.Clients.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, m.Webhook, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := wh.Webhooks[0].ClientConfig.CABundle; !bytes.Equal(got, sec.Data[controller.SecretCAKey]) {
		t.Errorf("caBundle %q is not the Secret's %s", got, controller.SecretCAKey)
	}
	old := m.servedSerial(t)
	other := &controller.Certs{
		Client: env.Clients.Kube, Namespace: m.Namespace, SecretName: m.Secret, MeshName: m.Name,
		DNSNames: controller.ServiceDNSNames(m.Options.WebhookService, m.Namespace), IPs: m.Options.ExtraIPs,
	}
	rotated, err := other.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	serial := rotated.Leaf.SerialNumber.Text(16)
	if serial == old {
		t.Fatal("Rotate kept the serial")
	}
	eventually(t, "the controller serves the rotated certificate", func() bool { return m.servedSerial(t) == serial })
	ns := m.enrolledNamespace(t)
	for range 5 {
		p, err := m.createPod(t, ns, appPod(), false)
		if err != nil {
			t.Fatalf("admission after rotation: %v", err)
		}
		if !hasSidecar(p) {
			t.Fatal("not injected after rotation")
		}
	}
	if code, body := m.get(t, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after rotation: %d %s", code, body)
	}
	_, metrics := m.get(t, "/metrics")
	if !contains(metrics, `meshctl_controller_admissions_total{result="injected"}`) || contains(metrics, `meshctl_controller_admissions_total{result="injected"} 0`) {
		t.Errorf("no injections counted:\n%s", metrics)
	}
}

// TestMalformedReview: the controller's HTTPS endpoint answers garbage with
// an error status and a reason, and keeps serving.
func TestMalformedReview(t *testing.T) {
	m := startMesh(t, false)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a test client
	for _, body := range []string{"", "{", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, "\x00\xff"} {
		resp, err := client.Post("https://"+m.WebhookAddr+controller.WebhookPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "AdmissionReview") {
			t.Errorf("body %q: %d %q", body, resp.StatusCode, b)
		}
	}
	p, err := m.createPod(t, m.enrolledNamespace(t), appPod(), false)
	if err != nil || !hasSidecar(p) {
		t.Errorf("admission after malformed reviews: %v", err)
	}
}
