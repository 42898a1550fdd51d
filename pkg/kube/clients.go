// Package kube owns how meshctl reaches a cluster: clients built once from the
// standard kubeconfig flags (k8s.io/cli-runtime), and small helpers that turn
// API errors into messages that name the object and the permission involved.
package kube

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ErrNoKubeconfig says that no cluster is configured at all.
var ErrNoKubeconfig = errors.New("no cluster configured: set KUBECONFIG or pass --kubeconfig (and --context)")

// defaultHost is where client-go points when nothing is configured.
const defaultHost = "http://localhost:8080"

// Clients are the API clients of one command invocation, built once and shared
// by everything that command does.
type Clients struct {
	// Config is the REST configuration the clients were built from.
	Config *rest.Config
	// Kube is the typed client for built-in resources.
	Kube kubernetes.Interface
	// Dynamic reaches custom resources such as MeshConfig.
	Dynamic dynamic.Interface
	// Discovery answers which APIs the server serves.
	Discovery discovery.CachedDiscoveryInterface
	// Mapper maps kinds to resources.
	Mapper meta.RESTMapper
}

// NewClients builds the clients from a REST client getter, normally the
// --kubeconfig/--context flags.
func NewClients(getter genericclioptions.RESTClientGetter) (*Clients, error) {
	cfg, err := getter.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	// With no kubeconfig at all, client-go falls back to http://localhost:8080,
	// and the user would see a refused connection instead of the real problem.
	if raw, err := getter.ToRawKubeConfigLoader().RawConfig(); err == nil && len(raw.Clusters) == 0 && cfg.Host == defaultHost {
		return nil, ErrNoKubeconfig
	}
	return newClients(cfg, getter)
}

// NewClientsForConfig builds the clients from a REST configuration, as tests
// and the controller do.
func NewClientsForConfig(cfg *rest.Config) (*Clients, error) {
	return newClients(cfg, nil)
}

func newClients(cfg *rest.Config, getter genericclioptions.RESTClientGetter) (*Clients, error) {
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building Kubernetes client: %w", err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building dynamic client: %w", err)
	}
	c := &Clients{Config: cfg, Kube: kc, Dynamic: dc}
	if getter != nil {
		if c.Discovery, err = getter.ToDiscoveryClient(); err != nil {
			return nil, fmt.Errorf("building discovery client: %w", err)
		}
		if c.Mapper, err = getter.ToRESTMapper(); err != nil {
			return nil, fmt.Errorf("building REST mapper: %w", err)
		}
		return c, nil
	}
	c.Discovery = memoryDiscovery(kc.Discovery())
	c.Mapper = deferredMapper(c.Discovery)
	return c, nil
}

// Static returns a function that hands out c, for options whose Clients
// field a test fills with clients it already has.
func Static(c *Clients) func() (*Clients, error) {
	return func() (*Clients, error) { return c, nil }
}
