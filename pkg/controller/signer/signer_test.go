package signer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/issuance"
)

// reviewFunc is a TokenReviewer made of a function.
type reviewFunc func(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error)

func (f reviewFunc) Create(_ context.Context, r *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	st, err := f(r.Spec)
	if err != nil {
		return nil, err
	}
	out := r.DeepCopy()
	out.Status = st
	return out, nil
}

// podUser is what the API server says of a pod-bound token of ns/sa.
func podUser(ns, sa string) authenticationv1.UserInfo {
	return authenticationv1.UserInfo{
		Username: "system:serviceaccount:" + ns + ":" + sa,
		Extra: map[string]authenticationv1.ExtraValue{
			ExtraPodName: {"web-1"}, ExtraPodUID: {"0b7c"},
		},
	}
}

// fakeAPI answers like the API server: the token "<ns>/<sa>" is a pod-bound
// token of that ServiceAccount for Audience; anything else is refused.
func fakeAPI(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
	ns, sa, ok := strings.Cut(spec.Token, "/")
	if !ok || len(spec.Audiences) != 1 || spec.Audiences[0] != Audience {
		return authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}, nil
	}
	return authenticationv1.TokenReviewStatus{Authenticated: true, User: podUser(ns, sa), Audiences: spec.Audiences}, nil
}

func TestAuthenticateReasons(t *testing.T) {
	ok := func(u authenticationv1.UserInfo, aud ...string) reviewFunc {
		return func(authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
			return authenticationv1.TokenReviewStatus{Authenticated: true, User: u, Audiences: aud}, nil
		}
	}
	for _, tc := range []struct {
		name     string
		reviewer reviewFunc
		token    string
		want     Reason
	}{
		{"no token", reviewFunc(fakeAPI), "", ReasonNotAuthenticated},
		{"not authenticated", reviewFunc(fakeAPI), "garbage", ReasonNotAuthenticated},
		{"review failed", func(authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
			return authenticationv1.TokenReviewStatus{}, errors.New("connection refused")
		}, "ns/sa", ReasonReviewFailed},
		// An API server that ignores the requested audience and
		// authenticates the token for its own.
		{"audience not confirmed", ok(podUser("ns", "sa"), "https://kubernetes.default.svc"), "t", ReasonAudience},
		{"no audience", ok(podUser("ns", "sa")), "t", ReasonAudience},
		{"user", ok(authenticationv1.UserInfo{Username: "alice"}, Audience), "t", ReasonNotServiceAccount},
		{"node", ok(authenticationv1.UserInfo{Username: "system:node:n1"}, Audience), "t", ReasonNotServiceAccount},
		{"extra field", ok(authenticationv1.UserInfo{Username: "system:serviceaccount:a:b:c"}, Audience), "t", ReasonNotServiceAccount},
		{"not pod-bound", ok(authenticationv1.UserInfo{Username: "system:serviceaccount:ns:sa"}, Audience), "t", ReasonNotPodBound},
		{"two pods", ok(authenticationv1.UserInfo{Username: "system:serviceaccount:ns:sa",
			Extra: map[string]authenticationv1.ExtraValue{ExtraPodName: {"a", "b"}, ExtraPodUID: {"u"}}}, Audience), "t", ReasonNotPodBound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Authenticate(context.Background(), tc.reviewer, tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Authenticate = %+v, %v; want %v", c, err, tc.want)
			}
			for _, other := range []Reason{ReasonNotAuthenticated, ReasonAudience, ReasonNotServiceAccount, ReasonNotPodBound, ReasonReviewFailed, ReasonNoIssuer} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("the error also matches %v", other)
				}
			}
		})
	}
	c, err := Authenticate(context.Background(), reviewFunc(fakeAPI), "ns/sa")
	if err != nil || c != (Caller{Namespace: "ns", ServiceAccount: "sa", PodName: "web-1", PodUID: "0b7c"}) {
		t.Fatalf("Authenticate = %+v, %v", c, err)
	}
}

