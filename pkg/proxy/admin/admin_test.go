package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(w.Body)
	return w.Code, string(b)
}

func TestEndpoints(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics here") })
	s := &Server{Metrics: metrics, Config: wire.Run{
		LogLevel: wire.LogInfo,
		JWT:      &wire.JWT{Issuer: "https://issuer", JWKS: `{"keys":[{"d":"private!"}]}`, JWKSURL: "https://user:pw@keys.example/jwks?api_key=s3cret"},
	}}
	h := s.Handler()
	if code, _ := get(t, h, "/ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("/ready before SetReady: %d", code)
	}
	s.SetReady(true)
	if code, _ := get(t, h, "/ready"); code != http.StatusOK {
		t.Fatalf("/ready: %d", code)
	}
	if code, _ := get(t, h, "/live"); code != http.StatusOK {
		t.Fatalf("/live: %d", code)
	}
	if code, body := get(t, h, "/metrics"); code != http.StatusOK || body != "metrics here" {
		t.Fatalf("/metrics: %d %q", code, body)
	}
	code, body := get(t, h, "/config")
	if code != http.StatusOK || !strings.Contains(body, `"Issuer": "https://issuer"`) {
		t.Fatalf("/config: %d %s", code, body)
	}
	for _, secret := range []string{"private!", "s3cret", "pw@"} {
		if strings.Contains(body, secret) {
			t.Errorf("/config shows %q: %s", secret, body)
		}
	}
	if s.Config.JWT.JWKS == Redacted {
		t.Error("Redact modified the configuration it was given")
	}
}

func TestMetricsOff(t *testing.T) {
	if code, _ := get(t, (&Server{}).Handler(), "/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics with metrics off: %d", code)
	}
}

func TestProfilingOnlyWhenAsked(t *testing.T) {
	if code, _ := get(t, (&Server{}).Handler(), "/debug/pprof/heap"); code != http.StatusNotFound {
		t.Fatalf("/debug/pprof/heap with profiling off: %d", code)
	}
	code, body := get(t, (&Server{Profiling: true}).Handler(), "/debug/pprof/heap?debug=1")
	if code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Fatalf("/debug/pprof/heap with profiling on: %d %.100s", code, body)
	}
}

func TestStatus(t *testing.T) {
	if code, _ := get(t, (&Server{}).Handler(), wire.StatusPath); code != http.StatusNotFound {
		t.Errorf("/status without a source: %d, want 404", code)
	}
	s := &Server{Status: func() any { return map[string]string{"id": "spiffe://cluster.local/ns/a/sa/b"} }}
	code, body := get(t, s.Handler(), wire.StatusPath)
	if code != http.StatusOK || !strings.Contains(body, `"id": "spiffe://cluster.local/ns/a/sa/b"`) {
		t.Errorf("/status: %d %s", code, body)
	}
}
