package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// fieldManager owns the fields meshctl applies server-side.
const fieldManager = "meshctl"

func crdResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
}

// crds returns the chart's CRDs, labelled as part of meshctl. They are shared
// by every mesh in the cluster, so they carry no mesh name.
func (d *Deps) crds() ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, f := range d.Chart.CRDObjects() {
		objs, err := Manifest(f.File.Data).Objects()
		if err != nil {
			return nil, fmt.Errorf("chart file %s: %w", f.Filename, err)
		}
		for _, o := range objs {
			if o.GetKind() != "CustomResourceDefinition" {
				return nil, fmt.Errorf("chart file %s: %s %q is not a CustomResourceDefinition", f.Filename, o.GetKind(), o.GetName())
			}
			labels := o.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels[meshconfig.LabelPartOf] = meshconfig.PartOfValue
			o.SetLabels(labels)
			out = append(out, o)
		}
	}
	return out, nil
}

// applyCRDs creates or upgrades the CRDs with server-side apply, then waits
// until the API server serves them, so the release that follows can create a
// MeshConfig. Helm itself never upgrades a chart's crds/, which is why this
// is ours. With dryRun the API server validates the CRDs and stores nothing.
func (d *Deps) applyCRDs(ctx context.Context, dryRun bool) ([]string, error) {
	crds, err := d.crds()
	if err != nil {
		return nil, err
	}
	api := d.Clients.Dynamic.Resource(crdResource())
	opts := metav1.PatchOptions{FieldManager: fieldManager, Force: ptr(true)}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var names []string
	for _, crd := range crds {
		data, err := json.Marshal(crd.Object)
		if err != nil {
			return nil, err
		}
		if _, err := api.Patch(ctx, crd.GetName(), types.ApplyPatchType, data, opts); err != nil {
			return nil, fmt.Errorf("customresourcedefinition %q: %w", crd.GetName(), err)
		}
		names = append(names, crd.GetName())
	}
	if dryRun {
		return names, nil
	}
	for _, name := range names {
		if err := d.waitEstablished(ctx, name); err != nil {
			return nil, err
		}
	}
	d.refreshDiscovery()
	return names, nil
}

func (d *Deps) waitEstablished(ctx context.Context, name string) error {
	api := d.Clients.Dynamic.Resource(crdResource())
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		crd, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("customresourcedefinition %q is not established: %w", name, err)
	}
	return nil
}

// refreshDiscovery forgets cached API discovery, so the Helm kube client and
// our mapper see the kinds the CRDs just added.
func (d *Deps) refreshDiscovery() {
	if dc, err := d.Getter.ToDiscoveryClient(); err == nil {
		dc.Invalidate()
	}
	if m, err := d.Getter.ToRESTMapper(); err == nil {
		if r, ok := m.(meta.ResettableRESTMapper); ok {
			r.Reset()
		}
	}
	d.Clients.Discovery.Invalidate()
	if r, ok := d.Clients.Mapper.(meta.ResettableRESTMapper); ok {
		r.Reset()
	}
}

// purgeCRDs deletes every object of the chart's CRD kinds in the cluster,
// then the CRDs themselves, and reports each deletion.
func (d *Deps) purgeCRDs(ctx context.Context, report func(kind, name, verb string)) error {
	crds, err := d.crds()
	if err != nil {
		return err
	}
	var errs []error
	for _, crd := range crds {
		gvrs, kind := servedResources(crd)
		for _, gvr := range gvrs {
			list, err := d.Clients.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("listing %s: %w", gvr.GroupResource(), err))
				continue
			}
			for _, o := range list.Items {
				err := d.Clients.Dynamic.Resource(gvr).Namespace(o.GetNamespace()).Delete(ctx, o.GetName(), metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("%s %s/%s: %w", kind, o.GetNamespace(), o.GetName(), err))
					continue
				}
				report(kind, o.GetNamespace()+"/"+o.GetName(), "deleted")
			}
			break
		}
		err := d.Clients.Dynamic.Resource(crdResource()).Delete(ctx, crd.GetName(), metav1.DeleteOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("customresourcedefinition %q: %w", crd.GetName(), err))
		default:
			report("customresourcedefinition", crd.GetName(), "deleted")
		}
	}
	return errors.Join(errs...)
}

// servedResources returns the resources of a CRD, the storage version first.
func servedResources(crd *unstructured.Unstructured) ([]schema.GroupVersionResource, string) {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var out []schema.GroupVersionResource
	for _, v := range versions {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		gvr := schema.GroupVersionResource{Group: group, Version: name, Resource: plural}
		if storage, _ := m["storage"].(bool); storage {
			out = append([]schema.GroupVersionResource{gvr}, out...)
		} else {
			out = append(out, gvr)
		}
	}
	return out, kind
}

func ptr[T any](v T) *T { return &v }
