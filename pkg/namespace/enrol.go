package namespace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// AddOptions enrols namespaces in a mesh: `meshctl namespace add`.
type AddOptions struct {
	genericiooptions.IOStreams

	// Clients reaches the cluster. Complete sets it from the Factory; Run
	// calls it, so arguments are validated before a kubeconfig is loaded.
	Clients func() (*kube.Clients, error)
	// Now stamps restarts; time.Now when nil.
	Now func() time.Time

	// Mesh and MeshNamespace name the mesh to enrol into.
	Mesh          string
	MeshNamespace string
	// Namespaces are the namespaces to enrol, as given.
	Namespaces []string
	// Force moves namespaces enrolled in another mesh.
	Force bool
	// DisableSidecarInjection enrols with the annotation set to disabled.
	DisableSidecarInjection bool
	// Restart rolls the workloads whose pods lack the sidecar.
	Restart bool
}

// Complete takes the namespaces, the mesh and the clients.
func (o *AddOptions) Complete(f cli.Factory, args []string) error {
	s := f.Settings()
	o.Namespaces, o.Mesh, o.MeshNamespace = args, s.MeshName, s.MeshNamespace
	o.Clients = f.Clients
	return nil
}

// Validate checks the arguments, before any request.
func (o *AddOptions) Validate() error {
	if len(o.Namespaces) == 0 {
		return cli.UsageErrorf("give at least one namespace")
	}
	return validateNames(o.Namespaces)
}

func validateNames(names []string) error {
	var errs []error
	for _, n := range names {
		if msgs := validation.IsDNS1123Label(n); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("namespace %q: not a valid namespace name: %s", n, msgs[0]))
		}
	}
	if len(errs) > 0 {
		return cli.UsageErrorf("%w", errors.Join(errs...))
	}
	return nil
}

// Run checks that the mesh is installed and that every namespace may join
// it, then patches each; a refusal of any namespace means none is patched.
// Once patching starts it goes on past failures and reports each.
func (o *AddOptions) Run(ctx context.Context) error {
	c, err := o.Clients()
	if err != nil {
		return err
	}
	mc, err := meshconfig.GetMesh(ctx, c.Dynamic, o.Mesh, o.MeshNamespace)
	if err != nil {
		return err
	}
	names := dedupe(o.Namespaces)
	namespaces, err := o.check(ctx, c, names)
	if err != nil {
		return err
	}

	injection := meshconfig.InjectionEnabled
	if o.DisableSidecarInjection {
		injection = meshconfig.InjectionDisabled
	}
	if injection == meshconfig.InjectionEnabled {
		o.warnPodSecurity(namespaces, mc.Spec)
	}
	var errs []error
	var enrolled []string
	for _, ns := range namespaces {
		if inj := meshconfig.InjectionOf(ns.Labels, ns.Annotations); inj.Mesh == o.Mesh && inj.Setting == injection && !inj.LabelMissing && !inj.Conflict {
			fmt.Fprintf(o.Out, "namespace/%s unchanged\n", ns.Name)
			enrolled = append(enrolled, ns.Name)
			continue
		}
		if err := patchEnrolment(ctx, c.Kube, ns.Name, &o.Mesh, &injection); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.Out, "namespace/%s enrolled\n", ns.Name)
		enrolled = append(enrolled, ns.Name)
	}
	if injection == meshconfig.InjectionEnabled {
		errs = append(errs, o.handlePods(ctx, c, enrolled)...)
	} else {
		for _, ns := range enrolled {
			fmt.Fprintf(o.ErrOut, "namespace %q: sidecar injection is disabled; new pods will not get the sidecar\n", ns)
		}
	}
	return errors.Join(errs...)
}

// warnPodSecurity warns, before anything is enrolled, about the namespaces
// whose Pod Security enforcement would reject every injected pod, and says
// what to do. Enrolment goes on: the label may be changed afterwards, and
// the API server's own exemptions are not visible from here.
func (o *AddOptions) warnPodSecurity(namespaces []*corev1.Namespace, spec meshconfig.MeshConfigSpec) {
	for _, ns := range namespaces {
		p, err := CheckPodSecurity(ns, spec)
		if err != nil {
			fmt.Fprintf(o.ErrOut, "Warning: namespace %q: cannot check its Pod Security level: %v\n", ns.Name, err)
			continue
		}
		if p != nil {
			fmt.Fprintf(o.ErrOut, "Warning: %v\n  %s\n", p, p.Advice())
		}
	}
}

