package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/check"
	"github.com/meshctl/meshctl/pkg/controller"
	"github.com/meshctl/meshctl/pkg/version"
)

// TestChartArgsParse: the arguments the chart's Deployment passes are the
// flags this binary has. With a kubeconfig that does not exist, good flags
// get as far as the client configuration (exit 1), bad ones stop at parsing
// (exit 2).
func TestChartArgsParse(t *testing.T) {
	ch, err := check.RenderEmbeddedChart("mesh", "mesh-system")
	if err != nil {
		t.Fatal(err)
	}
	dep := ch.Find("Deployment")
	if dep == nil {
		t.Fatal("the chart renders no Deployment")
	}
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	if len(args) == 0 {
		t.Fatal("the controller container has no args")
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append(args, "--kubeconfig=/nonexistent/kubeconfig"), &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "API server configuration") {
		t.Errorf("chart args %q: exit %d, stderr %q", args, code, stderr.String())
	}
}

// TestArgErrors: usage mistakes exit 2 and say what is wrong.
func TestArgErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
		{[]string{"--webhook-configuration=x", "--tls-secret=y", "extra"}, "unexpected arguments"},
		{[]string{"--tls-secret=y"}, "--webhook-configuration is required"},
		{[]string{"--webhook-configuration=x"}, "--tls-secret is required"},
		{[]string{"--webhook-configuration=x", "--tls-secret=y", "--log-level=loud"}, `--log-level "loud"`},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tt.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tt.want) || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q, want 2, nothing and %q", tt.args, code, stdout.String(), stderr.String(), tt.want)
		}
	}
}

// TestVersionAndHelp: what was asked for goes to stdout with exit 0 and
// nothing on stderr; the version is one line naming the build.
func TestVersionAndHelp(t *testing.T) {
	v := version.Get()
	wantVersion := fmt.Sprintf("mesh-controller %s (commit %s, %s, %s)\n", v.Version, v.Commit, v.GoVersion, v.Platform)
	for _, args := range [][]string{{"--version"}, {"-version"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 || stdout.String() != wantVersion || stderr.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0, %q and nothing", args, code, stdout.String(), stderr.String(), wantVersion)
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr)
		if code != 0 || stderr.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", args, code, stderr.String())
		}
		for _, want := range []string{"Usage:", "mesh-controller --version", "-webhook-configuration", "-health-port", "-mesh-name"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%q: stdout %q lacks %q", args, stdout.String(), want)
			}
		}
	}
}

// TestMetricsDocumented fails when docs/configuration.md does not name one
// of the controller's own metrics (the meshctl_controller_* families its
// registry serves on /metrics) or the port it serves them on.
func TestMetricsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	families, err := controller.NewMetrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if name := f.GetName(); strings.HasPrefix(name, "meshctl_controller_") {
			n++
			if !strings.Contains(page, "`"+name+"`") {
				t.Errorf("docs/configuration.md does not document the controller metric `%s`", name)
			}
		}
	}
	if n < 3 {
		t.Errorf("found %d meshctl_controller_* metrics; the registry looks wrong", n)
	}
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"--help"}, &stdout, &stderr)
	port := regexp.MustCompile(`-health-port int\n.*\(default (\d+)\)`).FindStringSubmatch(stdout.String())
	if port == nil {
		t.Fatalf("--help names no default of --health-port:\n%s", stdout.String())
	}
	if want := "### The controller: `:" + port[1] + "/metrics`"; !strings.Contains(page, want) {
		t.Errorf("docs/configuration.md does not say %q", want)
	}
}
