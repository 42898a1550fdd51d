package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// PreInstallChecks are the checks of `meshctl check --pre`: can this cluster,
// and this user, take the mesh?
func PreInstallChecks() []Check {
	needsAPI := []string{CategoryKubernetes}
	return append(kubernetesChecks(),
		Check{
			Category:    CategoryPermissions,
			Description: "can create, read, update and delete every object the chart installs",
			Hint:        "pre-permissions",
			Severity:    Error,
			Retry:       NoRetry,
			Needs:       needsAPI,
			Run:         checkInstallPermissions,
		},
		Check{
			Category:    CategoryPermissions,
			Description: "the API server accepts the chart's cluster-scoped objects (server-side dry run)",
			Hint:        "pre-dry-run",
			Severity:    Error,
			Retry:       NoRetry,
			Needs:       needsAPI,
			Run:         checkDryRunClusterObjects,
		},
		Check{
			Category:    CategoryPreInstall,
			Description: "the control-plane namespace holds no mesh yet",
			Hint:        "pre-namespace-free",
			Severity:    Error,
			Needs:       needsAPI,
			Run:         checkNamespaceFree,
		},
		Check{
			Category:    CategoryPreInstall,
			Description: "no CRD of the mesh exists from another owner or with an incompatible version",
			Hint:        "pre-crds-compatible",
			Severity:    Error,
			Needs:       needsAPI,
			Run:         checkCRDsCompatible,
		},
		Check{
			Category:    CategoryPreInstall,
			Description: "no namespace's Pod Security level rejects the sidecar's init container",
			Hint:        "pre-pod-security",
			Severity:    Warning,
			Needs:       needsAPI,
			Run:         checkPodSecurity,
		},
		Check{
			Category:    CategoryPreInstall,
			Description: "the mesh CA can be set up (or, with --identity-external-issuer, the issuer Secret is usable)",
			Hint:        "identity-preflight",
			Doc:         SecurityDoc,
			Severity:    Error,
			Needs:       needsAPI,
			Run:         checkCAPossible,
		},
	)
}

// permission is one thing the install must be allowed to do.
type permission struct {
	Verb      string
	Group     string
	Resource  string
	Namespace string
}

func (p permission) qualified() string {
	if p.Group == "" {
		return p.Resource
	}
	return p.Resource + "." + p.Group
}

// objectVerbs are what the install lifecycle does to each object the chart
// renders: create on install; get to look for conflicting objects and to
// read before an upgrade; list to find leftovers by label on uninstall;
// patch on upgrade (Helm's three-way merge, and server-side apply of the
// CRDs); delete on uninstall and for objects an upgrade drops.
func objectVerbs() []string { return []string{"create", "get", "list", "patch", "delete"} }

// releaseStorageVerbs are what Helm does with the Secrets that store
// release revisions in the control-plane namespace.
func releaseStorageVerbs() []string { return []string{"create", "get", "list", "update", "delete"} }

// installPermissions derives every permission the install, upgrade and
// uninstall of the rendered chart need.
func (e *Env) installPermissions(ctx context.Context) ([]permission, error) {
	set := map[permission]bool{}
	add := func(p permission) { set[p] = true }
	for _, obj := range e.Chart.allObjects() {
		res, err := e.resourceFor(obj)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", obj.GetKind(), obj.GetName(), err)
		}
		ns := ""
		if res.Namespaced {
			ns = e.Namespace
		}
		for _, v := range objectVerbs() {
			add(permission{Verb: v, Group: res.GVR.Group, Resource: res.GVR.Resource, Namespace: ns})
		}
		if obj.GetKind() == "Deployment" {
			// The readiness wait follows a Deployment to its pods and their
			// events to say why it is not ready.
			add(permission{Verb: "list", Resource: "pods", Namespace: ns})
			add(permission{Verb: "list", Resource: "events", Namespace: ns})
		}
	}
	for _, v := range releaseStorageVerbs() {
		add(permission{Verb: v, Resource: "secrets", Namespace: e.Namespace})
	}
	// The mesh CA: its Secrets and the trust bundle's ConfigMap are read,
	// created if missing, and deleted by uninstall or a failed install.
	for _, v := range []string{"create", "get", "list", "delete"} {
		add(permission{Verb: v, Resource: "secrets", Namespace: e.Namespace})
		add(permission{Verb: v, Resource: "configmaps", Namespace: e.Namespace})
	}
	add(permission{Verb: "get", Resource: "namespaces"})
	if _, err := e.Clients.Kube.CoreV1().Namespaces().Get(ctx, e.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		add(permission{Verb: "create", Resource: "namespaces"})
	}
	out := make([]permission, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return fmt.Sprint(a.qualified(), a.Namespace, a.Verb) < fmt.Sprint(b.qualified(), b.Namespace, b.Verb)
	})
	return out, nil
}

