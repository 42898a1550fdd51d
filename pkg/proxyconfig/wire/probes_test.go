package wire

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseProbe(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Probe
		err  string
	}{
		{in: "8080/healthz", want: Probe{8080, "/healthz"}},
		{in: "1/", want: Probe{1, "/"}},
		{in: "65535/a%20b/c,d", want: Probe{65535, "/a%20b/c,d"}},
		{in: "8080//double", want: Probe{8080, "//double"}},
		{in: "8080", err: "not a probe"},
		{in: "", err: "not a probe"},
		{in: "/healthz", err: "not a port"},
		{in: "0/healthz", err: "not a port"},
		{in: "65536/healthz", err: "not a port"},
		{in: "08080/healthz", err: "not a port"},
		{in: "+8080/healthz", err: "not a port"},
		{in: " 8080/healthz", err: "not a port"},
		{in: "http/healthz", err: "not a port"},
		{in: "8080/health z", err: "cannot hold"},
		{in: "8080/healthz?x=1", err: "cannot hold"},
		{in: "8080/healthz#f", err: "cannot hold"},
		{in: "8080/h\x7f", err: "cannot hold"},
		{in: "8080/h\u00e9", err: "cannot hold"},
	} {
		got, err := ParseProbe(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseProbe(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseProbe(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err == "" && got.String() != tc.in:
			t.Errorf("ParseProbe(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestSortProbes(t *testing.T) {
	got := SortProbes([]Probe{{9090, "/a"}, {8080, "/b"}, {8080, "/a"}, {9090, "/a"}, {80, "/z"}})
	want := []Probe{{80, "/z"}, {8080, "/a"}, {8080, "/b"}, {9090, "/a"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SortProbes = %v, want %v", got, want)
	}
}

// TestExemptProbesRoundTrip: whatever probes the injector writes, in the
// canonical order, mesh-proxy reads back the same.
func TestExemptProbesRoundTrip(t *testing.T) {
	r := minimalRun()
	r.JWT = &JWT{Issuer: "i", JWKS: "{}", ExemptProbes: SortProbes([]Probe{{8080, "/healthz"}, {8081, "/live"}, {8080, "/a,b"}, {8080, "/%2Fx"}})}
	got, err := ParseRunArgs(r.Args())
	if err != nil {
		t.Fatalf("ParseRunArgs(%q): %v", r.Args(), err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got.JWT, r.JWT)
	}
}

// FuzzParseProbe: ParseProbe never panics, what it accepts renders back to
// the same text and holds a path CheckProbePath accepts.
func FuzzParseProbe(f *testing.F) {
	for _, s := range []string{"8080/healthz", "1/", "65535/a%20b", "8080/a?b", "08080/x", "8080", "/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProbe(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("ParseProbe(%q).String() = %q", s, p.String())
		}
		if p.Port < 1 || p.Port > 65535 || CheckProbePath(p.Path) != nil {
			t.Fatalf("ParseProbe(%q) accepted %+v", s, p)
		}
		if again := SortProbes([]Probe{p, p}); !slices.Equal(again, []Probe{p}) {
			t.Fatalf("SortProbes kept a duplicate: %v", again)
		}
	})
}
