package integration_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/policycli"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/cli"
)

func TestListGolden(t *testing.T) {
	b := newBookstore(t, false)
	b.apply(t, moreYAML)
	for _, format := range []cli.Format{cli.FormatTable, cli.FormatJSON} {
		out, errOut, err := b.list(t, policycli.ListOptions{Namespace: b.store, Output: format})
		if err != nil {
			t.Fatal(err)
		}
		golden.AssertString(t, filepath.Join("testdata", "list."+string(format)+".golden"), b.normalize(out+"--- stderr\n"+errOut))
	}
}

func TestListPermissiveAndEmpty(t *testing.T) {
	b := newBookstore(t, true)
	out, errOut, err := b.list(t, policycli.ListOptions{Namespace: b.store})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, policycli.PermissiveNote) || !strings.Contains(out, b.buyer+"/bookbuyer") {
		t.Errorf("permissive list: stdout %q, stderr %q", out, errOut)
	}
	// The buyer's namespace is nobody's destination.
	out, errOut, err = b.list(t, policycli.ListOptions{Namespace: b.buyer})
	if err != nil || out != "" || !strings.Contains(errOut, "No TrafficTarget or IngressBackend allows anything to reach namespace") {
		t.Errorf("empty list: %v, stdout %q, stderr %q", err, out, errOut)
	}
	// -A lists the other namespaces' edges too.
	out, _, err = b.list(t, policycli.ListOptions{Namespace: b.buyer, AllNamespaces: true})
	if err != nil || !strings.Contains(out, b.store+"/bookstore") {
		t.Errorf("-A: %v, %q", err, out)
	}
}
