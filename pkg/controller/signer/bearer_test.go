package signer

import (
	"net/http"
	"strings"
	"testing"
)

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		values []string
		token  string
		status int
	}{
		{nil, "", http.StatusUnauthorized},
		{[]string{"Bearer abc.def"}, "abc.def", 0},
		{[]string{"bearer abc"}, "abc", 0},
		{[]string{"Bearer abc", "Bearer def"}, "", http.StatusBadRequest},
		{[]string{"Bearer"}, "", http.StatusBadRequest},
		{[]string{"Bearer "}, "", http.StatusBadRequest},
		{[]string{"Bearer  abc"}, "", http.StatusBadRequest},
		{[]string{"Bearer abc def"}, "", http.StatusBadRequest},
		{[]string{"Bearer abc\t"}, "", http.StatusBadRequest},
		{[]string{"Basic YTpi"}, "", http.StatusBadRequest},
		{[]string{"Bearerabc"}, "", http.StatusBadRequest},
	} {
		h := http.Header{}
		for _, v := range tc.values {
			h.Add("Authorization", v)
		}
		token, status := bearerToken(h)
		if token != tc.token || status != tc.status {
			t.Errorf("%q: %q %d, want %q %d", tc.values, token, status, tc.token, tc.status)
		}
	}
}

// FuzzBearerToken: a token is taken only from one "Bearer <token>" header,
// whole, and holds no space.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer x y", "Basic a", "Bearer ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		token, status := bearerToken(http.Header{"Authorization": {value}})
		if status != 0 {
			if token != "" {
				t.Fatalf("%q refused with %d, yet returned a token", value, status)
			}
			return
		}
		if token == "" || strings.ContainsAny(token, " \t") || !strings.EqualFold(value[:len("Bearer ")], "Bearer ") || value[len("Bearer "):] != token {
			t.Fatalf("%q gave token %q", value, token)
		}
	})
}
