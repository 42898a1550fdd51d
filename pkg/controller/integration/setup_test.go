// Package integration_test runs the controller against a real API server:
// the webhook server in the test process, registered by URL, with the
// certificate, caBundle and MeshConfig handling of a deployed controller. It
// lives apart from package controller so that the unit tests and the fuzz
// target start no API server.
package integration_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/check"
	"github.com/meshctl/meshctl/pkg/controller"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// env is the API server shared by this package's tests.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// mesh is one running controller and what it serves.
type mesh struct {
	// Name is the mesh's, unique per test so that webhooks of earlier tests
	// (removed from the API server's cache only after a delay) select none
	// of this test's namespaces.
	Name string
	// Namespace is the control-plane namespace.
	Namespace string
	// Webhook is the MutatingWebhookConfiguration's name.
	Webhook string
	// Secret is the TLS Secret's name.
	Secret string
	// WebhookAddr, HealthAddr and ProxyAPIAddr are where the controller
	// listens.
	WebhookAddr, HealthAddr, ProxyAPIAddr string
	// Options are those Run was given.
	Options *controller.Options
	// Anchor signed the issuer of the issuer Secret, the one anchor of
	// the trust bundle ConfigMap.
	Anchor *identity.Anchor
}

const testSecret = "mesh-controller-tls"

// startMesh installs a mesh's CRDs and MeshConfig and its CA (the issuer
// Secret and the trust bundle ConfigMap, as meshctl install makes them),
// runs the controller as Run does in the Deployment (on loopback, with a
// certificate valid for 127.0.0.1), registers its webhook by URL with an
// empty caBundle as the chart does, and returns once the API server calls
// it and the controller is ready: it must have provisioned its certificate,
// patched the caBundle and loaded its issuer by then.
//
// With chartRBAC the controller runs as its ServiceAccount with exactly the
// chart's roles (rendered from the embedded chart), not as the admin.
func startMesh(t testing.TB, chartRBAC bool) *mesh {
	t.Helper()
	meshconfigtest.InstallCRDs(t, env.Config)
	m := &mesh{Name: testenv.UniqueName("mesh"), Namespace: env.Namespace(t, nil), Secret: testSecret}
	m.Webhook = "meshctl-" + m.Name + "-sidecar-injector"
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, m.Name, m.Namespace)
	m.Anchor = newAnchor(t)
	m.putIssuer(t, newIssuer(t, m.Anchor))
	m.putBundle(t, m.Anchor.CertificatePEM())
	clients := env.Clients
	if chartRBAC {
		clients = asControllerServiceAccount(t, m)
	}

	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan controller.Addrs, 1)
	m.Options = &controller.Options{
		MeshName: m.Name, MeshNamespace: m.Namespace, WebhookConfiguration: m.Webhook,
		WebhookService: meshconfig.ControllerName, TLSSecret: m.Secret,
		WebhookAddr: "127.0.0.1:0", HealthAddr: "127.0.0.1:0", ProxyAPIAddr: "127.0.0.1:0", ExtraIPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		ResyncInterval: 200 * time.Millisecond,
		Kube:           clients.Kube, Dynamic: clients.Dynamic,
		Listening: func(a controller.Addrs) { listening <- a },
	}
	done := make(chan error, 1)
	go func() { done <- m.Options.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
	select {
	case addrs := <-listening:
		m.WebhookAddr, m.HealthAddr, m.ProxyAPIAddr = addrs.Webhook.String(), addrs.Health.String(), addrs.ProxyAPI.String()
	case err := <-done:
		t.Fatalf("controller stopped: %v", err)
	}

	// Without its webhook configuration the controller has a certificate
	// but no caBundle to patch, and must say so.
	eventually(t, "/readyz names the missing caBundle", func() bool {
		code, body := m.get(t, "/readyz")
		return code == http.StatusServiceUnavailable && contains(body, controller.ReadyCABundle+": ") && !contains(body, controller.ReadyCertificate+": ")
	})

	probeNS := m.enrolledNamespace(t)
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: m.Webhook},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "sidecar-injector." + m.Name + ".meshctl.io",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			TimeoutSeconds:          ptr.To[int32](10),
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://" + m.WebhookAddr + controller.WebhookPath)},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{meshconfig.LabelMonitoredBy: m.Name}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
			}},
		}},
	}
	env.RegisterMutatingWebhook(t, cfg, func() bool {
		p, err := m.createPod(t, probeNS, appPod(), true)
		return err == nil && hasSidecar(p)
	})
	eventually(t, "/readyz", func() bool {
		code, _ := m.get(t, "/readyz")
		return code == http.StatusOK
	})
	return m
}

