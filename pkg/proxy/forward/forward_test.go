package forward

import (
	"bufio"
	"bytes"
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
	"github.com/meshctl/meshctl/pkg/proxy/h1"
)

// setup runs backend behind a Forwarder served by a test frontend, and
// counts the backend's connections.
func setup(t *testing.T, backend http.Handler, idleTimeout time.Duration) (front string, conns *atomic.Int32) {
	t.Helper()
	conns = &atomic.Int32{}
	be := httptest.NewUnstartedServer(backend)
	be.Config.IdleTimeout = idleTimeout
	be.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	be.Start()
	t.Cleanup(be.Close)
	dst := netip.MustParseAddrPort(strings.TrimPrefix(be.URL, "http://"))
	f := New(Forwarder{Destination: func(*http.Request) (netip.AddrPort, bool) { return dst, true }})
	t.Cleanup(f.Close)
	fe := httptest.NewServer(f)
	t.Cleanup(fe.Close)
	return fe.URL, conns
}

func do(t *testing.T, method, url string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPoolReusesConnections(t *testing.T) {
	front, conns := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.Host, len(b))
	}), 0)
	for i := range 20 {
		code, body := do(t, "POST", front+"/x", bytes.NewReader(make([]byte, 1024)))
		if code != 200 || !strings.HasSuffix(body, " 1024") || !strings.HasPrefix(body, "POST 127.0.0.1:") {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 20 sequential requests, want 1", n)
	}
}

func TestPoolSurvivesServerClosingIdleConnections(t *testing.T) {
	front, conns := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}), 100*time.Millisecond)
	if code, _ := do(t, "POST", front, strings.NewReader("a")); code != 200 {
		t.Fatal(code)
	}
	// The backend closes the idle connection; a POST (not retryable) must
	// not be sent on it.
	time.Sleep(probeAfter + 200*time.Millisecond)
	if code, body := do(t, "POST", front, strings.NewReader("b")); code != 200 || body != "ok" {
		t.Fatalf("after the backend closed its idle connection: %d %q", code, body)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestPoolResponsesWithoutBodies(t *testing.T) {
	front, conns := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	}), 0)
	for _, tc := range []struct{ method, path, body string }{
		{"HEAD", "/", ""}, {"GET", "/204", ""}, {"GET", "/", "hello"}, {"GET", "/close", "bye"}, {"GET", "/", "hello"},
	} {
		code, body := do(t, tc.method, front+tc.path, nil)
		if code >= 300 || body != tc.body {
			t.Fatalf("%s %s: %d %q", tc.method, tc.path, code, body)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (one more after Connection: close)", n)
	}
}

func TestPoolInterimResponses(t *testing.T) {
	front, _ := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "final")
	}), 0)
	if code, body := do(t, "GET", front, nil); code != 200 || body != "final" {
		t.Fatalf("%d %q", code, body)
	}
}

func TestPoolEarlyCloseDoesNotPoisonThePool(t *testing.T) {
	big := bytes.Repeat([]byte("z"), 1<<20)
	front, _ := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(big)
			return
		}
		io.WriteString(w, "small")
	}), 0)
	resp, err := http.Get(front + "/big")
	if err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(resp.Body).ReadByte()
	resp.Body.Close() // the client gives up after one byte
	for range 3 {
		if code, body := do(t, "GET", front+"/small", nil); code != 200 || body != "small" {
			t.Fatalf("after an abandoned response: %d %q", code, body)
		}
	}
}

func TestLargeAndStreamingBodiesUseFallback(t *testing.T) {
	front, _ := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}), 0)
	if _, body := do(t, "POST", front, bytes.NewReader(make([]byte, h1.MaxBody+1))); body != fmt.Sprint(h1.MaxBody+1) {
		t.Fatalf("large body: %q", body)
	}
	pr, pw := io.Pipe()
	go func() { pw.Write(make([]byte, 3000)); pw.Close() }()
	if _, body := do(t, "POST", front, pr); body != "3000" {
		t.Fatalf("chunked body: %q", body)
	}
}

func TestSweepClosesIdleConnections(t *testing.T) {
	closed := make(chan struct{}, 1)
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	be.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	be.Start()
	defer be.Close()
	p := &h1Pool{dial: (&net.Dialer{}).DialContext, maxIdle: 4, idleTimeout: 50 * time.Millisecond, stop: make(chan struct{})}
	go p.sweep(20 * time.Millisecond)
	defer p.Close()
	req, _ := http.NewRequest("GET", be.URL, nil)
	resp, err := p.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection was never closed")
	}
}
