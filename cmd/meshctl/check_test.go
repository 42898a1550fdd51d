package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshctl/meshctl/internal/testenv"
)

func TestCheckUsageErrors(t *testing.T) {
	cases := map[string]string{
		"check --pre --proxy":              "--pre and --proxy cannot be combined",
		"check --pre -n bookstore":         "--pre and --namespace cannot be combined",
		"check -o yaml":                    `invalid output format "yaml": must be one of table, json, short, junit`,
		"check --wait=-1s":                 "invalid --wait -1s",
		"check --wait=soon":                `invalid argument "soon" for "--wait" flag`,
		"check --cert-expiry-warning=-1h":  "invalid --cert-expiry-warning",
		"check --identity-external-issuer": "--identity-external-issuer goes with --pre",
		"check extra":                      "accepts 0 arg(s), received 1",
	}
	for args, want := range cases {
		r := executeCommand(t, kubeEnv(), args)
		if r.code != 2 || !strings.Contains(r.stderr, want) || r.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", args, r.code, r.stdout, r.stderr, want)
		}
	}
}

// junitTimes are the durations in JUnit output, which vary between runs.
var junitTimes = regexp.MustCompile(`time="[0-9.]+"`)

// The preflight checks of a cluster that can take the mesh, in every format.
// The mesh's name and namespace are the test's own, so nothing else in the
// API server changes the report.
func TestCheckPreGolden(t *testing.T) {
	for _, f := range []string{"table", "json", "short", "junit"} {
		r := executeCommand(t, kubeEnv(), "check --pre --mesh-name check-golden --mesh-namespace check-golden -o "+f)
		if r.code != 0 {
			t.Errorf("-o %s: exit %d\n%s%s", f, r.code, r.stdout, r.stderr)
		}
		r.stdout = junitTimes.ReplaceAllString(r.stdout, `time="0.000"`)
		assertGolden(t, "check-pre-"+f, r)
	}
}

// A mesh that is not installed fails with exit 1 in every format, the report
// on stdout and nothing more on stderr.
func TestCheckFailsInEveryFormat(t *testing.T) {
	ns := testenv.UniqueName("check-none")
	for _, f := range []string{"table", "json", "short", "junit"} {
		r := executeCommand(t, kubeEnv(), "check --mesh-name none --mesh-namespace "+ns+" -o "+f)
		if r.code != 1 || r.stderr != "" {
			t.Errorf("-o %s: exit %d, stderr %q; want exit 1 and an empty stderr", f, r.code, r.stderr)
		}
		switch f {
		case "json":
			var doc struct {
				Success    bool `json:"success"`
				Categories []struct {
					Name   string `json:"name"`
					Checks []struct{ Name, Result, Error, Hint string }
				} `json:"categories"`
			}
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			if err := dec.Decode(&doc); err != nil || dec.More() {
				t.Fatalf("not exactly one JSON document (%v):\n%s", err, r.stdout)
			}
			if doc.Success || len(doc.Categories) == 0 {
				t.Errorf("success %v, %d categories", doc.Success, len(doc.Categories))
			}
			for _, c := range doc.Categories {
				for _, ch := range c.Checks {
					if ch.Result == "error" && !strings.HasPrefix(ch.Hint, "docs/troubleshooting.md#") && !strings.HasPrefix(ch.Hint, "docs/security.md#identity-") {
						t.Errorf("failure without a hint: %+v", ch)
					}
				}
			}
		case "junit":
			var suites struct {
				Failures int `xml:"failures,attr"`
			}
			if err := xml.Unmarshal([]byte(r.stdout), &suites); err != nil || suites.Failures == 0 {
				t.Errorf("junit: %v, %d failures\n%s", err, suites.Failures, r.stdout)
			}
		case "short":
			for line := range strings.Lines(r.stdout) {
				if strings.HasPrefix(line, "[ok]") || strings.HasPrefix(line, "[skip]") {
					t.Errorf("short shows more than failures: %q", line)
				}
			}
		case "table":
			if !strings.Contains(r.stdout, "[FAIL] the mesh's CRDs exist and are established") && !strings.Contains(r.stdout, "[FAIL] the MeshConfig exists") {
				t.Errorf("table:\n%s", r.stdout)
			}
		}
	}
}

// --proxy selects the data-plane checks and those they need; -n reaches
// them (TestCheckUsageErrors shows it is read: --pre refuses it).
func TestCheckProxySelectsDataPlane(t *testing.T) {
	ns := env.Namespace(t, nil)
	r := executeCommand(t, kubeEnv(), "check --proxy -o json -n "+ns)
	var doc struct {
		Categories []struct {
			Name string `json:"name"`
		} `json:"categories"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	var names []string
	for _, c := range doc.Categories {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "kubernetes-api,crds,meshconfig,data-plane" || r.code != 1 {
		t.Errorf("exit %d, categories %s", r.code, got)
	}
}

// A warning passes, unless --fail-on-warning.
func TestCheckFailOnWarning(t *testing.T) {
	restricted := env.Namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	// Deleted namespaces stay (Terminating) in the test API server: drop the
	// label so that no later test sees a warning.
	t.Cleanup(func() {
		patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":null}}}`)
		_, _ = env.Clients.Kube.CoreV1().Namespaces().Patch(context.Background(), restricted, types.MergePatchType, patch, metav1.PatchOptions{})
	})
	ns := testenv.UniqueName("check-warn")
	args := "check --pre --mesh-name check-warn --mesh-namespace " + ns + " -o short"
	r := executeCommand(t, kubeEnv(), args)
	if r.code != 0 || !strings.Contains(r.stdout, "[warn] pre-install: no namespace's Pod Security level rejects the sidecar's init container") || !strings.Contains(r.stdout, restricted+" (restricted)") {
		t.Errorf("without --fail-on-warning: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = executeCommand(t, kubeEnv(), args+" --fail-on-warning")
	if r.code != 1 || !strings.Contains(r.stdout, "FAILED (warnings fail with --fail-on-warning)") || r.stderr != "" {
		t.Errorf("with --fail-on-warning: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
