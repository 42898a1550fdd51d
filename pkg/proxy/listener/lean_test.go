package listener

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/proxy/forward"
	"github.com/meshctl/meshctl/pkg/proxy/h1"
)

// countingH1 counts the exchanges the lean path served.
type countingH1 struct {
	next h1.Handler
	n    atomic.Int32
}

func (c *countingH1) ServeH1(x *h1.Exchange) error {
	err := c.next.ServeH1(x)
	if err != h1.ErrHandoff {
		c.n.Add(1)
	}
	return err
}

// startLean runs a Server with the lean path in front of net/http, both
// forwarding to dst.
func startLean(t *testing.T, dst string) (addr string, lean *countingH1, s *Server) {
	t.Helper()
	ap := netip.MustParseAddrPort(dst)
	fwd := forward.New(forward.Forwarder{Destination: func(r *http.Request) (netip.AddrPort, bool) {
		return DestinationFrom(r.Context())
	}})
	t.Cleanup(fwd.Close)
	lean = &countingH1{next: fwd}
	s = &Server{
		Direction:    "outbound",
		Destination:  func(*net.TCPConn) (netip.AddrPort, error) { return ap, nil },
		HTTP:         fwd,
		H1:           lean,
		SniffTimeout: 50 * time.Millisecond,
	}
	return serve(t, s), lean, s
}

func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req string) (*http.Response, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestLeanKeepAliveThenHandoff(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %q conn=%q", r.Method, r.Host, r.URL.RequestURI(), b, r.Header.Get("Connection"))
	}))
	defer backend.Close()
	addr, lean, _ := startLean(t, strings.TrimPrefix(backend.URL, "http://"))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 3 {
		_, body := roundTrip(t, c, br, fmt.Sprintf("POST /p%d?q=1 HTTP/1.1\r\nHost: books\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc", i))
		if want := fmt.Sprintf(`POST books /p%d?q=1 "abc" conn=""`, i); body != want {
			t.Fatalf("request %d: %q; want %q", i, body, want)
		}
	}
	// A chunked upload is net/http's: the connection moves over, with
	// this request unread, and keeps working.
	_, body := roundTrip(t, c, br, "POST /chunked HTTP/1.1\r\nHost: books\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n")
	if body != `POST books /chunked "xyz" conn=""` {
		t.Fatalf("handed-off request: %q", body)
	}
	_, body = roundTrip(t, c, br, "GET /after HTTP/1.1\r\nHost: books\r\n\r\n")
	if body != `GET books /after "" conn=""` {
		t.Fatalf("request after the handoff: %q", body)
	}
	if n := lean.n.Load(); n != 3 {
		t.Fatalf("lean path served %d exchanges; want 3", n)
	}
}

func TestLeanStreamsChunkedResponse(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second\n")
	}))
	defer backend.Close()
	defer close(release)
	addr, lean, _ := startLean(t, strings.TrimPrefix(backend.URL, "http://"))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /events HTTP/1.1\r\nHost: books\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first\n" || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("first chunk %q, %v, %v: the lean path buffers", line, err, resp.TransferEncoding)
	}
	if lean.n.Load() != 0 {
		t.Fatal("counted before the exchange ended")
	}
}

func TestLeanBadGateway(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	addr, _, _ := startLean(t, dead)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	resp, _ := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: books\r\n\r\n")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d; want 502", resp.StatusCode)
	}
}

func TestLeanShutdownClosesIdleConnections(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	addr, _, s := startLean(t, strings.TrimPrefix(backend.URL, "http://"))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: books\r\n\r\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Shutdown waited %v for an idle connection", d)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection after Shutdown: %v; want EOF", err)
	}
}

