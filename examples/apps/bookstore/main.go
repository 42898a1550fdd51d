// Command bookstore is the shop of the bookstore example: it sells and is
// robbed of books and counts both.
//
//	GET /api/buy    {"bought":N}   N: books bought so far, this one included
//	GET /api/steal  {"stolen":N}
//	GET /api/stats  {"bought":N,"stolen":M}
//	GET /healthz    ok
//
// It listens on :8080 ($PORT overrides). bookbuyer and bookthief call it;
// the SMI policy in examples/bookstore allows buying and no stealing.
package main

import (
	"context"
	"log"
	"net/http"
	"sync/atomic"

	"github.com/meshctl/meshctl/examples/apps/internal/app"
)

func main() { app.Main(run) }

func run(ctx context.Context, getenv func(string) string, logger *log.Logger) error {
	return app.Server(ctx, getenv, newStore().handler(), logger)
}

// store holds the counters; requests arrive concurrently.
type store struct {
	bought, stolen atomic.Int64
}

func newStore() *store { return &store{} }

type stats struct {
	Bought int64 `json:"bought"`
	Stolen int64 `json:"stolen"`
}

func (s *store) handler() http.Handler {
	mux := app.NewMux()
	mux.HandleFunc("GET /api/buy", func(w http.ResponseWriter, _ *http.Request) {
		app.WriteJSON(w, http.StatusOK, map[string]int64{"bought": s.bought.Add(1)})
	})
	mux.HandleFunc("GET /api/steal", func(w http.ResponseWriter, _ *http.Request) {
		app.WriteJSON(w, http.StatusOK, map[string]int64{"stolen": s.stolen.Add(1)})
	})
	mux.HandleFunc("GET /api/stats", func(w http.ResponseWriter, _ *http.Request) {
		app.WriteJSON(w, http.StatusOK, stats{Bought: s.bought.Load(), Stolen: s.stolen.Load()})
	})
	return mux
}