// asControllerServiceAccount creates the chart's RBAC objects for m and
// returns clients that act as the controller's ServiceAccount.
func asControllerServiceAccount(t testing.TB, m *mesh) *kube.Clients {
	t.Helper()
	ctx := testenv.Context(t)
	ch, err := check.RenderEmbeddedChart(m.Name, m.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	rbac := env.Clients.Kube.RbacV1()
	created := 0
	for _, o := range ch.Objects {
		var err error
		switch o.GetKind() {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err == nil {
				_, err = rbac.ClusterRoles().Create(ctx, &r, metav1.CreateOptions{})
				t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), r.Name, metav1.DeleteOptions{}) })
			}
		case "ClusterRoleBinding":
			var r rbacv1.ClusterRoleBinding
			if err = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err == nil {
				_, err = rbac.ClusterRoleBindings().Create(ctx, &r, metav1.CreateOptions{})
				t.Cleanup(func() { _ = rbac.ClusterRoleBindings().Delete(context.Background(), r.Name, metav1.DeleteOptions{}) })
			}
		case "Role":
			var r rbacv1.Role
			if err = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err == nil {
				_, err = rbac.Roles(m.Namespace).Create(ctx, &r, metav1.CreateOptions{})
			}
		case "RoleBinding":
			var r rbacv1.RoleBinding
			if err = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err == nil {
				_, err = rbac.RoleBindings(m.Namespace).Create(ctx, &r, metav1.CreateOptions{})
			}
		default:
			continue
		}
		if err != nil {
			t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
		created++
	}
	if created != 4 {
		t.Fatalf("the chart renders %d RBAC objects, want a ClusterRole, a Role and their bindings", created)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: serviceaccount.MakeUsername(m.Namespace, meshconfig.ControllerName),
		Groups:   serviceaccount.MakeGroupNames(m.Namespace),
	}
	cfg.Impersonate.Groups = append(cfg.Impersonate.Groups, "system:authenticated")
	clients, err := kube.NewClientsForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return clients
}

// enrolledNamespace is a namespace of the test's own, enrolled as
// `meshctl namespace add` does.
func (m *mesh) enrolledNamespace(t testing.TB) string {
	t.Helper()
	ns := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: m.Name})
	m.annotate(t, ns, meshconfig.InjectionEnabled)
	return ns
}

func (m *mesh) annotate(t testing.TB, ns, injection string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meshconfig.AnnotationSidecarInjection, injection)
	if _, err := env.Clients.Kube.CoreV1().Namespaces().Patch(testenv.Context(t), ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createPod creates pod in ns (a server-side dry run when dryRun is set:
// webhooks without side effects are called all the same).
func (m *mesh) createPod(t testing.TB, ns string, pod *corev1.Pod, dryRun bool) (*corev1.Pod, error) {
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return env.Clients.Kube.CoreV1().Pods(ns).Create(testenv.Context(t), pod.DeepCopy(), opts)
}

// get fetches path from the controller's health server.
func (m *mesh) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + m.HealthAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// servedCertificate is the serial of the certificate the webhook presents.
func (m *mesh) servedSerial(t testing.TB) string {
	t.Helper()
	conn, err := tls.Dial("tcp", m.WebhookAddr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reads the certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

// appPod is an app's pod as the API server's ServiceAccount admission
// plugin, which the test API server runs without, leaves it: naming the
// "default" ServiceAccount, which the injected identity volume's token
// needs.
func appPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{ServiceAccountName: "default", Containers: []corev1.Container{{
			Name: "web", Image: "registry.example/web:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
}

func hasSidecar(p *corev1.Pod) bool {
	return proxyContainer(p) != nil
}

// proxyContainer is the pod's proxy, which the webhook adds as a native
// sidecar (an init container with restartPolicy Always); nil for a pod
// without one, or with the proxy among its containers.
func proxyContainer(p *corev1.Pod) *corev1.Container {
	c := proxyconfig.ProxyContainerOf(&p.Spec)
	if c == nil || c.RestartPolicy == nil {
		return nil
	}
	return c
}

func toJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// eventually polls cond every 100ms for up to 30s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
