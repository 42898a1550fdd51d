package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// UniqueName returns a DNS-1123 label made from prefix, unique in this run.
func UniqueName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	p := strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(prefix), "-"), "-")
	if len(p) > 50 {
		p = strings.Trim(p[:50], "-")
	}
	return p + "-" + hex.EncodeToString(b)
}

// Namespace creates a namespace of the test's own, with the given labels, and
// deletes it when the test ends.
func (e *Env) Namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	name := UniqueName("t-" + t.Name())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := e.Clients.Kube.CoreV1().Namespaces().Create(Context(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() { e.deleteNamespace(t, name) })
	return name
}

// CreateNamespace creates a namespace with a fixed name (the control-plane
// namespace, say), deleting it when the test ends.
func (e *Env) CreateNamespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := e.Clients.Kube.CoreV1().Namespaces().Create(Context(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() { e.deleteNamespace(t, name) })
}

// deleteNamespace deletes a namespace. With no controller-manager in the test
// environment a namespace stays Terminating forever, so tests must not reuse
// fixed names across tests; UniqueName avoids that.
func (e *Env) deleteNamespace(t testing.TB, name string) {
	err := e.Clients.Kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting namespace %s: %v", name, err)
	}
}

// User returns a configuration and a kubeconfig file that act as a user who
// may do only what rules allow, cluster-wide. It works on any cluster: the
// admin impersonates the user, and the API server authorizes each request as
// that user. The user and its RBAC objects are removed when the test ends.
func (e *Env) User(t testing.TB, rules ...rbacv1.PolicyRule) (*rest.Config, string) {
	t.Helper()
	ctx := Context(t)
	name := UniqueName("user-" + t.Name())
	rbac := e.Clients.Kube.RbacV1()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating ClusterRole %s: %v", name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}},
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating ClusterRoleBinding %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	e.waitForRBAC(t, name, rules)
	cfg := rest.CopyConfig(e.Config)
	// Every authenticated user is in this group; without it discovery fails.
	cfg.Impersonate = rest.ImpersonationConfig{UserName: name, Groups: []string{"system:authenticated"}}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := WriteKubeconfig(cfg, path); err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

// waitForRBAC waits until the API server's authorizer has seen the new role
// binding: its RBAC cache is filled by an informer, so a request made right
// after the binding was created may still be refused, which made permission
// tests flaky. It asks, for each rule, whether its first verb on its first
// resource is allowed.
func (e *Env) waitForRBAC(t testing.TB, user string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := Context(t)
	for _, r := range rules {
		if len(r.Verbs) == 0 || len(r.Resources) == 0 {
			continue
		}
		group := ""
		if len(r.APIGroups) > 0 && r.APIGroups[0] != "*" {
			group = r.APIGroups[0]
		}
		attrs := &authorizationv1.ResourceAttributes{Verb: r.Verbs[0], Group: group, Resource: r.Resources[0]}
		if len(r.ResourceNames) > 0 {
			attrs.Name = r.ResourceNames[0]
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:authenticated"}, ResourceAttributes: attrs,
		}}
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := e.Clients.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err == nil && got.Status.Allowed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("RBAC for user %s: %s %s was still not allowed after 30s (err %v)", user, attrs.Verb, attrs.Resource, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// WriteKubeconfig writes cfg, impersonation included, as a kubeconfig file.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	const name = "testenv"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
		CertificateAuthority:     cfg.CAFile,
		InsecureSkipTLSVerify:    cfg.Insecure,
	}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientCertificate:     cfg.CertFile,
		ClientKeyData:         cfg.KeyData,
		ClientKey:             cfg.KeyFile,
		Token:                 cfg.BearerToken,
		Username:              cfg.Username,
		Password:              cfg.Password,
		Impersonate:           cfg.Impersonate.UserName,
		ImpersonateGroups:     cfg.Impersonate.Groups,
	}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// Webhook is an HTTPS server in the test process that the API server calls
// by URL.
type Webhook struct {
	// URL is the server's base URL, on 127.0.0.1.
	URL string
	// CABundle is the PEM certificate the API server must trust.
	CABundle []byte
}

// ServeWebhook starts handler on a TLS server on loopback for the length of
// the test. The API server must run on this machine to reach it, so this
// fails against MESHCTL_TEST_KUBECONFIG.
func (e *Env) ServeWebhook(t testing.TB, handler http.Handler) Webhook {
	t.Helper()
	if e.External {
		t.Fatalf("webhook tests need the local API server: unset %s to run them", EnvKubeconfig)
	}
	srv := httptest.NewTLSServer(handler)
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return Webhook{URL: srv.URL, CABundle: ca}
}

// RegisterMutatingWebhook registers cfg for the length of the test and waits
// until the API server calls it: probe must create an object that the webhook
// sees, and report true once the webhook has answered it.
func (e *Env) RegisterMutatingWebhook(t testing.TB, cfg *admissionregistrationv1.MutatingWebhookConfiguration, probe func() bool) {
	t.Helper()
	ctx := Context(t)
	api := e.Clients.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := api.Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatalf("registering webhook %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() { _ = api.Delete(context.Background(), cfg.Name, metav1.DeleteOptions{}) })
	// The API server picks up webhook configurations from an informer, so a
	// new one takes effect after a short, unspecified delay.
	deadline := time.Now().Add(30 * time.Second)
	for !probe() {
		if time.Now().After(deadline) {
			t.Fatalf("webhook %s was not called within 30s of registration", cfg.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
