//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/rotation"
)

// identityRotation: `meshctl identity rotate`, then `--anchor`, while
// bookbuyer buys from bookstore every second through both proxies over
// mutual TLS. Not one purchase fails and no handshake is refused on
// either side; afterwards both proxies hold a certificate of the new
// issuer and trust the new anchor alone, and a restarted bookbuyer (a
// fresh handshake on the new chain end to end) buys at once.
func identityRotation(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.bookbuyer.pod != "", "bookbuyer and bookstore deployed", "enrolled namespaces")
	var before callerStats
	e.appStats(t, m.bookbuyer, &before)
	refusedBefore := e.proxyCounter(t, m.bookstore, "mesh_proxy_tls_handshakes_total", `direction="inbound"`) -
		e.proxyCounter(t, m.bookstore, "mesh_proxy_tls_handshakes_total", `direction="inbound"`, `result="ok"`)
	failedOutBefore := e.proxyCounter(t, m.bookbuyer, "mesh_proxy_tls_handshakes_total", `direction="outbound"`) -
		e.proxyCounter(t, m.bookbuyer, "mesh_proxy_tls_handshakes_total", `direction="outbound"`, `result="ok"`)
	start := time.Now()

	rotate := func(args ...string) rotation.Result {
		t.Helper()
		begin := time.Now()
		out := e.Run(t, m.meshctl, append([]string{"identity", "rotate", "-o", "json", "--timeout", "5m"}, args...)...)
		var res rotation.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("meshctl identity rotate %v: stdout %q: %v", args, out, err)
		}
		fmt.Fprintf(os.Stderr, "e2e: meshctl identity rotate %v took %.1fs for %d proxies\n", args, time.Since(begin).Seconds(), res.Proxies)
		return res
	}
	issuer := rotate()
	if issuer.Issuer == nil || issuer.Issuer.Old == issuer.Issuer.New || issuer.Anchor != nil || issuer.Proxies < 2 {
		t.Fatalf("issuer rotation: %+v", issuer)
	}
	anchor := rotate("--anchor")
	if anchor.Anchor == nil || anchor.Issuer == nil || anchor.Anchor.Old == anchor.Anchor.New || anchor.Issuer.New == issuer.Issuer.New {
		t.Fatalf("anchor rotation: %+v", anchor)
	}

	var after callerStats
	e.appStats(t, m.bookbuyer, &after)
	took := time.Since(start)
	if failed := after.Failed - before.Failed; failed != 0 {
		t.Errorf("%d of bookbuyer's purchases failed during the rotations (last: %s)", failed, after.Last)
	}
	if ok := after.OK - before.OK; float64(ok) < took.Seconds()/2 {
		t.Errorf("bookbuyer bought %d times in %s: the load did not run", ok, took.Round(time.Second))
	}
	refused := e.proxyCounter(t, m.bookstore, "mesh_proxy_tls_handshakes_total", `direction="inbound"`) -
		e.proxyCounter(t, m.bookstore, "mesh_proxy_tls_handshakes_total", `direction="inbound"`, `result="ok"`)
	failedOut := e.proxyCounter(t, m.bookbuyer, "mesh_proxy_tls_handshakes_total", `direction="outbound"`) -
		e.proxyCounter(t, m.bookbuyer, "mesh_proxy_tls_handshakes_total", `direction="outbound"`, `result="ok"`)
	if refused != refusedBefore || failedOut != failedOutBefore {
		t.Errorf("handshakes failed during the rotations: bookstore refused %v, bookbuyer failed %v", refused-refusedBefore, failedOut-failedOutBefore)
	}
	for _, app := range []meshApp{m.bookbuyer, m.bookstore} {
		st := e.proxyStatus(t, app)
		if st.Identity == nil || st.Identity.Certificate == nil || st.Identity.Certificate.Issuer != anchor.Issuer.New {
			t.Errorf("%s/%s: identity %+v, want a certificate of issuer %s", app.namespace, app.pod, st.Identity, anchor.Issuer.New)
			continue
		}
		if len(st.Identity.Anchors) != 1 || st.Identity.Anchors[0].Fingerprint != anchor.Anchor.New {
			t.Errorf("%s/%s trusts %+v, want anchor %s alone", app.namespace, app.pod, st.Identity.Anchors, anchor.Anchor.New)
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: identity rotations under load: %d purchases, %d failed, in %.1fs\n", after.OK-before.OK, after.Failed-before.Failed, took.Seconds())

	m.bookbuyer = e.firstCallSucceeds(t, m.bookbuyer, "bought")
	eventually(t, 30*time.Second, "the new bookbuyer's certificate is from the new issuer", func(context.Context) error {
		st := e.proxyStatus(t, m.bookbuyer)
		if st.Identity == nil || st.Identity.Certificate == nil || st.Identity.Certificate.Issuer != anchor.Issuer.New {
			return fmt.Errorf("identity %+v", st.Identity)
		}
		return nil
	})
}
