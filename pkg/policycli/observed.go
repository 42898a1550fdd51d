package policycli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// MetricsReader reads a pod's proxy's /metrics; proxyadmin.Client.Get
// (through a port-forward) is the real one.
type MetricsReader func(ctx context.Context, namespace, pod, path string) ([]byte, error)

// Observed are the edges proxies have carried, from their own counters,
// and the proxies that could not be read.
type Observed struct {
	Edges      []ObservedEdge
	Unreadable []string
}

// ObservedEdges asks every ready proxy with identity of the mesh whose
// controller is controller for its inbound counters
// (mesh_proxy_requests_total and mesh_proxy_tcp_connections_total with
// tls="true"), whose peer label is the caller's verified identity: the
// edges the mesh has actually carried, since each proxy started. A
// proxy that cannot be read is named, not fatal: the list is advice.
func ObservedEdges(ctx context.Context, c *kube.Clients, controller identity.ID, read MetricsReader) (*Observed, error) {
	pods, err := c.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing pods to find the proxies: %w", kube.ExplainForbidden(err, "list", "pods", ""))
	}
	var meshed []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if proxyadmin.OfMesh(p, controller) {
			meshed = append(meshed, p)
		}
	}
	td := controller.TrustDomain()
	out := &Observed{}
	seen := map[ObservedEdge]bool{}
	var mu sync.Mutex
	proxyadmin.Each(meshed, func(_ int, p *corev1.Pod) {
		name := p.Namespace + "/" + p.Name
		sa := p.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		dst, err := identity.NewID(td, p.Namespace, sa)
		if err != nil {
			return
		}
		text, err := read(ctx, p.Namespace, p.Name, wire.MetricsPath)
		var fams []proxyadmin.Family
		if err == nil {
			fams, err = proxyadmin.ParseMetrics(text)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			out.Unreadable = append(out.Unreadable, fmt.Sprintf("%s (%v)", name, err))
			return
		}
		for _, f := range fams {
			if f.Name != wire.MetricRequestsTotal && f.Name != wire.MetricTCPOpened {
				continue
			}
			for _, s := range f.Samples {
				l := s.Labels
				if l["direction"] != "inbound" || l["tls"] != "true" || s.Value == "0" {
					continue
				}
				ns, name, ok := strings.Cut(l["peer"], "/")
				if !ok {
					continue
				}
				src, err := identity.NewID(td, ns, name)
				if err != nil {
					continue
				}
				if e := (ObservedEdge{Source: src, Destination: dst}); !seen[e] {
					seen[e] = true
					out.Edges = append(out.Edges, e)
				}
			}
		}
	})
	slices.SortFunc(out.Edges, func(a, b ObservedEdge) int {
		return strings.Compare(a.Destination.String()+" "+a.Source.String(), b.Destination.String()+" "+b.Source.String())
	})
	slices.Sort(out.Unreadable)
	return out, nil
}
