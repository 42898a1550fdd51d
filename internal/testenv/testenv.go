// Package testenv owns the real Kubernetes API server that integration tests
// run against: a real etcd and kube-apiserver started once per test package
// (through controller-runtime's envtest, with binaries built by
// hack/testenv.sh), or the cluster named by MESHCTL_TEST_KUBECONFIG. It gives
// each test its own namespace, users with limited RBAC, and webhooks that the
// API server reaches by URL.
//
// A missing prerequisite is a failure that says what to run, never a skip.
package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshctl/meshctl/pkg/kube"
)

// Environment variables that steer the harness.
const (
	// EnvKubeconfig points the tests at an existing cluster instead.
	EnvKubeconfig = "MESHCTL_TEST_KUBECONFIG"
	// EnvAssets overrides the directory holding etcd and kube-apiserver.
	EnvAssets = "MESHCTL_TESTENV_ASSETS"
)

// Env is a running API server shared by the tests of one package.
type Env struct {
	// Config is an admin configuration for the server.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for Config, for commands
	// that take --kubeconfig.
	Kubeconfig string
	// Clients are admin clients.
	Clients *kube.Clients
	// External is true when the tests run against MESHCTL_TEST_KUBECONFIG.
	External bool
	// UserToken is a bearer token the API server authenticates as
	// TokenUser, a user that is no ServiceAccount (a static token, which the
	// API server accepts for its own audiences only), for tests of code
	// that must refuse such callers. Empty against MESHCTL_TEST_KUBECONFIG.
	UserToken string

	env *envtest.Environment
	dir string
}

// Main starts the environment, runs the package's tests and stops it. Call it
// from TestMain:
//
//	var env *testenv.Env
//	func TestMain(m *testing.M) { testenv.Main(m, &env) }
//
// When the environment cannot start, every test of the package fails with the
// reason and the command that fixes it.
func Main(m *testing.M, out **Env) {
	e, err := Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: integration test environment: %v\n", err)
		// Returning without m.Run would report "no tests"; make the failure
		// visible as a failed package instead.
		os.Exit(1)
	}
	*out = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping integration test environment: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Start starts etcd and kube-apiserver, or connects to MESHCTL_TEST_KUBECONFIG.
func Start() (*Env, error) {
	dir, err := os.MkdirTemp("", "meshctl-testenv-")
	if err != nil {
		return nil, err
	}
	e := &Env{dir: dir}
	if path := os.Getenv(EnvKubeconfig); path != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", EnvKubeconfig, path, err)
		}
		e.Config, e.Kubeconfig, e.External = cfg, path, true
	} else {
		assets, err := assetsDir()
		if err != nil {
			return nil, err
		}
		e.env = &envtest.Environment{
			BinaryAssetsDirectory: assets,
			ErrorIfCRDPathMissing: true,
		}
		if err := e.addUserToken(); err != nil {
			_ = e.Stop()
			return nil, err
		}
		if e.Config, err = e.env.Start(); err != nil {
			return nil, fmt.Errorf("starting etcd and kube-apiserver from %s: %w", assets, err)
		}
		e.Kubeconfig = filepath.Join(dir, "kubeconfig")
		if err := WriteKubeconfig(e.Config, e.Kubeconfig); err != nil {
			_ = e.Stop()
			return nil, err
		}
	}
	// Tests create many objects quickly; the default 5 QPS would make them slow.
	e.Config.QPS, e.Config.Burst = 200, 400
	if e.Clients, err = kube.NewClientsForConfig(e.Config); err != nil {
		_ = e.Stop()
		return nil, err
	}
	if _, err := e.Clients.Kube.Discovery().ServerVersion(); err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("API server is not answering: %w", err)
	}
	return e, nil
}

// TokenUser is the user Env.UserToken authenticates as.
const TokenUser = "meshctl-token-user"

// addUserToken makes a random UserToken and has the API server accept it
// from a static token file.
func (e *Env) addUserToken() error {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	token := hex.EncodeToString(b)
	path := filepath.Join(e.dir, "tokens.csv")
	if err := os.WriteFile(path, []byte(token+","+TokenUser+","+TokenUser+"\n"), 0o600); err != nil {
		return err
	}
	e.env.ControlPlane.GetAPIServer().Configure().Set("token-auth-file", path)
	e.UserToken = token
	return nil
}

// Stop stops the processes the environment started and removes its files.
func (e *Env) Stop() error {
	defer os.RemoveAll(e.dir)
	if e.env == nil {
		return nil
	}
	return e.env.Stop()
}

// Context returns a context cancelled when the test ends.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// assetsDir finds the etcd and kube-apiserver built by hack/testenv.sh.
func assetsDir() (string, error) {
	const fix = "run `make testenv` (hack/testenv.sh) to build them, or set " + EnvKubeconfig + " to test against a cluster"
	dir := os.Getenv(EnvAssets)
	if dir == "" {
		var err error
		if dir, err = defaultAssetsDir(); err != nil {
			return "", fmt.Errorf("locating etcd and kube-apiserver: %w; %s", err, fix)
		}
	}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s is missing from %s; %s", bin, dir, fix)
		}
	}
	return dir, nil
}

// defaultAssetsDir is the cache directory hack/testenv.sh writes to; its name
// carries the versions pinned in hack/kube/go.mod.
func defaultAssetsDir() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	gomod := filepath.Join(filepath.Dir(file), "..", "..", "hack", "kube", "go.mod")
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	versions := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 {
			versions[fields[0]] = fields[1]
		}
	}
	kubeV, etcdV := versions["k8s.io/kubernetes"], versions["go.etcd.io/etcd/server/v3"]
	if kubeV == "" || etcdV == "" {
		return "", fmt.Errorf("%s does not pin k8s.io/kubernetes and go.etcd.io/etcd/server/v3", gomod)
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "meshctl", "testenv", "kube-"+kubeV+"_etcd-"+etcdV), nil
}
