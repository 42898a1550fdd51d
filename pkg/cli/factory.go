package cli

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/pkg/kube"
)

// Factory is the one way a command's options get what lies outside the
// process: the resolved global settings, the cluster's clients and a logger.
// Every options type takes it in Complete, as kubectl's take its
// cmdutil.Factory, so tests hand in their own and no options type builds a
// client itself.
//
// Clients are built on first use: a command that turns out not to need a
// cluster (--dry-run, --client, offline inject) never loads a kubeconfig.
type Factory interface {
	// Settings returns the global settings, resolved from flag > MESHCTL_*
	// environment > config file > default. Commands read them and never
	// change them.
	Settings() Settings
	// Clients returns the API clients for the cluster the kubeconfig flags
	// name. They are built once per invocation and shared.
	Clients() (*kube.Clients, error)
	// ClientsWithRate returns clients of their own whose client-side rate
	// limit is qps with bursts of burst, for a command that sends many
	// requests at once (check). The shared clients keep theirs.
	ClientsWithRate(qps float32, burst int) (*kube.Clients, error)
	// RESTClientGetter is what the Helm SDK reaches the cluster through.
	RESTClientGetter() genericclioptions.RESTClientGetter
	// Decorated reports whether colour, symbols and spinners may be written
	// to w.
	Decorated(w io.Writer) bool
	// Logger writes debug logs to stderr at -vv and discards them below.
	Logger() *slog.Logger
}

// NewFactory returns the Factory of one invocation, reading s when asked:
// the root command creates it before flags are parsed, and commands use it
// after the settings are resolved.
func NewFactory(s *Settings, errOut io.Writer) Factory {
	return &factory{settings: s, errOut: errOut}
}

type factory struct {
	settings *Settings
	errOut   io.Writer

	once    sync.Once
	clients *kube.Clients
	err     error
}

func (f *factory) Settings() Settings { return *f.settings }

func (f *factory) RESTClientGetter() genericclioptions.RESTClientGetter { return f.settings.Kube }

func (f *factory) Decorated(w io.Writer) bool { return f.settings.Decorated(w) }

func (f *factory) Clients() (*kube.Clients, error) {
	f.once.Do(func() { f.clients, f.err = kube.NewClients(f.settings.Kube) })
	return f.clients, f.err
}

func (f *factory) ClientsWithRate(qps float32, burst int) (*kube.Clients, error) {
	return kube.NewClients(rateLimited{f.settings.Kube, qps, burst})
}

func (f *factory) Logger() *slog.Logger {
	if f.settings.Verbosity < 2 {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(f.errOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// rateLimited is a RESTClientGetter whose REST configurations are copies
// with their own rate limit, so the shared kubeconfig flags stay as the user
// set them.
type rateLimited struct {
	*genericclioptions.ConfigFlags
	qps   float32
	burst int
}

func (r rateLimited) ToRESTConfig() (*rest.Config, error) {
	c, err := r.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	c = rest.CopyConfig(c)
	c.QPS, c.Burst = r.qps, r.burst
	return c, nil
}

// ContextNamespace is the namespace commands act in when -n is not given:
// the kubeconfig context's, or "default", as kubectl does.
func ContextNamespace(f Factory) (string, error) {
	ns, _, err := f.RESTClientGetter().ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("the kubeconfig's namespace: %w", err)
	}
	return ns, nil
}
