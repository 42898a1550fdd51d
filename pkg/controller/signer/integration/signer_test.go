// Package integration_test attacks the signer through its HTTP handler and
// the proxy's client (issuance.Request) with real tokens: minted by
// TokenRequest from a real API server and checked by a real TokenReview,
// made as a user holding exactly the RBAC rule the package doc asks the
// chart to grant. It lives apart from package signer so that the unit
// tests and the fuzz target start no API server.
package integration_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/controller/signer"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/issuance"
)

// env is the API server shared by this package's tests.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// tokenReviewRule is the rule the package doc asks the chart to grant.
var tokenReviewRule = rbacv1.PolicyRule{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}}

// fixture is a namespace with ServiceAccounts, a running signer and its CA.
type fixture struct {
	ns     string
	url    string
	bundle *identity.Bundle
	kube   kubernetes.Interface
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := testenv.Context(t)
	f := &fixture{ns: env.Namespace(t, nil), kube: env.Clients.Kube}
	for _, sa := range []string{"app", "victim"} {
		if _, err := f.kube.CoreV1().ServiceAccounts(f.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating ServiceAccount %s: %v", sa, err)
		}
	}
	ca := identitytest.NewCA(t, time.Now())
	f.bundle = ca.Bundle
	// The signer reviews tokens as a user allowed exactly the documented
	// rule, as the controller's ServiceAccount will be.
	cfg, _ := env.User(t, tokenReviewRule)
	reviewerClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &signer.Signer{
		Issuer:   func() *identity.Issuer { return ca.Issuer },
		Reviewer: reviewerClient.AuthenticationV1().TokenReviews(),
	}
	srv := httptest.NewServer(&signer.Handler{Signer: s, Log: testLogger(t)})
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// pod creates a pod running as sa and returns it.
func (f *fixture) pod(t *testing.T, name, sa string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName:           sa,
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
		},
	}
	got, err := f.kube.CoreV1().Pods(f.ns).Create(testenv.Context(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	return got
}

// token mints a token of sa by TokenRequest, bound to pod unless it is
// nil, for audiences (none: the API server's own).
func (f *fixture) token(t *testing.T, sa string, pod *corev1.Pod, audiences ...string) string {
	t.Helper()
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         audiences,
		ExpirationSeconds: ptr.To[int64](600), // the least the API server allows
	}}
	if pod != nil {
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	got, err := f.kube.CoreV1().ServiceAccounts(f.ns).CreateToken(testenv.Context(t), sa, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s (the API server must run with --service-account-issuer and --service-account-signing-key-file): %v", f.ns, sa, err)
	}
	if got.Status.Token == "" {
		t.Fatalf("TokenRequest for %s/%s returned no token", f.ns, sa)
	}
	return got.Status.Token
}

// request asks the signer through the proxy's client.
func (f *fixture) request(t *testing.T, token string, csrDER []byte) ([][]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testenv.Context(t), 30*time.Second)
	defer cancel()
	return issuance.Request(ctx, nil, f.url, token, csrDER)
}

// wantStatus fails unless err is a refusal with that status.
func wantStatus(t *testing.T, what string, chain [][]byte, err error, code int) {
	t.Helper()
	var se *issuance.StatusError
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("%s: got %d certificates and error %v, want status %d", what, len(chain), err, code)
	}
}

// verify checks chain against the test anchor and returns its identity.
func (f *fixture) verify(t *testing.T, chain [][]byte) identity.ID {
	t.Helper()
	id, err := identity.Verify(chain, f.bundle, time.Now())
	if err != nil {
		t.Fatalf("the issued chain does not verify: %v", err)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.URIs) != 1 || len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0 || leaf.IsCA {
		t.Fatalf("the leaf has URIs %v, DNS %v, IP %v, email %v, CA %v; want exactly its SPIFFE ID", leaf.URIs, leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses, leaf.IsCA)
	}
	return id
}

func (f *fixture) id(sa string) string {
	return "spiffe://" + identity.DefaultTrustDomain + "/ns/" + f.ns + "/sa/" + sa
}

// TestHappyPath: a pod-bound token for the mesh's audience gets a chain
// that verifies against the anchor and names exactly its ServiceAccount.
func TestHappyPath(t *testing.T) {
	f := setup(t)
	p := f.pod(t, "web", "app")
	tok := f.token(t, "app", p, signer.Audience)
	chain, err := f.request(t, tok, identitytest.CSR(t, f.ns, "app"))
	if err != nil {
		t.Fatal(err)
	}
	if id := f.verify(t, chain); id.String() != f.id("app") {
		t.Fatalf("issued %s, want %s", id, f.id("app"))
	}

	// The real API server reports the pod the token is bound to.
	cfg, _ := env.User(t, tokenReviewRule)
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	caller, err := signer.Authenticate(testenv.Context(t), c.AuthenticationV1().TokenReviews(), tok)
	if err != nil {
		t.Fatal(err)
	}
	want := signer.Caller{Namespace: f.ns, ServiceAccount: "app", PodName: p.Name, PodUID: string(p.UID)}
	if caller != want {
		t.Fatalf("caller %+v, want %+v", caller, want)
	}
}

