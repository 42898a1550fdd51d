package integration_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/policycli"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/policy"
)

// decode reads explain's JSON output.
func decode(t *testing.T, out string) policycli.Explanation {
	t.Helper()
	var x policycli.Explanation
	if err := json.Unmarshal([]byte(out), &x); err != nil {
		t.Fatalf("explain's JSON: %v\n%s", err, out)
	}
	return x
}

// one is the decision on the only destination.
func one(t *testing.T, x policycli.Explanation) policy.Decision {
	t.Helper()
	if len(x.Destinations) != 1 {
		t.Fatalf("want one destination, got %+v", x.Destinations)
	}
	return x.Destinations[0].Decision
}

func TestExplainBookstore(t *testing.T) {
	b := newBookstore(t, false)
	buyer, thief := b.buyer+"/bookbuyer", b.thief+"/bookthief"
	store := b.store + "/svc/bookstore"
	ttName := b.store + "/bookstore-buy"
	cases := []struct {
		name       string
		o          policycli.ExplainOptions
		allow      bool
		reason     policy.Reason
		tt         string
		rule       int
		match      string
		normalized string
	}{
		{"bookbuyer buys", policycli.ExplainOptions{From: buyer, To: store, Path: "/api/buy"}, true, policy.ReasonTrafficTarget, ttName, 0, "buy", "/api/buy"},
		{"bookthief buys", policycli.ExplainOptions{From: thief, To: store, Path: "/api/buy"}, false, policy.ReasonSourceNotAllowed, "", 0, "", "/api/buy"},
		{"bookthief steals", policycli.ExplainOptions{From: thief, To: store, Path: "/api/steal"}, false, policy.ReasonSourceNotAllowed, "", 0, "", "/api/steal"},
		{"bookbuyer steals", policycli.ExplainOptions{From: buyer, To: store, Path: "/api/steal"}, false, policy.ReasonNoRuleMatched, "", 0, "", "/api/steal"},
		// Spellings that dodge a naive match get the plain path's decision.
		{"double slash", policycli.ExplainOptions{From: buyer, To: store, Path: "/api//buy"}, true, policy.ReasonTrafficTarget, ttName, 0, "buy", "/api/buy"},
		{"encoded letter", policycli.ExplainOptions{From: buyer, To: store, Path: "/api/%62uy"}, true, policy.ReasonTrafficTarget, ttName, 0, "buy", "/api/buy"},
		{"steal through dots", policycli.ExplainOptions{From: buyer, To: store, Path: "/api/buy/../steal"}, false, policy.ReasonNoRuleMatched, "", 0, "", "/api/steal"},
		{"steal encoded", policycli.ExplainOptions{From: buyer, To: store, Path: "/api/%73teal"}, false, policy.ReasonNoRuleMatched, "", 0, "", "/api/steal"},
		{"tomcat dots", policycli.ExplainOptions{From: buyer, To: store, Path: "/api/..;/buy"}, false, policy.ReasonInvalidPath, "", 0, "", ""},
		{"post", policycli.ExplainOptions{From: buyer, To: store, Method: "POST", Path: "/api/buy"}, false, policy.ReasonNoRuleMatched, "", 0, "", "/api/buy"},
		{"stranger", policycli.ExplainOptions{From: b.store + "/bookstore", To: store, Path: "/api/buy"}, false, policy.ReasonSourceNotAllowed, "", 0, "", "/api/buy"},
		// A pod as the source is its ServiceAccount, and the Service's port
		// 14001 reaches the pods' 8080; the pod's port itself works too.
		{"from a pod", policycli.ExplainOptions{From: b.buyer + "/pod/bookbuyer-1", To: store, Port: 14001, Path: "/api/buy"}, true, policy.ReasonTrafficTarget, ttName, 0, "buy", "/api/buy"},
		{"to a pod", policycli.ExplainOptions{From: buyer, To: "pod/bookstore-1", Namespace: b.store, Port: 8080, Path: "/api/buy"}, true, policy.ReasonTrafficTarget, ttName, 0, "buy", "/api/buy"},
		{"spiffe id", policycli.ExplainOptions{From: "spiffe://cluster.local/ns/" + b.buyer + "/sa/bookbuyer", To: b.store + "/bookstore", Port: 8080, Path: "/api/buy"}, true, policy.ReasonTrafficTarget, ttName, 0, "buy", "/api/buy"},
		// No identity: plain text is denied.
		{"plain text", policycli.ExplainOptions{From: "ip/198.18.0.99", To: store, Path: "/api/buy"}, false, policy.ReasonNoIdentity, "", 0, "", "/api/buy"},
		{"tcp", policycli.ExplainOptions{From: buyer, To: store, TCP: true}, false, policy.ReasonNoRuleMatched, "", 0, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, _, err := b.explain(t, c.o)
			if err != nil {
				t.Fatal(err)
			}
			x := decode(t, out)
			d := one(t, x)
			if d.Allow != c.allow || d.Reason != c.reason || d.Name != c.tt || d.Rule != c.rule || d.Match != c.match {
				t.Errorf("decision %+v, want allow %t reason %s by %q rule %d match %q", d, c.allow, c.reason, c.tt, c.rule, c.match)
			}
			if got := x.Destinations[0].Path; got != c.normalized {
				t.Errorf("normalized path %q, want %q", got, c.normalized)
			}
			if d.Allow && d.Kind != policy.KindTrafficTarget {
				t.Errorf("allowed by kind %q", d.Kind)
			}
		})
	}
}

