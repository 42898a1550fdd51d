package install

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// DefaultTimeout is how long install and upgrade wait for the control plane.
const DefaultTimeout = 5 * time.Minute

// rollbackTimeout bounds the clean-up after a failure.
const rollbackTimeout = 2 * time.Minute

// helmReleaseNamespaceAnnotation is where Helm records the namespace of the
// release that owns an object.
const helmReleaseNamespaceAnnotation = "meta.helm.sh/release-namespace"

// ReleaseOptions are the inputs install and upgrade share. The commands bind
// their flags straight to these fields.
type ReleaseOptions struct {
	genericiooptions.IOStreams
	// Values are this invocation's value flags; they win over everything.
	Values ValueOptions
	// DryRun renders or shows what would change (client), or validates
	// against the cluster (server); either way nothing changes.
	DryRun DryRun
	// Output is table (one line per object), yaml or json (the manifests).
	Output cli.Format
	// Wait waits for the control plane to become ready.
	Wait bool
	// Timeout bounds the wait.
	Timeout time.Duration
	// Atomic undoes a failed operation: install uninstalls, upgrade rolls
	// back to the previous revision.
	Atomic bool
	// Decorated allows a spinner on ErrOut.
	Decorated bool
	// Identity says where the mesh CA comes from.
	Identity IdentityOptions
	// NewDeps builds the dependencies; offline means no cluster is needed.
	NewDeps func(offline bool) (*Deps, error)
}

// Complete takes the mesh, the decoration and the dependencies from f.
func (o *ReleaseOptions) Complete(f cli.Factory, _ []string) error {
	o.Decorated = f.Decorated(o.ErrOut)
	o.NewDeps = DepsFrom(f)
	return nil
}

// Validate checks the flags that their types cannot.
func (o *ReleaseOptions) Validate() error {
	if o.Timeout <= 0 {
		return cli.UsageErrorf("--timeout must be positive, such as 5m")
	}
	if err := validateRegistry(o.Values.Registry); err != nil {
		return cli.UsageErrorf("%w", err)
	}
	return o.Identity.validate()
}

// InstallOptions are the inputs of `meshctl install`.
type InstallOptions struct{ ReleaseOptions }

// Run installs the mesh and prints the result.
func (o *InstallOptions) Run(ctx context.Context) error {
	d, err := o.NewDeps(o.DryRun == DryRunClient)
	if err != nil {
		return err
	}
	res, err := d.Install(ctx, o)
	if err != nil {
		return err
	}
	return res.Write(o.Out, o.ErrOut, o.Output)
}

// validateMeshName refuses a mesh name that cannot be a release name and a
// label value.
func validateMeshName(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return cli.UsageErrorf("invalid mesh name %q: %s", name, errs[0])
	}
	return nil
}

