package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
)

// env is the API server shared by this package's integration tests.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// result is one meshctl invocation as a process would see it.
type result struct {
	stdout, stderr string
	code           int
}

// executeCommand runs meshctl in-process with args split on spaces, stdin
// empty, and an environment made only of envVars (no HOME, so no config file
// is read unless the test names one). Use execute for arguments with spaces.
func executeCommand(t *testing.T, envVars map[string]string, args string) result {
	t.Helper()
	return execute(t, envVars, "", strings.Fields(args)...)
}

// execute runs meshctl in-process with the given stdin, arguments and
// environment.
func execute(t *testing.T, envVars map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}
	lookup := func(k string) (string, bool) { v, ok := envVars[k]; return v, ok }
	code := run(context.Background(), args, streams, lookup)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// kubeEnv is the environment of a user whose kubeconfig points at the test
// API server. It goes through MESHCTL_KUBECONFIG because client-go reads
// KUBECONFIG from the process environment, which tests must not change.
func kubeEnv() map[string]string { return map[string]string{"MESHCTL_KUBECONFIG": env.Kubeconfig} }

// assertGolden compares a result with testdata/<name>.golden, which holds the
// exit code, stdout and stderr.
func assertGolden(t *testing.T, name string, r result) {
	t.Helper()
	var b strings.Builder
	b.WriteString("exit code: ")
	b.WriteString(strconv.Itoa(r.code))
	b.WriteString("\n--- stdout\n")
	b.WriteString(r.stdout)
	b.WriteString("--- stderr\n")
	b.WriteString(r.stderr)
	// The kubeconfig flags' help names the user's home directory.
	got := b.String()
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		got = strings.ReplaceAll(got, home, "$HOME")
	}
	golden.AssertString(t, filepath.Join("testdata", name+".golden"), got)
}

// TestReportErrorEscapesControlSequences: an error's text may come from a
// server or a proxy; what reaches the terminal keeps its lines but no
// escape sequence (here one that clears the screen and forges a line).
func TestReportErrorEscapesControlSequences(t *testing.T) {
	var b bytes.Buffer
	reportError(&b, errors.New("namespace \"a\": the server said:\n\t\x1b[2J\x1b[HError: none\r"))
	if got, want := b.String(), "Error: namespace \"a\": the server said:\n\t\\x1b[2J\\x1b[HError: none\\r\n"; got != want {
		t.Fatalf("reportError wrote %q, want %q", got, want)
	}
}
