package forward

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedDialer holds every dial until the test lets it go on (nil: dial
// the backend) or fail, and counts the dials in progress.
type gatedDialer struct {
	addr    string
	proceed chan error

	mu             sync.Mutex
	inflight, peak int
	total          int
}

func newGatedDialer(t *testing.T) *gatedDialer {
	t.Helper()
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(be.Close)
	return &gatedDialer{addr: strings.TrimPrefix(be.URL, "http://"), proceed: make(chan error)}
}

func (g *gatedDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	g.inflight++
	g.total++
	g.peak = max(g.peak, g.inflight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
	}()
	select {
	case err := <-g.proceed:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (g *gatedDialer) counts() (inflight, peak, total int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight, g.peak, g.total
}

func (p *h1Pool) waiting(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters[addr])
}

// until polls cond (the state of goroutines the test started) and fails
// after a generous deadline, naming what it waited for.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// roundTrips sends n GETs through p at once; the results arrive on the
// returned channel.
func roundTrips(ctx context.Context, p *h1Pool, addr string, n int) <-chan error {
	errs := make(chan error, n)
	for range n {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
			resp, err := p.RoundTrip(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	return errs
}

// TestPoolBoundsDialsPerHost: requests that find no idle connection while
// maxDialsPerHost dials to their destination are in progress wait, and
// are served by the connections those dials make, rather than each
// dialing (and, between proxies, handshaking) its own.
func TestPoolBoundsDialsPerHost(t *testing.T) {
	g := newGatedDialer(t)
	p := &h1Pool{dial: g.dial, maxIdle: 64, idleTimeout: time.Minute}
	defer p.Close()
	const n = 20
	errs := roundTrips(context.Background(), p, g.addr, n)
	until(t, "every request to dial or wait", func() bool {
		inflight, _, _ := g.counts()
		return inflight+p.waiting(g.addr) == n
	})
	if inflight, _, _ := g.counts(); inflight != maxDialsPerHost {
		t.Fatalf("%d dials in progress at once, want %d", inflight, maxDialsPerHost)
	}
	// Dials go on as the test allows them, one at a time, and only once
	// the requests already served have had time to hand their freed
	// connections on: on a busy machine the test would otherwise let
	// every waiter's dial through before the first exchange ends.
	done := 0
	for done < n {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
			done++
		case <-time.After(50 * time.Millisecond):
			select {
			case g.proceed <- nil:
			case <-time.After(time.Second):
			}
		}
	}
	_, peak, total := g.counts()
	if peak > maxDialsPerHost {
		t.Errorf("%d dials at once, want at most %d", peak, maxDialsPerHost)
	}
	if total >= n {
		t.Errorf("%d dials for %d requests: the waiting requests were not served by freed connections", total, n)
	}
	t.Logf("%d requests, %d dials", n, total)
}

// TestPoolDialFailureFreesWaiters: when a dial fails, the requests that
// were waiting behind it dial at once rather than one after another, so
// a destination that does not answer costs each request one dial
// timeout, as without the bound.
func TestPoolDialFailureFreesWaiters(t *testing.T) {
	g := newGatedDialer(t)
	p := &h1Pool{dial: g.dial, maxIdle: 64, idleTimeout: time.Minute}
	defer p.Close()
	const n = 8
	errs := roundTrips(context.Background(), p, g.addr, n)
	until(t, "every request to dial or wait", func() bool {
		inflight, _, _ := g.counts()
		return inflight+p.waiting(g.addr) == n
	})
	refused := errors.New("connection refused")
	for range maxDialsPerHost {
		g.proceed <- refused
	}
	for range maxDialsPerHost {
		if err := <-errs; !errors.Is(err, refused) {
			t.Fatalf("got %v, want the dial's error", err)
		}
	}
	until(t, "the waiters to dial, all at once", func() bool {
		inflight, _, _ := g.counts()
		return inflight == n-maxDialsPerHost
	})
	for range n - maxDialsPerHost {
		g.proceed <- refused
	}
	for range n - maxDialsPerHost {
		if err := <-errs; !errors.Is(err, refused) {
			t.Fatalf("got %v, want the dial's error", err)
		}
	}
}

// TestPoolWaiterLeavesOnCancel: a waiting request whose context ends
// returns at once and leaves the queue; the dials in progress go on.
func TestPoolWaiterLeavesOnCancel(t *testing.T) {
	g := newGatedDialer(t)
	p := &h1Pool{dial: g.dial, maxIdle: 64, idleTimeout: time.Minute}
	defer p.Close()
	dialers := roundTrips(context.Background(), p, g.addr, maxDialsPerHost)
	until(t, "the dials to start", func() bool {
		inflight, _, _ := g.counts()
		return inflight == maxDialsPerHost
	})
	ctx, cancel := context.WithCancel(context.Background())
	waiter := roundTrips(ctx, p, g.addr, 1)
	until(t, "the request to wait", func() bool { return p.waiting(g.addr) == 1 })
	cancel()
	if err := <-waiter; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled waiter got %v", err)
	}
	if w := p.waiting(g.addr); w != 0 {
		t.Fatalf("%d waiters left in the queue", w)
	}
	for range maxDialsPerHost {
		g.proceed <- nil
	}
	for range maxDialsPerHost {
		if err := <-dialers; err != nil {
			t.Fatal(err)
		}
	}
}
