package manifest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

func TestOptionsURL(t *testing.T) {
	pod, err := os.ReadFile("testdata/inject/pod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app.yaml" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(pod)
	}))
	defer srv.Close()
	run := func(files ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		o := &Options{Filenames: files, HTTPClient: srv.Client(), MeshName: meshconfig.DefaultMeshName, MeshNamespace: meshconfig.DefaultMeshNamespace}
		o.In, o.Out, o.ErrOut = strings.NewReader(""), &out, &errOut
		if err := o.Validate(); err != nil {
			return "", "", err
		}
		err := o.Run(t.Context())
		return out.String(), errOut.String(), err
	}
	out, report, err := run(srv.URL + "/app.yaml")
	if err != nil || !strings.Contains(out, "name: mesh-proxy") || report != "pod/curl injected\n" {
		t.Errorf("fetching: %v\n%s\n%s", err, out, report)
	}
	out, _, err = run("testdata/inject/pod.yaml", srv.URL+"/missing.yaml")
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/missing.yaml: 404 Not Found") || out != "" {
		t.Errorf("missing URL: %v, output %q", err, out)
	}
	if _, _, err := run("http://example.com/app.yaml"); err == nil || !strings.Contains(err.Error(), "only https://") {
		t.Errorf("http URL: %v", err)
	}
}

// TestOptionsJoinsInputs: several inputs make one stream kubectl can read,
// JSON streams included.
func TestOptionsJoinsInputs(t *testing.T) {
	var out, errOut bytes.Buffer
	o := &Options{Filenames: []string{"testdata/inject/deployment.json", "testdata/inject/pod.yaml", "-"},
		MeshName: meshconfig.DefaultMeshName, MeshNamespace: meshconfig.DefaultMeshNamespace}
	o.In, o.Out, o.ErrOut = strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: piped"), &out, &errOut
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := kubectlReads(out.Bytes()); err != nil {
		t.Errorf("joined output does not parse: %v\n%s", err, out.String())
	}
	want := "deployment/json-app injected\nservice/json-app skipped: not a workload\npod/curl injected\nconfigmap/piped skipped: not a workload\n"
	if errOut.String() != want {
		t.Errorf("report:\n%s", errOut.String())
	}
	if n := strings.Count(out.String(), "\n---\n"); n != 3 {
		t.Errorf("%d separators, want 3:\n%s", n, out.String())
	}
}
