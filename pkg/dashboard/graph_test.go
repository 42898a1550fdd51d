package dashboard

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// hist is a cumulative histogram of bounds and counts, +Inf last.
func hist(pairs ...float64) trafficstats.Histogram {
	var h trafficstats.Histogram
	for i := 0; i < len(pairs); i += 2 {
		h.Buckets = append(h.Buckets, trafficstats.Bucket{UpperBound: pairs[i], Count: pairs[i+1]})
	}
	return h
}

var inf = math.Inf(1)

// traffic is n requests over secs seconds, failed of them 5xx.
func traffic(n, failed, secs float64, latency trafficstats.Histogram) trafficstats.Traffic {
	return trafficstats.Traffic{Requests: n, Failures: failed, RequestRate: n / secs, Latency: latency}
}

func in(peer string) trafficstats.Key {
	return trafficstats.Key{Direction: trafficstats.Inbound, Peer: peer}
}
func out(peer string) trafficstats.Key {
	return trafficstats.Key{Direction: trafficstats.Outbound, Peer: peer}
}

func win(secs float64, t map[trafficstats.Key]trafficstats.Traffic) trafficstats.Window {
	return trafficstats.Window{Seconds: secs, Traffic: t}
}

func deploy(ns, name, sa string, pods ...Pod) Workload {
	return Workload{Namespace: ns, Kind: "deployment", Name: name, Identity: ns + "/" + sa, Pods: pods}
}

func meshed(names ...string) []Pod {
	var out []Pod
	for _, n := range names {
		out = append(out, Pod{Name: n, Meshed: true})
	}
	return out
}

// describe writes a graph one line per node and edge, figures rounded to
// six significant digits, so that hand-computed values compare.
func describe(g Graph) []string {
	var lines []string
	fig := func(f *Figures) string {
		if f == nil {
			return "-"
		}
		opt := func(p *float64) string {
			if p == nil {
				return "-"
			}
			return fmt.Sprintf("%.6g", *p)
		}
		s := fmt.Sprintf("req %.6g rps %.6g ok %s p50 %s p99 %s tcp %.6g/%.6g", f.Requests, f.RequestsPerSecond, opt(f.SuccessRate), opt(f.LatencyP50Seconds), opt(f.LatencyP99Seconds), f.TCPConnections, f.TCPOpenedPerSecond)
		if f.Proxies > 0 {
			s = fmt.Sprintf("proxies %d %s", f.Proxies, s)
		}
		return s
	}
	for _, n := range g.Nodes {
		l := fmt.Sprintf("node %s [%s %s/%s id=%s pods %d/%d] %s", n.ID, n.Kind, n.Namespace, n.Name, n.Identity, n.MeshedPods, n.Pods, fig(n.Inbound))
		if len(n.SharedBy) > 0 {
			l += " shared by " + strings.Join(n.SharedBy, ",")
		}
		lines = append(lines, l)
	}
	for _, e := range g.Edges {
		lines = append(lines, fmt.Sprintf("edge %s -> %s %s", e.Source, e.Target, fig(&e.Figures)))
	}
	return lines
}

