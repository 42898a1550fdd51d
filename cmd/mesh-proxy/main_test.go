package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func TestRunArguments(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no subcommand", nil, 2, "usage: mesh-proxy init|run"},
		{"unknown subcommand", []string{"proxy"}, 2, `unknown subcommand "proxy"`},
		{"init without ports", []string{"init"}, 2, "mesh-proxy init: flag --inbound-port is required"},
		{"init with a bad port", []string{"init", "--inbound-port=0", "--outbound-port=15001", "--admin-port=15000", "--proxy-uid=1500"}, 2, "mesh-proxy init:"},
		{"run without ports", []string{"run"}, 2, "mesh-proxy run: flag --log-level is required"},
		{"run with half the tracing flags", []string{"run", "--log-level=info", "--inbound-port=15003", "--outbound-port=15001", "--admin-port=15000", "--tracing-address=otel"}, 2, "go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr, noEnv)
			if code != tc.code || !strings.Contains(stderr.String(), tc.err) || stdout.Len() != 0 {
				t.Fatalf("exit %d, stderr %q, stdout %q; want exit %d and %q", code, stderr.String(), stdout.String(), tc.code, tc.err)
			}
		})
	}
}
