package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// validateOnServer applies the CRDs and every rendered object with a
// server-side dry run: the API server validates and admits each one, and
// stores nothing. An object whose CRD is not installed yet cannot be checked
// that way; it is named in a warning.
func (d *Deps) validateOnServer(ctx context.Context, res *Result) error {
	if _, err := d.applyCRDs(ctx, true); err != nil {
		return err
	}
	objs, err := res.Manifest.Objects()
	if err != nil {
		return err
	}
	// Objects cannot be dry-run into a namespace that does not exist yet;
	// the API server validates them as well in the default namespace.
	into := ""
	if _, err := d.Clients.Kube.CoreV1().Namespaces().Get(ctx, d.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		into = metav1.NamespaceDefault
		res.add("namespace", d.Namespace, "created")
		res.Warnings = append(res.Warnings, fmt.Sprintf("namespace %q does not exist yet: its objects were validated in namespace %q", d.Namespace, into))
	} else if err != nil {
		return fmt.Errorf("namespace %q: %w", d.Namespace, err)
	}
	var errs []error
	for _, o := range objs {
		if into != "" && o.GetNamespace() != "" {
			o = o.DeepCopy()
			o.SetNamespace(into)
		}
		gvk := o.GroupVersionKind()
		if gvk.Kind == "CustomResourceDefinition" {
			res.add(gvk.Kind, o.GetName(), "validated")
			continue
		}
		m, err := d.Clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s/%s not validated: its CRD is not installed yet", strings.ToLower(gvk.Kind), o.GetName()))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", strings.ToLower(gvk.Kind), o.GetName(), err))
			continue
		}
		data, err := json.Marshal(o.Object)
		if err != nil {
			return err
		}
		api := d.Clients.Dynamic.Resource(m.Resource)
		opts := metav1.PatchOptions{FieldManager: fieldManager, Force: ptr(true), DryRun: []string{metav1.DryRunAll}}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			_, err = api.Namespace(o.GetNamespace()).Patch(ctx, o.GetName(), types.ApplyPatchType, data, opts)
		} else {
			_, err = api.Patch(ctx, o.GetName(), types.ApplyPatchType, data, opts)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", strings.ToLower(gvk.Kind), o.GetName(), err))
			continue
		}
		res.add(gvk.Kind, o.GetName(), "validated")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("the API server rejects the rendered chart:\n%w", err)
	}
	return nil
}

// waitRelease waits for the release's Deployments, with progress on errOut.
func (d *Deps) waitRelease(ctx context.Context, rel *release.Release, timeout time.Duration, decorated bool, errOut io.Writer) error {
	objs, err := Manifest(rel.Manifest).Objects()
	if err != nil {
		return err
	}
	var deployments []string
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			deployments = append(deployments, o.GetName())
		}
	}
	p := cli.NewProgress(errOut, decorated, d.Clock)
	defer p.Stop()
	return d.waitReady(ctx, deployments, timeout, p)
}

// leftoverKinds are the kinds of object the chart renders or the controller
// creates, where uninstall looks for anything still labelled with the mesh.
func leftoverKinds() []schema.GroupVersionResource {
	return []schema.GroupVersionResource{
		{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"},
		{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
		{Group: "apps", Version: "v1", Resource: "deployments"},
		{Version: "v1", Resource: "services"},
		{Version: "v1", Resource: "serviceaccounts"},
		{Version: "v1", Resource: "secrets"},
		{Version: "v1", Resource: "configmaps"},
		// The controllers' leader election Lease, and a failed `helm
		// test` pod, which Helm keeps.
		{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"},
		{Version: "v1", Resource: "pods"},
		{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
		{Group: meshconfig.GroupName, Version: meshconfig.Version, Resource: meshconfig.Resource},
	}
}

// deleteLeftovers deletes whatever still carries this mesh's labels after
// Helm is done: objects of a half-failed release, the controller's own TLS
// Secret, anything a rollback could not reach. It returns what it deleted.
// Objects for which spare (when not nil) is true are left alone.
func (d *Deps) deleteLeftovers(ctx context.Context, spare func(kind, name string) bool) []Change {
	sel := meshconfig.LabelPartOf + "=" + meshconfig.PartOfValue + "," + meshconfig.LabelMeshName + "=" + d.MeshName
	var out []Change
	for _, gvr := range leftoverKinds() {
		list, err := d.Clients.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			// A kind the server does not serve (the MeshConfig CRD after a
			// purge) has nothing left over.
			continue
		}
		for _, o := range list.Items {
			if spare != nil && o.GetNamespace() == d.Namespace && spare(o.GetKind(), o.GetName()) {
				continue
			}
			api := d.Clients.Dynamic.Resource(gvr)
			var err error
			if ns := o.GetNamespace(); ns != "" {
				err = api.Namespace(ns).Delete(ctx, o.GetName(), metav1.DeleteOptions{})
			} else {
				err = api.Delete(ctx, o.GetName(), metav1.DeleteOptions{})
			}
			if err == nil || apierrors.IsNotFound(err) {
				out = append(out, Change{Kind: o.GetKind(), Name: o.GetName(), Verb: "deleted"})
			}
		}
	}
	return out
}
