package dashboard

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// Workload is what the graph draws as a node, as pkg/statcli groups pods:
// a deployment, statefulset or daemonset, or a pod none of them controls.
type Workload struct {
	Namespace string
	// Kind is statcli's: deployment, statefulset, daemonset or pod.
	Kind string
	Name string
	// Identity is the peer label the workload's requests carry at the
	// other end: namespace/ServiceAccount of its pod template.
	Identity string
	Pods     []Pod
}

// Pod is one live pod of a workload; its proxy's window, when it was read,
// is found by PodRef.
type Pod struct {
	Name   string
	Meshed bool
}

// PodRef names a pod.
type PodRef struct {
	Namespace, Name string
}

// The kinds of nodes that are not workloads: sources of requests told by
// the peer label of the destination's inbound series.
const (
	// KindIdentity is a caller known only by its identity: one that no
	// workload in scope has (another namespace's, or a workload gone), or
	// one that several workloads share, which the proxies cannot tell
	// apart.
	KindIdentity = "identity"
	// KindUnmeshed stands for every caller without a proxy: requests in
	// plain text carry no identity.
	KindUnmeshed = "unmeshed"
	// KindOther stands for the callers a proxy counts as "other", past its
	// bound on distinct peers.
	KindOther = "other"
)

// The IDs of the nodes that stand for many callers; a workload's or an
// identity's ID holds slashes, so these never collide with one.
const (
	idUnmeshed = "unmeshed"
	idOther    = "other"
)

// peerOther is the peer label of the traffic past a proxy's bound on
// distinct peers.
const peerOther = "other"

// Graph is the mesh's topology over one window: workloads and the callers
// their proxies saw, and who called whom.
type Graph struct {
	// Nodes are by namespace, kind and name, the callers that are not
	// workloads last.
	Nodes []Node `json:"nodes"`
	// Edges are by source and target.
	Edges []Edge `json:"edges"`
}

// Node is a workload or a caller.
type Node struct {
	// ID is unique in the graph; edges name nodes by it.
	ID        string `json:"id"`
	Namespace string `json:"namespace,omitempty"`
	// Kind is a workload's kind, or KindIdentity, KindUnmeshed or KindOther.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Identity is a workload's or an identity's namespace/ServiceAccount.
	Identity string `json:"identity,omitempty"`
	// Pods are a workload's live pods, MeshedPods those with a proxy.
	Pods       int `json:"pods"`
	MeshedPods int `json:"meshedPods"`
	// SharedBy are, for an identity several workloads share, their IDs.
	SharedBy []string `json:"sharedBy,omitempty"`
	// Inbound is what a workload's proxies received, from every caller,
	// as `meshctl stat` counts it; nil when none of them was read.
	Inbound *Figures `json:"inbound,omitempty"`
}

// Edge is the traffic from one caller to one workload, as the
// workload's proxies counted it. An edge whose series exist but carried
// nothing in the window has zero figures: the topology stays.
type Edge struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Figures
}

// Figures are the traffic of a node or an edge over the window.
type Figures struct {
	// Proxies is how many proxies were read (nodes only).
	Proxies int `json:"proxies,omitempty"`
	// Requests counts the HTTP requests, RequestsPerSecond each proxy's
	// count over its own window, summed.
	Requests          float64 `json:"requests"`
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	// SuccessRate is the share not answered 5xx; the latencies are
	// percentiles in seconds. All nil without requests.
	SuccessRate       *float64 `json:"successRate,omitempty"`
	LatencyP50Seconds *float64 `json:"latencyP50Seconds,omitempty"`
	LatencyP99Seconds *float64 `json:"latencyP99Seconds,omitempty"`
	// TCPConnections are the opaque TCP connections open at the second
	// reading, TCPOpenedPerSecond those opened per second.
	TCPConnections     float64 `json:"tcpConnections"`
	TCPOpenedPerSecond float64 `json:"tcpOpenedPerSecond"`
}

