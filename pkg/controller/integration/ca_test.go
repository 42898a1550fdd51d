package integration_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/controller"
	"github.com/meshctl/meshctl/pkg/controller/ca"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/issuance"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// newAnchor is a trust anchor of the default trust domain.
func newAnchor(t testing.TB) *identity.Anchor {
	t.Helper()
	a, err := identity.GenerateAnchor(identity.DefaultTrustDomain, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// newIssuer is an issuer anchor signed, valid for a year.
func newIssuer(t testing.TB, a *identity.Anchor) *identity.Issuer {
	t.Helper()
	is, err := identity.GenerateIssuer(a, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// putIssuer writes is into the issuer Secret, as meshctl install or
// cert-manager would.
func (m *mesh) putIssuer(t testing.TB, is *identity.Issuer) {
	t.Helper()
	crt, key, anchors, err := is.SecretData()
	if err != nil {
		t.Fatal(err)
	}
	m.putSecret(t, map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key, "ca.crt": anchors})
}

// putSecret creates or replaces the issuer Secret's data.
func (m *mesh) putSecret(t testing.TB, data map[string][]byte) {
	t.Helper()
	ctx := testenv.Context(t)
	api := env.Clients.Kube.CoreV1().Secrets(m.Namespace)
	sec, err := api.Get(ctx, meshconfig.IssuerSecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: meshconfig.IssuerSecretName},
			Type:       corev1.SecretTypeTLS,
			Data:       data,
		}, metav1.CreateOptions{})
	} else if err == nil {
		sec.Data = data
		_, err = api.Update(ctx, sec, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("writing the issuer Secret: %v", err)
	}
}

// putBundle creates or replaces the trust bundle ConfigMap.
func (m *mesh) putBundle(t testing.TB, pemData []byte) {
	t.Helper()
	ctx := testenv.Context(t)
	api := env.Clients.Kube.CoreV1().ConfigMaps(m.Namespace)
	cm, err := api.Get(ctx, meshconfig.TrustBundleName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: meshconfig.TrustBundleName},
			Data:       map[string]string{meshconfig.TrustBundleKey: string(pemData)},
		}, metav1.CreateOptions{})
	} else if err == nil {
		cm.Data = map[string]string{meshconfig.TrustBundleKey: string(pemData)}
		_, err = api.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("writing the trust bundle ConfigMap: %v", err)
	}
}

