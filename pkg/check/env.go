package check

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/policycli"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/version"
)

// DefaultCertExpiryWarning is how close to its expiry the webhook's serving
// certificate, the mesh's issuer or a trust anchor may come before check
// warns.
const DefaultCertExpiryWarning = 30 * 24 * time.Hour

// Env is everything the checks share, built once by Setup before any check
// runs. Checks read it and never write it: a check never depends on what
// another one happened to find.
type Env struct {
	// Clients reach the cluster.
	Clients *kube.Clients
	// MeshName is the mesh (and Helm release) name.
	MeshName string
	// Namespace is the control-plane namespace.
	Namespace string
	// Chart is what the embedded chart renders for this mesh with default
	// values: what an install creates.
	Chart *Chart
	// CLIVersion is the version of this meshctl.
	CLIVersion string
	// CertExpiryWarning is how close to expiry the webhook certificate, the
	// issuer and the trust anchors may be.
	CertExpiryWarning time.Duration
	// DataPlaneNamespace limits the data-plane checks to one namespace; empty
	// means every enrolled namespace.
	DataPlaneNamespace string
	// Clock is the time the certificate checks compare against.
	Clock clock.PassiveClock
	// MinKubernetesVersion is the oldest supported server; empty means
	// the constant MinKubernetesVersion.
	MinKubernetesVersion string
	// ExternalIssuer says the install will use an issuer Secret that
	// exists (--identity-external-issuer): the preflight requires it.
	ExternalIssuer bool
	// ProxyStatus reads a proxy's /status; nil is a port-forward through
	// Clients (pkg/proxyadmin).
	ProxyStatus proxyadmin.StatusReader

	// clientsErr is why there are no Clients.
	clientsErr error

	// cache holds what several checks of one attempt read from the cluster,
	// so that they read it once. Each run and each retry gets a fresh one
	// (see fresh), so a check always sees the cluster as it is now.
	cache *attemptCache
}

// Chart is the rendered embedded chart.
type Chart struct {
	// CRDs are the chart's CustomResourceDefinitions.
	CRDs []*unstructured.Unstructured
	// Objects are the templates' objects, in Helm's install order.
	Objects []*unstructured.Unstructured
}

// Find returns the first rendered object of kind, or nil.
func (c *Chart) Find(kind string) *unstructured.Unstructured {
	for _, o := range c.Objects {
		if o.GetKind() == kind {
			return o
		}
	}
	return nil
}

// RenderFunc renders the embedded chart for a mesh with default values.
type RenderFunc func(meshName, namespace string) (*Chart, error)

// Config are the inputs of Setup.
type Config struct {
	// Clients reach the cluster.
	Clients *kube.Clients
	// ClientsErr, when Clients could not be built (no kubeconfig, say), is
	// reported as the failure of the first check, so that a report in the
	// requested format is written whatever went wrong.
	ClientsErr error
	// MeshName and Namespace name the mesh and its control-plane namespace.
	MeshName, Namespace string
	// Render renders the chart; nil means RenderEmbeddedChart.
	Render RenderFunc
	// CLIVersion defaults to this build's version.
	CLIVersion string
	// CertExpiryWarning defaults to DefaultCertExpiryWarning.
	CertExpiryWarning time.Duration
	// DataPlaneNamespace scopes the data-plane checks.
	DataPlaneNamespace string
	// Clock defaults to the real clock.
	Clock clock.PassiveClock
	// MinKubernetesVersion defaults to the constant MinKubernetesVersion.
	MinKubernetesVersion string
	// ExternalIssuer is the install's --identity-external-issuer.
	ExternalIssuer bool
}

// Setup builds the Env the checks share. It contacts no cluster: reaching the
// API server is the first check's job, so that an unreachable cluster is
// reported like any other failure.
func Setup(c Config) (*Env, error) {
	if c.Clients == nil && c.ClientsErr == nil {
		return nil, errors.New("check setup: no cluster clients")
	}
	render := c.Render
	if render == nil {
		render = RenderEmbeddedChart
	}
	ch, err := render(c.MeshName, c.Namespace)
	if err != nil {
		return nil, fmt.Errorf("rendering the embedded chart for mesh %q: %w", c.MeshName, err)
	}
	env := &Env{
		Clients:              c.Clients,
		clientsErr:           c.ClientsErr,
		MeshName:             c.MeshName,
		Namespace:            c.Namespace,
		Chart:                ch,
		CLIVersion:           cmp.Or(c.CLIVersion, version.Version()),
		CertExpiryWarning:    cmp.Or(c.CertExpiryWarning, DefaultCertExpiryWarning),
		DataPlaneNamespace:   c.DataPlaneNamespace,
		Clock:                c.Clock,
		MinKubernetesVersion: c.MinKubernetesVersion,
		ExternalIssuer:       c.ExternalIssuer,
	}
	if env.Clock == nil {
		env.Clock = clock.RealClock{}
	}
	return env, nil
}

// attemptCache memoizes reads shared by the checks of one attempt.
type attemptCache struct {
	serverVersion memo[string]
	meshConfig    memo[*meshconfig.MeshConfig]
	dataPlane     memo[*dataPlane]
	crds          memo[map[string]crdRead]
	meshCA        memo[*meshCA]
	proxies       memo[[]proxyadmin.Report]
	policy        memo[*policycli.Snapshot]
}

// memo computes a value once, for every goroutine that asks.
type memo[T any] struct {
	once sync.Once
	val  T
	err  error
}

func (m *memo[T]) get(f func() (T, error)) (T, error) {
	m.once.Do(func() { m.val, m.err = f() })
	return m.val, m.err
}

// fresh returns env with an empty cache: for each run, and for each retry,
// since a check tried again must see the cluster as it is now.
func (e *Env) fresh() *Env {
	cp := *e
	cp.cache = &attemptCache{}
	return &cp
}

// MeshConfig reads the mesh's MeshConfig.
func (e *Env) MeshConfig(ctx context.Context) (*meshconfig.MeshConfig, error) {
	return e.cache.meshConfig.get(func() (*meshconfig.MeshConfig, error) {
		return meshconfig.GetMesh(ctx, e.Clients.Dynamic, e.MeshName, e.Namespace)
	})
}

// ExpectedProxyImage is the proxy image meshed pods must run: the MeshConfig's
// spec.sidecar.image, or the image of this meshctl when that is empty.
func (e *Env) ExpectedProxyImage(ctx context.Context) (string, error) {
	mc, err := e.MeshConfig(ctx)
	if err != nil {
		return "", err
	}
	return proxyconfig.ImageOf(mc.Spec), nil
}

func (e *Env) minKubernetesVersion() string {
	return cmp.Or(e.MinKubernetesVersion, MinKubernetesVersion)
}
