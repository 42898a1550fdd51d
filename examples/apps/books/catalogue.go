package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/meshctl/meshctl/examples/apps/internal/app"
)

// starsTimeout bounds the call to stars, so a stuck stars is a 502, not a
// hung request.
const starsTimeout = 5 * time.Second

// traceHeaders are the W3C Trace Context and B3 headers, the ones an app
// instrumented for tracing forwards from the request it serves to the calls
// it makes. The mesh keys Authorization propagation on them. They are in
// canonical form, as http.Header keys.
func traceHeaders() []string {
	return []string{
		"Traceparent", "Tracestate",
		"B3", "X-B3-Traceid", "X-B3-Spanid", "X-B3-Parentspanid", "X-B3-Sampled", "X-B3-Flags",
	}
}

type book struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Year   int    `json:"year"`
	Author string `json:"author"`
}

// builtinBooks is the catalogue, by id.
func builtinBooks() map[string]book {
	return map[string]book{
		"1": {ID: "1", Title: "Pride and Prejudice", Year: 1813, Author: "Jane Austen"},
		"2": {ID: "2", Title: "Frankenstein", Year: 1818, Author: "Mary Shelley"},
		"3": {ID: "3", Title: "Moby-Dick", Year: 1851, Author: "Herman Melville"},
		"4": {ID: "4", Title: "The Time Machine", Year: 1895, Author: "H. G. Wells"},
		"5": {ID: "5", Title: "The Hound of the Baskervilles", Year: 1902, Author: "Arthur Conan Doyle"},
	}
}

// ratedBook is the reply of GET /api/books/{id}.
type ratedBook struct {
	book
	Stars int `json:"stars"`
}

// catalogue serves books, rated by stars at starsURL.
type catalogue struct {
	books    map[string]book
	forward  []string // the headers passed on to stars
	starsURL string
	client   *http.Client
	requests atomic.Int64
}

// newCatalogue returns a catalogue calling stars at starsURL with client
// (one with starsTimeout when nil).
func newCatalogue(starsURL string, client *http.Client) *catalogue {
	if client == nil {
		client = &http.Client{Timeout: starsTimeout}
	}
	return &catalogue{books: builtinBooks(), forward: traceHeaders(), starsURL: strings.TrimSuffix(starsURL, "/"), client: client}
}

func (c *catalogue) handler() http.Handler {
	mux := app.NewMux()
	mux.HandleFunc("GET /api/books/{id}", c.serveBook)
	mux.HandleFunc("GET /api/stats", func(w http.ResponseWriter, _ *http.Request) {
		app.WriteJSON(w, http.StatusOK, map[string]int64{"requests": c.requests.Load()})
	})
	return mux
}

func (c *catalogue) serveBook(w http.ResponseWriter, r *http.Request) {
	// Counted first: the end-to-end test reads the count to prove that a
	// request its sidecar refused never got here.
	c.requests.Add(1)
	b, ok := c.books[r.PathValue("id")]
	if !ok {
		app.WriteError(w, http.StatusNotFound, fmt.Sprintf("no book with id %q; the ids are 1 to %d", r.PathValue("id"), len(c.books)))
		return
	}
	stars, status, err := c.stars(r, b.ID)
	if err != nil {
		app.WriteJSON(w, http.StatusBadGateway, app.ErrorBody{Error: err.Error(), UpstreamStatus: status})
		return
	}
	app.WriteJSON(w, http.StatusOK, ratedBook{book: b, Stars: stars})
}

// stars asks the stars service for a book's rating. On failure it returns
// the status stars answered with, if it answered.
func (c *catalogue) stars(in *http.Request, id string) (int, int, error) {
	u := c.starsURL + "/api/stars/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(in.Context(), http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("stars: %w", err)
	}
	// Only the trace headers, and never Authorization: an app should not
	// hand its caller's credentials to whatever it calls. In the mesh,
	// books' sidecar saw the inbound request's token and adds it to the
	// outbound calls of the same trace (Authorization propagation), which is
	// why the trace headers must be forwarded.
	for _, h := range c.forward {
		if v := in.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("stars: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little, so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return 0, resp.StatusCode, fmt.Errorf("stars answered %s for book %s", resp.Status, id)
	}
	var rating struct {
		Stars int `json:"stars"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&rating); err != nil {
		return 0, resp.StatusCode, fmt.Errorf("stars: bad answer for book %s: %w", id, err)
	}
	return rating.Stars, 0, nil
}
