// Package cluster turns a cluster's Kubernetes objects into the input of
// policy compilation (crd.Cluster): the policy objects (TrafficTargets,
// HTTPRouteGroups, TCPRoutes, IngressBackends) decoded from their
// unstructured form, and the Services an IngressBackend names, with the
// ports they target and the identities behind them. mesh-controller feeds
// it from its informers and meshctl (`policy explain`, `check`) from List
// calls, so both compile the same Set from the same objects.
package cluster

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy/crd"
)

// The resources policy is compiled from.
var (
	TrafficTargets  = schema.GroupVersionResource{Group: "access.smi-spec.io", Version: "v1alpha3", Resource: "traffictargets"}
	HTTPRouteGroups = schema.GroupVersionResource{Group: "specs.smi-spec.io", Version: "v1alpha4", Resource: "httproutegroups"}
	TCPRoutes       = schema.GroupVersionResource{Group: "specs.smi-spec.io", Version: "v1alpha4", Resource: "tcproutes"}
	IngressBackends = schema.GroupVersionResource{Group: "policy.meshctl.io", Version: "v1alpha1", Resource: "ingressbackends"}
)

// Resources are the four policy resources, in the order of Objects' lists.
func Resources() []schema.GroupVersionResource {
	return []schema.GroupVersionResource{TrafficTargets, HTTPRouteGroups, TCPRoutes, IngressBackends}
}

// Objects are what policy is compiled from, as the API server has them.
type Objects struct {
	// TrustDomain and Permissive are the MeshConfig's.
	TrustDomain string
	Permissive  bool
	// The policy objects.
	TrafficTargets, HTTPRouteGroups, TCPRoutes, IngressBackends []*unstructured.Unstructured
	// Services, their EndpointSlices and the pods behind them, for
	// IngressBackends.
	Services []*corev1.Service
	Slices   []*discoveryv1.EndpointSlice
	Pods     []*corev1.Pod
	// ServiceAccounts, when not nil, are those that exist: a TrafficTarget
	// naming another is a finding.
	ServiceAccounts []*corev1.ServiceAccount
}

// Input is o as Compile takes it. An object that does not decode into its
// type (the API server's schema makes that rare) is left out, with a
// finding that names it.
func Input(o Objects) (crd.Cluster, []crd.Finding) {
	c := crd.Cluster{TrustDomain: o.TrustDomain, Permissive: o.Permissive}
	var fs []crd.Finding
	c.TrafficTargets = decodeAll[crd.TrafficTarget](o.TrafficTargets, crd.KindTrafficTarget, &fs)
	c.HTTPRouteGroups = decodeAll[crd.HTTPRouteGroup](o.HTTPRouteGroups, crd.KindHTTPRouteGroup, &fs)
	c.TCPRoutes = decodeAll[crd.TCPRoute](o.TCPRoutes, crd.KindTCPRoute, &fs)
	c.IngressBackends = decodeAll[crd.IngressBackend](o.IngressBackends, crd.KindIngressBackend, &fs)
	c.Services = services(o, o.TrustDomain)
	if o.ServiceAccounts != nil {
		c.ServiceAccounts = make([]string, 0, len(o.ServiceAccounts))
		for _, sa := range o.ServiceAccounts {
			c.ServiceAccounts = append(c.ServiceAccounts, sa.Namespace+"/"+sa.Name)
		}
		slices.Sort(c.ServiceAccounts)
	}
	return c, fs
}

// decodeAll decodes each object through JSON into T, sorted by namespace
// and name so that the result does not depend on the informer's order.
func decodeAll[T any](list []*unstructured.Unstructured, kind string, fs *[]crd.Finding) []T {
	sorted := slices.Clone(list)
	slices.SortFunc(sorted, func(a, b *unstructured.Unstructured) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	out := make([]T, 0, len(sorted))
	for _, u := range sorted {
		var v T
		b, err := json.Marshal(u.Object)
		if err == nil {
			err = json.Unmarshal(b, &v)
		}
		if err != nil {
			*fs = append(*fs, crd.Finding{Severity: crd.SeverityError, Kind: kind, Namespace: u.GetNamespace(), Name: u.GetName(),
				Message: fmt.Sprintf("does not decode: %v; it allows nothing", err)})
			continue
		}
		out = append(out, v)
	}
	return out
}

// services are the ClusterIP Services with their ports' targets, as the
// EndpointSlices resolve them (a named target port is the pods' business),
// and the identities of the pods behind them.
func services(o Objects, td string) []crd.Service {
	type podKey struct{ ns, name string }
	sa := make(map[podKey]string, len(o.Pods))
	for _, p := range o.Pods {
		name := p.Spec.ServiceAccountName
		if name == "" {
			name = "default"
		}
		sa[podKey{p.Namespace, p.Name}] = name
	}
	bySvc := map[podKey][]*discoveryv1.EndpointSlice{}
	for _, s := range o.Slices {
		if svc := s.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := podKey{s.Namespace, svc}
			bySvc[k] = append(bySvc[k], s)
		}
	}
	var out []crd.Service
	for _, svc := range o.Services {
		cs := crd.Service{Namespace: svc.Namespace, Name: svc.Name}
		slicesOf := bySvc[podKey{svc.Namespace, svc.Name}]
		for _, p := range svc.Spec.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			target := int(p.TargetPort.IntVal)
			if target == 0 && p.TargetPort.StrVal == "" {
				target = int(p.Port)
			}
			// A named target port, or one the slices say otherwise.
			for _, s := range slicesOf {
				for _, ep := range s.Ports {
					if ep.Port != nil && ep.Name != nil && *ep.Name == p.Name {
						target = int(*ep.Port)
					}
				}
			}
			if target > 0 {
				cs.Ports = append(cs.Ports, crd.ServicePort{Port: int(p.Port), TargetPort: target})
			}
		}
		seen := map[identity.ID]bool{}
		for _, s := range slicesOf {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					for _, a := range ep.Addresses {
						if ip, err := netip.ParseAddr(a); err == nil {
							cs.Addresses = append(cs.Addresses, ip.Unmap())
						}
					}
				}
				if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
					continue
				}
				name, ok := sa[podKey{ep.TargetRef.Namespace, ep.TargetRef.Name}]
				if !ok {
					continue
				}
				if id, err := identity.NewID(td, ep.TargetRef.Namespace, name); err == nil && !seen[id] {
					seen[id] = true
					cs.Identities = append(cs.Identities, id)
				}
			}
		}
		slices.SortFunc(cs.Identities, func(a, b identity.ID) int { return cmp.Compare(a.String(), b.String()) })
		slices.SortFunc(cs.Addresses, func(a, b netip.Addr) int { return a.Compare(b) })
		cs.Addresses = slices.Compact(cs.Addresses)
		out = append(out, cs)
	}
	slices.SortFunc(out, func(a, b crd.Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}
