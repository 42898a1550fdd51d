// Command mesh-controller is meshctl's control plane: the admission webhook
// that injects the sidecar into new pods of enrolled namespaces, and the
// mesh CA that signs proxies' certificates on the proxy API port (see
// pkg/controller and pkg/controller/ca). It is built as one static binary (CGO off, as `make
// build` does for every command) so that its image needs nothing else.
// The chart's Deployment passes every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/meshctl/meshctl/pkg/controller"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: 0 success, 1 failure, 2 bad arguments.
// What was asked for (--version, --help) goes to stdout; errors and the
// logs go to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := &controller.Options{}
	var webhookPort, healthPort, proxyAPIPort int
	var logLevel, kubeconfig string
	var showVersion bool
	fs := flag.NewFlagSet("mesh-controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.MeshName, "mesh-name", meshconfig.DefaultMeshName, "the mesh whose enrolled namespaces get the sidecar")
	fs.StringVar(&o.MeshNamespace, "mesh-namespace", meshconfig.DefaultMeshNamespace, "the control-plane namespace (MeshConfig, TLS Secret, issuer Secret, trust bundle)")
	fs.StringVar(&o.WebhookConfiguration, "webhook-configuration", "", "the MutatingWebhookConfiguration whose caBundle to patch")
	fs.StringVar(&o.WebhookService, "webhook-service", meshconfig.ControllerName, "the Service in front of the webhook, named in the serving certificate")
	fs.StringVar(&o.TLSSecret, "tls-secret", "", "the Secret that holds the serving certificate and its CA")
	fs.IntVar(&webhookPort, "webhook-port", 9443, "the HTTPS port of the admission webhook")
	fs.IntVar(&healthPort, "health-port", 9090, "the HTTP port of /healthz, /readyz and /metrics")
	fs.IntVar(&proxyAPIPort, "proxy-api-port", meshconfig.ProxyAPIPort, "the TLS port where proxies get their certificates (and the channel), with the controller's own mesh certificate")
	fs.StringVar(&o.LeaderElection.LeaseName, "leader-election-lease", meshconfig.LeaderLeaseName, "the Lease in --mesh-namespace through which replicas elect the one that patches the caBundle, keeps the serving certificate's Secret and copies the trust bundle; empty: this process always leads")
	fs.StringVar(&o.LeaderElection.Identity, "leader-election-id", "", "this replica's name in the Lease (the chart passes the pod's name); empty: the host name and a random suffix")
	fs.BoolVar(&o.GenerateCA, "generate-ca", false, "when the control-plane namespace holds no mesh CA (a plain helm install), have the leader generate one as meshctl install does; never replaces one")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 5*time.Second, "on SIGTERM, how long to go on serving, unready and without the Lease, before draining, so that the endpoints drop this replica first")
	fs.StringVar(&logLevel, "log-level", "info", "one of debug, info, warn, error")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "a kubeconfig file; empty means the in-cluster configuration")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	// The flag package calls Usage both for -h and after a bad flag's
	// error; the help is written below, to stdout, only when asked for.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeUsage(stdout, fs)
			return 0
		}
		fmt.Fprintln(stderr, "Run 'mesh-controller --help' for usage.")
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "Error: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if showVersion {
		writeVersion(stdout)
		return 0
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		fmt.Fprintf(stderr, "Error: --log-level %q: use debug, info, warn or error\n", logLevel)
		return 2
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 2
	}
	o.WebhookAddr, o.HealthAddr, o.ProxyAPIAddr = controller.ListenAddr(webhookPort), controller.ListenAddr(healthPort), controller.ListenAddr(proxyAPIPort)
	o.Log = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).With("version", version.Version())
	// client-go's reflectors report list and watch failures (a missing CRD,
	// a forbidden read) through klog; one log format for the whole process.
	klog.SetSlogLogger(o.Log.With("component", "client-go"))
	if err := clients(o, kubeconfig); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	if err := o.Run(ctx); err != nil {
		o.Log.Error("mesh-controller stopped", "error", err)
		return 1
	}
	return 0
}

// writeVersion prints the build on one line, as mesh-proxy --version does
// and bug reports want it.
func writeVersion(w io.Writer) {
	v := version.Get()
	fmt.Fprintf(w, "mesh-controller %s (commit %s, %s, %s)\n", v.Version, v.Commit, v.GoVersion, v.Platform)
}

// writeUsage prints the help: what the command is, then its flags.
func writeUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `mesh-controller is meshctl's control plane: the admission webhook that
injects the sidecar into new pods of enrolled namespaces, and the mesh CA
that signs proxies' certificates with the issuer of the Secret
`+meshconfig.IssuerSecretName+` and copies the trust bundle into enrolled
namespaces. The chart's Deployment passes every flag; it is not meant to be
run by hand.

Usage:
  mesh-controller --webhook-configuration=NAME --tls-secret=NAME [flags]
  mesh-controller --version    print the version and exit
  mesh-controller --help       print this help

Flags:
`)
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
}

func clients(o *controller.Options, kubeconfig string) error {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return fmt.Errorf("API server configuration: %w", err)
	}
	cfg.UserAgent = "mesh-controller/" + version.Version()
	if o.Kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	o.Dynamic, err = dynamic.NewForConfig(cfg)
	return err
}