// bundle is what a proxy of this mesh trusts: the mesh's anchor.
func (m *mesh) bundle(t testing.TB) *identity.Bundle {
	t.Helper()
	b, err := identity.NewBundle(identity.DefaultTrustDomain, m.Anchor.CertificatePEM())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (m *mesh) controllerID(t testing.TB) identity.ID {
	t.Helper()
	id, err := meshconfig.ControllerID(identity.DefaultTrustDomain, m.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// proxyClient is how a proxy trusting bundle reaches the proxy API port:
// identity.APIClientConfig, which holds the controller to its ID.
func (m *mesh) proxyClient(t testing.TB, bundle *identity.Bundle, want identity.ID) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: identity.APIClientConfig(identity.Sources{Bundle: func() *identity.Bundle { return bundle }}, want)}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// sign asks the controller for a certificate over the proxy API port, as a
// proxy does.
func (m *mesh) sign(t testing.TB, token string, csr []byte) ([][]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testenv.Context(t), 30*time.Second)
	defer cancel()
	return issuance.Request(ctx, m.proxyClient(t, m.bundle(t), m.controllerID(t)), "https://"+m.ProxyAPIAddr, token, csr)
}

// workload is a pod running as a ServiceAccount, in a namespace of its
// own (not enrolled, so the webhook leaves it alone).
type workload struct {
	ns, sa string
	pod    *corev1.Pod
}

func newWorkload(t testing.TB, sa string) *workload {
	t.Helper()
	ctx := testenv.Context(t)
	w := &workload{ns: env.Namespace(t, nil), sa: sa}
	if _, err := env.Clients.Kube.CoreV1().ServiceAccounts(w.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := env.Clients.Kube.CoreV1().Pods(w.ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa, AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.pod = p
	return w
}

// token is a pod-bound token of the workload's ServiceAccount by
// TokenRequest, for audiences (none: the API server's own).
func (w *workload) token(t testing.TB, audiences ...string) string {
	t.Helper()
	got, err := env.Clients.Kube.CoreV1().ServiceAccounts(w.ns).CreateToken(testenv.Context(t), w.sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         audiences,
		ExpirationSeconds: ptr.To[int64](600),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: w.pod.Name, UID: w.pod.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", w.ns, w.sa, err)
	}
	return got.Status.Token
}

func (w *workload) id(t testing.TB) identity.ID {
	t.Helper()
	id, err := identity.NewID(identity.DefaultTrustDomain, w.ns, w.sa)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// wantStatus fails unless err is the signer's answer code.
func wantStatus(t testing.TB, what string, err error, code int) {
	t.Helper()
	var se *issuance.StatusError
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("%s: error %v, want status %d", what, err, code)
	}
}

// signedBy fails unless chain verifies against bundle as w's identity and
// was signed by is.
func signedBy(t testing.TB, chain [][]byte, bundle *identity.Bundle, w *workload, is *identity.Issuer) {
	t.Helper()
	id, err := identity.Verify(chain, bundle, time.Now())
	if err != nil {
		t.Fatalf("the chain does not verify against the bundle: %v", err)
	}
	if id != w.id(t) {
		t.Fatalf("issued for %s, want %s", id, w.id(t))
	}
	if len(chain) < 2 || !bytes.Equal(chain[1], is.Certificate().Raw) {
		t.Fatalf("not signed by the issuer %x", is.Certificate().SerialNumber)
	}
}

// events are the reasons of the Events on the issuer Secret.
func (m *mesh) events(t testing.TB) []string {
	t.Helper()
	list, err := env.Clients.Kube.CoreV1().Events(m.Namespace).List(testenv.Context(t), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", meshconfig.IssuerSecretName).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range list.Items {
		reasons = append(reasons, e.Reason)
	}
	return reasons
}

func hasEvent(reasons []string, reason string) bool {
	for _, r := range reasons {
		if r == reason {
			return true
		}
	}
	return false
}

// TestProxyAPISigning: a proxy's whole exchange over the proxy API port,
// real TLS both ways: a TokenRequest token for the mesh's audience gets a
// certificate for exactly its ServiceAccount, from the controller that
// proved it is ControllerID. A token for the API server's audience, and a
// CSR for another ServiceAccount, are refused.
func TestProxyAPISigning(t *testing.T) {
	m := startMesh(t, false)
	issuer := newIssuerOf(t, m)
	w := newWorkload(t, "app")

	chain, err := m.sign(t, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, w.sa))
	if err != nil {
		t.Fatalf("signing over the proxy API port: %v", err)
	}
	signedBy(t, chain, m.bundle(t), w, issuer)

	// Attack: a token the API server accepts, but not for the mesh.
	_, err = m.sign(t, w.token(t), identitytest.CSR(t, w.ns, w.sa))
	wantStatus(t, "a token with the API server's default audience", err, http.StatusUnauthorized)

	// Attack: app's token, asking for another ServiceAccount's identity.
	_, err = m.sign(t, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, "victim"))
	wantStatus(t, "a CSR for another ServiceAccount", err, http.StatusForbidden)

	_, metrics := m.get(t, "/metrics")
	for _, want := range []string{ca.MetricIssuerReady + " 1", ca.MetricIssuerSecretRefused + " 0", ca.MetricIssuerExpiration + " ", ca.MetricAnchorExpiration + `{serial="`} {
		if !contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// newIssuerOf is the issuer the mesh's Secret holds now.
func newIssuerOf(t testing.TB, m *mesh) *identity.Issuer {
	t.Helper()
	sec, err := env.Clients.Kube.CoreV1().Secrets(m.Namespace).Get(testenv.Context(t), meshconfig.IssuerSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	is, err := identity.LoadIssuer(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey], sec.Data["ca.crt"], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// TestControllerCertificate: the controller presents a certificate for
// ControllerID that verifies against the bundle; a proxy expecting another
// identity, or trusting another anchor, refuses the handshake.
func TestControllerCertificate(t *testing.T) {
	m := startMesh(t, false)
	want := m.controllerID(t)
	dial := func(bundle *identity.Bundle, id identity.ID) (*tls.Conn, error) {
		return tls.Dial("tcp", m.ProxyAPIAddr, identity.APIClientConfig(identity.Sources{Bundle: func() *identity.Bundle { return bundle }}, id))
	}
	conn, err := dial(m.bundle(t), want)
	if err != nil {
		t.Fatalf("handshake with the controller as %s: %v", want, err)
	}
	cs := conn.ConnectionState()
	_ = conn.Close()
	leaf := cs.PeerCertificates[0]
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want.String() {
		t.Fatalf("the controller's certificate names %v, want %s", leaf.URIs, want)
	}
	if cs.Version != tls.VersionTLS13 || cs.NegotiatedProtocol != identity.APIALPN {
		t.Errorf("TLS %x ALPN %q, want TLS 1.3 and %q", cs.Version, cs.NegotiatedProtocol, identity.APIALPN)
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if life < 23*time.Hour || life > 25*time.Hour {
		t.Errorf("the controller's certificate lives %s, want the MeshConfig's 24h", life)
	}
	other, _ := identity.NewID(identity.DefaultTrustDomain, m.Namespace, "impostor")
	if c, err := dial(m.bundle(t), other); err == nil {
		_ = c.Close()
		t.Fatal("a proxy expecting another identity accepted the controller")
	}
	otherBundle, err := identity.NewBundle(identity.DefaultTrustDomain, newAnchor(t).CertificatePEM())
	if err != nil {
		t.Fatal(err)
	}
	if c, err := dial(otherBundle, want); err == nil {
		_ = c.Close()
		t.Fatal("a proxy trusting another anchor accepted the controller")
	}
}

// TestIssuerRenewedWithoutRestart: a new issuer written into the Secret
// (as cert-manager renews it) is used for the next CSR, with no restart;
// the controller's own certificate is renewed from it too.
func TestIssuerRenewedWithoutRestart(t *testing.T) {
	m := startMesh(t, false)
	w := newWorkload(t, "app")
	old := newIssuerOf(t, m)
	chain, err := m.sign(t, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, w.sa))
	if err != nil {
		t.Fatal(err)
	}
	signedBy(t, chain, m.bundle(t), w, old)
	oldServing := m.servingIssuer(t)

	renewed := newIssuer(t, m.Anchor)
	m.putIssuer(t, renewed)
	eventually(t, "a CSR is signed by the renewed issuer", func() bool {
		chain, err := m.sign(t, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, w.sa))
		return err == nil && bytes.Equal(chain[1], renewed.Certificate().Raw)
	})
	chain, err = m.sign(t, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, w.sa))
	if err != nil {
		t.Fatal(err)
	}
	signedBy(t, chain, m.bundle(t), w, renewed)
	if got := m.servingIssuer(t); bytes.Equal(got, oldServing) || !bytes.Equal(got, renewed.Certificate().Raw) {
		t.Error("the controller's own certificate was not renewed from the new issuer")
	}
	if !hasEvent(m.events(t), ca.EventIssuerLoaded) {
		t.Errorf("no %s Event on the Secret: %v", ca.EventIssuerLoaded, m.events(t))
	}
}

// servingIssuer is the issuer certificate the controller sends on the
// proxy API port after its own.
func (m *mesh) servingIssuer(t testing.TB) []byte {
	t.Helper()
	return m.servingIssuerCert(t).Raw
}

// servingIssuerCert is servingIssuer parsed.
func (m *mesh) servingIssuerCert(t testing.TB) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", m.ProxyAPIAddr, identity.APIClientConfig(identity.Sources{Bundle: func() *identity.Bundle { return m.bundle(t) }}, m.controllerID(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) < 2 {
		t.Fatalf("the controller sent %d certificates, want its own and the issuer", len(certs))
	}
	return certs[1]
}

// TestBadIssuerUpdateKeepsTheLastGood: a Secret whose new content is not
// an issuer (here a key that is not the certificate's, then an expired
// issuer) is refused, and the controller keeps signing with the last good
// issuer, stays ready, and says so: a warning on /readyz, the metric, an
// Event on the Secret.
func TestBadIssuerUpdateKeepsTheLastGood(t *testing.T) {
	m := startMesh(t, false)
	w := newWorkload(t, "app")
	good := newIssuerOf(t, m)

	crt, _, anchors, err := good.SecretData()
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _, err := newIssuer(t, m.Anchor).SecretData()
	if err != nil {
		t.Fatal(err)
	}
	m.putSecret(t, map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: otherKey, "ca.crt": anchors})
	eventually(t, "/readyz warns of the refused Secret", func() bool {
		code, body := m.get(t, "/readyz")
		return code == http.StatusOK && contains(body, "warning: "+controller.ReadyIssuer+": ")
	})
	chain, err := m.sign(t, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, w.sa))
	if err != nil {
		t.Fatalf("signing after a bad update: %v", err)
	}
	signedBy(t, chain, m.bundle(t), w, good)
	if _, metrics := m.get(t, "/metrics"); !contains(metrics, ca.MetricIssuerSecretRefused+" 1") || !contains(metrics, ca.MetricIssuerReady+" 1") {
		t.Errorf("metrics do not say the Secret is refused while signing goes on")
	}
	eventually(t, "an "+ca.EventIssuerRefused+" Event on the Secret", func() bool { return hasEvent(m.events(t), ca.EventIssuerRefused) })

	// An issuer that has expired is no better.
	expired, err := identity.GenerateIssuer(m.Anchor, time.Hour, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	m.putIssuer(t, expired)
	eventually(t, "/readyz still warns", func() bool {
		code, body := m.get(t, "/readyz")
		return code == http.StatusOK && contains(body, "warning: "+controller.ReadyIssuer+": ") && contains(body, "renew")
	})
	chain, err = m.sign(t, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, w.sa))
	if err != nil {
		t.Fatalf("signing after an expired issuer was written: %v", err)
	}
	signedBy(t, chain, m.bundle(t), w, good)

	// Fixed: the warning goes.
	m.putIssuer(t, good)
	eventually(t, "/readyz without warning", func() bool {
		code, body := m.get(t, "/readyz")
		return code == http.StatusOK && !contains(body, "warning")
	})
}

