package channel

import (
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
)

// Path is where the handler serves: channel.Path.
const Path = channel.Path

// Handler serves the channel at Path, to be mounted on the proxy API port
// (TLS of identity.APIServerConfig). Answers:
//
//   - 401 the caller presented no client certificate;
//   - 403 its certificate is not a valid mesh identity now (foreign
//     anchor, expired, another trust domain, malformed);
//   - 404 another path; 405 another method;
//   - 503 no snapshot has been built yet (the informers are syncing);
//   - 200 and the stream: the current snapshot at once, every new one as
//     it is published, a heartbeat after HeartbeatInterval of silence.
//
// Refusals carry a fixed text and nothing of the snapshot; the details go
// to the log. The stream ends when the caller's certificate expires (the
// proxy reconnects with its renewed one and is verified again), after
// MaxStreamAge, when a write blocks for WriteTimeout, when Run returns, or
// when the request ends.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	m := s.o.Metrics
	log := s.log.With("remote", r.RemoteAddr)
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id, err := identity.VerifyAPIPeer(r.TLS, s.o.Sources)
	if err != nil {
		if errors.Is(err, identity.ReasonNoPeerCertificate) {
			m.streams.WithLabelValues(streamUnauthenticated).Inc()
			http.Error(w, "a mesh client certificate is required", http.StatusUnauthorized)
		} else {
			m.streams.WithLabelValues(streamRefused).Inc()
			http.Error(w, "the client certificate is not a valid mesh identity", http.StatusForbidden)
		}
		log.Info("channel refused", "error", err)
		return
	}
	log = log.With("peer", id.String())
	p := s.snapshotFor(id)
	if p == nil {
		m.streams.WithLabelValues(streamUnavailable).Inc()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "no snapshot yet", http.StatusServiceUnavailable)
		return
	}
	m.streams.WithLabelValues(streamAccepted).Inc()
	m.proxies.Inc()
	defer m.proxies.Dec()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", channel.ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	send := func(kind string, line []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.o.WriteTimeout))
		_, err := w.Write(line)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			m.sends.WithLabelValues(kind, sendError).Inc()
			log.Info("channel stream ended", "reason", "write failed", "error", err)
			return false
		}
		m.sends.WithLabelValues(kind, sendOK).Inc()
		return true
	}
	end := time.NewTimer(s.streamLifetime(r.TLS))
	defer end.Stop()
	quiet := time.NewTimer(s.o.HeartbeatInterval)
	defer quiet.Stop()
	log.Info("channel stream started", "version", p.version.String())
	if !send("snapshot", p.line) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			log.Info("channel stream ended", "reason", "the proxy went away")
			return
		case <-s.stopped:
			log.Info("channel stream ended", "reason", "the controller is stopping")
			return
		case <-end.C:
			log.Info("channel stream ended", "reason", "certificate expiry or maximum age")
			return
		case <-p.superseded:
			p = s.snapshotFor(id)
			if !send("snapshot", p.line) {
				return
			}
		case <-quiet.C:
			if !send("heartbeat", p.heartbeat) {
				return
			}
		}
		quiet.Reset(s.o.HeartbeatInterval)
	}
}

// streamLifetime is how long a stream may last: until the caller's chain
// expires (it was valid when verified; it must not outlive that), and at
// most MaxStreamAge less up to a fifth at random, so that proxies that
// connected together do not all reconnect together.
func (s *Server) streamLifetime(cs *tls.ConnectionState) time.Duration {
	now := time.Now
	if s.o.Sources.Now != nil {
		now = s.o.Sources.Now
	}
	d := s.o.MaxStreamAge - time.Duration(rand.Int64N(int64(s.o.MaxStreamAge/5)+1))
	for _, c := range cs.PeerCertificates {
		if left := c.NotAfter.Sub(now()); left < d {
			d = left
		}
	}
	return max(d, 0)
}
