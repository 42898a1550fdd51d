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
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxy/forward"
)

// start runs a Server on a loopback port that sends everything to dst.
func start(t *testing.T, dst string, obs TCPObserver) string {
	t.Helper()
	ap := netip.MustParseAddrPort(dst)
	s := &Server{
		Direction:   "outbound",
		Destination: func(*net.TCPConn) (netip.AddrPort, error) { return ap, nil },
		HTTP: forward.New(forward.Forwarder{Destination: func(r *http.Request) (netip.AddrPort, bool) {
			return DestinationFrom(r.Context())
		}}),
		SniffTimeout: 50 * time.Millisecond,
		Observer:     obs,
	}
	return serve(t, s)
}

// serve runs s on a loopback port until the test ends and returns its
// address.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return ln.Addr().String()
}

func TestHTTP1StreamsBothWays(t *testing.T) {
	// The backend answers with its first chunk before the request body has
	// ended: only a proxy that streams (never buffers whole bodies) lets
	// the client see it while still sending.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		br := bufio.NewReader(r.Body)
		line, _ := br.ReadString('\n')
		fmt.Fprintf(w, "got %s", line)
		http.NewResponseController(w).Flush()
		rest, _ := io.ReadAll(br)
		fmt.Fprintf(w, "rest %d\n", len(rest))
	}))
	defer backend.Close()
	proxy := start(t, strings.TrimPrefix(backend.URL, "http://"), nil)

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+proxy+"/upload", pr)
	done := make(chan *http.Response)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	pw.Write([]byte("first\n"))
	var resp *http.Response
	select {
	case resp = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no response headers while the body was still open: the proxy buffers")
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "got first\n" {
		t.Fatalf("first chunk %q, %v", line, err)
	}
	pw.Write(make([]byte, 1<<20))
	pw.Close()
	line, _ = br.ReadString('\n')
	if line != "rest 1048576\n" {
		t.Fatalf("second chunk %q", line)
	}
}

func TestH2CPriorKnowledge(t *testing.T) {
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.Host)
	}))
	backend.Config.Protocols = new(http.Protocols)
	backend.Config.Protocols.SetUnencryptedHTTP2(true)
	backend.Start()
	defer backend.Close()
	proxy := start(t, strings.TrimPrefix(backend.URL, "http://"), nil)

	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p}}
	resp, err := client.Get("http://" + proxy + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || string(body) != "HTTP/2.0 "+proxy {
		t.Fatalf("got %s %q; want HTTP/2 end to end with the Host kept", resp.Proto, body)
	}
}

type counts struct{ opened, sent, received atomic.Int64 }

func (c *counts) TCPOpened(string, string, bool) { c.opened.Add(1) }
func (c *counts) TCPClosed(_, _ string, _ bool, sent, received int64) {
	c.sent.Store(sent)
	c.received.Store(received)
}

func TestOpaqueTCPHalfClose(t *testing.T) {
	// The backend reads until the client's half-close, then answers: it
	// only works if the proxy passes the FIN on without closing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		fmt.Fprintf(c, "echo:%s", b)
	}()
	obs := &counts{}
	proxy := start(t, ln.Addr().String(), obs)
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Binary, not HTTP: detection must pass it through untouched.
	c.Write([]byte("\x00\x01hello"))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "echo:\x00\x01hello" {
		t.Fatalf("got %q, %v", got, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for obs.received.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if obs.opened.Load() != 1 || obs.sent.Load() != 7 || obs.received.Load() != 12 {
		t.Fatalf("observed opened %d sent %d received %d", obs.opened.Load(), obs.sent.Load(), obs.received.Load())
	}
}

// TestShutdownAbortsStuckOpaqueTCP: an app that neither reads nor writes
// holds both of the proxy's copies of an opaque connection on the upstream
// side (one blocked writing to it, one reading from it). Shutdown's
// deadline must end them anyway, or a stopping pod waits for the app.
func TestShutdownAbortsStuckOpaqueTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c // held open, never read, never written
		}
	}()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	s := &Server{Direction: "outbound", Destination: func(*net.TCPConn) (netip.AddrPort, error) { return ap, nil }, SniffTimeout: 50 * time.Millisecond}
	pl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	go s.Serve(pl)
	c, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case app := <-accepted:
		defer app.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the connection never reached the app")
	}
	// Binary, so opaque TCP; more than the socket buffers hold, so the
	// proxy's copy towards the app blocks in its write.
	go func() {
		chunk := make([]byte, 64<<10)
		chunk[0] = 0x16
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	shutdownWithin(t, s, 200*time.Millisecond, "an app that neither reads nor writes")
}

// shutdownWithin fails t unless s.Shutdown, given a context that ends
// after grace, returns within 3 s: it must not wait for what app does.
func shutdownWithin(t *testing.T, s *Server, grace time.Duration, app string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatalf("Shutdown still waits for %s, %v after its context ended", app, 3*time.Second-grace)
	}
}

func TestServerSpeaksFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "220 ready\r\n")
	}()
	proxy := start(t, ln.Addr().String(), nil)
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "220 ready\r\n" {
		t.Fatalf("greeting %q, %v", line, err)
	}
}

// TestLateFirstRequestIsHTTP is an HTTP client that opens its connection
// ahead of use, as pooled clients do: its request, sent after the sniffing
// timeout, is still proxied as HTTP (it reaches the handler), not piped.
func TestLateFirstRequestIsHTTP(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "proxied as http")
	}))
	defer backend.Close()
	obs := &counts{}
	proxy := start(t, strings.TrimPrefix(backend.URL, "http://"), obs)
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(150 * time.Millisecond) // three times the sniffing timeout
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: books\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "proxied as http" || obs.opened.Load() != 0 {
		t.Fatalf("got %q with %d opaque connections; want HTTP, none opaque", body, obs.opened.Load())
	}
}

// slowClose makes the first connection's TCPClosed wait until a second
// connection has been opened: a slow observer (a lock under load) widens
// the window between Shutdown's close-all pass and that pair's Done.
type slowClose struct {
	opened atomic.Int32
	second chan struct{}
}

func (o *slowClose) TCPOpened(string, string, bool) {
	if o.opened.Add(1) == 2 {
		close(o.second)
	}
}
func (o *slowClose) TCPClosed(string, string, bool, int64, int64) {
	select {
	case <-o.second:
	case <-time.After(2 * time.Second):
	}
}

// TestShutdownRefusesOpaqueConnectionsDetectedLate: a connection still in
// detection when Shutdown's deadline closes everything must not start
// piping afterwards, uncounted by that close pass and never closed.
func TestShutdownRefusesOpaqueConnectionsDetectedLate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never read, never written
		}
	}()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	o := &slowClose{second: make(chan struct{})}
	s := &Server{Direction: "outbound", Destination: func(*net.TCPConn) (netip.AddrPort, error) { return ap, nil }, SniffTimeout: 2 * time.Second, Observer: o}
	pl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	go s.Serve(pl)
	// A: opaque and piping before Shutdown.
	a, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Write([]byte{0x16, 0, 0, 0})
	time.Sleep(200 * time.Millisecond)
	// B: accepted, still being sniffed when Shutdown's deadline passes.
	b, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	time.Sleep(100 * time.Millisecond)
	pl.Close() // as proxy.go does before Shutdown
	go func() {
		time.Sleep(400 * time.Millisecond) // after the 200 ms deadline's close-all pass
		b.Write([]byte{0x16, 0, 0, 0})
	}()
	shutdownWithin(t, s, 200*time.Millisecond, "an opaque connection that finished its detection after the deadline")
}
