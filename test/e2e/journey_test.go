//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// step is one stage of the operator journey. Steps run in order, and each may
// rely on what the earlier ones left in the cluster or in Env.
type step struct {
	name string
	run  func(t *testing.T, e *Env)
}

// journey is the operator journey of issue 9, in order. The first steps prove
// the cluster itself with the e2e app (hack/images/e2e-app); the mesh's steps
// then run the example apps of examples/ (bookstore, books and stars), as
// `make demo` does. A new step is a func(t, e) in a file named after it.
// Env has what a step needs: e.GoBuild, e.Image and e.Script to build
// commands and import images, e.Run for the CLI and kubectl, e.Namespace and
// e.AdoptNamespace for namespaces that are diagnosed on failure,
// e.WaitPodsReady, and eventually.
var journey = []step{
	{"node is ready", nodeReady},
	{"components listen only on loopback and the node network", listenersOnlyLocal},
	{"pod from a locally imported image runs", appRuns},
	{"service routes through kube-proxy", serviceRoutes},
	{"pod DNS answers through CoreDNS", podDNS},
	{"pod traffic stays inside the cluster's range", podTrafficStaysInside},
	{"meshctl check --pre passes", meshPre},
	{"meshctl install: control plane ready, check all green", meshInstall},
	{"enrolled namespaces: bookstore's sidecars injected, bookbuyer buys through both proxies", bookstoreEnrolled},
	{"bookbuyer to bookstore is mutual TLS on the wire, with both identities in metrics and logs", bookstoreMutualTLS},
	{"bookstore's pod is annotated for Prometheus and its proxy's metrics name deployment/bookstore", bookstoreScrapedByWorkload},
	{"meshctl tap shows bookbuyer's requests to bookstore with both identities; meshctl top counts them", bookstoreTap},
	{"a change in the cluster reaches the proxies over the channel", channelPropagation},
	{"with the controller down, meshed pods keep serving and a new pod waits for it", controllerDown},
	{"a controller pod deleted during a 20-pod rollout: every pod created and injected, the other replica leads", controllerFailover},
	{"meshctl identity rotate, issuer then anchor, under load: no purchase fails", identityRotation},
	{"books->stars with JWT, injected by meshctl inject into a namespace not enrolled", booksJWT},
	{"permissive disable: bookbuyer keeps buying, bookthief gets 403; enable lets it steal again", bookstoreAuthorization},
	{"meshctl proxy status -A and meshctl stat count what the step's own load sent", meshStat},
	{"meshctl dashboard serves the graph: bookbuyer -> bookstore with a rate", meshDashboard},
	{"proxy image differing from the MeshConfig fails check", meshImageMismatch},
	{"meshctl upgrade --restart-proxies to another proxy image under load: no request fails", proxyUpgrade},
	{"meshctl uninstall leaves no mesh objects, apps keep serving", meshUninstall},
}

// TestJourney runs the steps in order and stops at the first that fails, since
// every later step stands on the earlier ones.
func TestJourney(t *testing.T) {
	total := time.Now()
	env.journey = t
	for _, s := range journey {
		start, ran := time.Now(), false
		ok := t.Run(s.name, func(t *testing.T) { ran = true; s.run(t, env) })
		if !ran { // left out by -run
			continue
		}
		// On stderr as well as in the test log, so CI shows the timings
		// whatever the verbosity.
		fmt.Fprintf(os.Stderr, "e2e step %-60q %-4s %6.1fs\n", s.name, result(ok), time.Since(start).Seconds())
		if !ok {
			t.Fatalf("step %q failed; the journey stops here", s.name)
		}
	}
	fmt.Fprintf(os.Stderr, "e2e journey took %.1fs\n", time.Since(total).Seconds())
}

func result(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}
