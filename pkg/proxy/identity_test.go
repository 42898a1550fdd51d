package proxy

import (
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/proxy/authz"
)

// TestApplyPolicy: what a snapshot's policy, or its absence, does to the
// proxy's: a policy is put in force; without one, a proxy that never had
// one allows everything (a controller from before authorization), one
// that had one keeps it (an older replica during a rollout), and a
// withheld policy keeps whatever is in force, "nothing yet" included.
func TestApplyPolicy(t *testing.T) {
	m := newTestMesh(t)
	strict := compiled(t, m, false, false, 0)
	set, err := policy.NewSet(false, []policy.Policy{*strict}, policy.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	withPolicy, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	withheld, err := json.Marshal(channel.Settings{EnableEgress: true, PolicyWithheld: true})
	if err != nil {
		t.Fatal(err)
	}
	snap := func(c channel.Content) *channel.Snapshot {
		c.Pods, c.Services = []channel.Pod{}, []channel.Service{}
		s, err := channel.NewSnapshot(channel.Version{}, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	log := slog.New(slog.DiscardHandler)
	// applyPolicy as the channel's callback calls it, with the settings
	// decoded once.
	applyPolicy := func(az *authz.Authorizer, s *channel.Snapshot, self identity.ID, seen *atomic.Bool, log *slog.Logger) {
		settings, _ := channel.DecodeSettings(s.Content.SettingsV1)
		applyPolicy(az, s, settings.PolicyWithheld, self, seen, log)
	}
	r := func() policy.Request {
		return policy.Request{Source: m.idA, Port: 80, Method: "GET", Target: "/admin"}
	}

	t.Run("never had one", func(t *testing.T) {
		az, seen := authz.Waiting(nil), &atomic.Bool{}
		applyPolicy(az, snap(channel.Content{}), m.idB, seen, log)
		if !az.Allows(r()) {
			t.Error("a controller that sends no policy: the proxy does not allow everything")
		}
	})
	t.Run("withheld before any", func(t *testing.T) {
		az, seen := authz.Waiting(nil), &atomic.Bool{}
		applyPolicy(az, snap(channel.Content{SettingsV1: withheld}), m.idB, seen, log)
		if az.Allows(r()) {
			t.Error("a withheld policy opened a proxy that had none yet")
		}
	})
	t.Run("had one", func(t *testing.T) {
		az, seen := authz.Waiting(nil), &atomic.Bool{}
		applyPolicy(az, snap(channel.Content{PolicyV1: withPolicy}), m.idB, seen, log)
		if az.Allows(r()) {
			t.Fatal("the policy was not put in force")
		}
		applyPolicy(az, snap(channel.Content{}), m.idB, seen, log)
		if az.Allows(r()) {
			t.Error("a snapshot without policy after one with opened the proxy")
		}
		applyPolicy(az, snap(channel.Content{SettingsV1: withheld}), m.idB, seen, log)
		if az.Allows(r()) {
			t.Error("a withheld policy opened the proxy")
		}
	})
}
