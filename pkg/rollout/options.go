package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/namespace"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// probeTimeout bounds the wait for the webhook to inject the MeshConfig's
// image before a namespace is restarted.
const probeTimeout = 2 * time.Minute

// RestartOptions restarts the workloads of namespaces whose proxies are
// outdated: `meshctl namespace restart`.
type RestartOptions struct {
	genericiooptions.IOStreams
	// Clients reaches the cluster. Complete sets it from the Factory.
	Clients func() (*kube.Clients, error)
	// Clock paces the waits; the real clock when nil.
	Clock clock.WithTicker
	// Mesh and MeshNamespace name the mesh whose MeshConfig names the image.
	Mesh          string
	MeshNamespace string
	// Namespaces are restarted in this order.
	Namespaces []string
	// All restarts every workload running the sidecar, outdated or not
	// (to apply a proxy setting that is not the image).
	All bool
	// Timeout bounds each namespace's rollouts.
	Timeout time.Duration
	// Interval is the time between status reads; DefaultInterval when zero.
	Interval time.Duration
	// SkipWebhookCheck restarts without first asking the webhook, by a dry
	// run, whether it injects the MeshConfig's image.
	SkipWebhookCheck bool
	// Output is the summary's format.
	Output cli.Format
}

// Complete takes the namespaces, the mesh and the clients.
func (o *RestartOptions) Complete(f cli.Factory, args []string) error {
	s := f.Settings()
	o.Namespaces, o.Mesh, o.MeshNamespace = args, s.MeshName, s.MeshNamespace
	o.Clients = f.Clients
	return nil
}

// Validate checks the flags before any request.
func (o *RestartOptions) Validate() error {
	if len(o.Namespaces) == 0 {
		return cli.UsageErrorf("give at least one namespace")
	}
	if o.Timeout <= 0 {
		return cli.UsageErrorf("--timeout must be positive, such as 10m")
	}
	return nil
}

// Run finds the outdated workloads of each namespace, restarts them
// namespace by namespace and writes the summary to Out.
func (o *RestartOptions) Run(ctx context.Context) error {
	c, err := o.Clients()
	if err != nil {
		return err
	}
	mc, err := meshconfig.GetMesh(ctx, c.Dynamic, o.Mesh, o.MeshNamespace)
	if err != nil {
		return err
	}
	want := proxyconfig.ImageOf(mc.Spec)
	plan, err := Plan(ctx, c.Kube, o.Mesh, o.MeshNamespace, o.Namespaces, want, o.All)
	if err != nil {
		return err
	}
	r := o.restarter(c.Kube, want)
	s, runErr := r.Restart(ctx, want, plan)
	if len(s.Workloads) == 0 && o.Output == cli.FormatTable {
		fmt.Fprintf(o.ErrOut, "No workload runs an outdated proxy: every sidecar runs %s.\n", want)
		return runErr
	}
	if err := cli.Write(o.Out, o.Output, s); err != nil {
		return err
	}
	return runErr
}

func (o *RestartOptions) restarter(kc kubernetes.Interface, want string) *Restarter {
	c := o.Clock
	if c == nil {
		c = clock.RealClock{}
	}
	interval := o.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	r := &Restarter{Kube: kc, Clock: c, Interval: interval, Timeout: o.Timeout, Progress: o.ErrOut}
	if !o.SkipWebhookCheck {
		r.Ready = WebhookInjects(kc, want, c, interval, probeTimeout)
	}
	return r
}

// Plan reads each namespace and finds its workloads to restart: a
// namespace enrolled in mesh, or whose pods run sidecars `meshctl inject`
// added for it (those are planned as InjectedOffline). Any other namespace
// is refused, all of them at once, before anything is restarted.
func Plan(ctx context.Context, kc kubernetes.Interface, mesh, meshNamespace string, names []string, want string, all bool) ([]Namespace, error) {
	var injected []namespace.InjectedPods
	var plan []Namespace
	var refused []string
	for _, name := range names {
		ns, err := kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("namespace %q: %w", name, kube.ExplainForbidden(err, "get", "namespaces", ""))
		}
		offline := false
		if owner := ns.Labels[meshconfig.LabelMonitoredBy]; owner != mesh {
			if injected == nil {
				if injected, err = namespace.InjectedNamespaces(ctx, kc, meshNamespace); err != nil {
					return nil, err
				}
			}
			if owner != "" || !containsNamespace(injected, name) {
				refused = append(refused, fmt.Sprintf("namespace %q is not enrolled in mesh %q and runs none of its sidecars", name, mesh))
				continue
			}
			offline = true
		}
		ws, err := Find(ctx, kc, name, want, all)
		if err != nil {
			return nil, err
		}
		plan = append(plan, Namespace{Name: name, InjectedOffline: offline, Workloads: ws})
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("nothing was restarted: %s", joinLines(refused))
	}
	return plan, nil
}

func containsNamespace(in []namespace.InjectedPods, name string) bool {
	for _, i := range in {
		if i.Namespace == name {
			return true
		}
	}
	return false
}

func joinLines(lines []string) string { return strings.Join(lines, "; ") }
