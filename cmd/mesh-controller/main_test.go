package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/check"
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
	var stderr bytes.Buffer
	code := run(context.Background(), append(args, "--kubeconfig=/nonexistent/kubeconfig"), &stderr)
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
		var stderr bytes.Buffer
		if code := run(context.Background(), tt.args, &stderr); code != 2 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%q: exit %d, stderr %q, want 2 and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}
