// Package admin owns the proxy's admin port: /ready, /live, /metrics,
// /config (the effective settings, secrets redacted), /status (identity
// and channel), /log-level (changed for a while, from loopback only) and
// /tap (the live request stream, to loopback only).
// The admin port is never intercepted, so kubelet probes and Prometheus
// reach it directly.
package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"net/url"
	"sync/atomic"

	proxychannel "github.com/meshctl/meshctl/pkg/proxy/channel"
	"github.com/meshctl/meshctl/pkg/proxy/credentials"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Server is the admin handler. Ready starts false: the proxy marks itself
// ready once its listeners are up, and not ready again when it drains.
type Server struct {
	// Metrics serves /metrics (telemetry.Metrics.Handler); nil turns
	// /metrics off (404).
	Metrics http.Handler
	// Config is shown by /config after Redact.
	Config wire.Run
	// Profiling serves Go's profiles under /debug/pprof/. It is off unless
	// asked for: a CPU profile costs the proxy CPU while it runs, and the
	// heap profile shows request data to whoever reaches the admin port.
	Profiling bool
	// Status, when not nil, is shown by /status as JSON: the proxy's
	// identity and channel state. It holds no secret (certificates'
	// serials, dates and fingerprints; never a key or a token).
	Status func() any
	// LogLevel, when not nil, serves LogLevelPath: the log level, changed
	// for a while from the pod's loopback only.
	LogLevel *LogLevel
	// Tap, when not nil, serves wire.TapPath to the pod's loopback.
	Tap *tap.Tap

	ready atomic.Bool
}

// SetReady flips /ready.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Handler serves the admin endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.LivePath, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "live")
	})
	mux.HandleFunc("GET "+wire.ReadyPath, func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if s.Metrics != nil {
		mux.Handle("GET "+wire.MetricsPath, s.Metrics)
	}
	mux.HandleFunc("GET "+wire.ConfigPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(Redact(s.Config))
	})
	if s.Status != nil {
		mux.HandleFunc("GET "+wire.StatusPath, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			enc.Encode(s.Status())
		})
	}
	if s.LogLevel != nil {
		mux.HandleFunc("GET "+LogLevelPath, s.LogLevel.serveGet)
		mux.HandleFunc("PUT "+LogLevelPath, s.LogLevel.servePut)
	}
	if s.Tap != nil {
		mux.HandleFunc("GET "+wire.TapPath, func(w http.ResponseWriter, r *http.Request) { serveTap(s.Tap, w, r) })
	}
	if s.Profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Status is what /status shows: the proxy's identity and its channel to
// the controller. `meshctl proxy status` reads it.
type Status struct {
	Identity *credentials.Status  `json:"identity,omitempty"`
	Channel  *proxychannel.Status `json:"channel,omitempty"`
	Settings *SettingsStatus      `json:"settings,omitempty"`
}

// SettingsStatus is what the proxy follows of the MeshConfig's settings
// that reach it over the channel (channel.Settings).
type SettingsStatus struct {
	// Digest is channel.Settings.Digest of the last settings the proxy
	// put in force whole; empty before any. `meshctl check` compares it
	// with the MeshConfig's.
	Digest string `json:"digest,omitempty"`
	// Error says why the latest settings were not (all) put in force;
	// the proxy keeps following those of Digest.
	Error string `json:"error,omitempty"`
	// Egress says whether the app may reach destinations outside the
	// mesh.
	Egress bool `json:"egress"`
	// LogLevel is the level the proxy goes back to after a temporary
	// change; Pinned says it is the workload's own.
	LogLevel wire.LogLevel `json:"logLevel"`
	Pinned   bool          `json:"logLevelPinned,omitempty"`
	// Tracing says whether spans are exported.
	Tracing bool `json:"tracing"`
	// JWT says whether requests to this workload need a valid token.
	JWT bool `json:"jwt"`
}

// Redacted is a setting whose value is withheld.
const Redacted = "<redacted>"

// Redact returns r without secrets: the inline JWKS is withheld (it is
// long and may carry private material if misconfigured), and the JWKS URL
// loses its credentials and query string, which often carry API keys.
func Redact(r wire.Run) wire.Run {
	if r.JWT == nil {
		return r
	}
	j := *r.JWT
	if j.JWKS != "" {
		j.JWKS = Redacted
	}
	if j.JWKSURL != "" {
		if u, err := url.Parse(j.JWKSURL); err == nil {
			if u.User != nil {
				u.User = url.User(Redacted)
			}
			if u.RawQuery != "" {
				u.RawQuery = Redacted
			}
			j.JWKSURL = u.String()
		} else {
			j.JWKSURL = Redacted
		}
	}
	r.JWT = &j
	return r
}
