package app

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func TestAddr(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ":8080"},
		{map[string]string{"PORT": "9090"}, ":9090"},
		{map[string]string{"LISTEN_HOST": "127.0.0.1"}, "127.0.0.1:8080"},
		{map[string]string{"LISTEN_HOST": "::1", "PORT": "1"}, "[::1]:1"},
	} {
		if got := Addr(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("env %v: Addr = %q, want %q", tc.env, got, tc.want)
		}
	}
}

func TestMuxAndLog(t *testing.T) {
	var logs bytes.Buffer
	mux := NewMux()
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusCreated, map[string]int{"n": 1})
	})
	mux.HandleFunc("GET /error", func(w http.ResponseWriter, _ *http.Request) {
		WriteError(w, http.StatusNotFound, "no such thing")
	})
	h := Logged(mux, log.New(&logs, "", 0))
	for _, tc := range []struct {
		path, wantBody, wantType, wantLog string
		wantStatus                        int
	}{
		{"/healthz", "ok", "text/plain; charset=utf-8", "GET /healthz 200 ", 200},
		{"/json", `{"n":1}` + "\n", "application/json", "GET /json 201 ", 201},
		{"/error?x=1", `{"error":"no such thing"}` + "\n", "application/json", "GET /error?x=1 404 ", 404},
		{"/nowhere", "404 page not found\n", "text/plain; charset=utf-8", "GET /nowhere 404 ", 404},
	} {
		logs.Reset()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.wantStatus || rec.Body.String() != tc.wantBody || rec.Header().Get("Content-Type") != tc.wantType {
			t.Errorf("GET %s: %d %q %q, want %d %q %q", tc.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body, tc.wantStatus, tc.wantType, tc.wantBody)
		}
		if lines := strings.Count(logs.String(), "\n"); lines != 1 || !strings.HasPrefix(logs.String(), tc.wantLog) {
			t.Errorf("GET %s: log %q, want one line starting %q", tc.path, logs.String(), tc.wantLog)
		}
	}
}

// TestServeShutsDownGracefully: a request in flight when the context is
// cancelled (SIGTERM) still gets its answer, and Serve returns nil.
func TestServeShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inHandler := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(inHandler)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h, 0) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-inHandler
	cancel()
	// The listener closes at once: new connections are refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if body := <-got; body != "done" {
		t.Errorf("in-flight request got %q, want done", body)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a clean shutdown", err)
	}
}

// TestServeDrains: after the context is cancelled, the server still answers
// new requests for the drain delay, each with Connection: close, and only
// then refuses connections.
func TestServeDrains(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	const drain = 300 * time.Millisecond
	go func() { served <- Serve(ctx, ln, h, drain) }()
	url := "http://" + ln.Addr().String() + "/"
	cancel()
	stopped := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET during the drain: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || !resp.Close {
		t.Errorf("GET during the drain = %q, Connection: close %v; want ok and true", b, resp.Close)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a clean shutdown", err)
	}
	if d := time.Since(stopped); d < drain {
		t.Errorf("Serve returned %s after cancel, before the %s drain", d, drain)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener still accepts after the drain")
	}
}

func TestListenAndServeFailsOnBadAddress(t *testing.T) {
	var logs bytes.Buffer
	err := ListenAndServe(context.Background(), "127.0.0.1:notaport", http.NotFoundHandler(), 0, log.New(&logs, "", 0))
	if err == nil || !strings.Contains(err.Error(), "notaport") {
		t.Errorf("ListenAndServe = %v, want an error naming the address", err)
	}
}

func TestDrain(t *testing.T) {
	tests := []struct {
		env     string
		want    time.Duration
		wantErr bool
	}{
		{"", DrainDelay, false},
		{"0s", 0, false},
		{"250ms", 250 * time.Millisecond, false},
		{"5", 0, true},
		{"-1s", 0, true},
	}
	for _, tt := range tests {
		got, err := Drain(func(k string) string {
			if k == "DRAIN_DELAY" {
				return tt.env
			}
			return ""
		})
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Drain(DRAIN_DELAY=%q) = %s, %v; want %s, error %v", tt.env, got, err, tt.want, tt.wantErr)
		}
	}
}

// FuzzDrain: DRAIN_DELAY is user input; whatever it holds, Drain returns a
// usable delay or an error naming the variable, never a negative delay.
func FuzzDrain(f *testing.F) {
	for _, s := range []string{"", "0s", "5s", "-1s", "1e9", "9999999h", "5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Drain(func(string) string { return s })
		if err != nil {
			if !strings.Contains(err.Error(), "DRAIN_DELAY") {
				t.Errorf("Drain(%q) error %q does not name DRAIN_DELAY", s, err)
			}
			return
		}
		if d < 0 {
			t.Errorf("Drain(%q) = %s, negative", s, d)
		}
	})
}