func TestLeanLargeResponseHead(t *testing.T) {
	cookie := strings.Repeat("c", 10000)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", cookie)
		io.WriteString(w, "body")
	}))
	defer backend.Close()
	addr, _, _ := startLean(t, strings.TrimPrefix(backend.URL, "http://"))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for range 2 {
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: books\r\n\r\n")
		if resp.StatusCode != 200 || resp.Header.Get("Set-Cookie") != cookie || body != "body" {
			t.Fatalf("status %d, cookie of %d bytes, body %q", resp.StatusCode, len(resp.Header.Get("Set-Cookie")), body)
		}
	}
}

// TestStopKeepAlives: once a stopping pod calls StopKeepAlives, an idle
// connection closes at once, and a new one is still answered, with
// Connection: close, on the lean path and on net/http's alike.
func TestStopKeepAlives(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer backend.Close()
	addr, lean, s := startLean(t, strings.TrimPrefix(backend.URL, "http://"))
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idleBR := bufio.NewReader(idle)
	if resp, _ := roundTrip(t, idle, idleBR, "GET / HTTP/1.1\r\nHost: books\r\n\r\n"); resp.Close {
		t.Fatal("Connection: close before StopKeepAlives")
	}
	s.StopKeepAlives()
	idle.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection after StopKeepAlives: %v; want EOF", err)
	}
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: books\r\n\r\n",                                              // lean
		"GET / HTTP/1.1\r\nHost: books\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", // handed to net/http
	} {
		before := lean.n.Load()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := roundTrip(t, c, bufio.NewReader(c), req)
		c.Close()
		if resp.StatusCode != 200 || body != "ok" || !resp.Close {
			t.Errorf("%q after StopKeepAlives: %d %q, Connection: close %v; want 200 ok true (lean exchanges %d -> %d)", req, resp.StatusCode, body, resp.Close, before, lean.n.Load())
		}
	}
}

// hungExchange starts a lean server in front of an app that reads a request
// and never answers, and sends it one. It returns the client's connection,
// the app's end of the upstream connection (its request read) and the server.
func hungExchange(t *testing.T) (client net.Conn, up *bufio.Reader, s *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			got <- c // held open, never answered
		}
	}()
	addr, _, s := startLean(t, ln.Addr().String())
	client, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	io.WriteString(client, "GET /hang HTTP/1.1\r\nHost: books\r\n\r\n")
	select {
	case c := <-got:
		t.Cleanup(func() { c.Close() })
		up = bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := http.ReadRequest(up); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the app")
	}
	return client, up, s
}

// TestLeanShutdownAbortsHungUpstream: an exchange whose app accepted the
// request and never answers does not hold Shutdown past its context.
func TestLeanShutdownAbortsHungUpstream(t *testing.T) {
	c, _, s := hungExchange(t)
	shutdownWithin(t, s, 500*time.Millisecond, "an app that never answers")
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("downstream connection after Shutdown: %v; want it closed", err)
	}
}