// Install installs the mesh: CRDs first, then the release, then it waits for
// the control plane. Everything that can be checked is checked before the
// first change. On failure with o.Atomic, the release is uninstalled again.
func (d *Deps) Install(ctx context.Context, o *InstallOptions) (*Result, error) {
	if err := validateMeshName(d.MeshName); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	user, err := d.values(valueLayers{chartDefaults: d.Chart.Values, flags: o.Values})
	if err != nil {
		return nil, err
	}
	manifest, err := Render(d.Chart, d.MeshName, d.Namespace, user, o.DryRun != DryRunNone)
	if err != nil {
		return nil, err
	}
	now := d.Clock.Now()
	files, err := d.readIssuerFiles(o.Identity, now)
	if err != nil {
		return nil, err
	}
	res := &Result{Release: d.MeshName, Namespace: d.Namespace, DryRun: o.DryRun, Manifest: Manifest(manifest)}
	if o.DryRun == DryRunClient {
		// A client-side dry run is `helm template`: the manifest is the point.
		res.ShowManifest = true
		return res, res.listObjects("created")
	}
	if err := d.refuseInstall(ctx); err != nil {
		return nil, err
	}
	// The CA is planned (and generated) before any change, so that a
	// refusal leaves the cluster as it was.
	plan, err := d.planCA(ctx, o.Identity, files, trustDomain(overlay(d.Chart.Values, user)), now, false)
	if err != nil {
		return nil, err
	}
	if o.DryRun == DryRunServer {
		if err := d.validateOnServer(ctx, res); err != nil {
			return nil, err
		}
		plan.report(res)
		return res, nil
	}
	if err := d.ensureNamespace(ctx, res); err != nil {
		return nil, err
	}
	crds, err := d.applyCRDs(ctx, false)
	if err != nil {
		return nil, err
	}
	for _, n := range crds {
		res.add("customresourcedefinition", n, "applied")
	}
	// The CA goes in before the release, so that the controller finds its
	// issuer when it starts.
	created, err := d.applyCA(ctx, plan)
	if err != nil {
		return nil, err
	}
	plan.report(res)

	in := action.NewInstall(d.Helm)
	in.ReleaseName, in.Namespace = d.MeshName, d.Namespace
	// The CRDs are ours (above); the wait and the rollback too (below), so
	// that a failure can be explained rather than reported as a timeout.
	in.SkipCRDs, in.Wait, in.Atomic = true, false, false
	in.Timeout = o.Timeout
	in.Description = "Installed by meshctl"
	in.Labels = releaseLabels(d.MeshName)
	rel, err := in.RunWithContext(ctx, d.Chart, user)
	if err == nil && o.Wait {
		err = d.waitRelease(ctx, rel, o.Timeout, o.Decorated, o.ErrOut)
	}
	if err != nil {
		return nil, d.failInstall(ctx, d.explain(ctx, err, manifest), rel, o.Atomic, plan, created)
	}
	res.Revision = rel.Version
	res.Manifest = Manifest(rel.Manifest)
	if err := res.listObjects("created"); err != nil {
		return nil, err
	}
	res.add("release", d.MeshName, fmt.Sprintf("installed (revision %d)", rel.Version))
	res.Notes = nextSteps(d.MeshName, d.Namespace, "installed")
	return res, nil
}

// releaseLabels label the Secrets Helm stores the release in, like every
// other object of the mesh.
func releaseLabels(mesh string) map[string]string {
	return map[string]string{meshconfig.LabelPartOf: meshconfig.PartOfValue, meshconfig.LabelMeshName: mesh}
}

// listObjects adds one change per object of the manifest.
func (r *Result) listObjects(verb string) error {
	objs, err := r.Manifest.Objects()
	if err != nil {
		return err
	}
	for _, o := range objs {
		r.add(o.GetKind(), o.GetName(), verb)
	}
	return nil
}

// refuseInstall names every reason this mesh cannot be installed here.
func (d *Deps) refuseInstall(ctx context.Context) error {
	hist, err := d.Helm.Releases.History(d.MeshName)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("reading release history of %q in namespace %q: %w", d.MeshName, d.Namespace, err)
	}
	if len(hist) > 0 {
		last := hist[0]
		for _, r := range hist {
			if r.Version > last.Version {
				last = r
			}
		}
		if last.Info.Status == release.StatusDeployed {
			return fmt.Errorf("mesh %q is already installed in namespace %q (revision %d): use `meshctl upgrade` to change it", d.MeshName, d.Namespace, last.Version)
		}
		return fmt.Errorf("mesh %q already has a release in namespace %q (revision %d, %s): use `meshctl upgrade`, or `meshctl uninstall` and install again", d.MeshName, d.Namespace, last.Version, last.Info.Status)
	}
	dep, err := d.Clients.Kube.AppsV1().Deployments(d.Namespace).Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("deployment %s/%s: %w", d.Namespace, meshconfig.ControllerName, err)
	default:
		return fmt.Errorf("namespace %q already holds a mesh control plane (deployment %s of mesh %q): one mesh per namespace; a second mesh needs another --mesh-name and --mesh-namespace", d.Namespace, meshconfig.ControllerName, dep.Labels[meshconfig.LabelMeshName])
	}
	sel := meshconfig.LabelMeshName + "=" + d.MeshName
	hooks, err := d.Clients.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("listing mutating webhook configurations: %w", err)
	}
	for _, h := range hooks.Items {
		if ns := h.Annotations[helmReleaseNamespaceAnnotation]; ns != d.Namespace {
			return fmt.Errorf("a mesh named %q is already installed in namespace %q (mutatingwebhookconfiguration %s): mesh names are unique in a cluster; choose another --mesh-name", d.MeshName, ns, h.Name)
		}
	}
	// The release Secrets say so too, even if the webhook configuration was
	// deleted by hand. Reading Secrets cluster-wide may be forbidden to the
	// installer; the check above then stands alone.
	secrets, err := d.Clients.Kube.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm," + sel})
	if err != nil && !apierrors.IsForbidden(err) {
		return fmt.Errorf("listing Helm releases named %q: %w", d.MeshName, err)
	}
	if err == nil {
		for _, s := range secrets.Items {
			if s.Namespace != d.Namespace {
				return fmt.Errorf("a mesh named %q is already installed in namespace %q (release secret %s): mesh names are unique in a cluster; choose another --mesh-name", d.MeshName, s.Namespace, s.Name)
			}
		}
	}
	return nil
}