// A pod without sidecar has no certificate, so its calls are plain text,
// whatever its ServiceAccount: explain must not lend it its identity.
func TestExplainUnmeshedPodCallsAsPlainText(t *testing.T) {
	b := newBookstore(t, false)
	createPod(t, b.buyer, "bare", "bookbuyer", "198.18.0.21", false, nil)
	out, errOut, err := b.explain(t, policycli.ExplainOptions{From: b.buyer + "/pod/bare", To: b.store + "/svc/bookstore", Path: "/api/buy"})
	if err != nil {
		t.Fatal(err)
	}
	x := decode(t, out)
	if d := one(t, x); d.Allow || d.Reason != policy.ReasonNoIdentity || x.Source.Identity != "" || x.Source.IP != "198.18.0.21" {
		t.Errorf("an unmeshed pod: %+v, source %+v", d, x.Source)
	}
	if !strings.Contains(errOut, "has no sidecar") {
		t.Errorf("stderr does not say the pod has no sidecar: %q", errOut)
	}
}

// An identity of another trust domain is no identity of this mesh: no
// proxy accepts its certificate, so explain refuses rather than answer
// for the same namespace and name.
func TestExplainRefusesAnotherTrustDomain(t *testing.T) {
	b := newBookstore(t, false)
	_, _, err := b.explain(t, policycli.ExplainOptions{From: "spiffe://evil.example/ns/" + b.buyer + "/sa/bookbuyer", To: b.store + "/svc/bookstore", Path: "/api/buy"})
	if err == nil || !strings.Contains(err.Error(), `trust domain "evil.example" is not the mesh's`) {
		t.Fatalf("got %v", err)
	}
}

func TestExplainPermissive(t *testing.T) {
	b := newBookstore(t, true)
	out, _, err := b.explain(t, policycli.ExplainOptions{From: b.buyer + "/bookbuyer", To: b.store + "/svc/bookstore", Path: "/api/steal"})
	if err != nil {
		t.Fatal(err)
	}
	x := decode(t, out)
	if d := one(t, x); !d.Allow || d.Reason != policy.ReasonPermissive || !x.Permissive {
		t.Errorf("permissive: %+v", x)
	}
}