// TestAwaitRequestTimeouts: a connection may stay silent for the idle
// timeout, but once a request's first byte arrived its head gets the
// (shorter) head timeout, as net/http's ReadHeaderTimeout gives.
func TestAwaitRequestTimeouts(t *testing.T) {
	const idle, header = 600 * time.Millisecond, 100 * time.Millisecond
	type write struct {
		after time.Duration
		data  string
	}
	for _, tc := range []struct {
		name       string
		writes     []write
		ok         bool
		minT, maxT time.Duration // when the head is read or the wait fails
	}{
		{"request at once", []write{{0, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"}}, true, 0, header},
		{"request after a silence longer than the head timeout", []write{{300 * time.Millisecond, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"}}, true, 300 * time.Millisecond, idle},
		{"head trickled within the head timeout, late", []write{{320 * time.Millisecond, "GET / HT"}, {80 * time.Millisecond, "TP/1.1\r\nHost: a\r\n\r\n"}}, true, 400 * time.Millisecond, idle},
		{"silent", nil, false, idle, idle + header},
		{"head stalls", []write{{20 * time.Millisecond, "GET / HTTP/1.1\r\nHo"}}, false, header, 3 * header},
		{"head stalls after a silence", []write{{300 * time.Millisecond, "GET / HTTP/1.1\r\nHo"}}, false, 300*time.Millisecond + header, 300*time.Millisecond + 3*header},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server, client := net.Pipe()
			defer server.Close()
			defer client.Close()
			go func() {
				for _, w := range tc.writes {
					time.Sleep(w.after)
					io.WriteString(client, w.data)
				}
			}()
			br := bufio.NewReader(server)
			start := time.Now()
			err := awaitRequest(pipeWaiter{server, br}, idle, header)
			if err == nil {
				var r h1.Request
				err = h1.PeekRequest(br, &r)
			}
			d := time.Since(start)
			if (err == nil) != tc.ok || d < tc.minT || d > tc.maxT {
				t.Fatalf("after %v: %v; want ok %v within [%v, %v]", d, err, tc.ok, tc.minT, tc.maxT)
			}
		})
	}
}

// pipeWaiter is readWaiter for a net.Pipe, which has no socket to peek at:
// it waits by filling br.
type pipeWaiter struct {
	net.Conn
	br *bufio.Reader
}

func (p pipeWaiter) Buffered() int { return p.br.Buffered() }
func (p pipeWaiter) WaitReadable() error {
	_, err := p.br.Peek(1)
	return err
}

// spuriousWaiter is a pipeWaiter whose first WaitReadable returns at once
// with nothing to read, as a wake-up the poller reported wrongly would.
type spuriousWaiter struct {
	pipeWaiter
	woken *bool
}

func (p spuriousWaiter) WaitReadable() error {
	if !*p.woken {
		*p.woken = true
		return nil
	}
	return p.pipeWaiter.WaitReadable()
}
func (p spuriousWaiter) Reader() *bufio.Reader         { return p.br }
func (p spuriousWaiter) ReleaseBuffer(*sync.Pool) bool { return false }

// TestNextRequestSurvivesSpuriousWakeUp: a wake-up with nothing to read
// must not close a keep-alive connection after the head's timeout; it
// waits on, within the idle timeout, for the request that comes later.
func TestNextRequestSurvivesSpuriousWakeUp(t *testing.T) {
	const idle, header = time.Second, 100 * time.Millisecond
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	go func() {
		time.Sleep(400 * time.Millisecond) // past the head timeout (150 ms)
		io.WriteString(client, "GET /later HTTP/1.1\r\nHost: a\r\n\r\n")
	}()
	woken := false
	c := spuriousWaiter{pipeWaiter{server, bufio.NewReader(server)}, &woken}
	var r h1.Request
	if err := (&Server{}).nextRequest(c, &r, idle, header); err != nil || r.Path() != "/later" {
		t.Fatalf("after a spurious wake-up: %v, path %q; want the later request", err, r.Path())
	}
	if !woken {
		t.Fatal("the spurious wake-up was not exercised")
	}
}

// TestLeanClientGoneAbortsHungUpstream: when the client of an exchange
// waiting on an app that does not answer goes away, the exchange ends and
// its upstream connection closes, rather than both waiting for the app.
func TestLeanClientGoneAbortsHungUpstream(t *testing.T) {
	c, up, _ := hungExchange(t)
	c.Close()
	if _, err := up.ReadByte(); err != io.EOF {
		t.Fatalf("upstream connection after the client left: %v; want EOF", err)
	}
}

// TestLeanShutdownRacesNewConnections: connections that reach the lean
// path while Shutdown begins are either counted before it waits or turned
// away (run with -race: an Add racing Wait is reported).
func TestLeanShutdownRacesNewConnections(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	for range 20 {
		addr, _, s := startLean(t, strings.TrimPrefix(backend.URL, "http://"))
		var conns []net.Conn
		for range 20 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			go io.WriteString(c, "GET / HTTP/1.1\r\nHost: books\r\n\r\n")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		for _, c := range conns {
			c.Close()
		}
	}
}