func checkInstallPermissions(ctx context.Context, env *Env) error {
	perms, err := env.installPermissions(ctx)
	if err != nil {
		return err
	}
	allowed := make([]bool, len(perms))
	errs := make([]error, len(perms))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallel)
	for i, p := range perms {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: p.Resource, Namespace: p.Namespace},
			}}
			res, err := env.Clients.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				errs[i] = fmt.Errorf("asking whether you may %s %s: %w", p.Verb, p.qualified(), err)
				return
			}
			allowed[i] = res.Status.Allowed
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return deniedError(perms, allowed)
}

// deniedError lists the refused permissions, one line per resource and
// namespace with its verbs.
func deniedError(perms []permission, allowed []bool) error {
	type key struct{ resource, namespace string }
	verbs := map[key][]string{}
	var order []key
	for i, p := range perms {
		if allowed[i] {
			continue
		}
		k := key{p.qualified(), p.Namespace}
		if _, ok := verbs[k]; !ok {
			order = append(order, k)
		}
		verbs[k] = append(verbs[k], p.Verb)
	}
	if len(order) == 0 {
		return nil
	}
	lines := []string{"the install needs permissions you do not have:"}
	for _, k := range order {
		where := "cluster-wide"
		if k.namespace != "" {
			where = fmt.Sprintf("in namespace %q", k.namespace)
		}
		lines = append(lines, fmt.Sprintf("  %s %s %s", strings.Join(verbs[k], ", "), k.resource, where))
	}
	return errors.New(strings.Join(lines, "\n"))
}

// fieldManager names meshctl in the managed fields of a dry-run apply.
const fieldManager = "meshctl"

func checkDryRunClusterObjects(ctx context.Context, env *Env) error {
	var errs []error
	for _, obj := range env.Chart.allObjects() {
		res, err := env.resourceFor(obj)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", strings.ToLower(obj.GetKind()), obj.GetName(), err))
			continue
		}
		if res.Namespaced {
			continue
		}
		if err := dryRunCreate(ctx, env, res.GVR, obj); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", strings.ToLower(obj.GetKind()), obj.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// dryRunCreate asks the API server to admit obj without storing it. An
// object that exists already is applied instead, which is what an install
// over it would need.
func dryRunCreate(ctx context.Context, env *Env, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	api := env.Clients.Dynamic.Resource(gvr)
	_, err := api.Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: fieldManager})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	force := true
	_, err = api.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: fieldManager, Force: &force})
	return err
}

// helmReleaseSelector selects the Secrets in which Helm stores the revisions
// of a release.
func helmReleaseSelector(release string) string { return "owner=helm,name=" + release }

