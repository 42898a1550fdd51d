package integration_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/channel"
	ctrlchannel "github.com/meshctl/meshctl/pkg/controller/channel"
)

// BenchmarkPropagation is the time from a change written to the API server
// (an EndpointSlice's endpoint replaced) to mesh-proxy's client holding a
// snapshot with it, through the informers, the debounced build (at its
// default, DefaultDebounce), the stream over TLS, the decode and the index.
// It reports the 50th and 99th percentiles.
func BenchmarkPropagation(b *testing.B) {
	f := start(b, fixtureOptions{tweak: func(o *ctrlchannel.Options) { o.Debounce = ctrlchannel.DefaultDebounce }})
	f.meshedPod(b, "web", "web", "", "198.18.1.1")
	svc, es := f.service(b, "web", "198.18.1.1")
	cluster := netip.AddrPortFrom(netip.MustParseAddr(svc.Spec.ClusterIP), 80)

	got := make(chan *channel.Snapshot, 16)
	c := f.client(b, issue(b, f.ca, f.ns, "client", time.Now().Add(-time.Minute), time.Hour), func(s *channel.Snapshot) { got <- s })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		b.Fatal(err)
	}
	eventually(b, "the Service in the index", func() bool { _, _, ok := c.Index().Resolve(cluster); return ok })

	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		ip := netip.AddrFrom4([4]byte{198, 18, 2, byte(i%250 + 1)}).String()
		es.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}}
		start := time.Now()
		var err error
		if es, err = f.kube.DiscoveryV1().EndpointSlices(f.ns).Update(testenv.Context(b), es, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		want := netip.AddrPortFrom(netip.MustParseAddr(ip), 8080)
		for {
			select {
			case <-got:
			case <-time.After(30 * time.Second):
				b.Fatalf("change %d did not arrive within 30s", i)
			}
			if addr, _, _ := c.Index().Resolve(cluster); addr == want {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}
