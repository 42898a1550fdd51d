package check

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/clock"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
)

// ClientQPS and ClientBurst are the client-side rate limits check's clients
// should have: enough for its parallel reads to pass client-go's limiter
// (5 requests per second by default) without queueing.
const ClientQPS, ClientBurst = 50, 100

// Formats are the output formats of `meshctl check`; the first is the
// default.
func Formats() []cli.Format {
	return []cli.Format{cli.FormatTable, cli.FormatJSON, cli.FormatShort, cli.FormatJUnit}
}

// Options are the inputs of `meshctl check`. The command binds its flags
// straight to these fields.
type Options struct {
	genericiooptions.IOStreams
	// Pre runs the preflight checks instead of the post-install ones.
	Pre bool
	// Proxy runs only the data-plane checks and those they need.
	Proxy bool
	// Namespace scopes the data-plane checks to one enrolled namespace.
	Namespace string
	// Wait retries failing checks for up to this long.
	Wait time.Duration
	// FailOnWarning makes warnings fail the run (exit 1).
	FailOnWarning bool
	// CertExpiryWarning is how close to expiry the webhook's certificate may
	// come before a warning; zero means DefaultCertExpiryWarning.
	CertExpiryWarning time.Duration
	// Output is table, json, short or junit.
	Output cli.Format
	// ExternalIssuer, with Pre, checks for the install's
	// --identity-external-issuer: the issuer Secret must exist and load.
	ExternalIssuer bool

	// MeshName and MeshNamespace name the mesh.
	MeshName, MeshNamespace string
	// Decorated allows symbols and colour in the table on Out.
	Decorated bool
	// DecoratedProgress allows a spinner for --wait on ErrOut.
	DecoratedProgress bool
	// Clients builds the cluster clients; called once, by Run.
	Clients func() (*kube.Clients, error)
	// Render renders the chart; nil means RenderEmbeddedChart.
	Render RenderFunc
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// CLIVersion defaults to this build's version.
	CLIVersion string
	// MinKubernetesVersion defaults to the constant MinKubernetesVersion.
	MinKubernetesVersion string
}

// Complete takes the mesh, the decoration and the clients from f. The
// clients get a rate limit of their own (ClientQPS), so the settings other
// commands share keep the user's.
func (o *Options) Complete(f cli.Factory, _ []string) error {
	s := f.Settings()
	o.MeshName, o.MeshNamespace = s.MeshName, s.MeshNamespace
	// -n/--namespace is the root's kubeconfig flag. Only a value the user
	// chose (by flag, environment or config file) scopes the data plane,
	// never the kubeconfig context's default namespace, which the flag
	// does not hold.
	if s.Kube != nil && s.Kube.Namespace != nil {
		o.Namespace = *s.Kube.Namespace
	}
	o.Decorated = f.Decorated(o.Out)
	o.DecoratedProgress = f.Decorated(o.ErrOut)
	o.Clients = func() (*kube.Clients, error) { return f.ClientsWithRate(ClientQPS, ClientBurst) }
	return nil
}

// Validate rejects flag combinations that mean nothing, as usage errors.
func (o *Options) Validate() error {
	switch {
	case o.Wait < 0:
		return cli.UsageErrorf("invalid --wait %s: must not be negative", o.Wait)
	case o.CertExpiryWarning < 0:
		return cli.UsageErrorf("invalid --cert-expiry-warning %s: must not be negative", o.CertExpiryWarning)
	case o.Pre && o.Proxy:
		return cli.UsageErrorf("--pre and --proxy cannot be combined: before install there is no data plane")
	case o.Pre && o.Namespace != "":
		return cli.UsageErrorf("--pre and --namespace cannot be combined: --namespace scopes the data-plane checks")
	case o.ExternalIssuer && !o.Pre:
		return cli.UsageErrorf("--identity-external-issuer goes with --pre: after install the identity checks read the issuer wherever it came from")
	}
	return nil
}

// List returns the checks the options select.
func (o *Options) List() []Check {
	switch {
	case o.Pre:
		return PreInstallChecks()
	case o.Proxy:
		return ProxyChecks()
	default:
		return Checks()
	}
}

// ErrChecksFailed is the error of a run whose report says it failed.
var ErrChecksFailed = errors.New("checks failed")

// Run runs the checks and prints the report on Out, progress on ErrOut. A
// failed run returns a *cli.SilentError: the report has said it all.
func (o *Options) Run(ctx context.Context) error {
	// Without clients every check fails or is skipped; the report says so
	// in the requested format, which is what CI reads.
	clients, clientsErr := o.Clients()
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	env, err := Setup(Config{
		Clients: clients, ClientsErr: clientsErr, MeshName: o.MeshName, Namespace: o.MeshNamespace, Render: o.Render,
		CLIVersion: o.CLIVersion, CertExpiryWarning: o.CertExpiryWarning, DataPlaneNamespace: o.Namespace,
		Clock: clk, MinKubernetesVersion: o.MinKubernetesVersion, ExternalIssuer: o.ExternalIssuer,
	})
	if err != nil {
		return err
	}
	runner := &Runner{Wait: o.Wait, Clock: clk}
	if o.Wait > 0 {
		p := cli.NewProgress(o.ErrOut, o.DecoratedProgress, clk)
		defer p.Stop()
		runner.Progress = p
	}
	rep := &Report{FailOnWarning: o.FailOnWarning}
	var table *TableWriter
	observe := rep.Observe
	if o.Output == cli.FormatTable || o.Output == "" {
		table = NewTableWriter(o.Out, o.Decorated)
		// The table streams, unless progress lines are being drawn on the
		// same terminal; then it follows them.
		if o.Wait == 0 {
			observe = func(r Result) { rep.Observe(r); table.Observe(r) }
		}
	}
	runner.Run(ctx, env, o.List(), observe)
	if table != nil && o.Wait > 0 {
		for _, r := range rep.Results {
			table.Observe(r)
		}
	}
	if err := o.write(rep, table); err != nil {
		return err
	}
	if !rep.Success() {
		s := rep.Summary()
		return &cli.SilentError{Err: fmt.Errorf("%w: %d failed, %d warnings", ErrChecksFailed, s.Failed, s.Warnings)}
	}
	return nil
}

func (o *Options) write(rep *Report, table *TableWriter) error {
	switch o.Output {
	case cli.FormatJSON:
		return rep.WriteJSON(o.Out)
	case cli.FormatShort:
		return rep.WriteShort(o.Out)
	case cli.FormatJUnit:
		return rep.WriteJUnit(o.Out)
	default:
		return table.Finish(rep.FailOnWarning)
	}
}
