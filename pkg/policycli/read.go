package policycli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/policy/cluster"
	"github.com/meshctl/meshctl/pkg/policy/crd"
)

// Snapshot is the mesh's policy as one moment of the cluster gives it: the
// objects read, and what the proxies would hold once the controller has
// compiled them.
type Snapshot struct {
	// Objects are what was read.
	Objects cluster.Objects
	Compiled
}

// Compiled is the policy compiled from a cluster's objects, as mesh-proxy
// holds it.
type Compiled struct {
	// Set went through json.Marshal and policy.DecodeSet, as the channel
	// carries it to the proxies: the evaluator's input is the proxy's.
	Set *policy.Set
	// Findings are what cluster.Input and crd.Compile found wrong, in
	// their order.
	Findings []crd.Finding
	// Services are the Services with their target ports and the
	// identities behind them, as Compile saw them.
	Services []crd.Service
}

// MissingCRDError says that a policy CRD this meshctl reads is not
// installed: the mesh was installed by an older meshctl.
type MissingCRDError struct {
	Resource schema.GroupVersionResource
}

// Error names the resource and what to run.
func (e *MissingCRDError) Error() string {
	return fmt.Sprintf("the API server does not serve %s (%s): the mesh's CRDs predate this meshctl; run meshctl upgrade",
		e.Resource.GroupResource(), e.Resource.GroupVersion())
}

// Read reads what the controller compiles the mesh's policy from, with one
// List per resource across every namespace: the MeshConfig of mesh in
// meshNamespace (permissive mode, trust domain), the four policy
// resources, Services, EndpointSlices, Pods and ServiceAccounts. Then it
// compiles them (Compile).
func Read(ctx context.Context, c *kube.Clients, mesh, meshNamespace string) (*Snapshot, error) {
	mc, err := meshconfig.GetMesh(ctx, c.Dynamic, mesh, meshNamespace)
	if err != nil {
		return nil, err
	}
	o := cluster.Objects{
		TrustDomain: cmp.Or(mc.Spec.Identity.TrustDomain, meshconfig.DefaultTrustDomain),
		Permissive:  mc.Spec.Traffic.EnablePermissiveTrafficPolicyMode,
	}
	lists := []*[]*unstructured.Unstructured{&o.TrafficTargets, &o.HTTPRouteGroups, &o.TCPRoutes, &o.IngressBackends}
	for i, gvr := range cluster.Resources() {
		if *lists[i], err = listCustom(ctx, c, gvr); err != nil {
			return nil, err
		}
	}
	svcs, err := c.Kube.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, listError(err, "services")
	}
	o.Services = pointers(svcs.Items)
	slices, err := c.Kube.DiscoveryV1().EndpointSlices(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, listError(err, "endpointslices.discovery.k8s.io")
	}
	o.Slices = pointers(slices.Items)
	pods, err := c.Kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, listError(err, "pods")
	}
	o.Pods = pointers(pods.Items)
	sas, err := c.Kube.CoreV1().ServiceAccounts(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, listError(err, "serviceaccounts")
	}
	o.ServiceAccounts = pointers(sas.Items)
	if o.ServiceAccounts == nil {
		o.ServiceAccounts = []*corev1.ServiceAccount{} // none exist: every name is missing
	}
	comp, err := Compile(o)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Objects: o, Compiled: *comp}, nil
}

// Compile compiles o as mesh-controller does (cluster.Input, crd.Compile),
// then encodes the Set and decodes it as mesh-proxy does (json.Marshal,
// policy.DecodeSet with policy.DefaultLimits), so that what it returns is
// what the proxies evaluate, bit for bit.
func Compile(o cluster.Objects) (*Compiled, error) {
	in, findings := cluster.Input(o)
	set, more, err := crd.Compile(in)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encoding the policy: %w", err)
	}
	decoded, err := policy.DecodeSet(b, policy.DefaultLimits())
	if err != nil {
		return nil, fmt.Errorf("decoding the policy as the proxy does: %w", err)
	}
	return &Compiled{Set: decoded, Findings: append(findings, more...), Services: in.Services}, nil
}

func listCustom(ctx context.Context, c *kube.Clients, gvr schema.GroupVersionResource) ([]*unstructured.Unstructured, error) {
	list, err := c.Dynamic.Resource(gvr).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &MissingCRDError{Resource: gvr}
	}
	if err != nil {
		return nil, listError(err, gvr.GroupResource().String())
	}
	return pointers(list.Items), nil
}

func listError(err error, resource string) error {
	return fmt.Errorf("reading the mesh's policy: listing %s: %w", resource, kube.ExplainForbidden(err, "list", resource, ""))
}

func pointers[T any](items []T) []*T {
	if len(items) == 0 {
		return nil
	}
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}