// check reads every namespace and refuses those that may not join the mesh,
// all at once.
func (o *AddOptions) check(ctx context.Context, c *kube.Clients, names []string) ([]*corev1.Namespace, error) {
	var errs []error
	var out []*corev1.Namespace
	for _, name := range names {
		// The name alone may already be refused; then the namespace is not read.
		if err := meshconfig.CheckEnrolment(name, nil, o.Mesh, o.MeshNamespace, o.Force); err != nil {
			errs = append(errs, err)
			continue
		}
		ns, err := getNamespace(ctx, c.Kube, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ns.Status.Phase == corev1.NamespaceTerminating {
			errs = append(errs, fmt.Errorf("namespace %q: is being deleted", name))
			continue
		}
		if err := meshconfig.CheckEnrolment(name, ns.Labels, o.Mesh, o.MeshNamespace, o.Force); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, ns)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("no namespace was changed:\n%w", errors.Join(errs...))
	}
	return out, nil
}

// handlePods reports, or with --restart rolls, the workloads of the enrolled
// namespaces whose pods lack the sidecar.
func (o *AddOptions) handlePods(ctx context.Context, c *kube.Clients, namespaces []string) []error {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	var errs []error
	for _, ns := range namespaces {
		ws, err := WorkloadsWithoutSidecar(ctx, c.Kube, ns)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(ws) == 0 {
			continue
		}
		if !o.Restart {
			fmt.Fprintf(o.ErrOut, "namespace %q: these workloads run pods without the sidecar: %s\n", ns, workloadNames(ws))
			fmt.Fprintf(o.ErrOut, "  restart them to inject it: meshctl namespace add %s --restart%s (or kubectl rollout restart)\n", ns, meshFlags(o.Mesh, o.MeshNamespace))
			continue
		}
		errs = append(errs, restartAll(ctx, c.Kube, o.IOStreams, ns, ws, now())...)
	}
	return errs
}

// restartAll restarts each workload that can be, and names those that cannot.
func restartAll(ctx context.Context, kc kubernetes.Interface, streams genericiooptions.IOStreams, ns string, ws []Workload, now time.Time) []error {
	var errs []error
	for _, w := range ws {
		if !w.Restartable() {
			fmt.Fprintf(streams.ErrOut, "namespace %q: %s cannot be restarted by meshctl: delete its pods to have them recreated\n", ns, w)
			continue
		}
		if err := RestartWorkload(ctx, kc, ns, w, now); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(streams.Out, "%s restarted (namespace %s)\n", w, ns)
	}
	return errs
}

func getNamespace(ctx context.Context, kc kubernetes.Interface, name string) (*corev1.Namespace, error) {
	ns, err := kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("namespace %q: not found", name)
	case err != nil:
		return nil, fmt.Errorf("namespace %q: %w", name, kube.ExplainForbidden(err, "get", "namespaces", ""))
	}
	return ns, nil
}

// patchEnrolment sets (non-nil) or removes (nil) the enrolment labels and
// annotation (meshconfig.EnrolmentMetadata) with one merge patch that
// touches nothing else.
func patchEnrolment(ctx context.Context, kc kubernetes.Interface, name string, mesh, injection *string) error {
	labels, annotations := map[string]*string{}, map[string]*string{}
	if mesh != nil && injection != nil {
		l, a := meshconfig.EnrolmentMetadata(*mesh, *injection)
		for k, v := range l {
			labels[k] = &v
		}
		for k, v := range a {
			annotations[k] = &v
		}
	} else {
		l, a := meshconfig.EnrolmentKeys()
		for _, k := range l {
			labels[k] = nil
		}
		for _, k := range a {
			annotations[k] = nil
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels, "annotations": annotations}})
	if err != nil {
		return err
	}
	_, err = kc.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil {
		return fmt.Errorf("namespace %q: %w", name, kube.ExplainForbidden(err, "patch", "namespaces", ""))
	}
	return nil
}

// dedupe drops repeated names, keeping the first occurrence's order.
func dedupe(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// meshFlags are the global flags that name a mesh other than the default,
// for commands suggested to the user.
func meshFlags(mesh, meshNamespace string) string {
	var s string
	if mesh != meshconfig.DefaultMeshName {
		s += " --mesh-name " + mesh
	}
	if meshNamespace != "" && meshNamespace != meshconfig.DefaultMeshNamespace {
		s += " --mesh-namespace " + meshNamespace
	}
	return s
}