// PodSecurityLabels are the Pod Security admission labels of a
// control-plane namespace meshctl creates: the restricted standard,
// enforced, audited and warned of. The controller's pods and the chart's
// test pod meet it; nothing else belongs there. A namespace that exists
// already is left as its owner labelled it.
func PodSecurityLabels() map[string]string {
	const level = "restricted"
	return map[string]string{
		"pod-security.kubernetes.io/enforce": level,
		"pod-security.kubernetes.io/audit":   level,
		"pod-security.kubernetes.io/warn":    level,
	}
}

// ensureNamespace creates the control-plane namespace if it is missing. It
// is not part of the release, so uninstall leaves it (and whatever else the
// operator put there).
func (d *Deps) ensureNamespace(ctx context.Context, res *Result) error {
	api := d.Clients.Kube.CoreV1().Namespaces()
	_, err := api.Get(ctx, d.Namespace, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("namespace %q: %w", d.Namespace, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.Namespace, Labels: PodSecurityLabels()}}
	if _, err := api.Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %q: %w", d.Namespace, err)
	}
	res.add("namespace", d.Namespace, "created")
	return nil
}

// markFailed records a release whose wait failed as failed, as Helm's own
// wait would: Helm saw its objects created and called it deployed.
func (d *Deps) markFailed(rel *release.Release, cause error) {
	if rel == nil || rel.Info == nil || rel.Info.Status != release.StatusDeployed {
		return
	}
	rel.SetStatus(release.StatusFailed, fmt.Sprintf("meshctl: %v", cause))
	if err := d.Helm.Releases.Update(rel); err != nil {
		d.Log.Warn("recording the failed release", "release", rel.Name, "err", err)
	}
}

// explain adds to a failed install or upgrade the objects the API server
// rejects, by name: Helm's own error often names only the kind.
func (d *Deps) explain(ctx context.Context, err error, manifest string) error {
	var notReady *NotReadyError
	if errors.As(err, &notReady) || ctx.Err() != nil {
		return err
	}
	check := &Result{DryRun: DryRunServer, Manifest: Manifest(manifest)}
	if verr := d.validateOnServer(ctx, check); verr != nil {
		return fmt.Errorf("%w\n%w", err, verr)
	}
	return err
}

// failInstall rolls a failed install back, with atomic, and says what
// happened to the release. The mesh CA objects this run created go with
// it; those that were there before stay.
func (d *Deps) failInstall(ctx context.Context, cause error, rel *release.Release, atomic bool, plan *caPlan, created []createdObject) error {
	// The rollback must happen even when the failure is the user's Ctrl-C.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if !atomic {
		d.markFailed(rel, cause)
		return fmt.Errorf("installing mesh %q: %w\nthe release is left as it is (--atomic=false); inspect it, then run `meshctl uninstall`", d.MeshName, cause)
	}
	if err := d.deleteCreated(ctx, created); err != nil {
		return fmt.Errorf("installing mesh %q: %w\nremoving the mesh CA it created failed too: %v; run `meshctl uninstall` to clean up", d.MeshName, cause, err)
	}
	if _, err := d.Helm.Releases.History(d.MeshName); errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("installing mesh %q: %w\nnothing was left to roll back", d.MeshName, cause)
	}
	un := action.NewUninstall(d.Helm)
	un.KeepHistory = false
	if _, err := un.Run(d.MeshName); err != nil {
		return fmt.Errorf("installing mesh %q: %w\nrolling back failed too: %v; run `meshctl uninstall` to clean up", d.MeshName, cause, err)
	}
	d.deleteLeftovers(ctx, plan.keeps)
	return fmt.Errorf("installing mesh %q: %w\nrolled back: release %q uninstalled and its objects deleted (the CRDs are kept)", d.MeshName, cause, d.MeshName)
}