// TestIssuerNotInBundle: an issuer from an anchor the bundle does not hold
// is not used: its leaves would not verify at any proxy. The controller is
// not ready and signing answers 503 until the bundle holds that anchor.
func TestIssuerNotInBundle(t *testing.T) {
	m := startMesh(t, false)
	w := newWorkload(t, "app")
	foreign := newAnchor(t)
	foreignIssuer := newIssuer(t, foreign)
	m.putIssuer(t, foreignIssuer) // a valid issuer in itself: its ca.crt is its own anchor
	eventually(t, "/readyz names the issuer", func() bool {
		code, body := m.get(t, "/readyz")
		return code == http.StatusServiceUnavailable && contains(body, controller.ReadyIssuer+": ") && contains(body, "trust bundle")
	})
	_, err := m.sign(t, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, w.sa))
	wantStatus(t, "signing with an issuer outside the bundle", err, http.StatusServiceUnavailable)
	if _, metrics := m.get(t, "/metrics"); !contains(metrics, ca.MetricIssuerReady+" 0") {
		t.Error("metrics do not say the issuer is not ready")
	}
	eventually(t, "an "+ca.EventIssuerUntrusted+" Event", func() bool { return hasEvent(m.events(t), ca.EventIssuerUntrusted) })

	// An anchor rotation's first step: the bundle holds both anchors.
	both := append(m.Anchor.CertificatePEM(), foreign.CertificatePEM()...)
	m.putBundle(t, both)
	eventually(t, "/readyz", func() bool {
		code, _ := m.get(t, "/readyz")
		return code == http.StatusOK
	})
	bundle, err := identity.NewBundle(identity.DefaultTrustDomain, both)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(testenv.Context(t), 30*time.Second)
	defer cancel()
	chain, err := issuance.Request(ctx, m.proxyClient(t, bundle, m.controllerID(t)), "https://"+m.ProxyAPIAddr, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, w.sa))
	if err != nil {
		t.Fatal(err)
	}
	signedBy(t, chain, bundle, w, foreignIssuer)
}

