package main

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/examples/apps/internal/caller"
	_ "github.com/meshctl/meshctl/internal/golden"
)

// TestCallsTheRightPath: what this program adds to the shared loop is the
// path it calls and the word it logs.
func TestCallsTheRightPath(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Method + " " + r.URL.Path
		_, _ = w.Write([]byte(`{"n":1}`))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	c, _, err := caller.FromEnv(func(k string) string { return map[string]string{"BOOKSTORE_URL": srv.URL}[k] }, path, verb, log.New(&logs, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	c.Call(context.Background())
	if got != "GET /api/steal" || logs.String() != "stolen: 200 {\"n\":1}\n" {
		t.Errorf("request %q, log %q", got, logs.String())
	}
}

func TestRunRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"BOOKSTORE_URL": "ftp://bookstore"}, "BOOKSTORE_URL"},
		{map[string]string{"INTERVAL": "-1s"}, "INTERVAL"},
	} {
		err := run(context.Background(), func(k string) string { return tc.env[k] }, log.New(&bytes.Buffer{}, "", 0))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: run = %v, want an error naming %s", tc.env, err, tc.want)
		}
	}
}
