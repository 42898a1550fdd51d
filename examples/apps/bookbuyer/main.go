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
	"github.com/meshctl/meshctl/examples/apps/internal/app"
	"github.com/meshctl/meshctl/examples/apps/internal/caller"
)

func main() {
	app.Main(caller.Program{Path: "/api/buy", Verb: "bought", Doing: "buying"}.Run)
}
