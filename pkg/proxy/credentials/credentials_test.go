package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/meshctl/meshctl/internal/golden"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/issuance"
)

const (
	testNS, testSA = "bookstore", "bookstore"
	goodToken      = "token-of-bookstore"
)

// controller is a stand-in for mesh-controller's proxy API that signs with
// a real CA: the token stands for the TokenReview, which the signer's own
// tests cover against a real API server.
type controller struct {
	ca       *identitytest.CA
	addr     string
	requests atomic.Int32
	// down answers 503, as a controller without an issuer does.
	down atomic.Bool
	// signAs, when set, is the identity the controller signs for instead
	// of the caller's: a broken or hostile controller.
	signAs atomic.Pointer[identity.ID]
	// lifetime of the leaves.
	lifetime time.Duration
	// issuer, when set, signs instead of ca.Issuer: a rotated issuer.
	issuer atomic.Pointer[identity.Issuer]
}

func mustID(t testing.TB, td, ns, sa string) identity.ID {
	t.Helper()
	id, err := identity.NewID(td, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// startController serves the proxy API with a certificate for id.
func startController(t *testing.T, ca *identitytest.CA, id identity.ID) *controller {
	t.Helper()
	c := &controller{ca: ca, lifetime: identity.DefaultLeafLifetime}
	cert := ca.Leaf(t, id, time.Now(), 0)
	src := identity.Sources{Certificate: func() *tls.Certificate { return cert }, Bundle: func() *identity.Bundle { return ca.Bundle }}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+issuance.Path, func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		if c.down.Load() {
			http.Error(w, "no issuer", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get(issuance.HeaderAuthorization) != issuance.BearerPrefix+goodToken {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		want := mustID(t, identity.DefaultTrustDomain, testNS, testSA)
		if p := c.signAs.Load(); p != nil {
			want = *p
		}
		csr, _ := io.ReadAll(r.Body)
		// A hostile controller signs what it likes; Sign insists the CSR
		// names want, so sign a request of its own for that identity.
		if c.signAs.Load() != nil {
			k, _ := identity.NewKey()
			csr, _ = identity.NewCSR(k, want)
		}
		is := ca.Issuer
		if p := c.issuer.Load(); p != nil {
			is = p
		}
		chain, err := is.Sign(csr, want, c.lifetime, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", issuance.ContentTypeChain)
		w.Write(issuance.EncodeChain(chain))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: identity.APIServerConfig(src), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	c.addr = ln.Addr().String()
	return c
}

// fixture is a proxy's files and its schedule.
type fixture struct {
	dir   string
	waits chan time.Duration
	fire  chan time.Time
}

func newFixture(t *testing.T, ca *identitytest.CA) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), waits: make(chan time.Duration, 100), fire: make(chan time.Time)}
	f.write(t, "token", goodToken+"\n")
	f.write(t, "ca-bundle.crt", string(ca.Anchor.CertificatePEM()))
	return f
}

func (f *fixture) write(t *testing.T, name, content string) {
	t.Helper()
	// As the kubelet does: a new file renamed into place.
	tmp := filepath.Join(f.dir, "."+name)
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(f.dir, name)); err != nil {
		t.Fatal(err)
	}
}

// after records each wait of the renewal loop; the test fires them.
func (f *fixture) after(d time.Duration) <-chan time.Time {
	f.waits <- d
	ch := make(chan time.Time, 1)
	go func() { ch <- <-f.fire }()
	return ch
}

func (f *fixture) options(c *controller, controllerID identity.ID) Options {
	return Options{
		ControllerAddress: c.addr, ControllerID: controllerID, Namespace: testNS, ServiceAccount: testSA,
		TokenPath: filepath.Join(f.dir, "token"), BundlePath: filepath.Join(f.dir, "ca-bundle.crt"),
		After: f.after, Jitter: func() float64 { return 0 }, BundlePoll: 10 * time.Millisecond,
	}
}

func start(t *testing.T, o Options) *Credentials {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func nextWait(t *testing.T, f *fixture) time.Duration {
	t.Helper()
	select {
	case d := <-f.waits:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("the renewal loop did not wait")
		return 0
	}
}

func waitReady(t *testing.T, c *Credentials) {
	t.Helper()
	select {
	case <-c.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("not ready: %+v", c.Status())
	}
}

func TestIssueAndRenew(t *testing.T) {
	ca := identitytest.NewCA(t, time.Now())
	ctrlID := mustID(t, identity.DefaultTrustDomain, "mesh-system", "mesh-controller")
	ctrl := startController(t, ca, ctrlID)
	f := newFixture(t, ca)
	c := start(t, f.options(ctrl, ctrlID))
	waitReady(t, c)

	cert := c.Sources().Certificate()
	got, err := identity.Verify(cert.Certificate, ca.Bundle, time.Now())
	if err != nil || got != c.ID() || got.String() != "spiffe://cluster.local/ns/bookstore/sa/bookstore" {
		t.Fatalf("certificate for %s (%v), want %s", got, err, c.ID())
	}
	// Renewal is scheduled at two thirds of the lifetime (jitter 0).
	life := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore)
	want := time.Until(cert.Leaf.NotBefore.Add(life * 2 / 3))
	if d := nextWait(t, f); d < want-time.Minute || d > want+time.Second {
		t.Errorf("renewal in %s, want about %s", d, want)
	}
	st := c.Status()
	if st.Certificate == nil || st.Renewals != 1 || len(st.Anchors) != 1 || st.Certificate.Issuer == "" {
		t.Errorf("status %+v", st)
	}
	// Time to renew: a new certificate, with the same key.
	f.fire <- time.Now()
	nextWait(t, f)
	renewed := c.Sources().Certificate()
	if renewed == cert || renewed.Leaf.SerialNumber.Cmp(cert.Leaf.SerialNumber) == 0 || !renewed.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(cert.Leaf.PublicKey) {
		t.Errorf("not renewed with the same key: %v -> %v", cert.Leaf.SerialNumber, renewed.Leaf.SerialNumber)
	}
	if n := ctrl.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestRenewsEarlyOnANewIssuer: when the controller announces an issuer
// other than the one of the proxy's certificate, the proxy renews at once
// (jitter 0) instead of at two thirds of the lifetime; an announcement of
// the issuer it holds, or the same announcement again, changes nothing.
func TestRenewsEarlyOnANewIssuer(t *testing.T) {
	ca := identitytest.NewCA(t, time.Now())
	ctrlID := mustID(t, identity.DefaultTrustDomain, "mesh-system", "mesh-controller")
	ctrl := startController(t, ca, ctrlID)
	f := newFixture(t, ca)
	c := start(t, f.options(ctrl, ctrlID))
	waitReady(t, c)
	nextWait(t, f)
	before := c.Status()

	c.IssuerAnnounced(identity.FingerprintOf(ca.Issuer.Certificate()))
	if st := c.Status(); !st.RenewAt.Equal(*before.RenewAt) {
		t.Fatalf("the issuer the proxy holds was announced, and renewal moved from %s to %s", before.RenewAt, st.RenewAt)
	}

	rotated, err := identity.GenerateIssuer(ca.Anchor, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctrl.issuer.Store(rotated)
	want := identity.FingerprintOf(rotated.Certificate())
	c.IssuerAnnounced(want)
	if d := nextWait(t, f); d < time.Hour {
		t.Fatalf("after the early renewal the next waits %s, want the usual two thirds of a day", d)
	}
	st := c.Status()
	if st.Certificate == nil || st.Certificate.Issuer != want || st.Renewals != 2 {
		t.Fatalf("status %+v: want a second certificate from issuer %s", st, want)
	}
	c.IssuerAnnounced(want)
	if again := c.Status(); !again.RenewAt.Equal(*st.RenewAt) || again.Renewals != 2 {
		t.Errorf("the same announcement again moved renewal from %s to %s", st.RenewAt, again.RenewAt)
	}
	if n := ctrl.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestEarlyRenewalsAreBounded: a controller replica that still signs with
// the old issuer gets a few more tries (another replica may answer next),
// then the proxy goes back to its usual schedule instead of renewing
// forever.
func TestEarlyRenewalsAreBounded(t *testing.T) {
	ca := identitytest.NewCA(t, time.Now())
	ctrlID := mustID(t, identity.DefaultTrustDomain, "mesh-system", "mesh-controller")
	ctrl := startController(t, ca, ctrlID)
	f := newFixture(t, ca)
	c := start(t, f.options(ctrl, ctrlID))
	waitReady(t, c)
	nextWait(t, f)

	other, err := identity.GenerateIssuer(ca.Anchor, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.IssuerAnnounced(identity.FingerprintOf(other.Certificate()))
	if d := nextWait(t, f); d < time.Hour {
		t.Fatalf("waits %s, want the usual schedule once the early renewals are spent", d)
	}
	if n, want := ctrl.requests.Load(), int32(1+MaxEarlyRenewals); n != want {
		t.Errorf("%d requests, want %d: the first certificate and %d early renewals", n, want, MaxEarlyRenewals)
	}
}

// TestControllerDown: a proxy whose controller fails keeps its
// certificate, retries with growing backoff, and renews once it is back.
func TestControllerDown(t *testing.T) {
	ca := identitytest.NewCA(t, time.Now())
	ctrlID := mustID(t, identity.DefaultTrustDomain, "mesh-system", "mesh-controller")
	ctrl := startController(t, ca, ctrlID)
	f := newFixture(t, ca)
	c := start(t, f.options(ctrl, ctrlID))
	waitReady(t, c)
	cert := c.Sources().Certificate()
	nextWait(t, f)

	ctrl.down.Store(true)
	f.fire <- time.Now()
	var backoffs []time.Duration
	for range 3 {
		backoffs = append(backoffs, nextWait(t, f))
		f.fire <- time.Now()
	}
	if c.Sources().Certificate() != cert {
		t.Error("the certificate was dropped while the controller was down")
	}
	if st := c.Status(); !strings.Contains(st.LastError, "503") {
		t.Errorf("last error %q, want the 503", st.LastError)
	}
	// Jitter 0 is the lower half of each step: 0.5 s, 1 s, 2 s.
	for i, want := range []time.Duration{DefaultMinBackoff / 2, DefaultMinBackoff, 2 * DefaultMinBackoff} {
		if backoffs[i] != want {
			t.Errorf("backoff %d is %s, want %s", i, backoffs[i], want)
		}
	}
	ctrl.down.Store(false)
	nextWait(t, f) // the retry after the fourth failure
	f.fire <- time.Now()
	nextWait(t, f) // the next renewal
	if c.Sources().Certificate() == cert || c.Status().LastError != "" {
		t.Errorf("not renewed once the controller was back: %+v", c.Status())
	}
}

// TestRefusesImpostors: the token goes only to a server that proves to be
// the controller, and a certificate for another identity is never used.
func TestRefusesImpostors(t *testing.T) {
	ca := identitytest.NewCA(t, time.Now())
	ctrlID := mustID(t, identity.DefaultTrustDomain, "mesh-system", "mesh-controller")

	t.Run("a server with another identity gets no token", func(t *testing.T) {
		impostor := startController(t, ca, mustID(t, identity.DefaultTrustDomain, "bookthief", "bookthief"))
		f := newFixture(t, ca)
		c := start(t, f.options(impostor, ctrlID))
		nextWait(t, f)
		if n := impostor.requests.Load(); n != 0 {
			t.Errorf("the impostor got %d requests", n)
		}
		if st := c.Status(); !strings.Contains(st.LastError, identity.ReasonPeerIdentity.Error()) || st.Certificate != nil {
			t.Errorf("status %+v", st)
		}
	})
	t.Run("a server of another CA gets no token", func(t *testing.T) {
		other := identitytest.NewCA(t, time.Now())
		impostor := startController(t, other, ctrlID)
		f := newFixture(t, ca)
		c := start(t, f.options(impostor, ctrlID))
		nextWait(t, f)
		if n := impostor.requests.Load(); n != 0 || c.Status().Certificate != nil {
			t.Errorf("the impostor got %d requests; status %+v", n, c.Status())
		}
	})
	t.Run("no bundle, no request", func(t *testing.T) {
		ctrl := startController(t, ca, ctrlID)
		f := newFixture(t, ca)
		os.Remove(filepath.Join(f.dir, "ca-bundle.crt"))
		c := start(t, f.options(ctrl, ctrlID))
		nextWait(t, f)
		if n := ctrl.requests.Load(); n != 0 || !strings.Contains(c.Status().LastError, "no trust bundle") {
			t.Errorf("%d requests; status %+v", n, c.Status())
		}
	})
	t.Run("a certificate for another identity is not used", func(t *testing.T) {
		ctrl := startController(t, ca, ctrlID)
		thief := mustID(t, identity.DefaultTrustDomain, "bookthief", "bookthief")
		ctrl.signAs.Store(&thief)
		f := newFixture(t, ca)
		c := start(t, f.options(ctrl, ctrlID))
		nextWait(t, f)
		if st := c.Status(); st.Certificate != nil || !strings.Contains(st.LastError, "bookthief") {
			t.Errorf("status %+v", st)
		}
	})
}

// TestBundleFollowsTheFile: an anchor added to the mounted bundle is
// trusted without a restart; a file that does not parse keeps the bundle
// in use.
func TestBundleFollowsTheFile(t *testing.T) {
	ca := identitytest.NewCA(t, time.Now())
	ctrlID := mustID(t, identity.DefaultTrustDomain, "mesh-system", "mesh-controller")
	ctrl := startController(t, ca, ctrlID)
	f := newFixture(t, ca)
	c := start(t, f.options(ctrl, ctrlID))
	waitReady(t, c)
	next := identitytest.NewCA(t, time.Now())
	f.write(t, "ca-bundle.crt", string(ca.Anchor.CertificatePEM())+string(next.Anchor.CertificatePEM()))
	waitFor(t, func() bool { return len(c.Sources().Bundle().Anchors()) == 2 })
	f.write(t, "ca-bundle.crt", "garbage")
	waitFor(t, func() bool { return c.Status().BundleError != "" })
	if n := len(c.Sources().Bundle().Anchors()); n != 2 {
		t.Errorf("%d anchors after a bad file, want the 2 in use", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewRefusesBadIdentity(t *testing.T) {
	_, err := New(Options{ControllerID: mustID(t, "cluster.local", "mesh-system", "mesh-controller"), Namespace: "Bad_NS", ServiceAccount: "sa"})
	if !errors.Is(err, identity.ReasonInvalidID) {
		t.Errorf("got %v, want %v", err, identity.ReasonInvalidID)
	}
}
