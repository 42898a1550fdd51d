package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
)

// jwtWith is an unsigned-looking JWT with the given payload: stars never
// checks signatures, so the test needs none.
func jwtWith(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestSubject(t *testing.T) {
	for _, tc := range []struct {
		name, header, wantSub string
		wantBearer            bool
	}{
		{"none", "", "", false},
		{"basic", "Basic dXNlcjpwYXNz", "", false},
		{"bearer jwt", "Bearer " + jwtWith(`{"sub":"demo-reader","aud":"books"}`), "demo-reader", true},
		{"scheme is case-insensitive", "bearer " + jwtWith(`{"sub":"x"}`), "x", true},
		{"no sub", "Bearer " + jwtWith(`{"iss":"me"}`), "", true},
		{"claim names are case-sensitive", "Bearer " + jwtWith(`{"SUB":"x"}`), "", true},
		{"sub not a string", "Bearer " + jwtWith(`{"sub":7}`), "", true},
		{"payload not an object", "Bearer " + jwtWith(`["sub"]`), "", false},
		{"payload null", "Bearer " + jwtWith(`null`), "", false},
		{"not a JWT", "Bearer opaque-token", "", false},
		{"payload not base64", "Bearer a.!!!.c", "", false},
		{"payload not JSON", "Bearer " + jwtWith("sub"), "", false},
	} {
		sub, bearer := subject(tc.header)
		if sub != tc.wantSub || bearer != tc.wantBearer {
			t.Errorf("%s: subject(%q) = %q, %v; want %q, %v", tc.name, tc.header, sub, bearer, tc.wantSub, tc.wantBearer)
		}
	}
}

func TestStarsOf(t *testing.T) {
	seen := map[int]bool{}
	for _, id := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "abc", ""} {
		n := starsOf(id)
		if n < 1 || n > 5 {
			t.Errorf("starsOf(%q) = %d, outside 1..5", id, n)
		}
		if starsOf(id) != n {
			t.Errorf("starsOf(%q) changes between calls", id)
		}
		seen[n] = true
	}
	if len(seen) < 3 {
		t.Errorf("12 ids get only %d different ratings: %v", len(seen), seen)
	}
}

func TestHandler(t *testing.T) {
	var logs bytes.Buffer
	h := newRatings(log.New(&logs, "", 0)).handler()
	do := func(path, auth string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	// The steps share the handler: the stats count what came before.
	for _, tc := range []struct {
		path, auth, wantBody, wantLog string
	}{
		{"/api/stats", "", `{"requests":0,"authorized":0,"lastSubject":""}`, ""},
		{"/api/stars/1", "", `{"id":"1","stars":` + itoa(starsOf("1")) + `}`, "stars 1 subject=-\n"},
		{"/api/stars/2", "Bearer " + jwtWith(`{"sub":"demo-reader"}`), `{"id":"2","stars":` + itoa(starsOf("2")) + `}`, "stars 2 subject=demo-reader\n"},
		{"/api/stars/3", "Bearer not-a-jwt", `{"id":"3","stars":` + itoa(starsOf("3")) + `}`, "stars 3 subject=-\n"},
		{"/api/stats", "", `{"requests":3,"authorized":1,"lastSubject":"demo-reader"}`, ""},
	} {
		logs.Reset()
		code, body := do(tc.path, tc.auth)
		if code != 200 || body != tc.wantBody || logs.String() != tc.wantLog {
			t.Errorf("GET %s (%q): %d %s log %q; want 200 %s log %q", tc.path, tc.auth, code, body, logs.String(), tc.wantBody, tc.wantLog)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// FuzzSubject: the Authorization header comes from the network; whatever it
// holds, subject neither panics nor reports a subject for a header that is
// not a bearer JWT, and a reported subject is the payload's sub.
func FuzzSubject(f *testing.F) {
	for _, s := range []string{"", "Bearer " + jwtWith(`{"sub":"a"}`), "Bearer a.b.c", "bearer ..", "Basic x", "Bearer " + jwtWith(`{"sub":1}`)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		sub, bearer := subject(header)
		if !bearer {
			if sub != "" {
				t.Fatalf("%q: subject %q without a bearer token", header, sub)
			}
			return
		}
		scheme, token, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.Count(strings.TrimSpace(token), ".") != 2 {
			t.Fatalf("%q: taken for a bearer JWT", header)
		}
		if sub != "" {
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(strings.TrimSpace(token), ".")[1])
			var claims map[string]any
			if json.Unmarshal(payload, &claims) != nil || claims["sub"] != sub {
				t.Fatalf("%q: subject %q is not the payload's sub (%s)", header, sub, payload)
			}
		}
	})
}
