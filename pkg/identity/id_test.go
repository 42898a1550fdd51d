package identity

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestNewIDParts(t *testing.T) {
	id, err := NewID("cluster.local", "bookstore", "bookstore-v1.api")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := id.String(), "spiffe://cluster.local/ns/bookstore/sa/bookstore-v1.api"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if id.TrustDomain() != "cluster.local" || id.Namespace() != "bookstore" || id.ServiceAccount() != "bookstore-v1.api" {
		t.Errorf("parts = %q %q %q", id.TrustDomain(), id.Namespace(), id.ServiceAccount())
	}
	if got := id.Short(); got != "bookstore/bookstore-v1.api" {
		t.Errorf("Short() = %q", got)
	}
	back, err := ParseID(id.String())
	if err != nil || back != id {
		t.Errorf("ParseID(String()) = %v, %v; want the same ID", back, err)
	}
	if u := id.url().String(); u != id.String() {
		t.Errorf("url() = %q, want %q", u, id.String())
	}
	var zero ID
	if !zero.IsZero() || zero.String() != "" || zero.Short() != "" {
		t.Errorf("zero ID is not empty")
	}
}

func TestNewIDRefuses(t *testing.T) {
	for _, c := range []struct{ td, ns, sa string }{
		{"", "a", "b"},
		{"Cluster.local", "a", "b"},
		{"cluster.local:443", "a", "b"},
		{"user@cluster.local", "a", "b"},
		{strings.Repeat("t", 256), "a", "b"},
		{"td", "", "b"},
		{"td", "A", "b"},
		{"td", "a.b", "b"}, // a namespace is a label, not a subdomain
		{"td", "-a", "b"},
		{"td", "a-", "b"},
		{"td", "a_b", "b"},
		{"td", strings.Repeat("n", 64), "b"},
		{"td", "a", ""},
		{"td", "a", "B"},
		{"td", "a", "b..c"},
		{"td", "a", ".b"},
		{"td", "a", "b/c"},
		{"td", "a", "%62"},
		{"td", "a", strings.Repeat("s", 254)},
	} {
		if id, err := NewID(c.td, c.ns, c.sa); !errors.Is(err, ReasonInvalidID) {
			t.Errorf("NewID(%q, %q, %q) = %v, %v; want ReasonInvalidID", c.td, c.ns, c.sa, id, err)
		}
	}
	if _, err := NewID(strings.Repeat("t", 255), strings.Repeat("n", 63), strings.Repeat("s", 253)); err != nil {
		t.Errorf("names at the length limits: %v", err)
	}
}

// idCases are inputs to both parsers. spiffe says whether go-spiffe's
// spiffeid.FromString accepts it; ours whether ParseID does. Where spiffe
// is true and ours false, ParseID is stricter on purpose: a workload ID has
// exactly one spelling.
var idCases = []struct {
	in           string
	spiffe, ours bool
}{
	{"spiffe://cluster.local/ns/default/sa/default", true, true},
	{"spiffe://td/ns/a/sa/b.c-d", true, true},
	{"spiffe://my_td-1.example/ns/x1/sa/y", true, true},

	// Stricter on purpose: SPIFFE IDs, but not workload IDs.
	{"spiffe://td", true, false},                     // the trust domain's own ID
	{"spiffe://td/ns/a", true, false},                // no sa
	{"spiffe://td/sa/b/ns/a", true, false},           // segments swapped
	{"spiffe://td/ns/a/sa/b/c", true, false},         // extra segment
	{"spiffe://td/ns/a/sa/b/sa/c", true, false},      // a second /sa/
	{"spiffe://td/ns/a/sa/b/ns/c/sa/d", true, false}, // two identities in one
	{"spiffe://td/ns/A/sa/b", true, false},           // uppercase namespace
	{"spiffe://td/ns/a/sa/B", true, false},           // uppercase SA
	{"spiffe://td/NS/a/sa/b", true, false},           // uppercase keyword
	{"spiffe://td/ns/a_b/sa/c", true, false},         // '_' is no DNS label char
	{"spiffe://td/ns/-a/sa/b", true, false},
	{"spiffe://td/ns/a/sa/b-", true, false},
	{"spiffe://td/ns/a.b/sa/c", true, false}, // namespace is a label
	{"spiffe://td/ns/a/sa/b..c", true, false},
	{"spiffe://td/ns/a/sa/...", true, false},
	{"spiffe://td/ns/" + strings.Repeat("n", 64) + "/sa/b", true, false},
	{"spiffe://" + strings.Repeat("t", 256) + "/ns/a/sa/b", true, false},

	// Refused by both.
	{"", false, false},
	{"SPIFFE://td/ns/a/sa/b", false, false},
	{"Spiffe://td/ns/a/sa/b", false, false},
	{"https://td/ns/a/sa/b", false, false},
	{"spiffe:/td/ns/a/sa/b", false, false},
	{"spiffe:///ns/a/sa/b", false, false},
	{"spiffe://TD/ns/a/sa/b", false, false},
	{"spiffe://td:443/ns/a/sa/b", false, false},
	{"spiffe://user@td/ns/a/sa/b", false, false},
	{"spiffe://td/ns/a/sa/b?x=1", false, false},
	{"spiffe://td/ns/a/sa/b?", false, false},
	{"spiffe://td/ns/a/sa/b#f", false, false},
	{"spiffe://td/ns/a/sa/b#", false, false},
	{"spiffe://td/ns/%61/sa/b", false, false},
	{"spiffe://td/ns/a/sa/b/", false, false},
	{"spiffe://td//ns/a/sa/b", false, false},
	{"spiffe://td/ns//a/sa/b", false, false},
	{"spiffe://td/ns/./sa/b", false, false},
	{"spiffe://td/ns/../sa/b", false, false},
	{"spiffe://td/ns/a/sa/b\x00", false, false},
	{"spiffe://td/ns/a/sa/b c", false, false},
	{" spiffe://td/ns/a/sa/b", false, false},
	{"spiffe://td/ns/a/sa/ḃ", false, false},
}