func TestExplainResolutionErrors(t *testing.T) {
	b := newBookstore(t, false)
	createService(t, b.store, "empty", map[string]string{"app": "none"}, 80, intstrFromInt(8080))
	cases := []struct {
		o    policycli.ExplainOptions
		want string
	}{
		{policycli.ExplainOptions{From: b.buyer + "/bookbuyer", To: b.store + "/svc/nope"}, `service "` + b.store + `/nope" not found`},
		{policycli.ExplainOptions{From: b.buyer + "/bookbuyer", To: b.store + "/svc/bookstore", Port: 80}, `--port 80: service "` + b.store + `/bookstore" has ports 14001`},
		{policycli.ExplainOptions{From: b.buyer + "/bookbuyer", To: b.store + "/svc/empty"}, "has no endpoints with pods"},
		{policycli.ExplainOptions{From: b.buyer + "/pod/nope", To: b.store + "/bookstore", Port: 80}, `pod "` + b.buyer + `/nope" not found`},
	}
	for _, c := range cases {
		_, _, err := b.explain(t, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.o, err, c.want)
		}
	}
	// A ServiceAccount that does not exist is explained, with a note.
	_, errOut, err := b.explain(t, policycli.ExplainOptions{From: b.buyer + "/ghost", To: b.store + "/svc/bookstore"})
	if err != nil || !strings.Contains(errOut, `ServiceAccount "`+b.buyer+`/ghost" does not exist`) {
		t.Errorf("a missing ServiceAccount: %v, %q", err, errOut)
	}
}

func TestExplainGolden(t *testing.T) {
	b := newBookstore(t, false)
	for _, c := range []struct {
		name string
		o    policycli.ExplainOptions
	}{
		{"explain-buy", policycli.ExplainOptions{From: b.buyer + "/bookbuyer", To: b.store + "/svc/bookstore", Path: "/api//buy"}},
		{"explain-steal", policycli.ExplainOptions{From: b.buyer + "/bookbuyer", To: b.store + "/svc/bookstore", Path: "/api/steal", Headers: []string{"Host: BookStore:14001"}}},
	} {
		for _, format := range []cli.Format{cli.FormatTable, cli.FormatJSON} {
			c.o.Output = format
			out, errOut, err := b.explain(t, c.o)
			if err != nil {
				t.Fatal(err)
			}
			golden.AssertString(t, filepath.Join("testdata", c.name+"."+string(format)+".golden"), b.normalize(out+"--- stderr\n"+errOut))
		}
	}
}

// A Service in front of pods of two ServiceAccounts is two destinations,
// each decided on its own: the proxy of each pod has its own policy.
func TestExplainServiceOfTwoIdentities(t *testing.T) {
	b := newBookstore(t, false)
	createServiceAccount(t, b.store, "bookstore-v2")
	createPod(t, b.store, "bookstore-2", "bookstore-v2", "198.18.0.11", true, map[string]string{"app": "bookstore"})
	createSlice(t, b.store, "bookstore", "http", 8080, map[string]string{"bookstore-2": "198.18.0.11"})
	out, _, err := b.explain(t, policycli.ExplainOptions{From: b.buyer + "/bookbuyer", To: b.store + "/svc/bookstore", Path: "/api/buy"})
	if err != nil {
		t.Fatal(err)
	}
	x := decode(t, out)
	if len(x.Destinations) != 2 {
		t.Fatalf("destinations: %+v", x.Destinations)
	}
	v1, v2 := x.Destinations[0], x.Destinations[1]
	if !strings.HasSuffix(v1.Identity, "/sa/bookstore") || !v1.Decision.Allow || v1.Port != 8080 || v1.ServicePort != 14001 {
		t.Errorf("bookstore: %+v", v1)
	}
	if !strings.HasSuffix(v2.Identity, "/sa/bookstore-v2") || v2.Decision.Allow || v2.Decision.Reason != policy.ReasonSourceNotAllowed {
		t.Errorf("bookstore-v2: %+v", v2)
	}
}
