package cluster

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	_ "github.com/meshctl/meshctl/internal/golden"
)

// TestServiceAddressesAreItsReadyEndpoints: an IngressBackend source of
// kind Service lets in the addresses of the Service's ready endpoints,
// of every slice, once each, and no others: not a terminating pod's, not
// another Service's.
func TestServiceAddressesAreItsReadyEndpoints(t *testing.T) {
	yes, no := true, false
	ep := func(ready *bool, ips ...string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: ips, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	slice := func(name, svc string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ingress", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}}, Endpoints: eps}
	}
	in, findings := Input(Objects{
		TrustDomain: "cluster.local",
		Services:    []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "ingress", Name: "nginx"}}},
		Slices: []*discoveryv1.EndpointSlice{
			slice("nginx-a", "nginx", ep(&yes, "198.18.7.2"), ep(nil, "198.18.7.1"), ep(&no, "198.18.7.9")),
			slice("nginx-b", "nginx", ep(&yes, "198.18.7.2"), ep(&yes, "2001:db8::7")),
			slice("other", "other", ep(&yes, "198.18.8.1")),
		},
	})
	if len(findings) > 0 || len(in.Services) != 1 {
		t.Fatalf("Input: %v, %d services", findings, len(in.Services))
	}
	want := []netip.Addr{netip.MustParseAddr("198.18.7.1"), netip.MustParseAddr("198.18.7.2"), netip.MustParseAddr("2001:db8::7")}
	if got := in.Services[0].Addresses; !slices.Equal(got, want) {
		t.Errorf("addresses %v, want %v", got, want)
	}
}
