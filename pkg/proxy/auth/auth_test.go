package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

const issuer = "https://issuer.example"

type testKeys struct {
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	jwks []byte
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{rsa: rk, ec: ek, jwks: jwksOf(rk, "rsa-1", ek, "ec-1")}
}

func jwksOf(rk *rsa.PrivateKey, rkid string, ek *ecdsa.PrivateKey, ekid string) []byte {
	pt, _ := ek.PublicKey.Bytes()
	doc := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": rkid, "use": "sig", "alg": "RS256", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": ekid, "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])},
		{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
	}}
	b, _ := json.Marshal(doc)
	return b
}

func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": issuer, "aud": "stars", "sub": "alice", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

func newValidator(t testing.TB, k testKeys) *Validator {
	set, err := ParseJWKS(k.jwks)
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Options{Issuer: issuer, Audiences: []string{"books", "stars"}, Keys: StaticKeys(set)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidate(t *testing.T) {
	k := newTestKeys(t)
	v := newValidator(t, k)
	other := newTestKeys(t)
	noneToken := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}()
	// HS256 signed with the RSA public key's bytes: the classic algorithm
	// confusion attack.
	hsToken := sign(t, jwt.SigningMethodHS256, k.rsa.N.Bytes(), "rsa-1", claims(nil))
	for _, tc := range []struct {
		name  string
		token string
		want  string // "" means valid; otherwise the description
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil)), ""},
		{"ES256", sign(t, jwt.SigningMethodES256, k.ec, "ec-1", claims(nil)), ""},
		{"ES256 without kid", sign(t, jwt.SigningMethodES256, k.ec, "", claims(nil)), ""},
		{"second audience in a list", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(func(c jwt.MapClaims) { c["aud"] = []string{"x", "books"} })), ""},
		{"expired within leeway", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() })), ""},
		{"expired", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), "the token has expired"},
		{"no exp", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(func(c jwt.MapClaims) { delete(c, "exp") })), "the token lacks a required claim"},
		{"not yet valid", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), "the token is not valid yet"},
		{"wrong issuer", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), "the token's issuer is not accepted"},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(func(c jwt.MapClaims) { c["aud"] = "billing" })), "the token's audience is not accepted"},
		{"alg none", noneToken, "the token's algorithm is not accepted"},
		{"HS256 with the public key", hsToken, "the token's algorithm is not accepted"},
		{"RS384", sign(t, jwt.SigningMethodRS384, k.rsa, "rsa-1", claims(nil)), "the token's algorithm is not accepted"},
		{"signed by another key", sign(t, jwt.SigningMethodRS256, other.rsa, "rsa-1", claims(nil)), "the token's signature is invalid"},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-9", claims(nil)), "the token's signing key is not known"},
		{"RS256 naming the EC key", sign(t, jwt.SigningMethodRS256, k.rsa, "ec-1", claims(nil)), "the token's signing key is not known"},
		{"garbage", "a.b.c", "the token is malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Validate(context.Background(), tc.token)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected a valid token: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted an invalid token")
			}
			if got := Describe(err); got != tc.want {
				t.Fatalf("description %q, want %q (error %v)", got, tc.want, err)
			}
		})
	}
}

