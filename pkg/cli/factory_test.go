package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
users:
- name: u
  user: {token: t}
`

func testFactory(t *testing.T) (Factory, *Settings) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	kf := genericclioptions.NewConfigFlags(false)
	kf.KubeConfig = &path
	s := &Settings{MeshName: "mesh", MeshNamespace: "mesh-system", Kube: kf}
	return NewFactory(s, &bytes.Buffer{}), s
}

// check asks for clients with a higher rate limit; that must not change the
// clients, or the kubeconfig flags, that every other command shares.
func TestClientsWithRateLeavesSharedClientsAlone(t *testing.T) {
	f, s := testFactory(t)
	fast, err := f.ClientsWithRate(50, 100)
	if err != nil {
		t.Fatal(err)
	}
	if fast.Config.QPS != 50 || fast.Config.Burst != 100 {
		t.Errorf("ClientsWithRate config: QPS %v, burst %d; want 50, 100", fast.Config.QPS, fast.Config.Burst)
	}
	shared, err := f.Clients()
	if err != nil {
		t.Fatal(err)
	}
	if shared.Config.QPS == 50 || shared.Config.Burst == 100 {
		t.Errorf("shared clients took check's rate limit: QPS %v, burst %d", shared.Config.QPS, shared.Config.Burst)
	}
	if s.Kube.WrapConfigFn != nil {
		t.Error("the shared kubeconfig flags were given a WrapConfigFn")
	}
	if again, _ := f.Clients(); again != shared {
		t.Error("Clients built a second set; they are built once per invocation")
	}
}

type recordingOptions struct{ calls []string }

func (o *recordingOptions) Complete(Factory, []string) error {
	o.calls = append(o.calls, "complete")
	return nil
}

func (o *recordingOptions) Validate() error {
	o.calls = append(o.calls, "validate")
	return UsageErrorf("bad")
}

func (o *recordingOptions) Run(context.Context) error {
	o.calls = append(o.calls, "run")
	return nil
}

func TestRunStopsAtValidate(t *testing.T) {
	f, _ := testFactory(t)
	o := &recordingOptions{}
	err := Run(context.Background(), o, f, nil)
	var usage *UsageError
	if !errors.As(err, &usage) {
		t.Errorf("Run = %v, want the usage error of Validate", err)
	}
	if got := len(o.calls); got != 2 || o.calls[0] != "complete" || o.calls[1] != "validate" {
		t.Errorf("calls = %v, want complete, validate and no run", o.calls)
	}
}
