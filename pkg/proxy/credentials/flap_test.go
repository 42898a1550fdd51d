package credentials

import (
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
)

// TestFlappingAnnouncementsAreBounded: two controller replicas
// during an issuer rotation (or after one refused the new Secret): one
// announces the new issuer Y, the other the old X and signs with X. Each
// time the proxy's channel moves from one to the other the announcement
// changes; the early renewals stay within one budget per
// EarlyRenewalPeriod (review finding: each change used to refill it).
func TestFlappingAnnouncementsAreBounded(t *testing.T) {
	ca := identitytest.NewCA(t, time.Now())
	ctrlID := mustID(t, identity.DefaultTrustDomain, "mesh-system", "mesh-controller")
	ctrl := startController(t, ca, ctrlID)
	f := newFixture(t, ca)
	c := start(t, f.options(ctrl, ctrlID))
	waitReady(t, c)
	nextWait(t, f)
	y, err := identity.GenerateIssuer(ca.Anchor, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	x := identity.FingerprintOf(ca.Issuer.Certificate())
	for range 10 {
		before := ctrl.requests.Load()
		c.IssuerAnnounced(identity.FingerprintOf(y.Certificate()))
		// Let the renewal it may cause happen before the next flap.
		for deadline := time.Now().Add(300 * time.Millisecond); ctrl.requests.Load() == before && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		c.IssuerAnnounced(x)
	}
	if n := ctrl.requests.Load(); n > 1+MaxEarlyRenewals {
		t.Fatalf("%d certificate requests from one proxy after 10 flaps of the announced issuer (bound %d)", n, 1+MaxEarlyRenewals)
	}
}
