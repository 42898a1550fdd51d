package install

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
)

// RollbackOptions are the inputs of `meshctl rollback`.
type RollbackOptions struct {
	genericiooptions.IOStreams
	// Revision is the release revision to restore; 0 is the one before the
	// current revision.
	Revision int
	// Wait waits for the control plane to become ready; Timeout bounds the
	// rollback and the wait.
	Wait    bool
	Timeout time.Duration
	// Proxies says what to do about the proxies the rollback makes
	// outdated.
	Proxies ProxyOptions
	// Output is table (one line per change) or json/yaml (the changes).
	Output cli.Format
	// Decorated allows a spinner on ErrOut.
	Decorated bool
	// NewDeps builds the dependencies.
	NewDeps func(offline bool) (*Deps, error)
}

// Complete takes the revision argument, the decoration and the
// dependencies.
func (o *RollbackOptions) Complete(f cli.Factory, args []string) error {
	if len(args) == 1 {
		if _, err := fmt.Sscan(args[0], &o.Revision); err != nil || o.Revision <= 0 || fmt.Sprint(o.Revision) != args[0] {
			return cli.UsageErrorf("revision %q: want a positive revision number (helm history lists them), or none for the previous revision", args[0])
		}
	}
	o.Decorated = f.Decorated(o.ErrOut)
	o.NewDeps = DepsFrom(f)
	return nil
}

// Validate checks the timeouts.
func (o *RollbackOptions) Validate() error {
	if o.Timeout <= 0 {
		return cli.UsageErrorf("--timeout must be positive, such as 5m")
	}
	if o.Proxies.RestartProxies && o.Proxies.RolloutTimeout <= 0 {
		return cli.UsageErrorf("--rollout-timeout must be positive, such as 10m")
	}
	return nil
}

// Run rolls the release back, prints what changed, then reports (or with
// --restart-proxies restarts) the workloads whose proxies no longer run
// the MeshConfig's image.
func (o *RollbackOptions) Run(ctx context.Context) error {
	d, err := o.NewDeps(false)
	if err != nil {
		return err
	}
	res, err := d.Rollback(ctx, o)
	if err != nil {
		return err
	}
	if err := res.writeChanges(o.Out, o.ErrOut, o.Output); err != nil {
		return err
	}
	_, err = d.proxies(ctx, o.Proxies, o.ErrOut)
	return err
}

// Rollback restores an earlier revision of the release through Helm: its
// manifest and values, the MeshConfig included, as a new revision. The
// CRDs stay as they are (Helm never downgrades them), and so does the mesh
// CA, which is not in the release.
func (d *Deps) Rollback(ctx context.Context, o *RollbackOptions) (*Result, error) {
	if err := validateMeshName(d.MeshName); err != nil {
		return nil, err
	}
	hist, err := d.Helm.Releases.History(d.MeshName)
	if errors.Is(err, driver.ErrReleaseNotFound) || (err == nil && len(hist) == 0) {
		return nil, fmt.Errorf("mesh %q is not installed in namespace %q", d.MeshName, d.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("reading release history of %q in namespace %q: %w", d.MeshName, d.Namespace, err)
	}
	current, target := lastRelease(hist), o.Revision
	if current.Info.Status.IsPending() {
		return nil, fmt.Errorf("release %q in namespace %q is %s: another operation is in progress", d.MeshName, d.Namespace, current.Info.Status)
	}
	if target == 0 {
		target = current.Version - 1
	}
	var to *release.Release
	for _, r := range hist {
		if r.Version == target {
			to = r
		}
	}
	switch {
	case target == current.Version:
		return nil, fmt.Errorf("revision %d is the current revision of mesh %q", target, d.MeshName)
	case to == nil:
		return nil, fmt.Errorf("mesh %q has no revision %d to roll back to: it keeps revisions %s (helm history %s -n %s)", d.MeshName, target, revisions(hist), d.MeshName, d.Namespace)
	}
	rb := action.NewRollback(d.Helm)
	rb.Version = target
	rb.Timeout = o.Timeout
	rb.MaxHistory = maxHistory
	if err := rb.Run(d.MeshName); err != nil {
		return nil, fmt.Errorf("rolling mesh %q back to revision %d: %w", d.MeshName, target, err)
	}
	rel, err := d.Helm.Releases.Last(d.MeshName)
	if err != nil {
		return nil, fmt.Errorf("reading release %q after the rollback: %w", d.MeshName, err)
	}
	if o.Wait {
		if err := d.waitRelease(ctx, rel, o.Timeout, o.Decorated, o.ErrOut); err != nil {
			d.markFailed(rel, err)
			return nil, fmt.Errorf("mesh %q rolled back to revision %d (now revision %d), but: %w", d.MeshName, target, rel.Version, err)
		}
	}
	res := &Result{Release: d.MeshName, Namespace: d.Namespace, Revision: rel.Version, Manifest: Manifest(rel.Manifest)}
	if err := res.diff(Manifest(current.Manifest)); err != nil {
		return nil, err
	}
	res.add("release", d.MeshName, fmt.Sprintf("rolled back to revision %d (chart %s, now revision %d)", target, chartVersion(to), rel.Version))
	return res, nil
}

func lastRelease(hist []*release.Release) *release.Release {
	last := hist[0]
	for _, r := range hist {
		if r.Version > last.Version {
			last = r
		}
	}
	return last
}

func revisions(hist []*release.Release) string {
	lo, hi := hist[0].Version, hist[0].Version
	for _, r := range hist {
		lo, hi = min(lo, r.Version), max(hi, r.Version)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

func chartVersion(r *release.Release) string {
	if r.Chart == nil || r.Chart.Metadata == nil {
		return "unknown"
	}
	return r.Chart.Metadata.Version
}
