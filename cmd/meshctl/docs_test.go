package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"go.yaml.in/yaml/v3"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// cliDocsDir holds the command reference, one page per command, generated
// from the cobra tree by TestCLIDocs.
const cliDocsDir = "../../docs/cli"

// renderCLIDocs renders every available command's markdown page in memory,
// keyed by file name (meshctl_namespace_add.md), as cobra's GenMarkdownTree
// names them.
func renderCLIDocs(t *testing.T) map[string][]byte {
	t.Helper()
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
	root := newRootCmd(&cli.Settings{}, streams, func(string) (string, bool) { return "", false })
	// The kubeconfig flags' cache-dir default names the home directory of
	// whoever runs the test; the pages must not depend on it.
	home, _ := os.UserHomeDir()
	pages := map[string][]byte{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		// Without this every page ends with today's date and is stale tomorrow.
		c.DisableAutoGenTag = true
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
				walk(sub)
			}
		}
		var b bytes.Buffer
		if err := doc.GenMarkdownCustom(c, &b, func(s string) string { return s }); err != nil {
			t.Fatalf("rendering the page of %q: %v", c.CommandPath(), err)
		}
		out := b.Bytes()
		if home != "" && home != "/" {
			out = bytes.ReplaceAll(out, []byte(home), []byte("$HOME"))
		}
		pages[strings.ReplaceAll(c.CommandPath(), " ", "_")+".md"] = out
	}
	walk(root)
	return pages
}

// TestCLIDocs fails when docs/cli differs from the command tree; with -update
// (or UPDATE_GOLDEN=1, or `make docs`) it rewrites the pages and removes the
// pages of commands that no longer exist.
func TestCLIDocs(t *testing.T) {
	pages := renderCLIDocs(t)
	if len(pages) < 10 {
		t.Fatalf("rendered only %d pages; the command tree looks incomplete", len(pages))
	}
	existing, err := filepath.Glob(filepath.Join(cliDocsDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if golden.Updating() {
		if err := os.MkdirAll(cliDocsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range existing {
			if _, ok := pages[filepath.Base(f)]; !ok {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, b := range pages {
			if err := os.WriteFile(filepath.Join(cliDocsDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for _, f := range existing {
		if _, ok := pages[filepath.Base(f)]; !ok {
			t.Errorf("docs/cli/%s is the page of a command that no longer exists: run `make docs`", filepath.Base(f))
		}
	}
	names := make([]string, 0, len(pages))
	for name := range pages {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(cliDocsDir, name))
		if err != nil {
			t.Errorf("docs/cli/%s is missing: run `make docs`", name)
			continue
		}
		if !bytes.Equal(got, pages[name]) {
			t.Errorf("docs/cli/%s is stale: run `make docs`\n%s", name, golden.Diff(got, pages[name]))
		}
	}
}

// TestConfigurationDocsCoverEveryField fails when docs/configuration.md does
// not mention a MeshConfig field (as `meshctl config` names it) or a chart
// value (as values.yaml names it, down to the maps of resources).
func TestConfigurationDocsCoverEveryField(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	fields := meshconfig.Fields()
	if len(fields) == 0 {
		t.Fatal("meshconfig.Fields() is empty")
	}
	for _, f := range fields {
		if !strings.Contains(page, "`"+f+"`") {
			t.Errorf("docs/configuration.md does not document the MeshConfig field `%s`", f)
		}
	}
	values, err := chartValuePaths("../../charts/mesh/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(values, "controller.webhook.failurePolicy") {
		t.Fatalf("chart value paths look wrong: %v", values)
	}
	for _, v := range values {
		if !strings.Contains(page, "`"+v+"`") {
			t.Errorf("docs/configuration.md does not document the chart value `%s`", v)
		}
	}
}

// chartValuePaths lists the dotted paths of the leaf values in a values
// file. A resources map is a leaf: its keys are Kubernetes resource names.
func chartValuePaths(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		return nil, err
	}
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			if sub, ok := v.(map[string]any); ok && k != "resources" {
				walk(p, sub)
				continue
			}
			out = append(out, p)
		}
	}
	walk("", values)
	slices.Sort(out)
	return out, nil
}
