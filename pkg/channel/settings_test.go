package channel

import (
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/identity"
)

func TestDecodeSettings(t *testing.T) {
	for raw, want := range map[string]bool{"": true, `{"enableEgress":false}`: false, `{"enableEgress":true,"future":1}`: true} {
		s, err := DecodeSettings([]byte(raw))
		if err != nil || s.EnableEgress != want {
			t.Errorf("DecodeSettings(%q) = %+v, %v; want enableEgress %v", raw, s, err, want)
		}
	}
	if _, err := DecodeSettings([]byte(`{"enableEgress":"no"}`)); err == nil {
		t.Error("a string for a bool was accepted")
	}
}

// TestDecodeSettingsRefusesWhatCannotBeFollowed: settings a proxy could
// not put in force are an error, so that it keeps those it follows
// rather than half-apply them (JWT validation "on" with no keys would
// refuse every request; tracing with no collector would drop spans).
func TestDecodeSettingsRefusesWhatCannotBeFollowed(t *testing.T) {
	for name, tc := range map[string]struct {
		raw, want string
	}{
		"unknown log level":             {`{"enableEgress":true,"logLevel":"chatty"}`, "logLevel"},
		"tracing without host":          {`{"enableEgress":true,"tracing":{"enable":true,"port":4318,"endpoint":"/v1/traces"}}`, "tracing"},
		"tracing without path":          {`{"enableEgress":true,"tracing":{"enable":true,"address":"otel","port":4318,"endpoint":"v1"}}`, "tracing"},
		"jwt without issuer":            {`{"enableEgress":true,"jwt":{"enable":true,"jwks":"{}"}}`, "issuer"},
		"jwt without keys":              {`{"enableEgress":true,"jwt":{"enable":true,"issuer":"i"}}`, "exactly one"},
		"jwt with both keys":            {`{"enableEgress":true,"jwt":{"enable":true,"issuer":"i","jwks":"{}","jwksURL":"https://k"}}`, "exactly one"},
		"destination without namespace": {`{"enableEgress":true,"jwt":{"enable":true,"issuer":"i","jwks":"{}","destinations":[{"serviceAccount":"sa"}]}}`, "namespace"},
		"too many destinations":         {`{"enableEgress":true,"jwt":{"enable":true,"issuer":"i","jwks":"{}","destinations":[` + strings.Repeat(`{"namespace":"n"},`, maxSettingsList) + `{"namespace":"n"}]}}`, "more than"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := DecodeSettings([]byte(tc.raw))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeSettings = %v; want an error about %q", err, tc.want)
			}
			if s.JWT != nil || s.Tracing != nil || s.LogLevel != "" || !s.EnableEgress {
				t.Errorf("with the error came %+v, want DefaultSettings", s)
			}
		})
	}
	// Off needs nothing else.
	s, err := DecodeSettings([]byte(`{"enableEgress":true,"logLevel":"debug","tracing":{"enable":false},"jwt":{"enable":false}}`))
	if err != nil || s.LogLevel != "debug" || s.Tracing == nil || s.JWT == nil {
		t.Errorf("DecodeSettings(off) = %+v, %v", s, err)
	}
}

func TestJWTRequiredBy(t *testing.T) {
	id := func(ns, sa string) identity.ID {
		t.Helper()
		i, err := identity.NewID("cluster.local", ns, sa)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	stars, books := id("books", "stars"), id("books", "books")
	buyer := id("bookbuyer", "bookbuyer")
	scoped := &JWT{Enable: true, Destinations: []JWTDestination{{Namespace: "books", ServiceAccount: "stars"}, {Namespace: "bookbuyer"}}}
	for _, tc := range []struct {
		jwt  *JWT
		id   identity.ID
		want bool
	}{
		{nil, stars, false},
		{&JWT{Enable: false, Destinations: scoped.Destinations}, stars, false},
		{&JWT{Enable: true}, stars, true}, // no destinations: every workload
		{&JWT{Enable: true}, buyer, true},
		{scoped, stars, true},
		{scoped, books, false}, // same namespace, another ServiceAccount
		{scoped, buyer, true},  // a whole namespace
		{scoped, id("bookthief", "bookbuyer"), false},
		{scoped, id("stars", "books"), false}, // names swapped
	} {
		if got := tc.jwt.RequiredBy(tc.id); got != tc.want {
			t.Errorf("%+v.RequiredBy(%s) = %t, want %t", tc.jwt, tc.id, got, tc.want)
		}
	}
}

func TestSettingsDigest(t *testing.T) {
	a := Settings{EnableEgress: true, LogLevel: "info", JWT: &JWT{Enable: true, Issuer: "i", JWKS: "{}"}}
	b := a
	b.PolicyWithheld = true
	if a.Digest() != b.Digest() {
		t.Error("PolicyWithheld changed the digest; it is about the snapshot, not the MeshConfig")
	}
	if !strings.HasPrefix(a.Digest(), hashPrefix) || len(a.Digest()) != len(hashPrefix)+64 {
		t.Errorf("Digest() = %q, want sha256:<64 hex>", a.Digest())
	}
	for name, c := range map[string]Settings{
		"egress":    {EnableEgress: false, LogLevel: "info", JWT: a.JWT},
		"log level": {EnableEgress: true, LogLevel: "debug", JWT: a.JWT},
		"jwt":       {EnableEgress: true, LogLevel: "info", JWT: &JWT{Enable: true, Issuer: "j", JWKS: "{}"}},
		"tracing":   {EnableEgress: true, LogLevel: "info", JWT: a.JWT, Tracing: &Tracing{}},
	} {
		if c.Digest() == a.Digest() {
			t.Errorf("a change of %s kept the digest", name)
		}
	}
}
