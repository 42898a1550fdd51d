package dataplane

import (
	"flag"
	"fmt"
	"net/http"
	"testing"
)

var fetchURL = flag.String("fetch.url", "", "URL for TestFetchHelper")

// TestFetchHelper is run as a subprocess by TestDataplane (with -fetch.url,
// as another user, in a pod's namespace); on its own it checks nothing
// beyond a plain request to an unused URL failing.
func TestFetchHelper(t *testing.T) {
	if *fetchURL == "" {
		if _, err := http.Get("http://127.0.0.1:1/"); err == nil {
			t.Fatal("a request to port 1 succeeded")
		}
		return
	}
	resp, err := http.Get(*fetchURL)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	resp.Body.Close()
	fmt.Printf("fetch status %d\n", resp.StatusCode)
}
