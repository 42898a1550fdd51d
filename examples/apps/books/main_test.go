package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
)

// fakeStars answers like stars, or with status when it is not 200, and
// keeps the headers of the last request.
type fakeStars struct {
	status int
	body   string
	got    http.Header
	path   string
}

func (f *fakeStars) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.got, f.path = r.Header.Clone(), r.URL.Path
	if f.status != 0 && f.status != 200 {
		http.Error(w, "unauthorized", f.status)
		return
	}
	_, _ = w.Write([]byte(f.body))
}

func TestServeBook(t *testing.T) {
	for _, tc := range []struct {
		name       string
		path       string
		stars      *fakeStars // nil: stars is unreachable
		wantStatus int
		wantBody   string
		wantCalled string
	}{
		{"found", "/api/books/1", &fakeStars{body: `{"id":"1","stars":4}`}, 200,
			`{"id":"1","title":"Pride and Prejudice","year":1813,"author":"Jane Austen","stars":4}`, "/api/stars/1"},
		{"last", "/api/books/5", &fakeStars{body: `{"id":"5","stars":2}`}, 200,
			`{"id":"5","title":"The Hound of the Baskervilles","year":1902,"author":"Arthur Conan Doyle","stars":2}`, "/api/stars/5"},
		{"unknown id", "/api/books/6", &fakeStars{}, 404, `{"error":"no book with id \"6\"; the ids are 1 to 5"}`, ""},
		{"stars refuses", "/api/books/2", &fakeStars{status: 401}, 502,
			`{"error":"stars answered 401 Unauthorized for book 2","upstreamStatus":401}`, "/api/stars/2"},
		{"stars answers garbage", "/api/books/3", &fakeStars{body: "<html>"}, 502, "", "/api/stars/3"},
		{"stars unreachable", "/api/books/4", nil, 502, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			starsURL := "http://127.0.0.1:1"
			if tc.stars != nil {
				srv := httptest.NewServer(tc.stars)
				defer srv.Close()
				starsURL = srv.URL + "/"
			}
			c := newCatalogue(starsURL, nil)
			rec := httptest.NewRecorder()
			c.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			body := strings.TrimSpace(rec.Body.String())
			if rec.Code != tc.wantStatus || (tc.wantBody != "" && body != tc.wantBody) {
				t.Errorf("GET %s: %d %s, want %d %s", tc.path, rec.Code, body, tc.wantStatus, tc.wantBody)
			}
			if rec.Code != 200 && !strings.HasPrefix(body, `{"error":"`) {
				t.Errorf("error body %s is not a JSON error", body)
			}
			if tc.stars != nil && tc.stars.path != tc.wantCalled {
				t.Errorf("stars was called at %q, want %q", tc.stars.path, tc.wantCalled)
			}
			if n := c.requests.Load(); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})
	}
}

// TestForwardsTraceHeadersOnly: books passes the trace context on to stars
// and nothing else of its caller's request, Authorization least of all.
func TestForwardsTraceHeadersOnly(t *testing.T) {
	stars := &fakeStars{body: `{"stars":3}`}
	srv := httptest.NewServer(stars)
	defer srv.Close()
	h := newCatalogue(srv.URL, nil).handler()
	for _, tc := range []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{"w3c", map[string]string{
			"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "Tracestate": "vendor=x",
			"Authorization": "Bearer a.b.c", "Cookie": "session=1", "X-Custom": "y",
		}, map[string]string{
			"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "Tracestate": "vendor=x",
		}},
		{"b3 multi", map[string]string{
			"X-B3-Traceid": "463ac35c9f6413ad48485a3953bb6124", "X-B3-Spanid": "a2fb4a1d1a96d312",
			"X-B3-Parentspanid": "0020000000000001", "X-B3-Sampled": "1", "X-B3-Flags": "1", "Authorization": "Bearer a.b.c",
		}, map[string]string{
			"X-B3-Traceid": "463ac35c9f6413ad48485a3953bb6124", "X-B3-Spanid": "a2fb4a1d1a96d312",
			"X-B3-Parentspanid": "0020000000000001", "X-B3-Sampled": "1", "X-B3-Flags": "1",
		}},
		{"b3 single", map[string]string{"B3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"},
			map[string]string{"B3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}},
		{"nothing to forward", map[string]string{"Authorization": "Bearer a.b.c"}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api/books/1", nil)
			for k, v := range tc.in {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			for _, k := range append(slices.Collect(maps.Keys(tc.in)), "Authorization") {
				if got, want := stars.got.Get(k), tc.want[k]; got != want {
					t.Errorf("stars got %s %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestTraceHeadersCoverTheMesh: the mesh keys Authorization propagation on
// these headers, so books must forward every one the proxy reads or writes.
func TestTraceHeadersCoverTheMesh(t *testing.T) {
	for _, h := range []string{
		propagation.HeaderTraceparent, propagation.HeaderB3, propagation.HeaderB3TraceID,
		propagation.HeaderB3SpanID, propagation.HeaderB3ParentID, propagation.HeaderB3Sampled, propagation.HeaderB3Flags,
	} {
		if !slices.Contains(traceHeaders(), http.CanonicalHeaderKey(h)) {
			t.Errorf("books does not forward %s", h)
		}
	}
	for _, h := range traceHeaders() {
		if h != http.CanonicalHeaderKey(h) {
			t.Errorf("%q is not canonical: Header.Values would miss it", h)
		}
	}
}

func TestStats(t *testing.T) {
	srv := httptest.NewServer(&fakeStars{body: `{"stars":1}`})
	defer srv.Close()
	h := newCatalogue(srv.URL, nil).handler()
	for _, p := range []string{"/api/books/1", "/api/books/9", "/healthz", "/api/stats", "/api/books/2"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/stats", nil))
	var st map[string]int
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st["requests"] != 3 {
		t.Errorf("stats %s (%v), want 3 requests: only /api/books counts", rec.Body, err)
	}
}

func TestRunRefusesBadStarsURL(t *testing.T) {
	err := run(context.Background(), func(k string) string { return map[string]string{"STARS_URL": "stars:8080"}[k] }, log.New(&bytes.Buffer{}, "", 0))
	if err == nil || !strings.Contains(err.Error(), "STARS_URL") {
		t.Errorf("run = %v", err)
	}
}