// TestTrustBundleFallback: without the ConfigMap, the bundle is the issuer
// Secret's ca.crt, and that is what the copies get.
func TestTrustBundleFallback(t *testing.T) {
	m := startMesh(t, false)
	if err := env.Clients.Kube.CoreV1().ConfigMaps(m.Namespace).Delete(testenv.Context(t), meshconfig.TrustBundleName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A new issuer with a second anchor in its ca.crt shows which source
	// the bundle came from.
	second := newAnchor(t)
	crt, key, anchors, err := newIssuer(t, m.Anchor).SecretData()
	if err != nil {
		t.Fatal(err)
	}
	m.putSecret(t, map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key, "ca.crt": append(anchors, second.CertificatePEM()...)})
	ns := m.enrolledNamespace(t)
	want := string(append(m.Anchor.CertificatePEM(), second.CertificatePEM()...))
	eventually(t, "the copy holds the Secret's ca.crt", func() bool { return copyData(t, ns) == want })
	if code, body := m.get(t, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d %s", code, body)
	}
}

// copyData is the bundle's copy in ns, "" when there is none.
func copyData(t testing.TB, ns string) string {
	t.Helper()
	cm, err := env.Clients.Kube.CoreV1().ConfigMaps(ns).Get(testenv.Context(t), meshconfig.TrustBundleName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data[meshconfig.TrustBundleKey]
}

// TestTrustBundleCopies: every enrolled namespace gets a labelled copy of
// the bundle, which follows a rotation and is put back when deleted or
// edited; a namespace that leaves the mesh keeps its copy, still updated;
// a ConfigMap of that name the mesh did not create is left alone.
func TestTrustBundleCopies(t *testing.T) {
	m := startMesh(t, false)
	ctx := testenv.Context(t)
	ns := m.enrolledNamespace(t)
	one := string(m.Anchor.CertificatePEM())
	eventually(t, "the copy appears", func() bool { return copyData(t, ns) == one })
	cm, err := env.Clients.Kube.CoreV1().ConfigMaps(ns).Get(ctx, meshconfig.TrustBundleName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range ca.CopyLabels(m.Name) {
		if cm.Labels[k] != v {
			t.Errorf("the copy's labels %v lack %s=%s", cm.Labels, k, v)
		}
	}

	// An anchor rotation: the bundle gains an anchor, the copy follows.
	two := one + string(newAnchor(t).CertificatePEM())
	m.putBundle(t, []byte(two))
	eventually(t, "the copy follows the update", func() bool { return copyData(t, ns) == two })

	// Deleted or edited, the copy is put back.
	if err := env.Clients.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, meshconfig.TrustBundleName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted copy is put back", func() bool { return copyData(t, ns) == two })
	cm, err = env.Clients.Kube.CoreV1().ConfigMaps(ns).Get(ctx, meshconfig.TrustBundleName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data[meshconfig.TrustBundleKey] = "tampered"
	if _, err := env.Clients.Kube.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the edited copy is put back", func() bool { return copyData(t, ns) == two })

	// A namespace in no mesh gets a copy too, for the pods `meshctl
	// inject` meshes there; Kubernetes' own namespaces do not.
	plain := env.Namespace(t, nil)
	eventually(t, "a namespace in no mesh gets its copy", func() bool { return copyData(t, plain) == two })
	if _, err := env.Clients.Kube.CoreV1().ConfigMaps("kube-system").Get(ctx, meshconfig.TrustBundleName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("kube-system has a copy of the trust bundle (%v)", err)
	}

	// A namespace leaving the mesh keeps its copy, and its updates.
	if _, err := env.Clients.Kube.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"`+meshconfig.LabelMonitoredBy+`":null}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	m.putBundle(t, []byte(one))
	eventually(t, "the copy of a namespace that left follows the update", func() bool { return copyData(t, ns) == one })

	// Someone else's ConfigMap of that name is not overwritten: made while
	// the namespace was another mesh's, which ours leaves alone.
	theirs := env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: "another-mesh"})
	if _, err := env.Clients.Kube.CoreV1().ConfigMaps(theirs).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: meshconfig.TrustBundleName},
		Data:       map[string]string{meshconfig.TrustBundleKey: "theirs"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clients.Kube.CoreV1().Namespaces().Patch(ctx, theirs, "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"`+meshconfig.LabelMonitoredBy+`":"`+m.Name+`"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// A namespace enrolled after it proves the controller has seen the
	// enrolment of the first.
	later := m.enrolledNamespace(t)
	eventually(t, "a later namespace gets its copy", func() bool { return copyData(t, later) == one })
	eventually(t, "the refusal is counted", func() bool {
		_, metrics := m.get(t, "/metrics")
		return contains(metrics, ca.MetricTrustBundleCopyErrors+" 1")
	})
	if got := copyData(t, theirs); got != "theirs" {
		t.Errorf("the controller overwrote a ConfigMap it did not create: %q", got)
	}
}

// TestChartRBACSigns: as its ServiceAccount with only the chart's roles,
// the controller reads its issuer Secret and the bundle, copies the bundle,
// records Events, and reviews tokens.
func TestChartRBACSigns(t *testing.T) {
	m := startMesh(t, true)
	w := newWorkload(t, "app")
	chain, err := m.sign(t, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, w.sa))
	if err != nil {
		t.Fatalf("signing as the least-privileged controller: %v", err)
	}
	signedBy(t, chain, m.bundle(t), w, newIssuerOf(t, m))
	ns := m.enrolledNamespace(t)
	eventually(t, "the copy appears", func() bool { return copyData(t, ns) == string(m.Anchor.CertificatePEM()) })
	m.putIssuer(t, newIssuer(t, m.Anchor))
	eventually(t, "the controller records Events on its Secret", func() bool { return hasEvent(m.events(t), ca.EventIssuerLoaded) })
	// The Secret rule is limited to its name: no other Secret is read.
	if _, err := m.Options.Kube.CoreV1().Secrets(m.Namespace).List(testenv.Context(t), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", "something-else").String(),
	}); !apierrors.IsForbidden(err) {
		t.Errorf("the ServiceAccount lists another Secret by name: %v", err)
	}
}

// TestIssuerExpiryWarning: an issuer within ca.WarnBefore of the end of
// its chain is still used, and warned about: a log line and a Warning
// Event on the Secret; its expiry is on /metrics for alerts.
func TestIssuerExpiryWarning(t *testing.T) {
	m := startMesh(t, false)
	// Three hours long, two and a half gone: WarnBefore is an hour.
	expiring, err := identity.GenerateIssuer(m.Anchor, 3*time.Hour, time.Now().Add(-150*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	m.putIssuer(t, expiring)
	eventually(t, "an "+ca.EventIssuerExpiring+" Event on the Secret", func() bool { return hasEvent(m.events(t), ca.EventIssuerExpiring) })
	want := ca.MetricIssuerExpiration + " " + strconv.FormatFloat(float64(expiring.ChainNotAfter().Unix()), 'g', -1, 64)
	if _, metrics := m.get(t, "/metrics"); !contains(metrics, want) {
		t.Errorf("/metrics lacks %q", want)
	}
	w := newWorkload(t, "app")
	chain, err := m.sign(t, w.token(t, issuance.Audience), identitytest.CSR(t, w.ns, w.sa))
	if err != nil {
		t.Fatal(err)
	}
	signedBy(t, chain, m.bundle(t), w, expiring)
}