// TestParseIDAgainstGoSpiffe holds the hand-written parser to go-spiffe's:
// each case's verdict from both, and ParseID never accepts what spiffeid
// refuses.
func TestParseIDAgainstGoSpiffe(t *testing.T) {
	for _, c := range idCases {
		ref, refErr := spiffeid.FromString(c.in)
		if (refErr == nil) != c.spiffe {
			t.Errorf("spiffeid.FromString(%q) error = %v; the case says accepted=%v (fix the case)", c.in, refErr, c.spiffe)
		}
		id, err := ParseID(c.in)
		if (err == nil) != c.ours {
			t.Errorf("ParseID(%q) = %v, %v; want accepted=%v", c.in, id, err, c.ours)
			continue
		}
		if err != nil {
			if !errors.Is(err, ReasonInvalidID) {
				t.Errorf("ParseID(%q) error %v is not ReasonInvalidID", c.in, err)
			}
			continue
		}
		checkAgainstReference(t, c.in, id, ref, refErr)
	}
}

// checkAgainstReference asserts what must hold whenever ParseID accepts s.
func checkAgainstReference(t *testing.T, s string, id ID, ref spiffeid.ID, refErr error) {
	t.Helper()
	if refErr != nil {
		t.Fatalf("ParseID accepted %q, which spiffeid refuses: %v", s, refErr)
	}
	if id.String() != s || ref.String() != s {
		t.Fatalf("%q: ParseID gives %q, spiffeid %q; both must keep the input as it is", s, id.String(), ref.String())
	}
	if id.TrustDomain() != ref.TrustDomain().Name() {
		t.Fatalf("%q: trust domain %q, spiffeid says %q", s, id.TrustDomain(), ref.TrustDomain().Name())
	}
	if want := "/ns/" + id.Namespace() + "/sa/" + id.ServiceAccount(); ref.Path() != want {
		t.Fatalf("%q: namespace %q and SA %q, but spiffeid's path is %q", s, id.Namespace(), id.ServiceAccount(), ref.Path())
	}
	again, err := NewID(id.TrustDomain(), id.Namespace(), id.ServiceAccount())
	if err != nil || again != id {
		t.Fatalf("%q: NewID of its parts = %v, %v", s, again, err)
	}
}

// FuzzParseID: ParseID never panics, never accepts what go-spiffe refuses,
// and what it accepts round-trips exactly.
func FuzzParseID(f *testing.F) {
	for _, c := range idCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			if !errors.Is(err, ReasonInvalidID) {
				t.Fatalf("ParseID(%q) error %v is not ReasonInvalidID", s, err)
			}
			return
		}
		ref, refErr := spiffeid.FromString(s)
		checkAgainstReference(t, s, id, ref, refErr)
	})
}

func TestIDText(t *testing.T) {
	id := mustID(t, DefaultTrustDomain, "bookstore", "bookbuyer")
	b, err := json.Marshal(struct{ A, Z ID }{A: id})
	if err != nil || string(b) != `{"A":"spiffe://cluster.local/ns/bookstore/sa/bookbuyer","Z":""}` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	var back struct{ A, Z ID }
	if err := json.Unmarshal(b, &back); err != nil || back.A != id || !back.Z.IsZero() {
		t.Fatalf("unmarshal: %+v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"A":"spiffe://cluster.local/ns/x"}`), &back); !errors.Is(err, ReasonInvalidID) {
		t.Fatalf("a bad ID: %v, want %v", err, ReasonInvalidID)
	}
}
