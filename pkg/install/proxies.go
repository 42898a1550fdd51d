package install

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/release"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/namespace"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/rollout"
)

// ProxyOptions say what upgrade and rollback do about the proxies that run
// another image than the MeshConfig names once the release has changed.
type ProxyOptions struct {
	// RestartProxies restarts their workloads, namespace by namespace,
	// waiting for each rollout (pkg/rollout); without it they are only
	// reported.
	RestartProxies bool
	// RolloutTimeout bounds each namespace's rollouts.
	RolloutTimeout time.Duration
	// RolloutInterval is the time between status reads;
	// rollout.DefaultInterval when zero.
	RolloutInterval time.Duration
	// SkipWebhookCheck restarts without asking the webhook first, by a dry
	// run, whether it injects the new image.
	SkipWebhookCheck bool
}

// proxies reports the workloads of the mesh's namespaces whose proxies are
// outdated after a release changed, on errOut, and with RestartProxies
// restarts them. The summary goes to errOut too: stdout holds the
// release's changes or manifest.
func (d *Deps) proxies(ctx context.Context, o ProxyOptions, errOut io.Writer) (*rollout.Summary, error) {
	mc, err := meshconfig.GetMesh(ctx, d.Clients.Dynamic, d.MeshName, d.Namespace)
	if err != nil {
		return nil, fmt.Errorf("reading the MeshConfig to find outdated proxies: %w", err)
	}
	want := proxyconfig.ImageOf(mc.Spec)
	enrolled, err := namespace.ListEnrolled(ctx, d.Clients.Kube, d.MeshName)
	if err != nil {
		return nil, err
	}
	injected, err := namespace.InjectedNamespaces(ctx, d.Clients.Kube, d.Namespace)
	if err != nil {
		return nil, err
	}
	names := append([]string(nil), enrolled...)
	for _, in := range namespace.NotEnrolled(injected, enrolled) {
		names = append(names, in.Namespace)
	}
	plan, err := rollout.Plan(ctx, d.Clients.Kube, d.MeshName, d.Namespace, names, want, false)
	if err != nil {
		return nil, err
	}
	var todo []rollout.Namespace
	n := 0
	for _, ns := range plan {
		if len(ns.Workloads) > 0 {
			todo = append(todo, ns)
			n += len(ns.Workloads)
		}
	}
	if n == 0 {
		fmt.Fprintf(errOut, "Every proxy of the mesh runs %s.\n", want)
		return &rollout.Summary{Image: want, Workloads: []rollout.Outcome{}}, nil
	}
	if !o.RestartProxies {
		s := &rollout.Summary{Image: want}
		for _, ns := range todo {
			for _, w := range ns.Workloads {
				s.Workloads = append(s.Workloads, rollout.Outcome{Namespace: ns.Name, Workload: w.String(), Pods: w.Pods, Result: rollout.ResultOutdated})
			}
		}
		fmt.Fprintf(errOut, "\n%d workload(s) run an older proxy than %s, the MeshConfig's:\n", n, want)
		if err := cli.Write(errOut, cli.FormatTable, s); err != nil {
			return nil, err
		}
		fmt.Fprintf(errOut, "Restart them: meshctl upgrade --restart-proxies%s, or meshctl namespace restart NAMESPACE\n", meshFlags(d.MeshName, d.Namespace))
		return s, nil
	}
	interval := o.RolloutInterval
	if interval <= 0 {
		interval = rollout.DefaultInterval
	}
	r := &rollout.Restarter{Kube: d.Clients.Kube, Clock: d.Clock, Interval: interval, Timeout: o.RolloutTimeout, Progress: errOut}
	if !o.SkipWebhookCheck {
		r.Ready = rollout.WebhookInjects(d.Clients.Kube, want, d.Clock, interval, 2*time.Minute)
	}
	fmt.Fprintf(errOut, "\nRestarting %d workload(s) whose proxies are older than %s, namespace by namespace:\n", n, want)
	s, runErr := r.Restart(ctx, want, todo)
	fmt.Fprintln(errOut)
	if err := cli.Write(errOut, cli.FormatTable, s); err != nil {
		return nil, err
	}
	return s, runErr
}

// meshFlags are the global flags naming a mesh other than the default.
func meshFlags(mesh, ns string) string {
	var s string
	if mesh != meshconfig.DefaultMeshName {
		s += " --mesh-name " + mesh
	}
	if ns != meshconfig.DefaultMeshNamespace {
		s += " --mesh-namespace " + ns
	}
	return s
}

// refuseDowngrade refuses to replace the installed chart with an older
// one unless forced: a downgrade may drop CRD fields and settings the
// installed version wrote. Versions that are not semantic versions are
// not compared.
func refuseDowngrade(current *release.Release, newVersion string, force bool) error {
	if force || current.Chart == nil || current.Chart.Metadata == nil {
		return nil
	}
	installed, err1 := semver.NewVersion(current.Chart.Metadata.Version)
	next, err2 := semver.NewVersion(newVersion)
	if err1 != nil || err2 != nil || !next.LessThan(installed) {
		return nil
	}
	return fmt.Errorf("mesh %q runs chart %s, newer than this meshctl's %s: upgrading would downgrade it; use meshctl %s or later, `meshctl rollback` to go back a revision, or pass --force to downgrade",
		current.Name, installed, next, installed)
}
