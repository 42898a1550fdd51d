//go:build e2e

// Package e2e runs the operator journey against the real single-node cluster
// that `make cluster-up` builds (hack/cluster): real kubelet, containerd, runc,
// CNI, kube-proxy and CoreDNS, with images imported locally, never pulled.
//
// It runs with `make e2e`, which builds the images and passes their names in
// the environment. The journey is one ordered list of steps (journey_test.go);
// each step is a subtest that prints its duration, and a failing step stops
// the journey with the events and container logs of the pods involved.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	_ "github.com/meshctl/meshctl/internal/golden" // every test package knows -update
	"github.com/meshctl/meshctl/pkg/kube"
)

// Env is what every step gets: the cluster's clients and the names of the
// locally imported images. Steps that hand results to later steps keep them
// in fields here.
type Env struct {
	// Kubeconfig is the cluster's kubeconfig file, for commands the steps run.
	Kubeconfig string
	// Clients reach the cluster as its administrator.
	Clients *kube.Clients
	// AppImage is the e2e-app image (hack/images/e2e-app), imported by cluster-up.
	AppImage string
	// AppBinary is the e2e-app binary itself, for servers outside the cluster.
	AppBinary string
	// Kubectl is the kubectl built for the cluster (hack/kube), same version.
	Kubectl string
	// RunDir is cluster-up's run directory, with a pid file per component.
	RunDir string
	// RepoRoot is the repository's top directory, where commands are built.
	RepoRoot string
	// LDFlags stamp the binaries and images the journey builds (the
	// Makefile's LDFLAGS, so that default image tags match the images).
	LDFlags string

	// journey is the test that runs the steps; what belongs to the whole
	// journey (namespaces, for one) is cleaned up when it ends.
	journey *testing.T
	// smoke is what the smoke steps hand to each other.
	smoke smokeState
	// mesh is what the mesh steps hand to each other.
	mesh meshState
}

// env is set once by TestMain before any test runs and never written after.
var env *Env

func TestMain(m *testing.M) {
	e, err := newEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n(run `make cluster-up`, then `make e2e`)\n", err)
		os.Exit(1)
	}
	env = e
	os.Exit(m.Run())
}

func newEnv() (*Env, error) {
	e := &Env{
		Kubeconfig: os.Getenv("KUBECONFIG"),
		AppImage:   os.Getenv("MESHCTL_E2E_APP_IMAGE"),
		Kubectl:    os.Getenv("MESHCTL_E2E_KUBECTL"),
		LDFlags:    os.Getenv("MESHCTL_E2E_LDFLAGS"),
		RunDir:     os.Getenv("MESHCTL_E2E_RUN_DIR"),
		AppBinary:  os.Getenv("MESHCTL_E2E_APP_BINARY"),
	}
	if e.Kubeconfig == "" || e.AppImage == "" || e.Kubectl == "" || e.RunDir == "" || e.AppBinary == "" {
		return nil, fmt.Errorf("KUBECONFIG and the MESHCTL_E2E_* variables must be set: run the tests through `make e2e` (hack/cluster/e2e.sh)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return nil, err
	}
	e.RepoRoot = root
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", e.Kubeconfig, err)
	}
	if e.Clients, err = kube.NewClientsForConfig(cfg); err != nil {
		return nil, err
	}
	return e, nil
}
