package examples

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/syncbuf"
)

// The example programs run here as the processes they are in the image:
// built from source, configured by environment, on loopback ports, logging
// to stdout, stopped with SIGTERM.

// buildApps builds the image's programs into a temporary directory.
func buildApps(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + "/"}
	for _, app := range []string{"bookstore", "bookbuyer", "bookthief", "books", "stars", "fetch"} {
		args = append(args, "./apps/"+app)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return dir
}

// process is a running example server.
type process struct {
	name string
	port string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan error
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// start runs bin/name with env on a free loopback port and waits until it
// answers GET /healthz, what the Deployments' readiness probe asks.
func start(t *testing.T, bin, name string, env ...string) *process {
	t.Helper()
	p := &process{name: name, port: freePort(t), out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(filepath.Join(bin, name))
	p.cmd.Env = append([]string{"LISTEN_HOST=127.0.0.1", "PORT=" + p.port, "DRAIN_DELAY=200ms"}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, p.out.String())
		}
	})
	probe := []string{"-status-only", "-fail", "-timeout", "2s", p.url("/healthz")}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, _ := fetch(t, bin, probe...)
		if code == 0 {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 10s:\n%s", name, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *process) url(path string) string { return "http://127.0.0.1:" + p.port + path }

// stop sends SIGTERM, as the kubelet does, and expects a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.name, err)
		}
		if !strings.Contains(p.out.String(), "shut down") {
			t.Errorf("%s did not log its shutdown", p.name)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("%s still running 15s after SIGTERM", p.name)
	}
}

