package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// RemoveOptions unenrols namespaces: `meshctl namespace remove`. It does not
// need the mesh to be installed, so that a namespace can always be freed.
type RemoveOptions struct {
	genericiooptions.IOStreams

	// Clients reaches the cluster. Complete sets it from the Factory; Run
	// calls it, so arguments are validated before a kubeconfig is loaded.
	Clients func() (*kube.Clients, error)
	// Now stamps restarts; time.Now when nil.
	Now func() time.Time

	// Mesh names the mesh the namespaces leave.
	Mesh string
	// Namespaces are the namespaces to unenrol, as given.
	Namespaces []string
	// Force unenrols namespaces that belong to another mesh.
	Force bool
	// Restart rolls the workloads whose pods still run the sidecar.
	Restart bool
}

// Validate checks the arguments, before any request.
// Complete takes the namespaces, the mesh and the client.
func (o *RemoveOptions) Complete(f cli.Factory, args []string) error {
	o.Namespaces, o.Mesh = args, f.Settings().MeshName
	o.Clients = f.Clients
	return nil
}

func (o *RemoveOptions) Validate() error {
	if len(o.Namespaces) == 0 {
		return cli.UsageErrorf("give at least one namespace")
	}
	return validateNames(o.Namespaces)
}

// Run checks every namespace first, then removes the label and annotation
// from each, and warns about pods that still run the sidecar.
func (o *RemoveOptions) Run(ctx context.Context) error {
	c, err := o.Clients()
	if err != nil {
		return err
	}
	var errs []error
	var targets []*corev1.Namespace
	for _, name := range dedupe(o.Namespaces) {
		ns, err := getNamespace(ctx, c.Kube, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if owner := ns.Labels[meshconfig.LabelMonitoredBy]; owner != "" && owner != o.Mesh && !o.Force {
			errs = append(errs, fmt.Errorf("namespace %q: is enrolled in mesh %q, not %q: pass --mesh-name %s, or --force", name, owner, o.Mesh, owner))
			continue
		}
		targets = append(targets, ns)
	}
	if len(errs) > 0 {
		return fmt.Errorf("no namespace was changed:\n%w", errors.Join(errs...))
	}

	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	for _, ns := range targets {
		if !enrolled(ns) {
			fmt.Fprintf(o.Out, "namespace/%s unchanged\n", ns.Name)
		} else if err := patchEnrolment(ctx, c.Kube, ns.Name, nil, nil); err != nil {
			errs = append(errs, err)
			continue
		} else {
			fmt.Fprintf(o.Out, "namespace/%s unenrolled\n", ns.Name)
		}
		ws, err := WorkloadsWithSidecar(ctx, c.Kube, ns.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(ws) == 0 {
			continue
		}
		if !o.Restart {
			fmt.Fprintf(o.ErrOut, "Warning: namespace %q: these workloads still run pods with the sidecar: %s\n", ns.Name, workloadNames(ws))
			fmt.Fprintf(o.ErrOut, "  restart them to remove it: meshctl namespace remove %s --restart%s (or kubectl rollout restart)\n", ns.Name, meshFlags(o.Mesh, ""))
			continue
		}
		errs = append(errs, restartAll(ctx, c.Kube, o.IOStreams, ns.Name, ws, now())...)
	}
	return errors.Join(errs...)
}

func enrolled(ns *corev1.Namespace) bool {
	labels, annotations := meshconfig.EnrolmentKeys()
	for _, k := range labels {
		if _, ok := ns.Labels[k]; ok {
			return true
		}
	}
	for _, k := range annotations {
		if _, ok := ns.Annotations[k]; ok {
			return true
		}
	}
	return false
}

// ListEnrolled returns the names of the namespaces enrolled in mesh, sorted,
// in one list request.
func ListEnrolled(ctx context.Context, kc kubernetes.Interface, mesh string) ([]string, error) {
	list, err := listNamespaces(ctx, kc, labels.Set{meshconfig.LabelMonitoredBy: mesh}.String())
	if err != nil {
		return nil, err
	}
	names := make([]string, len(list))
	for i := range list {
		names[i] = list[i].Name
	}
	slices.Sort(names)
	return names, nil
}

// Remove unenrols the given namespaces from mesh, for uninstall: it removes
// the label and the annotation from each namespace enrolled in mesh and
// leaves alone those that are not (another mesh's, or none), as well as
// namespaces that no longer exist. It goes on past failures and returns the
// namespaces it changed with an error naming each one that failed. Pods keep
// their sidecar until restarted.
//
// To unenrol every namespace of a mesh:
//
//	names, err := namespace.ListEnrolled(ctx, kc, mesh)
//	...
//	changed, err := namespace.Remove(ctx, kc, mesh, names)
func Remove(ctx context.Context, kc kubernetes.Interface, mesh string, names []string) ([]string, error) {
	var errs []error
	var changed []string
	for _, name := range dedupe(names) {
		ns, err := kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("namespace %q: %w", name, kube.ExplainForbidden(err, "get", "namespaces", "")))
			}
			continue
		}
		if ns.Labels[meshconfig.LabelMonitoredBy] != mesh {
			continue
		}
		if err := patchEnrolment(ctx, kc, name, nil, nil); err != nil {
			errs = append(errs, err)
			continue
		}
		changed = append(changed, name)
	}
	return changed, errors.Join(errs...)
}

func listNamespaces(ctx context.Context, kc kubernetes.Interface, selector string) ([]corev1.Namespace, error) {
	list, err := kc.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", kube.ExplainForbidden(err, "list", "namespaces", ""))
	}
	return list.Items, nil
}

// RemoveAll unenrols every namespace enrolled in mesh (ListEnrolled, then
// Remove) and returns the names it changed: what uninstall calls.
func RemoveAll(ctx context.Context, kc kubernetes.Interface, mesh string) ([]string, error) {
	names, err := ListEnrolled(ctx, kc, mesh)
	if err != nil {
		return nil, err
	}
	return Remove(ctx, kc, mesh, names)
}