func TestRejectNeverEchoesToken(t *testing.T) {
	k := newTestKeys(t)
	v := newValidator(t, k)
	expired := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
	for _, header := range []string{"", "Bearer " + expired, "Basic dXNlcjpwYXNz", "Bearer not-a-jwt"} {
		r := httptest.NewRequest("GET", "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		err := v.Check(r)
		if err == nil {
			t.Fatalf("%q accepted", header)
		}
		v.Reject(w, err)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
		challenge := w.Header().Get("WWW-Authenticate")
		if !strings.HasPrefix(challenge, "Bearer realm=") {
			t.Fatalf("challenge %q", challenge)
		}
		if header == "" && strings.Contains(challenge, "error=") {
			t.Fatalf("a missing token is not an invalid one (RFC 6750 §3.1): %q", challenge)
		}
		for _, part := range strings.Split(strings.TrimPrefix(header, "Bearer "), ".") {
			if len(part) > 8 && (strings.Contains(w.Body.String(), part) || strings.Contains(challenge, part)) {
				t.Fatalf("response echoes the token: %q %q", challenge, w.Body.String())
			}
		}
	}
}

func TestKeysFromURLRefreshOnRotation(t *testing.T) {
	first, second := newTestKeys(t), newTestKeys(t)
	var doc atomic.Value
	doc.Store(first.jwks)
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Write(doc.Load().([]byte))
	}))
	defer srv.Close()
	keys := &Keys{URL: srv.URL, MinRefetchInterval: time.Nanosecond}
	if err := keys.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, err := New(Options{Issuer: issuer, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(context.Background(), sign(t, jwt.SigningMethodRS256, first.rsa, "rsa-1", claims(nil))); err != nil {
		t.Fatal(err)
	}
	// The issuer rotates to a new key with a new kid: the first token
	// naming it makes the proxy fetch again.
	doc.Store(jwksOf(second.rsa, "rsa-2", second.ec, "ec-2"))
	if _, err := v.Validate(context.Background(), sign(t, jwt.SigningMethodRS256, second.rsa, "rsa-2", claims(nil))); err != nil {
		t.Fatalf("rotated key not picked up: %v", err)
	}
	if fetches.Load() != 2 {
		t.Fatalf("%d fetches, want 2", fetches.Load())
	}
	// Unknown kids are rate-limited: with the default interval, no fetch.
	keys.MinRefetchInterval = 0
	v.Validate(context.Background(), sign(t, jwt.SigningMethodRS256, second.rsa, "made-up", claims(nil)))
	if fetches.Load() != 2 {
		t.Fatalf("unknown kid fetched again within the interval: %d fetches", fetches.Load())
	}
}

func TestParseJWKSErrors(t *testing.T) {
	for _, doc := range []string{`not json`, `{"keys":[]}`, `{"keys":[{"kty":"oct","k":"eA"}]}`, `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, `{"keys":[{"kty":"EC","crv":"P-384","x":"","y":""}]}`} {
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("ParseJWKS(%s) accepted", doc)
		}
	}
}

func FuzzParseBearer(f *testing.F) {
	f.Add("Bearer a.b.c")
	f.Add("bearer  eyJhbGciOiJub25lIn0.e30.")
	f.Add("Basic x")
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := ParseBearer(h)
		if err == nil && (strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \t")) {
			t.Fatalf("ParseBearer(%q) = %q", h, tok)
		}
	})
}

// FuzzValidate feeds arbitrary token strings (headers included) to the
// validator: it must never panic and never accept anything not signed by
// the test key.
func FuzzValidate(f *testing.F) {
	k := newTestKeys(f)
	v := newValidator(f, k)
	f.Add(sign(f, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil)))
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIn0.")
	f.Add(b64([]byte(`{"alg":"ES256","kid":"ec-1"}`)) + "." + b64([]byte(`{}`)) + ".sig")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Validate(context.Background(), token)
		if err == nil {
			// Only an untouched real token can pass; re-check its signature.
			if _, perr := jwt.Parse(token, func(*jwt.Token) (any, error) { return &k.rsa.PublicKey, nil }, jwt.WithValidMethods([]string{"RS256"})); perr != nil {
				t.Fatalf("accepted %q (claims %v) that the real key does not verify: %v", token, c, perr)
			}
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add(b64([]byte(`{"alg":"RS256","kid":"a"}`)) + ".e30.x")
	f.Add(b64([]byte(`{"alg":"none"}`)) + ".e30.")
	f.Add(b64([]byte(`{"alg":"ES256","alg":"none"}`)) + ".e30.")
	f.Fuzz(func(t *testing.T, token string) {
		h, err := ParseHeader(token)
		if err == nil && h.Alg != "RS256" && h.Alg != "ES256" {
			t.Fatalf("ParseHeader(%q) accepted alg %q", token, h.Alg)
		}
	})
}

func FuzzParseJWKS(f *testing.F) {
	f.Add(newTestKeys(f).jwks)
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := ParseJWKS(b)
		if err == nil && len(ks.Keys) == 0 {
			t.Fatal("no error and no keys")
		}
	})
}

func TestVerifiedTokensAreCachedUntilExp(t *testing.T) {
	k := newTestKeys(t)
	set, err := ParseJWKS(k.jwks)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v, err := New(Options{Issuer: issuer, Keys: StaticKeys(set), Leeway: time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	exp := now.Add(10 * time.Second)
	token := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(func(c jwt.MapClaims) { c["exp"] = exp.Unix() }))
	for i := range 3 {
		if err := v.CheckAuthorization(context.Background(), "Bearer "+token); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if len(v.verified) != 1 {
		t.Fatalf("%d tokens cached; want 1", len(v.verified))
	}
	// The cache never outlives the token.
	now = exp.Add(2 * time.Second)
	if err := v.CheckAuthorization(context.Background(), "Bearer "+token); err == nil {
		t.Fatal("an expired token passed from the cache")
	}
	// A token differing in one byte of its signature is verified, not
	// matched.
	now = time.Now()
	// (In the middle of the signature: the last character of base64url
	// may carry only padding bits.)
	i := len(token) - 10
	flipped := byte('A')
	if token[i] == 'A' {
		flipped = 'B'
	}
	bad := token[:i] + string(flipped) + token[i+1:]
	if err := v.CheckAuthorization(context.Background(), "Bearer "+bad); err == nil {
		t.Fatal("a tampered token passed")
	}
}

func TestVerifiedCacheIsBounded(t *testing.T) {
	k := newTestKeys(t)
	v := newValidator(t, k)
	for i := range MaxVerified + 10 {
		token := sign(t, jwt.SigningMethodES256, k.ec, "ec-1", claims(func(c jwt.MapClaims) { c["n"] = i }))
		if err := v.CheckAuthorization(context.Background(), "Bearer "+token); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.verified); n > MaxVerified {
		t.Fatalf("%d tokens cached; the bound is %d", n, MaxVerified)
	}
}

// BenchmarkValidate is the cost of a token not in the cache.
func BenchmarkValidate(b *testing.B) {
	k := newTestKeys(b)
	v := newValidator(b, k)
	token := sign(b, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(context.Background(), token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckAuthorization is the cost of a client's token after its
// first request.
func BenchmarkCheckAuthorization(b *testing.B) {
	k := newTestKeys(b)
	v := newValidator(b, k)
	header := "Bearer " + sign(b, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.CheckAuthorization(context.Background(), header); err != nil {
			b.Fatal(err)
		}
	}
}

func TestExempt(t *testing.T) {
	k := newTestKeys(t)
	set, err := ParseJWKS(k.jwks)
	if err != nil {
		t.Fatal(err)
	}
	none := newValidator(t, k)
	v, err := New(Options{Issuer: issuer, Keys: StaticKeys(set), ExemptProbes: []wire.Probe{{Port: 8080, Path: "/healthz"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method string
		port   uint16
		path   string
		want   bool
	}{
		{"GET", 8080, "/healthz", true},
		{"HEAD", 8080, "/healthz", true},
		{"POST", 8080, "/healthz", false},
		{"get", 8080, "/healthz", false},
		{"GET", 8080, "/healthz/x", false},
		{"GET", 8080, "/healthz/", false},
		{"GET", 8081, "/healthz", false},
		{"GET", 8080, "/other", false},
		{"GET", 8080, "", false},
	} {
		if got := v.Exempt(tc.method, tc.port, tc.path); got != tc.want {
			t.Errorf("Exempt(%s, %d, %q) = %v, want %v", tc.method, tc.port, tc.path, got, tc.want)
		}
		if none.Exempt(tc.method, tc.port, tc.path) {
			t.Errorf("a validator without probes exempts %s %d %q", tc.method, tc.port, tc.path)
		}
	}
}