// TestAnotherServiceAccount: the holder of app's token asks for victim's
// identity. The CSR naming the victim is refused, and whatever it asks,
// what it can get is app's identity.
func TestAnotherServiceAccount(t *testing.T) {
	f := setup(t)
	f.pod(t, "victim", "victim")
	attacker := f.pod(t, "attacker", "app")
	tok := f.token(t, "app", attacker, signer.Audience)

	chain, err := f.request(t, tok, identitytest.CSR(t, f.ns, "victim"))
	wantStatus(t, "app's token, a CSR for victim", chain, err, http.StatusForbidden)

	chain, err = f.request(t, tok, identitytest.CSR(t, f.ns, "app"))
	if err != nil {
		t.Fatal(err)
	}
	if id := f.verify(t, chain); id.String() != f.id("app") {
		t.Fatalf("app's token got a certificate for %s", id)
	}
}

// TestDefaultAudience: a valid pod-bound token for the API server's own
// audience (what every pod has mounted) is refused.
func TestDefaultAudience(t *testing.T) {
	f := setup(t)
	p := f.pod(t, "web", "app")
	chain, err := f.request(t, f.token(t, "app", p), identitytest.CSR(t, f.ns, "app"))
	wantStatus(t, "a token for the API server's audience", chain, err, http.StatusUnauthorized)
}

// TestGarbageAndTamperedTokens: a string that is no token, and a real
// token with its signature altered.
func TestGarbageAndTamperedTokens(t *testing.T) {
	f := setup(t)
	p := f.pod(t, "web", "app")
	tok := f.token(t, "app", p, signer.Audience)
	// Change one character of the signature (the third part of the JWT)
	// to another of the base64url alphabet.
	i := strings.LastIndexByte(tok, '.') + 5
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	tampered := tok[:i] + string(c) + tok[i+1:]
	for what, token := range map[string]string{"garbage": "not-a-token", "tampered": tampered} {
		chain, err := f.request(t, token, identitytest.CSR(t, f.ns, "app"))
		wantStatus(t, what, chain, err, http.StatusUnauthorized)
	}
}

// TestDeletedPod: a token bound to a pod stops working once the pod is
// deleted, and when another pod takes its name (another UID). This is also
// the expired-token case: TokenRequest will not mint a token shorter than
// ten minutes, and a deleted pod is how a bound token dies early.
func TestDeletedPod(t *testing.T) {
	f := setup(t)
	p := f.pod(t, "web", "app")
	tok := f.token(t, "app", p, signer.Audience)
	if _, err := f.request(t, tok, identitytest.CSR(t, f.ns, "app")); err != nil {
		t.Fatalf("before the pod is deleted: %v", err)
	}
	if err := f.kube.CoreV1().Pods(f.ns).Delete(testenv.Context(t), p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := f.kube.CoreV1().Pods(f.ns).Get(testenv.Context(t), p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s not gone after 30s: %v", p.Name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The API server reads pods from an informer first: allow it to catch
	// up, then require the refusal.
	eventuallyRefused := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			chain, err := f.request(t, tok, identitytest.CSR(t, f.ns, "app"))
			var se *issuance.StatusError
			if errors.As(err, &se) && se.Code == http.StatusUnauthorized {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %d certificates, error %v after 30s; want 401", what, len(chain), err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	eventuallyRefused("the pod deleted")
	f.pod(t, "web", "app")
	eventuallyRefused("another pod of the same name")
}

// TestNotPodBound: a token of the right ServiceAccount and audience, but
// bound to nothing, is refused: it would outlive any pod.
func TestNotPodBound(t *testing.T) {
	f := setup(t)
	chain, err := f.request(t, f.token(t, "app", nil, signer.Audience), identitytest.CSR(t, f.ns, "app"))
	wantStatus(t, "a token bound to no pod", chain, err, http.StatusUnauthorized)
}

// TestRequestForMoreThanItsIdentity: a real caller asks for its own ID and
// a DNS name, or for a CA certificate. pkg/identity holds every such case;
// this is the one end-to-end through the handler.
func TestRequestForMoreThanItsIdentity(t *testing.T) {
	f := setup(t)
	p := f.pod(t, "web", "app")
	tok := f.token(t, "app", p, signer.Audience)
	u, err := url.Parse(f.id("app"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for what, tmpl := range map[string]*x509.CertificateRequest{
		"an extra DNS name": {URIs: []*url.URL{u}, DNSNames: []string{"kubernetes.default.svc"}},
		"an extra URI":      {URIs: []*url.URL{u, {Scheme: "spiffe", Host: identity.DefaultTrustDomain, Path: "/ns/" + f.ns + "/sa/victim"}}},
		"the CA bit": {URIs: []*url.URL{u}, ExtraExtensions: []pkix.Extension{
			{Id: []int{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}},
		}},
	} {
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		chain, err := f.request(t, tok, der)
		wantStatus(t, what, chain, err, http.StatusForbidden)
	}
}

// TestUserCredential: a valid credential of a user that is no
// ServiceAccount is refused. (The API server accepts this static token for
// its own audiences only, so it is refused before its username is read;
// the username parser's refusals are held by the unit tests and the fuzz
// target.)
func TestUserCredential(t *testing.T) {
	if env.UserToken == "" {
		t.Fatalf("this test needs the local API server, which accepts a static user token: unset %s to run it", testenv.EnvKubeconfig)
	}
	f := setup(t)
	// The token is a user's indeed: the API server authenticates it.
	review, err := f.kube.AuthenticationV1().TokenReviews().Create(testenv.Context(t), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: env.UserToken}}, metav1.CreateOptions{})
	if err != nil || !review.Status.Authenticated || review.Status.User.Username != testenv.TokenUser {
		t.Fatalf("the API server does not authenticate the user token as %s: %v %+v", testenv.TokenUser, err, review)
	}
	chain, err := f.request(t, env.UserToken, identitytest.CSR(t, f.ns, "app"))
	wantStatus(t, "a user's token", chain, err, http.StatusUnauthorized)
}