func TestParseServiceAccountUsername(t *testing.T) {
	// The longest name Kubernetes allows: 253 bytes of 63-byte labels.
	l63 := strings.Repeat("b", 63)
	longSA := l63 + "." + l63 + "." + l63 + "." + strings.Repeat("c", 61)
	good := map[string][2]string{
		"system:serviceaccount:default:default": {"default", "default"},
		"system:serviceaccount:ns-1:my.sa-2":    {"ns-1", "my.sa-2"},
		"system:serviceaccount:a:" + longSA:     {"a", longSA},
	}
	for in, want := range good {
		ns, sa, ok := ParseServiceAccountUsername(in)
		if !ok || ns != want[0] || sa != want[1] {
			t.Errorf("%q: %q %q %v, want %q", in, ns, sa, ok, want)
		}
	}
	for _, in := range []string{
		"", "alice", "system:node:n1", "system:serviceaccount:", "system:serviceaccount:ns",
		"system:serviceaccount:ns:", "system:serviceaccount::sa", "system:serviceaccount:a:b:c",
		"System:serviceaccount:ns:sa", "system:serviceaccounts:ns", "system:serviceaccount:NS:sa",
		"system:serviceaccount:ns:SA", "system:serviceaccount:ns:sa ", " system:serviceaccount:ns:sa",
		"system:serviceaccount:n.s:sa", "system:serviceaccount:-ns:sa", "system:serviceaccount:ns:sa/x",
		"system:serviceaccount:ns:" + longSA + "c", "system:serviceaccount:ns:" + strings.Repeat("b", 64), "system:serviceaccount:" + strings.Repeat("a", 64) + ":sa",
		"xsystem:serviceaccount:ns:sa",
	} {
		if ns, sa, ok := ParseServiceAccountUsername(in); ok {
			t.Errorf("%q: accepted as %q %q", in, ns, sa)
		}
	}
}

// FuzzParseServiceAccountUsername holds the parser to its contract: what
// it accepts is exactly the prefix and two names that make a valid
// identity, and the username is rebuilt from them byte for byte.
func FuzzParseServiceAccountUsername(f *testing.F) {
	for _, s := range []string{"system:serviceaccount:ns:sa", "system:serviceaccount:a:b:c", "alice", "system:serviceaccount:ns:a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, username string) {
		ns, sa, ok := ParseServiceAccountUsername(username)
		if !ok {
			if ns != "" || sa != "" {
				t.Fatalf("refused, yet returned %q %q", ns, sa)
			}
			return
		}
		if "system:serviceaccount:"+ns+":"+sa != username {
			t.Fatalf("%q parsed as %q %q, which is another username", username, ns, sa)
		}
		if strings.Contains(ns, ":") || strings.Contains(sa, ":") {
			t.Fatalf("%q: a part holds ':'", username)
		}
		if _, err := identity.NewID(identity.DefaultTrustDomain, ns, sa); err != nil {
			t.Fatalf("%q accepted, but is no identity: %v", username, err)
		}
	})
}

