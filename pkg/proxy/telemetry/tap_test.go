package telemetry

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxy/h1"
	"github.com/meshctl/meshctl/pkg/proxy/listener"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
)

// leanOK stands for a direction's lean handler: it answers 201 without
// writing anything.
type leanOK struct{}

func (leanOK) ServeH1(x *h1.Exchange) error { x.Commit(); x.Status = 201; return nil }

const tapHead = "POST /books/1?token=secret-in-query HTTP/1.1\r\nHost: books.shop:8080\r\nAuthorization: Bearer secret-token\r\nContent-Length: 0\r\n\r\n"

func leanExchange(t testing.TB, peer identity.ID) *h1.Exchange {
	t.Helper()
	x := &h1.Exchange{Dst: netip.MustParseAddrPort("198.18.0.20:8080"), In: bufio.NewReader(strings.NewReader(tapHead)), Out: bufio.NewWriter(discard{})}
	if !peer.IsZero() {
		x.Peer, x.PeerName, x.MTLS = peer, peer.Short(), true
	}
	if err := h1.PeekRequest(x.In, &x.Request); err != nil {
		t.Fatal(err)
	}
	return x
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func generalRequest(t testing.TB, peer identity.ID) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.Replace(tapHead, "/books/1", "/books/%1b", 1))))
	if err != nil {
		t.Fatal(err)
	}
	ctx := listener.WithDestination(context.Background(), netip.MustParseAddrPort("198.18.0.20:8080"))
	if !peer.IsZero() {
		ctx = listener.WithPeer(ctx, listener.NewPeer(peer))
	}
	return r.WithContext(ctx)
}

func mustID(t testing.TB, ns, sa string) identity.ID {
	t.Helper()
	id, err := identity.NewID(identity.DefaultTrustDomain, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Both of telemetry's paths, the lean HTTP/1.1 one and net/http's, feed
// the tap through record, with both ends' identities over mutual TLS, the
// path without its query and as sent, and nothing of the Authorization.
func TestTapGetsEveryPath(t *testing.T) {
	self, peer := mustID(t, "shop", "store"), mustID(t, "shop", "buyer")
	tp := &tap.Tap{Self: self.String()}
	l, err := tp.Listen(tap.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(202) })
	for _, c := range []struct {
		name     string
		inbound  bool
		mtls     bool
		lean     bool
		src, dst string
		path     string
		status   int
	}{
		{"lean inbound mTLS", true, true, true, peer.String(), self.String(), "/books/1", 201},
		{"lean outbound mTLS", false, true, true, self.String(), peer.String(), "/books/1", 201},
		{"lean plain text", true, false, true, "", "", "/books/1", 201},
		{"net/http inbound mTLS", true, true, false, peer.String(), self.String(), "/books/%1b", 202},
		{"net/http outbound mTLS", false, true, false, self.String(), peer.String(), "/books/%1b", 202},
		{"net/http plain text", false, false, false, "", "", "/books/%1b", 202},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := "outbound"
			if c.inbound {
				dir = "inbound"
			}
			// As the proxy names the peer: the connection's, over mesh TLS.
			peerOf := func(r *http.Request) (string, bool) {
				p, ok := listener.PeerFrom(r.Context())
				return p.Name, ok && p.TLS
			}
			h := &HTTP{Direction: dir, Inbound: c.inbound, Next: next, Peer: peerOf, H1: leanOK{}, Tap: tp}
			var id identity.ID
			if c.mtls {
				id = peer
			}
			before := time.Now()
			if c.lean {
				if err := h.ServeH1(leanExchange(t, id)); err != nil {
					t.Fatal(err)
				}
			} else {
				h.ServeHTTP(httptest.NewRecorder(), generalRequest(t, id))
			}
			var e tap.Event
			select {
			case e = <-l.Events():
			default:
				t.Fatal("the tap got no event")
			}
			want := tap.Event{Time: e.Time, Direction: dir, Method: "POST", Authority: "books.shop:8080", Path: c.path, Status: c.status,
				Latency: e.Latency, Source: c.src, Destination: c.dst, TLS: c.mtls}
			if e != want || e.Time.Before(before) || e.Latency <= 0 {
				t.Errorf("got %+v\nwant %+v, after %v with a latency", e, want, before)
			}
		})
	}
}

// BenchmarkTap is the tap's cost on an outbound request of the lean
// path over mutual TLS, whose handler is stood in for (the rest of
// telemetry runs: metrics, no access log, no tracing): without a tap, with a tap nobody listens to (one atomic
// load, no allocation), and with one listener that keeps up.
func BenchmarkTap(b *testing.B) {
	self, peer := mustID(b, "shop", "store"), mustID(b, "shop", "buyer")
	x := leanExchange(b, peer)
	for _, c := range []struct {
		name   string
		listen bool
		tap    bool
	}{{"no-tap", false, false}, {"nobody-listening", false, true}, {"one-listener", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			// Outbound without tracing, so that no trace context is
			// added to the exchange's header on every turn.
			h := &HTTP{Direction: "outbound", H1: leanOK{}, Metrics: NewMetrics()}
			if c.tap {
				h.Tap = &tap.Tap{Self: self.String()}
			}
			if c.listen {
				l, err := h.Tap.Listen(tap.Filter{})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				go func() {
					for {
						select {
						case <-l.Events():
						case <-l.Done():
							return
						}
					}
				}()
			}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeH1(x)
			}
		})
	}
}

// With nobody listening, the tap adds no allocation to a request: it is
// one load, and no event is built.
func TestTapNobodyListeningAllocatesNothing(t *testing.T) {
	peer := mustID(t, "shop", "buyer")
	allocs := func(tp *tap.Tap) float64 {
		x := leanExchange(t, peer)
		h := &HTTP{Direction: "outbound", H1: leanOK{}, Metrics: NewMetrics(), Tap: tp}
		h.ServeH1(x)
		return testing.AllocsPerRun(1000, func() { h.ServeH1(x) })
	}
	without, idle := allocs(nil), allocs(&tap.Tap{Self: mustID(t, "shop", "store").String()})
	if idle != without {
		t.Errorf("a request allocates %v times with a tap nobody listens to, %v without one", idle, without)
	}
}
