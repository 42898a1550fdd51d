package install

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/namespace"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// UninstallOptions are the inputs of `meshctl uninstall`.
type UninstallOptions struct {
	genericiooptions.IOStreams
	// Mesh and MeshNamespace name the mesh, for the question.
	Mesh          string
	MeshNamespace string
	// Purge also deletes the CRDs and every object of their kinds.
	Purge bool
	// Yes answers the confirmation. Only the --yes flag sets it: no
	// environment variable or config-file key confirms a destructive
	// command (cmd/meshctl refuses them).
	Yes bool
	// KeepNamespaces leaves the enrolment label and annotation on the
	// namespaces of the mesh.
	KeepNamespaces bool
	// Timeout bounds the uninstall.
	Timeout time.Duration
	// Output is table or json/yaml (the list of changes).
	Output cli.Format
	// Interactive says whether In is a terminal a question can be asked on.
	Interactive bool
	// NewDeps builds the dependencies.
	NewDeps func(offline bool) (*Deps, error)
}

// Complete takes the mesh and the dependencies from f, and whether a
// question can be asked: only when both stdin and stderr are terminals.
func (o *UninstallOptions) Complete(f cli.Factory, _ []string) error {
	s := f.Settings()
	o.Mesh, o.MeshNamespace = s.MeshName, s.MeshNamespace
	o.Interactive = cli.IsTerminal(o.In) && cli.IsTerminal(o.ErrOut)
	o.NewDeps = DepsFrom(f)
	return nil
}

// purgeWarning is what --purge destroys, said before it is confirmed.
const purgeWarning = "--purge deletes the mesh CRDs and every TrafficTarget, HTTPRouteGroup and MeshConfig in the cluster"

// warning is what this uninstall destroys, said before it is confirmed.
func (o *UninstallOptions) warning() string {
	w := fmt.Sprintf("uninstall removes mesh %q from namespace %q: its control plane, webhook and certificate authority", o.Mesh, o.MeshNamespace)
	if !o.KeepNamespaces {
		w += ", and the enrolment of its namespaces"
	}
	w += "; meshed pods keep their sidecars, which get no new certificates"
	if o.Purge {
		w += "; " + purgeWarning
	}
	return w
}

// Validate checks what can be checked before anything is touched: without
// --yes the uninstall needs a terminal to confirm on, and never waits on a
// pipe.
func (o *UninstallOptions) Validate() error {
	if o.Timeout <= 0 {
		return cli.UsageErrorf("--timeout must be positive, such as 5m")
	}
	if !o.Yes && !o.Interactive {
		return cli.UsageErrorf("%s; pass --yes to confirm", o.warning())
	}
	return nil
}

// confirm asks for confirmation on a terminal; anything but yes cancels
// with nothing changed.
func (o *UninstallOptions) confirm() error {
	if o.Yes {
		return nil
	}
	return cli.Confirm(o.In, o.ErrOut, o.warning()+". Continue?", errors.New("uninstall cancelled: nothing was changed"))
}

// Run uninstalls the mesh and prints the result.
func (o *UninstallOptions) Run(ctx context.Context) error {
	if err := o.confirm(); err != nil {
		return err
	}
	d, err := o.NewDeps(false)
	if err != nil {
		return err
	}
	res, err := d.Uninstall(ctx, o)
	if res != nil && err == nil {
		return res.writeChanges(o.Out, o.ErrOut, o.Output)
	}
	return err
}