// csrWithDNS asks for ns/sa's ID and a DNS name as well.
func csrWithDNS(t testing.TB, ns, sa string) []byte {
	t.Helper()
	key, err := identity.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("spiffe://" + identity.DefaultTrustDomain + "/ns/" + ns + "/sa/" + sa)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}, DNSNames: []string{"kubernetes.default.svc"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestHandler(t *testing.T) {
	c := identitytest.NewCA(t, time.Now())
	var issuer *identity.Issuer = c.Issuer
	s := &Signer{Issuer: func() *identity.Issuer { return issuer }, Reviewer: reviewFunc(fakeAPI), Now: func() time.Time { return c.Now }}
	srv := httptest.NewServer(&Handler{Signer: s})
	defer srv.Close()
	do := func(method, path string, header map[string]string, body []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", issuance.ContentTypeCSR)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	auth := map[string]string{"Authorization": "Bearer ns/sa"}
	csr := identitytest.CSR(t, "ns", "sa")
	for _, tc := range []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   []byte
		want   int
	}{
		{"wrong method", http.MethodGet, Path, auth, nil, http.StatusMethodNotAllowed},
		{"wrong path", http.MethodPost, "/v1/certificate", auth, csr, http.StatusNotFound},
		{"no token", http.MethodPost, Path, nil, csr, http.StatusUnauthorized},
		{"basic auth", http.MethodPost, Path, map[string]string{"Authorization": "Basic YTpi"}, csr, http.StatusBadRequest},
		{"wrong content type", http.MethodPost, Path, map[string]string{"Authorization": "Bearer ns/sa", "Content-Type": "application/json"}, csr, http.StatusUnsupportedMediaType},
		{"too big", http.MethodPost, Path, auth, make([]byte, issuance.MaxCSRBytes+1), http.StatusRequestEntityTooLarge},
		{"bad token", http.MethodPost, Path, map[string]string{"Authorization": "Bearer garbage"}, csr, http.StatusUnauthorized},
		{"malformed CSR", http.MethodPost, Path, auth, []byte("not DER"), http.StatusBadRequest},
		{"another identity", http.MethodPost, Path, map[string]string{"Authorization": "Bearer ns/other"}, csr, http.StatusForbidden},
		{"extra DNS name", http.MethodPost, Path, auth, csrWithDNS(t, "ns", "sa"), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(tc.method, tc.path, tc.header, tc.body)
			if code != tc.want {
				t.Fatalf("%d %q, want %d", code, body, tc.want)
			}
			if strings.Contains(body, "ns/sa") || strings.Contains(body, "spiffe://") {
				t.Errorf("the body %q names the caller or the identity", body)
			}
		})
	}

	code, body := do(http.MethodPost, Path, auth, csr)
	if code != http.StatusOK {
		t.Fatalf("%d %q", code, body)
	}
	chain, err := issuance.ParseChain([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Verify(chain, c.Bundle, c.Now)
	if err != nil || id.String() != "spiffe://cluster.local/ns/ns/sa/sa" {
		t.Fatalf("issued %v, %v", id, err)
	}

	t.Run("review failed", func(t *testing.T) {
		h := &Handler{Signer: &Signer{Issuer: s.Issuer, Reviewer: reviewFunc(func(authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
			return authenticationv1.TokenReviewStatus{}, errors.New("secret internals")
		})}}
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(csr))
		req.Header.Set("Authorization", "Bearer ns/sa")
		req.Header.Set("Content-Type", issuance.ContentTypeCSR)
		h.ServeHTTP(w, req)
		if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "secret") {
			t.Fatalf("%d %q, want 503 without the cause", w.Code, w.Body)
		}
	})
	t.Run("no issuer", func(t *testing.T) {
		issuer = nil
		defer func() { issuer = c.Issuer }()
		if code, body := do(http.MethodPost, Path, auth, csr); code != http.StatusServiceUnavailable {
			t.Fatalf("%d %q, want 503", code, body)
		}
	})
}

// TestSignIdentityFromTokenOnly: whatever the CSR says, the identity is the
// token's; a CSR that asks for the token's own identity is the only one
// signed.
func TestSignIdentityFromTokenOnly(t *testing.T) {
	c := identitytest.NewCA(t, time.Now())
	s := &Signer{Issuer: func() *identity.Issuer { return c.Issuer }, Reviewer: reviewFunc(fakeAPI), TrustDomain: "cluster.local", Lifetime: time.Hour}
	if _, err := s.Sign(context.Background(), "attacker/sa", identitytest.CSR(t, "victim", "sa")); !errors.Is(err, identity.ReasonCSRIdentity) {
		t.Fatalf("a CSR for the victim signed with the attacker's token: %v", err)
	}
	chain, err := s.Sign(context.Background(), "attacker/sa", identitytest.CSR(t, "attacker", "sa"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got > time.Hour+identity.Backdate {
		t.Errorf("lifetime %s, want the signer's hour", got)
	}
	if _, err := (&Signer{Issuer: s.Issuer}).Sign(context.Background(), "attacker/sa", identitytest.CSR(t, "attacker", "sa")); !errors.Is(err, ReasonReviewFailed) {
		t.Errorf("no reviewer: %v", err)
	}
}

// TestReviewsLimited: past the limit, a request is refused with 503 and
// Retry-After before its token costs the API server a review.
func TestReviewsLimited(t *testing.T) {
	c := identitytest.NewCA(t, time.Now())
	var reviews int
	s := &Signer{Issuer: func() *identity.Issuer { return c.Issuer }, Now: func() time.Time { return c.Now },
		Reviewer: reviewFunc(func(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
			reviews++
			return authenticationv1.TokenReviewStatus{}, nil // unauthenticated
		})}
	h := &Handler{Signer: s, Reviews: rate.NewLimiter(0, 2)}
	csr := identitytest.CSR(t, "ns", "sa")
	var codes []int
	for range 4 {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(csr))
		req.Header.Set("Authorization", "Bearer forged")
		req.Header.Set("Content-Type", issuance.ContentTypeCSR)
		h.ServeHTTP(w, req)
		codes = append(codes, w.Code)
		if w.Code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
			t.Error("a 503 without Retry-After")
		}
	}
	if want := []int{401, 401, 503, 503}; !slices.Equal(codes, want) || reviews != 2 {
		t.Errorf("answers %v after %d reviews, want %v after 2", codes, reviews, want)
	}
}
