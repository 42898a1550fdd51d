package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func get(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHandler(t *testing.T) {
	h := newStore().handler()
	// The steps share one store: each answer counts what came before.
	for _, tc := range []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/api/stats", 200, `{"bought":0,"stolen":0}`},
		{"GET", "/api/buy", 200, `{"bought":1}`},
		{"GET", "/api/buy", 200, `{"bought":2}`},
		{"GET", "/api/steal", 200, `{"stolen":1}`},
		{"GET", "/api/stats", 200, `{"bought":2,"stolen":1}`},
		{"POST", "/api/buy", 405, "Method Not Allowed"},
		{"GET", "/api/return", 404, "404 page not found"},
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/api/stats", 200, `{"bought":2,"stolen":1}`},
	} {
		code, body := get(t, h, tc.method, tc.path)
		if code != tc.wantStatus || strings.TrimSpace(body) != tc.wantBody {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.wantStatus, tc.wantBody)
		}
	}
}

func TestCountersAreAtomic(t *testing.T) {
	h := newStore().handler()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 20 {
				get(t, h, "GET", "/api/buy")
				get(t, h, "GET", "/api/steal")
			}
		})
	}
	wg.Wait()
	if _, body := get(t, h, "GET", "/api/stats"); strings.TrimSpace(body) != `{"bought":1000,"stolen":1000}` {
		t.Errorf("stats after 1000 of each: %s", body)
	}
}
