package main

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/version"
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
		{"unknown flag", []string{"--verbose"}, 2, `unknown subcommand "--verbose"`},
		{"init with an unknown flag", []string{"init", "--bogus"}, 2, "mesh-proxy init: flag provided but not defined: -bogus"},
		{"run with an unknown flag", []string{"run", "--bogus"}, 2, "mesh-proxy run: flag provided but not defined: -bogus"},
		{"help after a bad value", []string{"init", "--inbound-port=0", "--help"}, 2, "mesh-proxy init:"},
		{"init without ports", []string{"init"}, 2, "mesh-proxy init: flag --inbound-port is required"},
		{"init with a bad port", wire.Interception{OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, ProxyUID: wire.ProxyUID}.Args(), 2, "mesh-proxy init: invalid value \"0\" for flag -inbound-port"},
		{"run without ports", []string{"run"}, 2, "mesh-proxy run: flag --log-level is required"},
		{"run with half the tracing flags", append(wire.Run{LogLevel: wire.LogInfo, InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort}.Args(), "--tracing-address=otel"), 2, "go together"},
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

func TestRunHelpAndVersion(t *testing.T) {
	v := version.Get()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--version"}, []string{"mesh-proxy " + v.Version + " ", v.Commit, v.GoVersion, v.Platform}},
		{[]string{"-version"}, []string{"mesh-proxy " + v.Version + " "}},
		{[]string{"--help"}, []string{"mesh-proxy init [flags]", "mesh-proxy run [flags]", "--version"}},
		{[]string{"-h"}, []string{"mesh-proxy init [flags]", "mesh-proxy run [flags]"}},
		{[]string{"init", "--help"}, []string{"Usage: mesh-proxy init ", "--proxy-uid=UID"}},
		{[]string{"init", "-h"}, []string{"Usage: mesh-proxy init "}},
		{[]string{"run", "--help"}, []string{"Usage: mesh-proxy run ", "--log-level=LEVEL"}},
		{[]string{"run", "-h"}, []string{"Usage: mesh-proxy run "}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runArgs(t, tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q; want exit 0 and no error", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
	if _, stdout, _ := runArgs(t, "--version"); strings.Count(stdout, "\n") != 1 {
		t.Errorf("--version printed %q, want one line", stdout)
	}
}

// TestHelpListsEveryFlag holds the hand-written usage pages to the flags
// the injector writes (pkg/proxyconfig/wire keeps the names unexported).
func TestHelpListsEveryFlag(t *testing.T) {
	full := []struct {
		command string
		args    []string
	}{
		{wire.InitCommand, wire.Interception{
			InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, ProxyUID: wire.ProxyUID,
			SkipInboundPorts: []int32{8081}, SkipOutboundPorts: []int32{25}, SkipOutboundCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		}.Args()},
		{wire.RunCommand, wire.Run{
			LogLevel: wire.LogInfo, InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, Metrics: true,
			Tracing:  &wire.Tracing{Address: "otel", Port: 4318, Endpoint: "/v1/traces"},
			JWT:      &wire.JWT{Issuer: "iss", Audiences: []string{"aud"}, JWKSURL: "https://issuer/jwks", JWKS: "{}", ExemptProbes: []wire.Probe{{Port: 8080, Path: "/healthz"}}},
			Workload: &wire.Workload{Kind: wire.KindDeployment, Name: "web"},
		}.Args()},
	}
	for _, f := range full {
		_, usage, _ := runArgs(t, f.command, "--help")
		for _, a := range f.args[1:] {
			name, _, _ := strings.Cut(a, "=")
			if !strings.Contains(usage, "\n  "+name) {
				t.Errorf("mesh-proxy %s --help does not list %s:\n%s", f.command, name, usage)
			}
		}
	}
}

func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut, func(string) (string, bool) { return "", false })
	return code, out.String(), errOut.String()
}
