package channel

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
)

// mustID parses a workload ID of the default trust domain.
func mustID(t testing.TB, ns, sa string) identity.ID {
	t.Helper()
	id, err := identity.NewID(identity.DefaultTrustDomain, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// issue is a certificate for ns/sa from ca, valid from now for lifetime.
func issue(t testing.TB, ca *identitytest.CA, ns, sa string, now time.Time, lifetime time.Duration) *tls.Certificate {
	t.Helper()
	return ca.Leaf(t, mustID(t, ns, sa), now, lifetime)
}

// controllerID is the identity the tests' client holds the controller to.
func controllerID(t testing.TB) identity.ID { return mustID(t, "mesh-system", "mesh-controller") }

// fakeController is a controller's proxy API on real TLS whose channel
// handler the test scripts: request n (from 1) is answered by script.
type fakeController struct {
	addr     string
	requests atomic.Int32
}

func startFakeController(t *testing.T, cert *tls.Certificate, bundle *identity.Bundle, script func(n int, w http.ResponseWriter, r *http.Request)) *fakeController {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeController{addr: ln.Addr().String()}
	src := identity.Sources{Certificate: func() *tls.Certificate { return cert }, Bundle: func() *identity.Bundle { return bundle }}
	srv := &http.Server{
		TLSConfig: identity.APIServerConfig(src),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := int(f.requests.Add(1))
			script(n, w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		// The refusals are the tests' point, not noise.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("fake controller: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return f
}

// streamHeader starts a channel response.
func streamHeader(w http.ResponseWriter) {
	w.Header().Set("Content-Type", channel.ContentType)
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
}

// write sends data and flushes it.
func write(w http.ResponseWriter, data []byte) {
	_, _ = w.Write(data)
	_ = http.NewResponseController(w).Flush()
}

// snapshotLine is a snapshot of one meshed pod, 198.18.0.<n>, as
// shop/<sa>.
func snapshotLine(t testing.TB, n byte, sa string) []byte {
	t.Helper()
	c := channel.Content{Pods: []channel.Pod{{IPs: []netip.Addr{netip.AddrFrom4([4]byte{198, 18, 0, n})}, Identity: mustID(t, "shop", sa).String()}}}
	b, err := channel.EncodeContent(&c)
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := channel.SnapshotLine(b, time.Date(2026, 12, 5, 13, 0, 0, int(n), time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// resolves reports the identity the client's index gives 198.18.0.<n>:80.
func resolves(c *Client, n byte) string {
	_, id, _ := c.Index().Resolve(netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, n}), 80))
	return id.String()
}

// eventually waits for cond, failing the test after a generous while: the
// tests wait for events, they do not time them.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runClient runs c until the test ends.
func runClient(t *testing.T, c *Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// fakeClock is a Clock the test advances.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, fakeWaiter{f.now.Add(d), ch})
	return ch
}

// Advance moves the clock on by d and fires the waiters now due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if !w.at.After(f.now) {
			w.ch <- f.now
		} else {
			kept = append(kept, w)
		}
	}
	f.waiters = kept
}
