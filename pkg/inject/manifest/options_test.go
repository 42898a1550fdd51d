package manifest

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
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

// testFactory is a cli.Factory whose settings name a mesh and whose cluster
// cannot be reached; it counts the calls for clients.
type testFactory struct {
	cli.Factory // the methods Options must not call: nil, so they panic
	clients     int
}

func (f *testFactory) Settings() cli.Settings {
	return cli.Settings{MeshName: "blue", MeshNamespace: "blue-system"}
}

func (f *testFactory) Clients() (*kube.Clients, error) {
	f.clients++
	return nil, errors.New("no cluster configured")
}

// TestOptionsComplete: Complete takes the mesh from the settings and an
// HTTP client with a timeout, and asks the Factory for clients only when
// --from-cluster needs them, so offline runs need no kubeconfig.
func TestOptionsComplete(t *testing.T) {
	f := &testFactory{}
	o := &Options{EnrolNamespaces: true}
	var out, errOut bytes.Buffer
	o.In, o.Out, o.ErrOut = strings.NewReader("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"), &out, &errOut
	if err := cli.Run(t.Context(), o, f, nil); err != nil {
		t.Fatal(err)
	}
	if o.MeshName != "blue" || o.MeshNamespace != "blue-system" || o.HTTPClient == nil || o.HTTPClient.Timeout != FetchTimeout {
		t.Errorf("completed options: %+v", o)
	}
	if f.clients != 0 || !strings.Contains(out.String(), "meshctl.io/monitored-by: blue") {
		t.Errorf("offline run: %d calls for clients, output:\n%s", f.clients, out.String())
	}

	o = &Options{FromCluster: true}
	o.In, o.Out, o.ErrOut = strings.NewReader(""), &out, &errOut
	err := cli.Run(t.Context(), o, f, nil)
	if f.clients != 1 || err == nil || !strings.Contains(err.Error(), "--from-cluster: no cluster configured") {
		t.Errorf("--from-cluster: %d calls for clients, error %v", f.clients, err)
	}
}

// TestOptionsForceNeedsEnrolment: --force says what to do with Namespace
// documents of another mesh, which only --enrol-namespaces reads.
func TestOptionsForceNeedsEnrolment(t *testing.T) {
	for _, o := range []*Options{{Force: true}, {Force: true, EnrolNamespaces: true, Mode: ModeUninject}} {
		o.In = strings.NewReader("")
		var ue *cli.UsageError
		if err := o.Validate(); !errors.As(err, &ue) {
			t.Errorf("%+v: got %v, want a usage error", o, err)
		}
	}
}
