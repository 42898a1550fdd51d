package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	// An explicit, empty kubeconfig: the machine's own ~/.kube/config and
	// KUBECONFIG must not decide this test.
	empty := filepath.Join(t.TempDir(), "empty-kubeconfig")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args string
		env  map[string]string
		code int
		// stderr must contain this.
		stderr string
	}{
		{name: "success", args: "version --client", code: 0},
		{name: "help", args: "--help", code: 0},
		{name: "no arguments shows help", args: "", code: 0},
		{name: "unknown command suggests", args: "versoin", code: 2, stderr: "Did you mean this?\n\tversion"},
		{name: "unknown flag", args: "version --bogus", code: 2, stderr: "unknown flag: --bogus"},
		{name: "too many arguments", args: "version extra", code: 2, stderr: "accepts 0 arg(s), received 1"},
		{name: "bad output format lists allowed", args: "version -o xml", code: 2, stderr: "must be one of table, json, yaml"},
		{name: "bad mesh name", args: "version --client --mesh-name Bad_Name", code: 2, stderr: `invalid --mesh-name "Bad_Name"`},
		{name: "completion needs a shell", args: "completion", code: 2, stderr: "accepts 1 arg(s), received 0"},
		{name: "failure without a cluster", args: "version --kubeconfig " + empty, code: 1, stderr: "no cluster configured: set KUBECONFIG"},
		{name: "failure with an unreachable cluster", args: "version --kubeconfig " + empty + " --server https://127.0.0.1:1 --request-timeout 2s", code: 1, stderr: "getting the Kubernetes server version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := executeCommand(t, tc.env, tc.args)
			if r.code != tc.code {
				t.Errorf("exit code = %d, want %d\nstderr: %s", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.stderr, r.stderr)
			}
			if tc.code != 0 && r.stdout != "" {
				t.Errorf("a failed command wrote to stdout:\n%s", r.stdout)
			}
		})
	}
}

func TestRootHelpGolden(t *testing.T) {
	assertGolden(t, "root-help", executeCommand(t, nil, "--help"))
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__start_meshctl",
		"zsh":        "#compdef meshctl",
		"fish":       "complete -c meshctl",
		"powershell": "Register-ArgumentCompleter",
	} {
		t.Run(shell, func(t *testing.T) {
			r := executeCommand(t, nil, "completion "+shell)
			if r.code != 0 || !strings.Contains(r.stdout, marker) {
				t.Errorf("completion %s: code %d, stdout lacks %q; stderr: %s", shell, r.code, marker, r.stderr)
			}
		})
	}
}
