package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/proxy/tap"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// tapStream is a listener of a proxy's tap on its own connection, read
// only when the test says so.
type tapStream struct {
	c    net.Conn
	br   *bufio.Reader
	raw  bytes.Buffer // every byte of the body read so far
	dec  *tap.Decoder
	body io.ReadCloser
}

// openTap listens to p's tap from loopback, as the port-forward arrives.
// It reads the answer's head and nothing more.
func openTap(t testing.TB, p *proxy, query string) *tapStream {
	t.Helper()
	c, err := net.Dial("tcp", p.addr(wire.AdminPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	target := wire.TapPath
	if query != "" {
		target += "?" + query
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: admin\r\n\r\n", target)
	s := &tapStream{c: c, br: bufio.NewReader(c)}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(s.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", target, resp.Status)
	}
	s.body = resp.Body
	s.dec = tap.NewDecoder(io.TeeReader(resp.Body, &s.raw))
	return s
}

// next is the stream's next line, waiting for it at most 30 s.
func (s *tapStream) next(t testing.TB) (tap.Line, error) {
	t.Helper()
	s.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	return s.dec.Next()
}

// requests reads lines until it has n requests, counting those the
// listener missed as it goes.
func (s *tapStream) requests(t testing.TB, n int) []tap.Event {
	t.Helper()
	var evs []tap.Event
	for len(evs) < n {
		l, err := s.next(t)
		if err != nil {
			t.Fatalf("after %d of %d requests: %v", len(evs), n, err)
		}
		if l.Kind == tap.KindRequest {
			evs = append(evs, l.Event)
		}
	}
	return evs
}

// TestTapThroughTheProxy: a request through two proxies over mutual TLS,
// on the lean path and on net/http's (HTTP/1.0 is handed off to it), shows on
// both proxies' taps with both identities, and neither its Authorization
// nor its query ever does.
func TestTapThroughTheProxy(t *testing.T) {
	m := newTestMesh(t)
	app, heads := rawApp(t)
	b := m.server(t, run(), app)
	a := m.client(t, b, m.idB)
	outTap, inTap := openTap(t, a, ""), openTap(t, b, "")

	c := dialOutbound(t, a)
	br := bufio.NewReader(c)
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		fmt.Fprintf(c, "GET /books/1?token=query-secret %s\r\nHost: books.shop\r\nAuthorization: Bearer header-secret\r\nConnection: keep-alive\r\nx-probe: 1\r\n\r\n", proto)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "books" {
			t.Fatalf("%s: %d %q", proto, resp.StatusCode, body)
		}
		// The lean path passes field names on as sent; net/http
		// canonicalises them.
		if lean := strings.Contains(<-heads, "\r\nx-probe: 1\r\n"); lean != (proto == "HTTP/1.1") {
			t.Fatalf("%s went the lean path: %t", proto, lean)
		}
	}
	for _, side := range []struct {
		s         *tapStream
		direction string
	}{{outTap, tap.Outbound}, {inTap, tap.Inbound}} {
		evs := side.s.requests(t, 2)
		for _, e := range evs {
			if e.Direction != side.direction || e.Method != "GET" || e.Authority != "books.shop" || e.Path != "/books/1" || e.Status != 200 ||
				e.Source != m.idA.String() || e.Destination != m.idB.String() || !e.TLS || e.Latency <= 0 {
				t.Errorf("%s tap: %+v, want GET books.shop/books/1 200 from %s to %s over mutual TLS", side.direction, e, m.idA, m.idB)
			}
		}
		for _, secret := range []string{"secret", "token", "Bearer", "Authorization"} {
			if bytes.Contains(side.s.raw.Bytes(), []byte(secret)) {
				t.Errorf("the %s tap carried %q:\n%s", side.direction, secret, side.s.raw.String())
			}
		}
	}
}

// longPath makes each event's line over a kilobyte, so that a stream
// nobody reads fills the kernel's buffers within a few thousand requests.
var longPath = "/books/" + strings.Repeat("x", tap.MaxPath-len("/books/"))

// flood sends n requests for longPath to p's inbound port on one
// keep-alive connection, each of which must be answered within 10 s:
// were publishing to the tap to wait for a listener, the requests would
// stall once its buffer filled, and this fails rather than hangs.
func flood(t testing.TB, p *proxy, n int) {
	t.Helper()
	c, err := net.Dial("tcp", p.addr(wire.InboundPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET " + longPath + " HTTP/1.1\r\nHost: books.shop\r\n\r\n")
	for i := range n {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			t.Fatalf("request %d of %d: %v", i+1, n, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d of %d, with a tap listener that reads nothing: %v", i+1, n, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d of %d: %s", i+1, n, resp.Status)
		}
	}
}

// floodRequests is more events than the kernel buffers between the
// proxy and a listener hold (4 MB of send buffer at most by default, at
// over a kilobyte an event), so that some must be dropped.
const floodRequests = 6000

// TestTapSlowListener: a listener that reads nothing does not hold up
// the proxy's requests, and costs it a fixed buffer: the events it has
// no room for are dropped and counted, and once it reads again it gets
// every request either as an event or in a count.
func TestTapSlowListener(t *testing.T) {
	p := startProxy(t, run(), echoApp(t))
	s := openTap(t, p, "")
	flood(t, p, floodRequests)

	var got, dropped uint64
	for got+dropped < floodRequests {
		l, err := s.next(t)
		if err != nil {
			t.Fatalf("after %d events and %d dropped of %d: %v", got, dropped, floodRequests, err)
		}
		switch l.Kind {
		case tap.KindRequest:
			got++
		case tap.KindMissed:
			dropped += l.Dropped
		}
	}
	if got+dropped != floodRequests || dropped == 0 {
		t.Errorf("%d events and %d dropped, want %d in all with some dropped", got, dropped, floodRequests)
	}
	t.Logf("%d requests: %d events reached the listener that read nothing until the end, %d were dropped", floodRequests, got, dropped)
}

// TestTapEndsOnShutdown: when the proxy stops, an idle listener is told
// so and its stream ends, and a listener that reads nothing, whose
// stream is stuck in a write, does not hold up the drain.
func TestTapEndsOnShutdown(t *testing.T) {
	p := startProxy(t, run(), echoApp(t))
	idle := openTap(t, p, "path-prefix=/nothing")
	openTap(t, p, "") // stuck
	flood(t, p, floodRequests)

	p.stop()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		p.done <- nil // for Cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("the drain hung with a tap listener that reads nothing")
	}
	l, err := idle.next(t)
	if err != nil || l.Kind != tap.KindEnd {
		t.Fatalf("the idle listener got %+v %v, want the end", l, err)
	}
	if _, err := idle.next(t); !errors.Is(err, io.EOF) {
		t.Errorf("after the end: %v, want the stream's end", err)
	}
}

// BenchmarkTapInboundHTTP is one proxy hop on the lean path (as
// BenchmarkInboundHTTP, without bodies) with no tap listener, with one
// that reads everything, and with one that reads nothing: its events are
// dropped, and the requests go on at the same pace.
func BenchmarkTapInboundHTTP(b *testing.B) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "books") })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	app := netip.MustParseAddrPort(ln.Addr().String())
	for _, mode := range []string{"no-listener", "reading-listener", "stalled-listener"} {
		b.Run(mode, func(b *testing.B) {
			p := startProxyRun(b, run(), app)
			switch mode {
			case "reading-listener":
				s := openTap(b, p, "")
				go io.Copy(io.Discard, s.body)
			case "stalled-listener":
				openTap(b, p, "")
			}
			c, err := net.Dial("tcp", p.addr(wire.InboundPort))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET /books/1 HTTP/1.1\r\nHost: books.shop\r\n\r\n")
			b.ReportAllocs()
			for b.Loop() {
				c.Write(req)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
