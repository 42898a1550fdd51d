// Command bookbuyer is the honest client of the bookstore example: every
// $INTERVAL (default 1s) it GETs $BOOKSTORE_URL/api/buy (default
// http://bookstore.bookstore:8080) and logs the result as
// "bought: 200 {...}" or the error. It sends nothing special: in the mesh,
// its sidecar carries the call.
//
// It also listens on :8080 ($PORT overrides):
//
//	GET /api/stats  {"ok":N,"failed":M,"last":"<status or error>"}
//	GET /healthz    ok
package main

import (
	"context"
	"log"

	"github.com/meshctl/meshctl/examples/apps/internal/app"
	"github.com/meshctl/meshctl/examples/apps/internal/caller"
)

// What bookbuyer does, and the word its log lines start with.
const (
	path = "/api/buy"
	verb = "bought"
)

func main() { app.Main(run) }

func run(ctx context.Context, getenv func(string) string, logger *log.Logger) error {
	c, interval, err := caller.FromEnv(getenv, path, verb, logger)
	if err != nil {
		return err
	}
	logger.Printf("buying from %s every %s", c.URL, interval)
	return c.Run(ctx, app.Addr(getenv), interval)
}
