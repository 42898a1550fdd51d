// Command stars is the rating service of the books example. books calls it
// for every book it serves.
//
//	GET /api/stars/{id}  {"id":"<id>","stars":<1..5, the same for the same id>}
//	GET /api/stats       {"requests":N,"authorized":M,"lastSubject":"<sub>"}
//	GET /healthz         ok
//
// It listens on :8080 ($PORT overrides). It shows the end of JWT
// propagation: books never forwards the caller's Authorization header, yet
// with JWT validation on, the mesh's sidecars carry it from books' inbound
// request to this call. stars counts the requests that arrived with a bearer
// token and logs each one as "stars <id> subject=<sub or ->".
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"log"
	"net/http"
	"strings"
	"sync"

	"github.com/meshctl/meshctl/examples/apps/internal/app"
)

func main() { app.Main(run) }

func run(ctx context.Context, getenv func(string) string, logger *log.Logger) error {
	return app.Server(ctx, getenv, newRatings(logger).handler(), logger)
}

// ratings serves the stars and counts who asked.
type ratings struct {
	log *log.Logger

	mu    sync.Mutex
	stats stats
}

func newRatings(logger *log.Logger) *ratings { return &ratings{log: logger} }

type stats struct {
	Requests    int64  `json:"requests"`
	Authorized  int64  `json:"authorized"`
	LastSubject string `json:"lastSubject"`
}

type rating struct {
	ID    string `json:"id"`
	Stars int    `json:"stars"`
}

func (s *ratings) handler() http.Handler {
	mux := app.NewMux()
	mux.HandleFunc("GET /api/stars/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		sub, bearer := subject(r.Header.Get("Authorization"))
		s.record(bearer, sub)
		logged := sub
		if logged == "" {
			logged = "-"
		}
		s.log.Printf("stars %s subject=%s", id, logged)
		app.WriteJSON(w, http.StatusOK, rating{ID: id, Stars: starsOf(id)})
	})
	mux.HandleFunc("GET /api/stats", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		st := s.stats
		s.mu.Unlock()
		app.WriteJSON(w, http.StatusOK, st)
	})
	return mux
}

func (s *ratings) record(bearer bool, sub string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	if bearer {
		s.stats.Authorized++
		s.stats.LastSubject = sub
	}
}

// starsOf is a book's rating: 1 to 5, always the same for the same id, so
// that tests and the demo can predict it.
func starsOf(id string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32()%5) + 1
}

// subject reports whether an Authorization header value is a bearer JWT and,
// if so, the token's sub claim ("" when it has none).
//
// The token is decoded WITHOUT verifying its signature, on purpose: in the
// mesh, JWT validation is the sidecar's job, and a request only reaches this
// app once stars' sidecar has verified the token against the mesh's keys.
// An app outside a mesh must never trust a claim it has not verified.
func subject(authorization string) (string, bool) {
	scheme, token, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	// A map, not a struct: encoding/json matches struct fields ignoring
	// case, and claim names are case-sensitive ("SUB" is not "sub").
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil || claims == nil {
		return "", false
	}
	sub, _ := claims["sub"].(string)
	return sub, true
}
