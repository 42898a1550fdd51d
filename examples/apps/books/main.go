// Command books is the catalogue of the books example: five books, each with
// its rating from the stars service.
//
//	GET /api/books/{id}  {"id":"1","title":...,"year":...,"author":...,"stars":N}
//	                     404 {"error":...} for an id outside 1..5
//	                     502 {"error":...,"upstreamStatus":S} when stars fails
//	GET /api/stats       {"requests":N}: /api/books requests that reached the app
//	GET /healthz         ok
//
// It listens on :8080 ($PORT overrides) and calls $STARS_URL/api/stars/{id}
// (default http://stars.books:8080). Like any app instrumented for tracing,
// it forwards the trace headers of the request it serves to the call it
// makes, and nothing else: the mesh's sidecars do the rest (see catalogue.go).
package main

import (
	"context"
	"fmt"
	"log"
	"net/url"

	"github.com/meshctl/meshctl/examples/apps/internal/app"
)

// DefaultStarsURL is stars' Service in the books namespace.
const DefaultStarsURL = "http://stars.books:8080"

func main() { app.Main(run) }

func run(ctx context.Context, getenv func(string) string, logger *log.Logger) error {
	starsURL := getenv("STARS_URL")
	if starsURL == "" {
		starsURL = DefaultStarsURL
	}
	u, err := url.Parse(starsURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("STARS_URL %q: want an http:// or https:// URL such as %s", starsURL, DefaultStarsURL)
	}
	logger.Printf("rating books with %s", starsURL)
	return app.Server(ctx, getenv, newCatalogue(starsURL, nil).handler(), logger)
}