// figuresOf turns traffic into figures, keeping only finite ones:
// counters are the proxies' to report, and sums of absurd ones (two of
// 1.7e308 make +Inf, and a rate of Inf/Inf is NaN) would leave a state
// JSON cannot encode. A figure that is not finite is shown as unknown
// (nil) or 0.
func figuresOf(t trafficstats.Traffic) Figures {
	f := Figures{
		Requests: finite(t.Requests), RequestsPerSecond: finite(t.RequestRate),
		TCPConnections: finite(t.TCPActive), TCPOpenedPerSecond: finite(t.TCPOpenRate),
	}
	if sr, ok := t.SuccessRate(); ok && isFinite(sr) {
		f.SuccessRate = &sr
	}
	if p := t.Latency.Quantile(0.5); isFinite(p) {
		f.LatencyP50Seconds = &p
	}
	if p := t.Latency.Quantile(0.99); isFinite(p) {
		f.LatencyP99Seconds = &p
	}
	return f
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func finite(x float64) float64 {
	if isFinite(x) {
		return x
	}
	return 0
}

// WorkloadID is the ID of a workload's node.
func WorkloadID(namespace, kind, name string) string {
	return namespace + "/" + kind + "/" + name
}

// identityID is the ID of an identity's node.
func identityID(namespace, sa string) string {
	return namespace + "/serviceaccount/" + sa
}

// Build draws the graph of workloads from the windows of their proxies
// (by pod; a pod without one was not read). Each workload is a node,
// whatever its traffic. Edges come from the inbound series of the
// workloads' proxies alone: their peer label is the caller's identity
// (namespace/ServiceAccount) over mutual TLS, which stands for the one
// workload in scope with that identity, or for an identity node when
// none or several have it; requests in plain text come from the unmeshed
// node, and a proxy's "other" peers from the other node. The peer label
// comes from the proxies, so it is only compared and shown, never trusted
// to be well formed.
func Build(workloads []Workload, windows map[PodRef]trafficstats.Window) Graph {
	b := builder{nodes: map[string]*Node{}, byIdentity: map[string][]string{}, edges: map[[2]string]*trafficstats.Traffic{}}
	for _, w := range workloads {
		id := WorkloadID(w.Namespace, w.Kind, w.Name)
		n := &Node{ID: id, Namespace: w.Namespace, Kind: w.Kind, Name: w.Name, Identity: w.Identity, Pods: len(w.Pods)}
		for _, p := range w.Pods {
			if p.Meshed {
				n.MeshedPods++
			}
		}
		b.add(n)
		if w.Identity != "" {
			b.byIdentity[w.Identity] = append(b.byIdentity[w.Identity], id)
		}
	}
	for _, w := range workloads {
		target := WorkloadID(w.Namespace, w.Kind, w.Name)
		var total trafficstats.Traffic
		read := 0
		for _, p := range w.Pods {
			win, ok := windows[PodRef{w.Namespace, p.Name}]
			if !ok {
				continue
			}
			read++
			for k, t := range win.Traffic {
				if k.Direction != trafficstats.Inbound {
					continue
				}
				total.Add(t)
				e := b.edge(b.sourceOf(k.Peer), target)
				e.Add(t)
			}
		}
		if read > 0 {
			f := figuresOf(total)
			f.Proxies = read
			b.nodes[target].Inbound = &f
		}
	}
	return b.graph()
}

// MaxIdentityNodes bounds the callers drawn as identity nodes (an identity
// no workload in scope has, or several share): a proxy names at most 100
// peers, but its labels are its own to write, and a hostile one could
// name thousands for the page to draw. Callers past the bound join the
// "other callers" node.
const MaxIdentityNodes = 200

type builder struct {
	nodes      map[string]*Node
	byIdentity map[string][]string // identity -> workload IDs
	edges      map[[2]string]*trafficstats.Traffic
	identities int // identity nodes added
}

func (b *builder) add(n *Node) {
	if _, ok := b.nodes[n.ID]; !ok {
		b.nodes[n.ID] = n
	}
}

func (b *builder) edge(source, target string) *trafficstats.Traffic {
	k := [2]string{source, target}
	e, ok := b.edges[k]
	if !ok {
		e = &trafficstats.Traffic{}
		b.edges[k] = e
	}
	return e
}

// sourceOf is the node of the caller an inbound series' peer names, made
// when it is not a workload's.
func (b *builder) sourceOf(peer string) string {
	if ids := b.byIdentity[peer]; len(ids) == 1 {
		return ids[0]
	}
	if peer == peerOther {
		b.add(&Node{ID: idOther, Kind: KindOther, Name: "other callers"})
		return idOther
	}
	ns, sa, ok := strings.Cut(peer, "/")
	if plainText(peer) || !ok || ns == "" || sa == "" || strings.Contains(sa, "/") {
		b.add(&Node{ID: idUnmeshed, Kind: KindUnmeshed, Name: "callers without a proxy"})
		return idUnmeshed
	}
	id := identityID(ns, sa)
	if _, ok := b.nodes[id]; !ok {
		if b.identities >= MaxIdentityNodes {
			b.add(&Node{ID: idOther, Kind: KindOther, Name: "other callers"})
			return idOther
		}
		b.identities++
	}
	b.add(&Node{ID: id, Namespace: ns, Kind: KindIdentity, Name: sa, Identity: peer, SharedBy: b.byIdentity[peer]})
	return id
}

// plainText says a peer label is one the proxy gives requests in plain
// text (docs/configuration.md#metrics): the app's port as port/N,
// unknown, or an address ip:port for opaque TCP. A namespace called
// "port" with a ServiceAccount named by digits would read the same; a
// workload in scope with that identity wins, in sourceOf.
func plainText(peer string) bool {
	return peer == "unknown" || strings.HasPrefix(peer, "port/") || strings.Contains(peer, ":")
}

func (b *builder) graph() Graph {
	g := Graph{Nodes: make([]Node, 0, len(b.nodes)), Edges: make([]Edge, 0, len(b.edges))}
	for _, n := range b.nodes {
		g.Nodes = append(g.Nodes, *n)
	}
	slices.SortFunc(g.Nodes, func(a, b Node) int {
		return cmp.Or(cmp.Compare(rank(a.Kind), rank(b.Kind)), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name))
	})
	for k, t := range b.edges {
		g.Edges = append(g.Edges, Edge{Source: k[0], Target: k[1], Figures: figuresOf(*t)})
	}
	slices.SortFunc(g.Edges, func(a, b Edge) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Target, b.Target))
	})
	return g
}

// rank puts the callers that stand for many last.
func rank(kind string) int {
	switch kind {
	case KindUnmeshed, KindOther:
		return 1
	}
	return 0
}
