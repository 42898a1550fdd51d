package caller

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/syncbuf"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name         string
		env          map[string]string
		wantURL      string
		wantInterval time.Duration
		wantErr      string
	}{
		{"defaults", nil, "http://bookstore.bookstore:8080/api/buy", time.Second, ""},
		{"overrides", map[string]string{"BOOKSTORE_URL": "http://127.0.0.1:9/", "INTERVAL": "250ms"}, "http://127.0.0.1:9/api/buy", 250 * time.Millisecond, ""},
		{"no scheme", map[string]string{"BOOKSTORE_URL": "bookstore:8080"}, "", 0, "BOOKSTORE_URL"},
		{"bad interval", map[string]string{"INTERVAL": "often"}, "", 0, `INTERVAL "often"`},
		{"zero interval", map[string]string{"INTERVAL": "0s"}, "", 0, "positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, interval, err := FromEnv(env(tc.env), "/api/buy", "bought", log.New(&bytes.Buffer{}, "", 0))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.URL != tc.wantURL || interval != tc.wantInterval {
				t.Errorf("URL %q interval %s, want %q %s", c.URL, interval, tc.wantURL, tc.wantInterval)
			}
		})
	}
}

func TestCallRecordsAndLogs(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/buy" {
			t.Errorf("called %s", r.URL.Path)
		}
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write([]byte(`{"bought":1}` + "\n"))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	c := New(srv.URL+"/", "/api/buy", "bought", log.New(&logs, "", 0))

	for _, tc := range []struct {
		name      string
		status    int
		url       string
		wantStats Stats
		wantLog   string
	}{
		{"ok", 200, "", Stats{OK: 1, Last: "200 OK"}, `bought: 200 {"bought":1}`},
		{"refused by policy", 403, "", Stats{OK: 1, Failed: 1, Last: "403 Forbidden"}, `bought: 403 {"bought":1}`},
		{"unreachable", 0, "http://127.0.0.1:1/api/buy", Stats{OK: 1, Failed: 2}, "bought: error: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			status.Store(int32(tc.status))
			if tc.url != "" {
				c.URL = tc.url
			}
			c.Call(context.Background())
			got := c.Stats()
			if tc.wantStats.Last == "" {
				// An error's text is the OS's; its presence is what matters.
				if got.Last == "" || !strings.Contains(got.Last, "127.0.0.1:1") {
					t.Errorf("last = %q, want the error", got.Last)
				}
				got.Last = ""
			}
			if got != tc.wantStats {
				t.Errorf("stats %+v, want %+v", got, tc.wantStats)
			}
			if !strings.HasPrefix(logs.String(), tc.wantLog) || strings.Count(logs.String(), "\n") != 1 {
				t.Errorf("log %q, want one line starting %q", logs.String(), tc.wantLog)
			}
		})
	}
}

func TestLogLineIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("x"), 10000))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	New(srv.URL, "/", "bought", log.New(&logs, "", 0)).Call(context.Background())
	if n := logs.Len(); n > maxLoggedBody+50 || !strings.HasSuffix(logs.String(), "...\n") {
		t.Errorf("log line of %d bytes: %q", n, logs.String())
	}
}

// TestRun: the loop calls bookstore repeatedly and the stats server reports
// it, until the context is cancelled.
func TestRun(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		_, _ = w.Write([]byte(`{"stolen":1}`))
	}))
	defer srv.Close()
	var logs syncbuf.Buffer
	c := New(srv.URL, "/api/steal", "stolen", log.New(&logs, "", 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, "127.0.0.1:0", 10*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls after 5s", calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/stats", nil))
	var st Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != 200 {
		t.Fatalf("stats: %d %q %v", rec.Code, rec.Body, err)
	}
	if st.OK < 3 || st.Failed != 0 || st.Last != "200 OK" {
		t.Errorf("stats %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after cancel, want nil", err)
	}
	if !strings.Contains(logs.String(), `stolen: 200 {"stolen":1}`) || !strings.Contains(logs.String(), "listening on 127.0.0.1:") {
		t.Errorf("logs %q", logs.String())
	}
}

// TestCallCutShortByShutdown: a call the shutdown cancels is neither a
// success nor a failure, and is not logged as bookstore's error.
func TestCallCutShortByShutdown(t *testing.T) {
	var logs bytes.Buffer
	c := New("http://127.0.0.1:1", "/api/buy", "bought", log.New(&logs, "", 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Call(ctx)
	if st := c.Stats(); st != (Stats{}) || logs.Len() != 0 {
		t.Errorf("stats %+v, log %q; want nothing recorded", st, logs.String())
	}
}

// TestProgram: bookbuyer and bookthief are Programs that differ in the path
// they call and the word they log; bad settings stop them before any call.
func TestProgram(t *testing.T) {
	for _, p := range []Program{
		{Path: "/api/buy", Verb: "bought", Doing: "buying"},
		{Path: "/api/steal", Verb: "stolen", Doing: "stealing"},
	} {
		var got string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r.Method + " " + r.URL.Path
			_, _ = w.Write([]byte(`{"n":1}`))
		}))
		var logs syncbuf.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		settings := env(map[string]string{"BOOKSTORE_URL": srv.URL, "INTERVAL": "1h", "LISTEN_HOST": "127.0.0.1", "PORT": "0"})
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx, settings, log.New(&logs, "", 0)) }()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(logs.String(), p.Verb+": 200") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: Run = %v", p.Path, err)
		}
		srv.Close()
		if want := "GET " + p.Path; got != want {
			t.Errorf("%s: request %q, want %q", p.Path, got, want)
		}
		if l := logs.String(); !strings.Contains(l, p.Doing+" from "+srv.URL+p.Path) || !strings.Contains(l, p.Verb+": 200 {\"n\":1}") {
			t.Errorf("%s: log %q", p.Path, l)
		}
		for _, tc := range []struct{ k, v string }{{"BOOKSTORE_URL", "ftp://bookstore"}, {"INTERVAL", "-1s"}} {
			err := p.Run(context.Background(), env(map[string]string{tc.k: tc.v}), log.New(io.Discard, "", 0))
			if err == nil || !strings.Contains(err.Error(), tc.k) {
				t.Errorf("%s with %s=%s: Run = %v, want an error naming %s", p.Path, tc.k, tc.v, err, tc.k)
			}
		}
	}
}

// FuzzFromEnv: BOOKSTORE_URL and INTERVAL are user input; whatever they hold,
// FromEnv returns a caller of an http(s) URL with a positive interval, or an
// error naming the variable at fault.
func FuzzFromEnv(f *testing.F) {
	f.Add("", "")
	f.Add("http://bookstore.bookstore:8080", "500ms")
	f.Add("ftp://x", "1s")
	f.Add("http://x", "-1s")
	f.Add("http://[::1", "0")
	f.Fuzz(func(t *testing.T, base, interval string) {
		c, d, err := FromEnv(env(map[string]string{"BOOKSTORE_URL": base, "INTERVAL": interval}), "/api/buy", "bought", log.New(io.Discard, "", 0))
		if err != nil {
			if !strings.Contains(err.Error(), "BOOKSTORE_URL") && !strings.Contains(err.Error(), "INTERVAL") {
				t.Errorf("FromEnv(%q, %q) error %q names neither variable", base, interval, err)
			}
			return
		}
		if d <= 0 || !(strings.HasPrefix(c.URL, "http://") || strings.HasPrefix(c.URL, "https://")) || !strings.HasSuffix(c.URL, "/api/buy") {
			t.Errorf("FromEnv(%q, %q) = %q every %s", base, interval, c.URL, d)
		}
	})
}
