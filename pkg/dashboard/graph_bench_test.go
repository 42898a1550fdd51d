package dashboard

import (
	"fmt"
	"testing"

	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// BenchmarkBuild1000: the graph of 200 workloads of 5 pods each in 20
// namespaces, every pod's proxy read, each receiving from 4 other
// workloads and from callers without a proxy, with latency histograms
// of the proxy's 17 buckets.
func BenchmarkBuild1000(b *testing.B) {
	const namespaces, perNamespace, podsEach, callers = 20, 10, 5, 4
	bounds := []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, inf}
	latency := trafficstats.Histogram{}
	for i, le := range bounds {
		latency.Buckets = append(latency.Buckets, trafficstats.Bucket{UpperBound: le, Count: float64(10 * min(i+1, 8))})
	}
	var workloads []Workload
	windows := map[PodRef]trafficstats.Window{}
	for n := range namespaces {
		ns := fmt.Sprintf("ns-%02d", n)
		for w := range perNamespace {
			name := fmt.Sprintf("app-%02d", w)
			wl := Workload{Namespace: ns, Kind: "deployment", Name: name, Identity: ns + "/" + name}
			for p := range podsEach {
				pod := fmt.Sprintf("%s-%d", name, p)
				wl.Pods = append(wl.Pods, Pod{Name: pod, Meshed: true})
				t := map[trafficstats.Key]trafficstats.Traffic{in("port/8080"): traffic(80, 0, 10, latency)}
				for c := 1; c <= callers; c++ {
					caller := fmt.Sprintf("ns-%02d/app-%02d", (n+c)%namespaces, (w+c)%perNamespace)
					t[in(caller)] = traffic(80, 1, 10, latency)
				}
				windows[PodRef{ns, pod}] = win(10, t)
			}
			workloads = append(workloads, wl)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		g := Build(workloads, windows)
		if len(g.Nodes) != 201 || len(g.Edges) != 1000 {
			b.Fatalf("%d nodes, %d edges", len(g.Nodes), len(g.Edges))
		}
	}
}
