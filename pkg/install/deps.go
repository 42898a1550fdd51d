package install

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	helmkube "helm.sh/helm/v3/pkg/kube"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/utils/clock"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
)

// Deps are what every lifecycle operation needs, built once per command: the
// REST getter, the Helm configuration on it, the clients, the chart, a clock
// and a logger. Operations never build their own.
type Deps struct {
	// MeshName is the mesh, and the Helm release name.
	MeshName string
	// Namespace is the control-plane namespace, where the release lives.
	Namespace string
	// Getter reaches the cluster; nil for client-side rendering.
	Getter genericclioptions.RESTClientGetter
	// Helm is the Helm SDK configuration (release storage in Secrets of
	// Namespace, the Helm kube client); nil without Getter.
	Helm *action.Configuration
	// Clients are the API clients; nil without Getter.
	Clients *kube.Clients
	// Chart is the loaded, stamped chart.
	Chart *chart.Chart
	// Clock times waits and stamps progress.
	Clock clock.WithTicker
	// Log receives Helm's debug log and our own.
	Log *slog.Logger
	// ReadFile reads --values files.
	ReadFile func(string) ([]byte, error)
}

// DepsFrom returns a NewDeps for options that get their settings and
// clients from f; offline operations get no cluster.
func DepsFrom(f cli.Factory) func(offline bool) (*Deps, error) {
	return func(offline bool) (*Deps, error) {
		s := f.Settings()
		c := DepsConfig{MeshName: s.MeshName, Namespace: s.MeshNamespace, Log: f.Logger()}
		if !offline {
			c.Getter = f.RESTClientGetter()
			cs, err := f.Clients()
			if err != nil {
				return nil, err
			}
			c.Clients = cs
		}
		return NewDeps(c)
	}
}

// DepsConfig are the inputs of NewDeps.
type DepsConfig struct {
	// MeshName is the mesh, and the Helm release name.
	MeshName string
	// Namespace is the control-plane namespace.
	Namespace string
	// Getter may be nil for operations that need no cluster.
	Getter genericclioptions.RESTClientGetter
	// Clients are built from Getter when nil.
	Clients *kube.Clients
	// ChartFS holds the chart at its root; nil means the embedded chart.
	ChartFS fs.FS
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// Log defaults to discarding.
	Log *slog.Logger
	// ReadFile defaults to os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// NewDeps loads the chart and, with a getter, builds the clients and the Helm
// configuration. Nothing here contacts the cluster yet.
func NewDeps(c DepsConfig) (*Deps, error) {
	if c.ChartFS == nil {
		c.ChartFS = ChartFS()
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.ReadFile == nil {
		c.ReadFile = os.ReadFile
	}
	ch, err := LoadChart(c.ChartFS)
	if err != nil {
		return nil, err
	}
	d := &Deps{MeshName: c.MeshName, Namespace: c.Namespace, Getter: c.Getter, Chart: ch, Clock: c.Clock, Log: c.Log, ReadFile: c.ReadFile}
	if c.Getter == nil {
		return d, nil
	}
	if d.Clients = c.Clients; d.Clients == nil {
		if d.Clients, err = kube.NewClients(c.Getter); err != nil {
			return nil, err
		}
	}
	d.Helm = new(action.Configuration)
	helmLog := func(format string, v ...any) { d.Log.Debug(fmt.Sprintf(format, v...), "source", "helm") }
	if err := d.Helm.Init(c.Getter, c.Namespace, "secret", helmLog); err != nil {
		return nil, fmt.Errorf("setting up Helm: %w", err)
	}
	// Namespaced objects without a namespace land in the control plane's,
	// whatever the kubeconfig context's default namespace is.
	if kc, ok := d.Helm.KubeClient.(*helmkube.Client); ok {
		kc.Namespace = c.Namespace
	}
	return d, nil
}
