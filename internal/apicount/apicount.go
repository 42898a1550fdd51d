// Package apicount counts the API requests a client makes, for tests that
// hold a command to its cost in requests against the real API server.
package apicount

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/pkg/kube"
)

// Counter counts requests by VERB resource[/subresource]: a List is a
// LIST of the resource, a Get a GET, a port-forward "GET pods/portforward".
// The zero value is ready.
type Counter struct {
	mu sync.Mutex
	n  map[string]int
}

// Clients are clients of cfg whose requests c counts.
func (c *Counter) Clients(t testing.TB, cfg *rest.Config) *kube.Clients {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			c.count(req)
			return rt.RoundTrip(req)
		})
	})
	kc, err := kube.NewClientsForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// Reset returns the counts so far and starts again from none.
func (c *Counter) Reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	if n == nil {
		n = map[string]int{}
	}
	return n
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func (c *Counter) count(req *http.Request) {
	if key, ok := Key(req.Method, req.URL.Path); ok {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[key]++
	}
}

// Key files a request as VERB resource[/subresource] from its method and
// path, /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]] or /apis/G/V/...;
// false for a path of no resource (discovery).
func Key(method, path string) (string, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) > 1 && parts[0] == "apis" {
		parts = parts[1:]
	}
	if len(parts) < 3 {
		return "", false
	}
	rest := parts[2:]
	if len(rest) > 2 && rest[0] == "namespaces" {
		rest = rest[2:]
	}
	verb := method
	switch {
	case len(rest) == 1 && method == http.MethodGet:
		verb = "LIST"
	case len(rest) == 3:
		rest = []string{rest[0] + "/" + rest[2]}
	}
	return verb + " " + rest[0], true
}
