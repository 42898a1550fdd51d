// Command bookthief is the dishonest client of the bookstore example: every
// $INTERVAL (default 1s) it GETs $BOOKSTORE_URL/api/steal (default
// http://bookstore.bookstore:8080) and logs the result as
// "stolen: 200 {...}" or the error. It sends nothing special: in the mesh,
// its sidecar carries the call. examples/bookstore's TrafficTarget allows no
// one to steal: while the mesh is permissive its calls succeed, and once
// permissive mode is off bookstore's sidecar answers them with 403.
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
	app.Main(caller.Program{Path: "/api/steal", Verb: "stolen", Doing: "stealing"}.Run)
}
