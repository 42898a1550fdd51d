//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/proxy/tap"
	"github.com/meshctl/meshctl/pkg/tapcli"
)

// bookstoreTap: `meshctl tap` on bookstore's Deployment, through a
// port-forward to its proxy's tap, shows bookbuyer's purchases as they
// happen with both identities (bookbuyer's, which bookstore's proxy
// verified over mutual TLS, and bookstore's own), and never a query; and
// `meshctl top` counts them by path.
func bookstoreTap(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.bookstore.pod != "" && m.bookbuyer.pod != "", "bookstore and bookbuyer deployed", "enrolled namespaces")
	buyer := "spiffe://cluster.local/ns/" + m.bookbuyer.namespace + "/sa/" + m.bookbuyer.name
	store := "spiffe://cluster.local/ns/" + m.bookstore.namespace + "/sa/" + m.bookstore.name

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	code, out, errOut := e.runExitCtx(ctx, m.meshctl, "tap", "deploy/bookstore", "-n", m.bookstore.namespace, "--max", "5", "-o", "json")
	if code != 0 {
		t.Fatalf("meshctl tap: exit %d\n%s%s", code, out, errOut)
	}
	var reqs []tapcli.Request
	for line := range strings.Lines(out) {
		var r tapcli.Request
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("meshctl tap -o json: %v: %q", err, line)
		}
		reqs = append(reqs, r)
	}
	if len(reqs) != 5 {
		t.Fatalf("meshctl tap --max 5 printed %d requests:\n%s", len(reqs), out)
	}
	fromBuyer := 0
	for _, r := range reqs {
		if r.Namespace != m.bookstore.namespace || !strings.HasPrefix(r.Pod, "bookstore-") || strings.Contains(r.Path, "?") {
			t.Errorf("a request of another pod, or with a query: %+v", r)
		}
		if r.Source == buyer {
			fromBuyer++
			if r.Destination != store || !r.TLS || r.Direction != tap.Inbound || r.Status != 200 {
				t.Errorf("bookbuyer's request as bookstore's proxy saw it: %+v, want inbound 200 over mutual TLS to %s", r, store)
			}
		}
	}
	if fromBuyer == 0 {
		t.Errorf("none of the 5 requests came from %s:\n%s", buyer, out)
	}
	t.Logf("meshctl tap: %d of 5 requests from bookbuyer, each with both identities", fromBuyer)

	code, out, errOut = e.runExitCtx(ctx, m.meshctl, "top", "deploy/bookstore", "-n", m.bookstore.namespace, "--max", "5", "-o", "json")
	var s tapcli.Snapshot
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.Requests != 5 {
		t.Fatalf("meshctl top --max 5 -o json: exit %d, want a snapshot of 5 requests:\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, `"source": "bookbuyer/bookbuyer"`) {
		t.Errorf("meshctl top counted no request from bookbuyer/bookbuyer:\n%s", out)
	}
}