// TestBuild: the graph of workloads and windows, with figures worked by
// hand.
func TestBuild(t *testing.T) {
	// bookstore's two proxies, 10 s windows. From bookbuyer: 30 requests,
	// 3 failed, and 20, 1 failed: 50 requests, 5 rps, 46/50 = 0.92.
	// Their latency buckets merge to 1 ms: 10, 5 ms: 40, 10 ms: 50, +Inf:
	// 50; p50 is rank 25, in (1 ms, 5 ms] at 15/30: 3 ms; p99 rank 49.5,
	// in (5 ms, 10 ms] at 9.5/10: 9.75 ms. bookstore-1 also got 10
	// requests in plain text on port 8080 in 1 ms, none failed; so
	// bookstore received 60, 6 rps, 56/60 ok, buckets 1 ms: 20, 5 ms: 50,
	// 10 ms: 60: p50 rank 30 in (1 ms, 5 ms] at 10/30: 2.33333 ms; p99
	// rank 59.4 in (5 ms, 10 ms] at 9.4/10: 9.7 ms.
	buyer1 := hist(0.001, 10, 0.005, 25, 0.01, 30, inf, 30)
	buyer2 := hist(0.001, 0, 0.005, 15, 0.01, 20, inf, 20)
	fast := hist(0.001, 10, 0.005, 10, 0.01, 10, inf, 10)
	bookstore := map[PodRef]trafficstats.Window{
		{"bookstore", "bookstore-1"}: win(10, map[trafficstats.Key]trafficstats.Traffic{
			in("bookbuyer/bookbuyer"): traffic(30, 3, 10, buyer1),
			in("port/8080"):           traffic(10, 0, 10, fast),
			// What bookstore sent is the destination's to count.
			out("books/books"): traffic(99, 99, 10, fast),
		}),
		{"bookstore", "bookstore-2"}: win(10, map[trafficstats.Key]trafficstats.Traffic{
			in("bookbuyer/bookbuyer"): traffic(20, 1, 10, buyer2),
		}),
	}
	store := deploy("bookstore", "bookstore", "bookstore", meshed("bookstore-1", "bookstore-2")...)
	buyer := deploy("bookbuyer", "bookbuyer", "bookbuyer", meshed("bookbuyer-1")...)

	// db's proxy, 4 s window: 12 requests from shop/default, which web
	// and worker share, in under 10 ms, with 2 TCP connections open and 2
	// opened (0.5/s); 4 from "other", 2 failed, in under 100 ms; 2 whose
	// peer is no identity; and port/8080's series, idle in the window,
	// which here is the identity of a pod in a namespace called port.
	// db received 18, 4.5 rps, 16/18 ok; buckets 10 ms: 14, 100 ms: 18;
	// p50 rank 9 in (0, 10 ms] at 9/14: 6.42857 ms; p99 rank 17.82 in
	// (10 ms, 100 ms] at 3.82/4: 95.95 ms.
	shared := traffic(12, 0, 4, hist(0.01, 12, inf, 12))
	shared.TCPActive, shared.TCPOpened, shared.TCPOpenRate = 2, 2, 0.5
	db := map[PodRef]trafficstats.Window{
		{"shop", "db-0"}: win(4, map[trafficstats.Key]trafficstats.Traffic{
			in("shop/default"): shared,
			in("other"):        traffic(4, 2, 4, hist(0.1, 4, inf, 4)),
			in("a/b/c"):        traffic(2, 0, 4, hist(0.01, 2, inf, 2)),
			in("port/8080"):    {},
		}),
	}

	for _, tc := range []struct {
		name      string
		workloads []Workload
		windows   map[PodRef]trafficstats.Window
		want      []string
	}{{
		name:      "an edge from a workload, and callers without a proxy",
		workloads: []Workload{buyer, store},
		windows:   bookstore,
		want: []string{
			"node bookbuyer/deployment/bookbuyer [deployment bookbuyer/bookbuyer id=bookbuyer/bookbuyer pods 1/1] -",
			"node bookstore/deployment/bookstore [deployment bookstore/bookstore id=bookstore/bookstore pods 2/2] proxies 2 req 60 rps 6 ok 0.933333 p50 0.00233333 p99 0.0097 tcp 0/0",
			"node unmeshed [unmeshed /callers without a proxy id= pods 0/0] -",
			"edge bookbuyer/deployment/bookbuyer -> bookstore/deployment/bookstore req 50 rps 5 ok 0.92 p50 0.003 p99 0.00975 tcp 0/0",
			// 10 requests under 1 ms: p50 rank 5 at 5/10 of (0, 1 ms].
			"edge unmeshed -> bookstore/deployment/bookstore req 10 rps 1 ok 1 p50 0.0005 p99 0.00099 tcp 0/0",
		},
	}, {
		// bookstore-1 alone: 40 requests, 37 ok, buckets 1 ms: 20, 5 ms:
		// 35, 10 ms: 40; p50 rank 20 at the top of (0, 1 ms]; p99 rank
		// 39.6 in (5 ms, 10 ms] at 4.6/5: 9.6 ms. From bookbuyer, 30
		// requests: p50 rank 15 in (1 ms, 5 ms] at 5/15; p99 rank 29.7 at
		// 4.7/5.
		name: "unmeshed and unread pods, a caller out of scope",
		workloads: []Workload{
			deploy("bookstore", "bookstore", "bookstore", append(meshed("bookstore-1", "bookstore-3"), Pod{Name: "bookstore-4"})...),
			deploy("legacy", "legacy", "default", Pod{Name: "legacy-1"}),
		},
		windows: map[PodRef]trafficstats.Window{{"bookstore", "bookstore-1"}: bookstore[PodRef{"bookstore", "bookstore-1"}]},
		want: []string{
			"node bookbuyer/serviceaccount/bookbuyer [identity bookbuyer/bookbuyer id=bookbuyer/bookbuyer pods 0/0] -",
			"node bookstore/deployment/bookstore [deployment bookstore/bookstore id=bookstore/bookstore pods 2/3] proxies 1 req 40 rps 4 ok 0.925 p50 0.001 p99 0.0096 tcp 0/0",
			"node legacy/deployment/legacy [deployment legacy/legacy id=legacy/default pods 0/1] -",
			"node unmeshed [unmeshed /callers without a proxy id= pods 0/0] -",
			"edge bookbuyer/serviceaccount/bookbuyer -> bookstore/deployment/bookstore req 30 rps 3 ok 0.9 p50 0.00233333 p99 0.0097 tcp 0/0",
			"edge unmeshed -> bookstore/deployment/bookstore req 10 rps 1 ok 1 p50 0.0005 p99 0.00099 tcp 0/0",
		},
	}, {
		// other: 4 under 100 ms, p50 rank 2 at 2/4 of (0, 100 ms], p99
		// rank 3.96. shop/default: 12 under 10 ms. a/b/c: 2 under 10 ms.
		name: "a shared identity, other, a malformed peer, an idle edge",
		workloads: []Workload{
			deploy("shop", "web", "default", meshed("web-1")...),
			deploy("shop", "worker", "default"),
			{Namespace: "shop", Kind: "statefulset", Name: "db", Identity: "shop/db", Pods: meshed("db-0")},
			{Namespace: "port", Kind: "pod", Name: "app", Identity: "port/8080", Pods: meshed("app")},
		},
		windows: db,
		want: []string{
			"node port/pod/app [pod port/app id=port/8080 pods 1/1] -",
			"node shop/deployment/web [deployment shop/web id=shop/default pods 1/1] -",
			"node shop/deployment/worker [deployment shop/worker id=shop/default pods 0/0] -",
			"node shop/serviceaccount/default [identity shop/default id=shop/default pods 0/0] - shared by shop/deployment/web,shop/deployment/worker",
			"node shop/statefulset/db [statefulset shop/db id=shop/db pods 1/1] proxies 1 req 18 rps 4.5 ok 0.888889 p50 0.00642857 p99 0.09595 tcp 2/0.5",
			"node other [other /other callers id= pods 0/0] -",
			"node unmeshed [unmeshed /callers without a proxy id= pods 0/0] -",
			"edge other -> shop/statefulset/db req 4 rps 1 ok 0.5 p50 0.05 p99 0.099 tcp 0/0",
			"edge port/pod/app -> shop/statefulset/db req 0 rps 0 ok - p50 - p99 - tcp 0/0",
			"edge shop/serviceaccount/default -> shop/statefulset/db req 12 rps 3 ok 1 p50 0.005 p99 0.0099 tcp 2/0.5",
			"edge unmeshed -> shop/statefulset/db req 2 rps 0.5 ok 1 p50 0.005 p99 0.0099 tcp 0/0",
		},
	}, {
		name:      "no workloads",
		workloads: nil,
		windows:   bookstore,
		want:      nil,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := describe(Build(tc.workloads, tc.windows))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestPlainText(t *testing.T) {
	for peer, want := range map[string]bool{"port/8080": true, "unknown": true, "127.0.0.1:8080": true, "[::1]:80": true, "shop/web": false, "other": false} {
		if got := plainText(peer); got != want {
			t.Errorf("plainText(%q) = %v, want %v", peer, got, want)
		}
	}
}

// TestBuildBoundsIdentityNodes: a proxy writes its own peer labels, and a
// hostile one may name thousands of callers; past MaxIdentityNodes they
// join the "other callers" node instead of each becoming one to draw.
func TestBuildBoundsIdentityNodes(t *testing.T) {
	peers := map[trafficstats.Key]trafficstats.Traffic{}
	for i := range 3 * MaxIdentityNodes {
		peers[in(fmt.Sprintf("ns-%d/sa", i))] = traffic(1, 0, 10, hist(inf, 1))
	}
	g := Build([]Workload{deploy("shop", "web", "web", meshed("web-1")...)}, map[PodRef]trafficstats.Window{{"shop", "web-1"}: win(10, peers)})
	kinds := map[string]int{}
	for _, n := range g.Nodes {
		kinds[n.Kind]++
	}
	if kinds[KindIdentity] != MaxIdentityNodes || kinds[KindOther] != 1 {
		t.Fatalf("nodes by kind %v, want %d identities and the other node", kinds, MaxIdentityNodes)
	}
	if len(g.Edges) != MaxIdentityNodes+1 {
		t.Fatalf("%d edges, want %d", len(g.Edges), MaxIdentityNodes+1)
	}
	var total float64
	for _, e := range g.Edges {
		total += e.Requests
	}
	if total != 3*MaxIdentityNodes {
		t.Fatalf("edges carry %v requests, want all %d", total, 3*MaxIdentityNodes)
	}
}