func checkNamespaceFree(ctx context.Context, env *Env) error {
	ns := env.Namespace
	var problems []string
	dep, err := env.Clients.Kube.AppsV1().Deployments(ns).Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	switch {
	case err == nil:
		problems = append(problems, fmt.Sprintf("deployment %s/%s of mesh %q exists", ns, dep.Name, dep.Labels[meshconfig.LabelMeshName]))
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("deployment %s/%s: %w", ns, meshconfig.ControllerName, err)
	}
	mc, err := env.Clients.Dynamic.Resource(meshconfig.GroupVersionResource).Namespace(ns).Get(ctx, meshconfig.ObjectName, metav1.GetOptions{})
	switch {
	case err == nil:
		problems = append(problems, fmt.Sprintf("meshconfig %s/%s of mesh %q exists", ns, mc.GetName(), mc.GetLabels()[meshconfig.LabelMeshName]))
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("meshconfig %s/%s: %w", ns, meshconfig.ObjectName, err)
	}
	secrets, err := env.Clients.Kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: helmReleaseSelector(env.MeshName)})
	if err != nil {
		return fmt.Errorf("listing Helm releases in namespace %q: %w", ns, err)
	}
	if len(secrets.Items) > 0 {
		problems = append(problems, fmt.Sprintf("Helm release %q has %d revision(s) in namespace %q", env.MeshName, len(secrets.Items), ns))
	}
	if len(problems) > 0 {
		return fmt.Errorf("namespace %q already holds a mesh: %s; use `meshctl upgrade`, or install a second mesh with another --mesh-name and --mesh-namespace", ns, strings.Join(problems, "; "))
	}
	return nil
}

// crdGVR is the resource of CustomResourceDefinitions.
func crdGVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
}

func checkCRDsCompatible(ctx context.Context, env *Env) error {
	var problems []string
	for _, want := range env.Chart.CRDs {
		have, err := env.Clients.Dynamic.Resource(crdGVR()).Get(ctx, want.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("customresourcedefinition %q: %w", want.GetName(), err)
		}
		if owner := have.GetLabels()[meshconfig.LabelPartOf]; owner != meshconfig.PartOfValue {
			problems = append(problems, fmt.Sprintf("customresourcedefinition %q belongs to another owner (%s=%q, not %q)", have.GetName(), meshconfig.LabelPartOf, owner, meshconfig.PartOfValue))
			continue
		}
		versions := crdVersionNames(want)
		stored, _, _ := unstructured.NestedStringSlice(have.Object, "status", "storedVersions")
		for _, v := range stored {
			if !slices.Contains(versions, v) {
				problems = append(problems, fmt.Sprintf("customresourcedefinition %q has objects stored as %s, a version this meshctl does not know (it serves %s)", have.GetName(), v, strings.Join(versions, ", ")))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// crdVersionNames returns the names of a CRD's versions, in order.
func crdVersionNames(crd *unstructured.Unstructured) []string {
	vs, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var out []string
	for _, v := range vs {
		if m, ok := v.(map[string]any); ok {
			if name, ok := m["name"].(string); ok {
				out = append(out, name)
			}
		}
	}
	return out
}

// labelPodSecurityEnforce is Pod Security admission's enforcement label.
const labelPodSecurityEnforce = "pod-security.kubernetes.io/enforce"

// rejectingLevels are the Pod Security levels that reject an init container
// adding NET_ADMIN.
func rejectingLevels() []string { return []string{"baseline", "restricted"} }

func checkPodSecurity(ctx context.Context, env *Env) error {
	list, err := env.Clients.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: labelPodSecurityEnforce + " in (" + strings.Join(rejectingLevels(), ",") + ")"})
	if err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	var names []string
	for _, ns := range list.Items {
		if ns.Name == env.Namespace {
			// The control plane runs no sidecar and meets restricted.
			continue
		}
		names = append(names, fmt.Sprintf("%s (%s)", ns.Name, ns.Labels[labelPodSecurityEnforce]))
	}
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("pods with the sidecar would be rejected by Pod Security admission in these namespaces, as its init container %s needs NET_ADMIN: %s; enrol only namespaces that enforce the privileged level",
		proxyconfig.InitContainerName, strings.Join(names, ", "))
}