// Uninstall removes the release and everything labelled with the mesh, then
// the namespaces' enrolment, and with Purge the CRDs and their objects.
func (d *Deps) Uninstall(ctx context.Context, o *UninstallOptions) (*Result, error) {
	if err := validateMeshName(d.MeshName); err != nil {
		return nil, err
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	rel, err := d.Helm.Releases.Last(d.MeshName)
	installed := err == nil
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("reading release %q in namespace %q: %w", d.MeshName, d.Namespace, err)
	}
	if !installed && !o.Purge {
		return nil, fmt.Errorf("mesh %q is not installed in namespace %q", d.MeshName, d.Namespace)
	}
	if o.Purge {
		if err := d.refusePurge(ctx); err != nil {
			return nil, err
		}
	}
	enrolled, err := namespace.ListEnrolled(ctx, d.Clients.Kube, d.MeshName)
	if err != nil {
		return nil, fmt.Errorf("listing the namespaces of mesh %q: %w", d.MeshName, err)
	}
	// Namespaces meshed by `meshctl inject` carry no enrolment to remove,
	// but their pods lose their control plane too: they are named below.
	var injectWarnings []string
	injected, err := namespace.InjectedNamespaces(ctx, d.Clients.Kube, d.Namespace)
	if err != nil {
		injectWarnings = append(injectWarnings, fmt.Sprintf("cannot find the namespaces meshed by meshctl inject: %v", err))
	}
	for _, in := range namespace.NotEnrolled(injected, enrolled) {
		injectWarnings = append(injectWarnings, fmt.Sprintf("namespace %s is meshed by meshctl inject (not enrolled): %d pod(s) keep the sidecar; remove it with meshctl uninject on their manifests and apply them again", in.Namespace, in.Pods))
	}

	res := &Result{Release: d.MeshName, Namespace: d.Namespace}
	if installed {
		un := action.NewUninstall(d.Helm)
		un.KeepHistory = false
		un.Timeout = o.Timeout
		if _, err := un.Run(d.MeshName); err != nil {
			return nil, fmt.Errorf("uninstalling release %q in namespace %q: %w", d.MeshName, d.Namespace, err)
		}
		objs, err := Manifest(rel.Manifest).Objects()
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			res.add(obj.GetKind(), obj.GetName(), "deleted")
		}
	}
	res.Changes = append(res.Changes, d.deleteLeftovers(ctx, nil)...)
	var errs []error
	if !o.KeepNamespaces {
		if changed, err := namespace.Remove(ctx, d.Clients.Kube, d.MeshName, enrolled); err != nil {
			errs = append(errs, fmt.Errorf("unenrolling the namespaces of mesh %q: %w", d.MeshName, err))
		} else {
			for _, ns := range changed {
				res.add("namespace", ns, "unenrolled")
			}
		}
	}
	if o.Purge {
		if err := d.purgeCRDs(ctx, func(kind, name, verb string) { res.add(kind, name, verb) }); err != nil {
			errs = append(errs, err)
		}
	}
	if installed {
		res.add("release", d.MeshName, "uninstalled")
	}
	res.Warnings = append(res.Warnings, d.meshedPods(ctx, enrolled)...)
	res.Warnings = append(res.Warnings, injectWarnings...)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("mesh %q uninstalled, but:\n%w", d.MeshName, err)
	}
	return res, nil
}

// refusePurge refuses to delete CRDs that another mesh still uses.
func (d *Deps) refusePurge(ctx context.Context) error {
	list, err := d.Clients.Dynamic.Resource(meshConfigResource()).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing MeshConfigs: %w", err)
	}
	for _, mc := range list.Items {
		if mc.GetNamespace() != d.Namespace {
			return fmt.Errorf("--purge would delete the CRDs that mesh %q in namespace %q still uses (meshconfig %s/%s): uninstall it first, or uninstall without --purge",
				mc.GetLabels()[meshconfig.LabelMeshName], mc.GetNamespace(), mc.GetNamespace(), mc.GetName())
		}
	}
	return nil
}

// meshedPods names the pods of the mesh's namespaces that still run the
// sidecar: they keep it until restarted.
func (d *Deps) meshedPods(ctx context.Context, namespaces []string) []string {
	var out []string
	for _, ns := range namespaces {
		pods, err := d.Clients.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			out = append(out, fmt.Sprintf("cannot list pods of namespace %q to find sidecars left behind: %v", ns, err))
			continue
		}
		for _, p := range pods.Items {
			if proxyconfig.ProxyContainerOf(&p.Spec) != nil {
				out = append(out, fmt.Sprintf("pod %s/%s still runs the %s sidecar; restart its workload to remove it", ns, p.Name, proxyconfig.ProxyContainerName))
			}
		}
	}
	return out
}

// writeChanges prints the changes, as a list or as JSON/YAML.
func (r *Result) writeChanges(out, errOut interface{ Write([]byte) (int, error) }, f cli.Format) error {
	switch f {
	case cli.FormatJSON:
		if err := cli.EncodeJSON(out, r); err != nil {
			return err
		}
	case cli.FormatYAML:
		if err := cli.EncodeYAML(out, r); err != nil {
			return err
		}
	default:
		return r.Write(out, errOut, cli.FormatTable)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(errOut, "Warning: %s\n", w)
	}
	return nil
}
