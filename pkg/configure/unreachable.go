package configure

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/namespace"
)

// TrafficTargetResource is the SMI TrafficTarget resource
// (access.smi-spec.io/v1alpha3), whose CRD the chart installs.
var TrafficTargetResource = schema.GroupVersionResource{Group: "access.smi-spec.io", Version: "v1alpha3", Resource: "traffictargets"}

// UnreachableService is an enrolled service that no TrafficTarget lets
// anyone reach: once permissive mode is off, it accepts no meshed traffic.
type UnreachableService struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// ServiceAccounts are those of the pods the service selects.
	ServiceAccounts []string `json:"serviceAccounts"`
}

// UnreachableServices returns the services of the namespaces enrolled in
// mesh whose pods run as service accounts that no TrafficTarget with at least
// one source names as its destination. Services that select no live pods
// (or have no selector) are left out: nothing of theirs runs in the mesh.
// It lists namespaces once, TrafficTargets once (cluster-wide; none when the
// CRD is absent), and services and pods once per enrolled namespace.
func UnreachableServices(ctx context.Context, kc kubernetes.Interface, dc dynamic.Interface, mesh string) ([]UnreachableService, error) {
	nss, err := namespace.ListEnrolled(ctx, kc, mesh)
	if err != nil {
		return nil, err
	}
	if len(nss) == 0 {
		return nil, nil
	}
	allowed, err := allowedDestinations(ctx, dc)
	if err != nil {
		return nil, err
	}
	var out []UnreachableService
	for _, ns := range nss {
		svcs, err := kc.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("namespace %q: listing services: %w", ns, kube.ExplainForbidden(err, "list", "services", ns))
		}
		pods, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("namespace %q: listing pods: %w", ns, kube.ExplainForbidden(err, "list", "pods", ns))
		}
		for i := range svcs.Items {
			svc := &svcs.Items[i]
			sas := serviceAccountsOf(svc, pods.Items)
			if len(sas) == 0 {
				continue
			}
			if !slices.ContainsFunc(sas, func(sa string) bool { return allowed[ns+"/"+sa] }) {
				out = append(out, UnreachableService{Namespace: ns, Name: svc.Name, ServiceAccounts: sas})
			}
		}
	}
	slices.SortFunc(out, func(a, b UnreachableService) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// allowedDestinations returns namespace/serviceaccount of every
// TrafficTarget destination that some source may reach.
func allowedDestinations(ctx context.Context, dc dynamic.Interface) (map[string]bool, error) {
	list, err := dc.Resource(TrafficTargetResource).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return map[string]bool{}, nil // the CRD is not installed: no policy at all
	}
	if err != nil {
		return nil, fmt.Errorf("listing TrafficTargets: %w", kube.ExplainForbidden(err, "list", "traffictargets.access.smi-spec.io", ""))
	}
	allowed := map[string]bool{}
	for i := range list.Items {
		tt := &list.Items[i]
		sources, _, _ := unstructured.NestedSlice(tt.Object, "spec", "sources")
		if len(sources) == 0 {
			continue
		}
		kind, _, _ := unstructured.NestedString(tt.Object, "spec", "destination", "kind")
		name, _, _ := unstructured.NestedString(tt.Object, "spec", "destination", "name")
		ns, _, _ := unstructured.NestedString(tt.Object, "spec", "destination", "namespace")
		if kind != "ServiceAccount" || name == "" {
			continue
		}
		if ns == "" {
			ns = tt.GetNamespace()
		}
		allowed[ns+"/"+name] = true
	}
	return allowed, nil
}

// serviceAccountsOf returns the sorted service accounts of the live pods svc
// selects.
func serviceAccountsOf(svc *corev1.Service, pods []corev1.Pod) []string {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var sas []string
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		sa := p.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		if !slices.Contains(sas, sa) {
			sas = append(sas, sa)
		}
	}
	slices.Sort(sas)
	return sas
}
