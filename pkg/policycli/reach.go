package policycli

import (
	"cmp"
	"context"
	"slices"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/namespace"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
)

// UnreachableService is a Service whose meshed pods run as identities that
// nothing may reach once permissive mode is off: no TrafficTarget with a
// rule that can match names them with a source, and no IngressBackend
// admits anyone to them.
type UnreachableService struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// ServiceAccounts are those of its meshed pods that nothing may reach.
	ServiceAccounts []string `json:"serviceAccounts"`
}

// Unreachable returns the Services of namespaces whose live meshed pods
// (those with the injection marker, as the controller counts them) run as
// an identity that no edge of snap.Set reaches (policy.Set.Edges: the
// evaluator's own list of grants). Services without a selector or without
// live meshed pods are left out. It ignores permissive mode: it answers
// what would stop working once it is off.
func Unreachable(snap *Snapshot, namespaces []string) []UnreachableService {
	reached := map[identity.ID]bool{}
	for _, e := range snap.Set.Edges() {
		reached[e.Destination] = true
	}
	in := map[string]bool{}
	for _, ns := range namespaces {
		in[ns] = true
	}
	var out []UnreachableService
	for _, svc := range snap.Objects.Services {
		if !in[svc.Namespace] || len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var sas []string
		for _, p := range snap.Objects.Pods {
			if p.Namespace != svc.Namespace || !live(p) || !meshed(p) || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			id, err := podID(snap, p)
			if err != nil || reached[id] || slices.Contains(sas, id.ServiceAccount()) {
				continue
			}
			sas = append(sas, id.ServiceAccount())
		}
		if len(sas) > 0 {
			slices.Sort(sas)
			out = append(out, UnreachableService{Namespace: svc.Namespace, Name: svc.Name, ServiceAccounts: sas})
		}
	}
	slices.SortFunc(out, func(a, b UnreachableService) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func live(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// ObservedEdge is a caller and a destination that the proxies have seen
// talk (their metrics, by identity).
type ObservedEdge struct {
	Source      identity.ID `json:"source"`
	Destination identity.ID `json:"destination"`
}

// BrokenEdges returns the observed edges that nothing in set allows once
// permissive mode is off (policy.Policy.MayReach, which ignores
// permissive mode), in the order given: what `meshctl permissive disable`
// lists before it asks. An edge MayReach keeps may still lose some of its
// requests (a route the rules do not match): metrics by identity cannot
// tell which paths were called.
func BrokenEdges(set *policy.Set, seen []ObservedEdge) []ObservedEdge {
	var out []ObservedEdge
	for _, e := range seen {
		if !set.For(e.Destination).MayReach(e.Source) {
			out = append(out, e)
		}
	}
	return out
}

// UnreachableEnrolled is Unreachable for the namespaces enrolled in mesh,
// read from the cluster: what `meshctl permissive disable` lists before it
// asks, in place of pkg/configure's UnreachableServices.
func UnreachableEnrolled(ctx context.Context, c *kube.Clients, mesh, meshNamespace string) ([]UnreachableService, error) {
	nss, err := namespace.ListEnrolled(ctx, c.Kube, mesh)
	if err != nil {
		return nil, err
	}
	if len(nss) == 0 {
		return nil, nil
	}
	snap, err := Read(ctx, c, mesh, meshNamespace)
	if err != nil {
		return nil, err
	}
	return Unreachable(snap, nss), nil
}
