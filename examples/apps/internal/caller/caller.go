// Package caller is the client loop bookbuyer and bookthief share: call one
// bookstore URL every interval, log each result, and count successes and
// failures for GET /api/stats. The two programs differ only in the path they
// call and the word they log.
package caller

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/meshctl/meshctl/examples/apps/internal/app"
)

// Defaults of the environment variables FromEnv reads.
const (
	// DefaultBookstoreURL is bookstore's Service in its namespace, as
	// examples/bookstore deploys it.
	DefaultBookstoreURL = "http://bookstore.bookstore:8080"
	// DefaultInterval is the pause between two calls.
	DefaultInterval = time.Second
	// RequestTimeout bounds one call, so a stuck bookstore shows up in the
	// log as an error instead of silence.
	RequestTimeout = 5 * time.Second
)

// maxLoggedBody keeps one log line readable whatever bookstore answers.
const maxLoggedBody = 200

// Caller calls URL and remembers how it went. Its zero value is not usable:
// build it with New or FromEnv.
type Caller struct {
	// URL is what each call GETs.
	URL string
	// Verb starts each log line: "bought: 200 {...}".
	Verb string
	// Client makes the calls.
	Client *http.Client
	// Log receives one line per call.
	Log *log.Logger

	mu    sync.Mutex
	stats Stats
}

// Stats is the reply of GET /api/stats.
type Stats struct {
	// OK counts calls answered with a 2xx status.
	OK int64 `json:"ok"`
	// Failed counts the others: errors and non-2xx answers.
	Failed int64 `json:"failed"`
	// Last is the last call's status ("200 OK") or error.
	Last string `json:"last"`
}

// Program is one client program of the example: bookbuyer or bookthief.
// They differ only in what they call and the words they log.
type Program struct {
	// Path is what it calls on bookstore, such as /api/buy.
	Path string
	// Verb starts each result line, such as "bought".
	Verb string
	// Doing names the activity in the start-up line, such as "buying".
	Doing string
}

// Run is the whole program: settings from getenv, then the loop and the
// stats server until ctx is done.
func (p Program) Run(ctx context.Context, getenv func(string) string, logger *log.Logger) error {
	c, interval, err := FromEnv(getenv, p.Path, p.Verb, logger)
	if err != nil {
		return err
	}
	logger.Printf("%s from %s every %s", p.Doing, c.URL, interval)
	return c.Run(ctx, app.Addr(getenv), interval)
}

// New returns a Caller of base+path.
func New(base, path, verb string, logger *log.Logger) *Caller {
	return &Caller{
		URL:    strings.TrimSuffix(base, "/") + path,
		Verb:   verb,
		Client: &http.Client{Timeout: RequestTimeout},
		Log:    logger,
	}
}

// FromEnv builds a Caller of $BOOKSTORE_URL+path and reads the interval from
// $INTERVAL (a Go duration such as 500ms), with the defaults above.
func FromEnv(getenv func(string) string, path, verb string, logger *log.Logger) (*Caller, time.Duration, error) {
	base := getenv("BOOKSTORE_URL")
	if base == "" {
		base = DefaultBookstoreURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, 0, fmt.Errorf("BOOKSTORE_URL %q: want an http:// or https:// URL such as %s", base, DefaultBookstoreURL)
	}
	interval := DefaultInterval
	if s := getenv("INTERVAL"); s != "" {
		if interval, err = time.ParseDuration(s); err != nil || interval <= 0 {
			return nil, 0, fmt.Errorf("INTERVAL %q: want a positive duration such as 1s or 500ms", s)
		}
	}
	return New(base, path, verb, logger), interval, nil
}

// Call makes one call and records and logs its result.
func (c *Caller) Call(ctx context.Context) {
	status, body, err := c.get(ctx)
	if ctx.Err() != nil {
		// Shutting down: a call cut short is not bookstore's failure.
		return
	}
	c.mu.Lock()
	switch {
	case err != nil:
		c.stats.Failed++
		c.stats.Last = err.Error()
	case status >= 200 && status < 300:
		c.stats.OK++
		c.stats.Last = statusLine(status)
	default:
		c.stats.Failed++
		c.stats.Last = statusLine(status)
	}
	c.mu.Unlock()
	if err != nil {
		c.Log.Printf("%s: error: %v", c.Verb, err)
		return
	}
	c.Log.Printf("%s: %d %s", c.Verb, status, body)
}

func statusLine(code int) string { return fmt.Sprintf("%d %s", code, http.StatusText(code)) }

func (c *Caller) get(ctx context.Context) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLoggedBody+1))
	if err != nil {
		return 0, "", fmt.Errorf("reading the answer of %s: %w", c.URL, err)
	}
	body := strings.TrimSpace(string(b))
	if len(b) > maxLoggedBody {
		body = strings.TrimSpace(string(b[:maxLoggedBody])) + "..."
	}
	return resp.StatusCode, body, nil
}

// Loop calls every interval until ctx is done, starting at once.
func (c *Caller) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		c.Call(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stats returns the counts so far.
func (c *Caller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Handler serves GET /api/stats and GET /healthz.
func (c *Caller) Handler() http.Handler {
	mux := app.NewMux()
	mux.HandleFunc("GET /api/stats", func(w http.ResponseWriter, _ *http.Request) {
		app.WriteJSON(w, http.StatusOK, c.Stats())
	})
	return mux
}

// Run is the whole program: the loop, and the stats server on addr, until
// ctx is done.
func (c *Caller) Run(ctx context.Context, addr string, interval time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Loop(ctx, interval)
	}()
	// No drain: nothing in the mesh calls a client, and its loop stops at once.
	err := app.ListenAndServe(ctx, addr, app.Logged(c.Handler(), c.Log), 0, c.Log)
	// A program that cannot serve its stats is not healthy: the loop stops
	// with the server.
	cancel()
	<-done
	return err
}
