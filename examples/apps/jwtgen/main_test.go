package main

import (
	"bytes"
	"context"
	"errors"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxy/auth"
)

func defaults(dir string) options {
	return options{dir: dir, issuer: DefaultIssuer, audience: DefaultAudience, subject: DefaultSubject, ttl: DefaultTTL}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// validator is the mesh's own: the sidecar's inbound check, configured as
// the MeshConfig that examples/books/jwt.sh prints configures it.
func validator(t *testing.T, jwks string, now time.Time) *auth.Validator {
	t.Helper()
	set, err := auth.ParseJWKS([]byte(jwks))
	if err != nil {
		t.Fatalf("the proxy refuses jwks.json: %v", err)
	}
	v, err := auth.New(auth.Options{Issuer: DefaultIssuer, Audiences: []string{DefaultAudience}, Keys: auth.StaticKeys(set), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTokensAgainstTheProxy: the proxy's validator accepts token and refuses
// token-bad and token-expired for the reasons they were made for.
func TestTokensAgainstTheProxy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jwt")
	now := time.Now()
	var logs bytes.Buffer
	if err := generate(defaults(dir), now, log.New(&logs, "", 0)); err != nil {
		t.Fatal(err)
	}
	v := validator(t, read(t, dir, JWKSFile), now)
	for _, tc := range []struct {
		file    string
		wantErr error
	}{
		{TokenFile, nil},
		{BadTokenFile, jwt.ErrTokenSignatureInvalid},
		{ExpiredTokenFile, jwt.ErrTokenExpired},
	} {
		claims, err := v.Validate(context.Background(), read(t, dir, tc.file))
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: Validate = %v, want %v", tc.file, err, tc.wantErr)
			continue
		}
		if err == nil && (claims.Subject != DefaultSubject || claims.IssuedAt == nil || claims.NotBefore == nil) {
			t.Errorf("%s: claims %+v, want sub %q with iat and nbf", tc.file, claims, DefaultSubject)
		}
	}
	// The token keeps working for its lifetime and not after.
	if _, err := validator(t, read(t, dir, JWKSFile), now.Add(DefaultTTL-time.Minute)).Validate(context.Background(), read(t, dir, TokenFile)); err != nil {
		t.Errorf("token refused before its expiry: %v", err)
	}
	if _, err := validator(t, read(t, dir, JWKSFile), now.Add(DefaultTTL+time.Hour)).Validate(context.Background(), read(t, dir, TokenFile)); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("token after its ttl: %v, want expired", err)
	}
	if !strings.Contains(logs.String(), "new key") {
		t.Errorf("log %q does not say the key is new", logs.String())
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "jwt")
	if err := generate(defaults(dir), time.Now(), log.New(&bytes.Buffer{}, "", 0)); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		".": 0o700 | os.ModeDir, KeyFile: 0o600, JWKSFile: 0o644, TokenFile: 0o600, BadTokenFile: 0o600, ExpiredTokenFile: 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %s, want %s", name, fi.Mode(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 5 {
		t.Errorf("%d files in %s, want 5 (no temporary files left)", len(entries), dir)
	}
}

// TestKeyReuse: a second run keeps the key, so the JWKS a mesh holds stays
// valid for the new tokens; -rotate makes a new one, which the old JWKS
// refuses.
func TestKeyReuse(t *testing.T) {
	dir := t.TempDir()
	quiet := log.New(&bytes.Buffer{}, "", 0)
	now := time.Now()
	if err := generate(defaults(dir), now, quiet); err != nil {
		t.Fatal(err)
	}
	key, jwks := read(t, dir, KeyFile), read(t, dir, JWKSFile)

	var logs bytes.Buffer
	o := defaults(dir)
	o.subject = "someone-else"
	if err := generate(o, now, log.New(&logs, "", 0)); err != nil {
		t.Fatal(err)
	}
	if read(t, dir, KeyFile) != key || read(t, dir, JWKSFile) != jwks || !strings.Contains(logs.String(), "reused key") {
		t.Fatalf("second run changed the key (log %q)", logs.String())
	}
	claims, err := validator(t, jwks, now).Validate(context.Background(), read(t, dir, TokenFile))
	if err != nil || claims.Subject != "someone-else" {
		t.Errorf("new token with the old JWKS: %v, %+v", err, claims)
	}

	o.rotate = true
	if err := generate(o, now, quiet); err != nil {
		t.Fatal(err)
	}
	if read(t, dir, KeyFile) == key || read(t, dir, JWKSFile) == jwks {
		t.Fatal("-rotate kept the key")
	}
	if _, err := validator(t, jwks, now).Validate(context.Background(), read(t, dir, TokenFile)); err == nil {
		t.Error("the old JWKS accepts a token of the rotated key")
	}
}

func TestBrokenKeyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := generate(defaults(dir), time.Now(), log.New(&bytes.Buffer{}, "", 0))
	if err == nil || !strings.Contains(err.Error(), "key.pem") || !strings.Contains(err.Error(), "-rotate") {
		t.Errorf("generate = %v, want an error naming the file and the fix", err)
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    options
		wantErr string
	}{
		{[]string{"-dir", "d"}, defaults("d"), ""},
		{[]string{"-dir", "d", "-issuer", "https://i", "-audience", "a", "-subject", "s", "-ttl", "1h", "-rotate"},
			options{dir: "d", issuer: "https://i", audience: "a", subject: "s", ttl: time.Hour, rotate: true}, ""},
		{nil, options{}, "-dir is required"},
		{[]string{"-dir", "d", "extra"}, options{}, "unexpected arguments"},
		{[]string{"-dir", "d", "-issuer", ""}, options{}, "-issuer must not be empty"},
		{[]string{"-dir", "d", "-ttl", "-1h"}, options{}, "positive duration"},
	} {
		got, err := parseArgs(tc.args, &bytes.Buffer{})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err = %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}
