package manifest

import (
	"testing"
)

// TestFlagPlainAgreesWithTheEncoder: every string flagPlain lets through
// plain is one the YAML encoder writes plain too, and the strings it
// refuses include ones the encoder would quote.
func TestFlagPlainAgreesWithTheEncoder(t *testing.T) {
	for _, s := range []string{
		"--workload-name=web", "--workload-kind=deployment", "--log-level=info", "--a", "--x=1.5",
		"--workload-name=web-7d4b9c-1", "--jwt-jwks-url=/keys", "--Z_z.9=/a/b", "--yes", "--null", "--true=false",
	} {
		if !flagPlain(s) {
			t.Errorf("flagPlain(%q) = false, want a flag", s)
		}
		if q := quote(s); q != s {
			t.Errorf("flagPlain(%q) = true, but the encoder writes %s", s, q)
		}
	}
	for _, s := range []string{"", "-", "--", "---", "--1", "-- a", "--a b", "--a:b", "--a#b", "--a,b", "--a'b", `--a"b`, "--a\nb", "--é", "-a", "yes", "1"} {
		if flagPlain(s) {
			t.Errorf("flagPlain(%q) = true, want false", s)
		}
	}
}

// FuzzFlagPlain: whatever the string, if flagPlain takes it as plain the
// encoder writes it plain.
func FuzzFlagPlain(f *testing.F) {
	for _, s := range []string{"--workload-name=web", "--a", "--x=1e3", "--a.b/c=d_e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if flagPlain(s) && quote(s) != s {
			t.Fatalf("flagPlain(%q) = true, but the encoder writes %s", s, quote(s))
		}
	})
}