// fetch runs the fetch program and returns its exit code, stdout and stderr.
func fetch(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "fetch"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// getJSON fetches url with the fetch program and decodes the body.
func getJSON(t *testing.T, bin, url string, v any) {
	t.Helper()
	code, out, errOut := fetch(t, bin, url)
	status, body, _ := strings.Cut(out, "\n")
	if code != 0 || status != "200 OK" {
		t.Fatalf("fetch %s: exit %d, %q %q", url, code, out, errOut)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("fetch %s: %q: %v", url, body, err)
	}
}

// TestBooksAndStars runs books and stars with a stand-in for the mesh
// between them: it records what books sends and, like the outbound sidecar
// propagating the caller's token for the trace, adds an Authorization header
// to calls that carry a trace context.
func TestBooksAndStars(t *testing.T) {
	bin := buildApps(t)
	stars := start(t, bin, "stars")
	starsURL, _ := url.Parse(stars.url("/"))
	token := fakeJWT(`{"sub":"demo-reader"}`)
	var mu sync.Mutex
	var seen []http.Header
	sidecar := httptest.NewServer(&httputil.ReverseProxy{ErrorLog: log.New(io.Discard, "", 0), Rewrite: func(r *httputil.ProxyRequest) {
		mu.Lock()
		seen = append(seen, r.In.Header.Clone())
		mu.Unlock()
		r.SetURL(starsURL)
		if r.In.Header.Get("Traceparent") != "" {
			r.Out.Header.Set("Authorization", "Bearer "+token)
		}
	}})
	defer sidecar.Close()
	books := start(t, bin, "books", "STARS_URL="+sidecar.URL)

	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	code, out, errOut := fetch(t, bin, "-H", "traceparent: "+traceparent, "-H", "Authorization: Bearer "+token, books.url("/api/books/1"))
	status, body, _ := strings.Cut(out, "\n")
	var book struct {
		ID, Title, Author string
		Year, Stars       int
	}
	if code != 0 || status != "200 OK" || json.Unmarshal([]byte(body), &book) != nil {
		t.Fatalf("fetch books/1: exit %d %q %q", code, out, errOut)
	}
	var direct struct{ Stars int }
	getJSON(t, bin, stars.url("/api/stars/1"), &direct)
	if book.ID != "1" || book.Title == "" || book.Author == "" || book.Year == 0 || book.Stars != direct.Stars || book.Stars < 1 || book.Stars > 5 {
		t.Errorf("book %+v, stars says %d", book, direct.Stars)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0].Get("Traceparent") != traceparent || seen[0].Get("Authorization") != "" {
		t.Errorf("books sent stars %v; want the traceparent and no Authorization", seen)
	}
	mu.Unlock()
	var st struct {
		Requests, Authorized int
		LastSubject          string
	}
	getJSON(t, bin, stars.url("/api/stats"), &st)
	if st.Requests != 2 || st.Authorized != 1 || st.LastSubject != "demo-reader" {
		t.Errorf("stars stats %+v, want 2 requests, 1 authorized by demo-reader", st)
	}
	if !strings.Contains(stars.out.String(), "stars 1 subject=demo-reader\n") || !strings.Contains(stars.out.String(), "stars 1 subject=-\n") {
		t.Errorf("stars' log lacks its subject lines:\n%s", stars.out)
	}

	for _, tc := range []struct {
		args       []string
		wantCode   int
		wantStatus string
	}{
		{[]string{books.url("/api/books/42")}, 0, "404 Not Found"},
		{[]string{"-fail", books.url("/api/books/42")}, 3, "404 Not Found"},
		{[]string{"-fail", "-status-only", books.url("/healthz")}, 0, "200 OK"},
	} {
		code, out, _ := fetch(t, bin, tc.args...)
		if status, _, _ := strings.Cut(out, "\n"); code != tc.wantCode || status != tc.wantStatus {
			t.Errorf("fetch %q: exit %d, %q; want %d, %s", tc.args, code, out, tc.wantCode, tc.wantStatus)
		}
	}
	var bs struct{ Requests int }
	getJSON(t, bin, books.url("/api/stats"), &bs)
	if bs.Requests != 3 {
		t.Errorf("books counted %d /api/books requests, want 3", bs.Requests)
	}
	if n := strings.Count(books.out.String(), "GET /api/books/"); n != 3 {
		t.Errorf("books logged %d /api/books lines, want 3:\n%s", n, books.out)
	}

	// Stopping stars makes books answer 502, naming stars.
	stars.stop(t)
	code, out, _ = fetch(t, bin, books.url("/api/books/2"))
	if status, body, _ := strings.Cut(out, "\n"); code != 0 || status != "502 Bad Gateway" || !strings.Contains(body, `"upstreamStatus":502`) {
		t.Errorf("books without stars: exit %d %q", code, out)
	}
	books.stop(t)
}

// TestBookstoreBuyerThief: the clients call the shop in a loop, and each
// program's stats agree.
func TestBookstoreBuyerThief(t *testing.T) {
	bin := buildApps(t)
	store := start(t, bin, "bookstore")
	buyer := start(t, bin, "bookbuyer", "BOOKSTORE_URL="+store.url(""), "INTERVAL=20ms")
	thief := start(t, bin, "bookthief", "BOOKSTORE_URL="+store.url(""), "INTERVAL=20ms")
	var shop struct{ Bought, Stolen int }
	deadline := time.Now().Add(10 * time.Second)
	for shop.Bought < 3 || shop.Stolen < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s the shop counts %+v", shop)
		}
		time.Sleep(20 * time.Millisecond)
		getJSON(t, bin, store.url("/api/stats"), &shop)
	}
	for _, tc := range []struct {
		p       *process
		logLine string
		counted int
	}{
		{buyer, `bought: 200 {"bought":`, shop.Bought},
		{thief, `stolen: 200 {"stolen":`, shop.Stolen},
	} {
		var st struct {
			OK, Failed int
			Last       string
		}
		getJSON(t, bin, tc.p.url("/api/stats"), &st)
		// The shop counted at least what the client had seen when the shop
		// was asked; the client has gone on since.
		if st.OK < tc.counted || st.Failed != 0 || st.Last != "200 OK" {
			t.Errorf("%s stats %+v; the shop counted %d", tc.p.name, st, tc.counted)
		}
		if !strings.Contains(tc.p.out.String(), tc.logLine) {
			t.Errorf("%s's log has no %q line:\n%s", tc.p.name, tc.logLine, tc.p.out)
		}
	}
	if n := strings.Count(store.out.String(), "GET /api/buy 200 "); n < shop.Bought {
		t.Errorf("bookstore logged %d purchases, counted %d", n, shop.Bought)
	}
	buyer.stop(t)
	thief.stop(t)
	store.stop(t)

	// The shop is gone: the clients count failures and say why.
	buyer = start(t, bin, "bookbuyer", "BOOKSTORE_URL="+store.url(""), "INTERVAL=20ms")
	var st struct {
		OK, Failed int
		Last       string
	}
	for deadline := time.Now().Add(10 * time.Second); st.Failed < 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("bookbuyer without a shop: %+v", st)
		}
		getJSON(t, bin, buyer.url("/api/stats"), &st)
	}
	if st.OK != 0 || !strings.Contains(st.Last, "connection refused") || !strings.Contains(buyer.out.String(), "bought: error: ") {
		t.Errorf("bookbuyer without a shop: %+v", st)
	}
	buyer.stop(t)
}

// fakeJWT is a JWT-shaped token with payload; stars reads claims without
// checking signatures (its sidecar does that), so none is needed here.
func fakeJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf("%s.%s.%s", enc([]byte(`{"alg":"ES256","typ":"JWT"}`)), enc([]byte(payload)), enc([]byte("sig")))
}
