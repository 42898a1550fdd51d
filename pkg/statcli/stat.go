// Package statcli is `meshctl stat`: the traffic of deployments,
// statefulsets, daemonsets, namespaces or pods, from the proxies' own
// metrics, with no Prometheus. It lists the rows' objects and pods (one
// List per resource kind), reads every meshed pod's /metrics twice, a
// window apart, over one port-forward each (proxyadmin.ReadTwice), and
// leaves the arithmetic to pkg/trafficstats: requests per second, the
// share not answered 5xx, latency percentiles and opaque TCP connections
// of the requests each row's pods received, or, with --from and --to, of
// one edge only, told by the peer label (the caller's identity) of the
// destination's inbound series.
package statcli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/clock"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// FormatWide is the table with more columns. It belongs to pkg/cli's
// closed set of formats once a second command prints it.
const FormatWide cli.Format = "wide"

// DefaultWindow is the time between the two readings of each proxy.
const DefaultWindow = 10 * time.Second

// The bounds of --window: under a second, a rate rests on too few
// requests; over five minutes, the port-forwards are held too long.
const (
	MinWindow = time.Second
	MaxWindow = 5 * time.Minute
)

// Options are the inputs of `meshctl stat KIND [NAME]`.
type Options struct {
	genericiooptions.IOStreams
	// Kind and Name are the rows: every object of Kind, or the one named.
	Kind Kind
	Name string
	// Namespace holds the rows; AllNamespaces shows every namespace's.
	Namespace     string
	AllNamespaces bool
	// From and To, when set, restrict each row to one edge (EdgeSyntax):
	// the requests the row's pods received from From, or those the
	// row's pods sent to To, as To's proxies counted them.
	From, To string
	// Window is the time between the two readings of each proxy.
	Window time.Duration
	// Output is table, wide, json or yaml.
	Output cli.Format
	// Clients reaches the cluster.
	Clients func() (*kube.Clients, error)
	// Open opens a port-forward to a proxy; the Client's when nil.
	Open proxyadmin.Opener
	// Clock times the readings; the real one when nil.
	Clock clock.WithTicker
	// Decorated draws progress on ErrOut (a terminal); otherwise one line
	// says what is read.
	Decorated bool

	from, to *Edge
}

// Complete reads KIND [NAME] and takes the namespace, clients and
// terminal from f.
func (o *Options) Complete(f cli.Factory, args []string) error {
	if len(args) > 0 {
		k, err := ParseKind(args[0])
		if err != nil {
			return cli.UsageErrorf("%w", err)
		}
		o.Kind = k
	}
	if len(args) > 1 {
		o.Name = args[1]
	}
	ns, err := cli.ContextNamespace(f)
	if err != nil {
		return err
	}
	o.Namespace = ns
	o.Clients = f.Clients
	o.Decorated = f.Decorated(o.ErrOut)
	return nil
}

// Validate checks the flags and parses --from and --to.
func (o *Options) Validate() error {
	if o.Kind == "" {
		return cli.UsageErrorf("a kind is required: %s", RowKinds)
	}
	if o.Window < MinWindow || o.Window > MaxWindow {
		return cli.UsageErrorf("--window %s: want %s to %s", o.Window, MinWindow, MaxWindow)
	}
	if o.From != "" && o.To != "" {
		return cli.UsageErrorf("--from and --to exclude each other: a row is the destination of --from, or the source of --to")
	}
	if o.AllNamespaces && o.Name != "" && o.Kind != KindNamespace {
		return cli.UsageErrorf("a %s is named in one namespace: drop NAME or --all-namespaces", o.Kind)
	}
	ns := o.Namespace
	if o.AllNamespaces {
		ns = ""
	}
	for _, f := range []struct {
		flag, value string
		edge        **Edge
	}{{"--from", o.From, &o.from}, {"--to", o.To, &o.to}} {
		if f.value == "" {
			continue
		}
		e, err := ParseEdge(f.value, ns)
		if err != nil {
			return cli.UsageErrorf("%s %w", f.flag, err)
		}
		*f.edge = &e
	}
	return nil
}

// Run lists the rows, reads the proxies twice and prints the traffic.
func (o *Options) Run(ctx context.Context) error {
	c, err := o.Clients()
	if err != nil {
		return err
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	open := o.Open
	if open == nil {
		open = (&proxyadmin.Client{Config: c.Config, Kube: c.Kube}).Session
	}
	ns := o.Namespace
	if o.AllNamespaces || o.Kind == KindNamespace {
		ns = ""
	}
	rows, err := listWorkloads(ctx, c.Kube, o.Kind, ns, o.Name)
	if err != nil {
		return err
	}
	// What each row counts: the inbound series of its own proxies, from
	// any peer or from --from's; or, with --to, the inbound series of
	// --to's proxies whose peer is the row.
	var fromPeer string
	if o.from != nil {
		if fromPeer, err = peerOf(ctx, c.Kube, *o.from); err != nil {
			return err
		}
	}
	var read []*corev1.Pod
	if o.to != nil {
		dst, err := podsOf(ctx, c.Kube, *o.to)
		if err != nil {
			return err
		}
		read = Readable(dst)
	} else {
		for _, w := range rows {
			read = append(read, Readable(w.pods)...)
		}
	}

	windows, unreadable := o.readAll(ctx, read, open, clk)
	res := &Result{Window: o.Window, wide: o.Output == FormatWide, namespaces: o.AllNamespaces && o.Kind != KindNamespace, Unreadable: unreadable}
	for _, w := range rows {
		row := Row{Namespace: w.namespace, Kind: w.kind, Name: w.name, Pods: len(w.pods), MeshedPods: len(w.meshed())}
		if w.kind != KindNamespace {
			row.Identity = w.peer
		}
		if row.MeshedPods > 0 {
			var src []*corev1.Pod
			var match func(trafficstats.Key) bool
			switch {
			case o.to != nil:
				src = read
				match = peerMatch(w.peer)
			case o.from != nil:
				src = w.pods
				match = peerMatch(fromPeer)
			default:
				src = w.pods
				match = func(trafficstats.Key) bool { return true }
			}
			row.Stats = statsOf(src, windows, match)
		}
		res.Rows = append(res.Rows, row)
	}
	for _, u := range unreadable {
		// The error may hold what the proxy answered: no escape sequence
		// reaches the terminal.
		fmt.Fprintf(o.ErrOut, "Warning: the proxy of pod %q in namespace %q was not read: %s\n", u.Pod, u.Namespace, cli.Printable(u.Error))
	}
	f := o.Output
	if f == FormatWide {
		f = cli.FormatTable
	}
	return cli.Write(o.Out, f, res)
}

// Readable are the pods whose proxy can be asked: meshed and running.
func Readable(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Status.Phase == corev1.PodRunning && proxyconfig.ProxyContainerOf(&p.Spec) != nil {
			out = append(out, p)
		}
	}
	return out
}

// peerMatch accepts the inbound series whose peer is peer, or, for a
// namespace (peer ending in /), any identity of it.
func peerMatch(peer string) func(trafficstats.Key) bool {
	prefix := peer[len(peer)-1] == '/'
	return func(k trafficstats.Key) bool {
		if k.Direction != trafficstats.Inbound {
			return false
		}
		if prefix {
			return len(k.Peer) > len(peer) && k.Peer[:len(peer)] == peer
		}
		return k.Peer == peer
	}
}

// statsOf adds up the inbound traffic that match accepts over the
// windows of pods that were read; nil when none was.
func statsOf(pods []*corev1.Pod, windows map[*corev1.Pod]trafficstats.Window, match func(trafficstats.Key) bool) *Stats {
	var t trafficstats.Traffic
	n := 0
	for _, p := range pods {
		w, ok := windows[p]
		if !ok {
			continue
		}
		n++
		t.Add(w.Select(func(k trafficstats.Key) bool { return k.Direction == trafficstats.Inbound && match(k) }))
	}
	if n == 0 {
		return nil
	}
	return newStats(n, t)
}

// readAll reads every pod's metrics twice, Window apart, and computes each
// proxy's window; a proxy that cannot be read, or whose answers cannot be
// used, is listed instead.
func (o *Options) readAll(ctx context.Context, pods []*corev1.Pod, open proxyadmin.Opener, clk clock.WithTicker) (map[*corev1.Pod]trafficstats.Window, []Unreadable) {
	proxies := "proxies"
	if len(pods) == 1 {
		proxies = "proxy"
	}
	fmt.Fprintf(o.ErrOut, "Reading the metrics of %d %s twice, %s apart (--window).\n", len(pods), proxies, o.Window)
	var progress func(first, second, total int)
	if o.Decorated {
		p := cli.NewProgress(o.ErrOut, true, clk)
		defer p.Stop()
		progress = func(first, second, total int) {
			p.Update("metrics", fmt.Sprintf("first reading %d/%d, second %d/%d", first, total, second, total))
		}
	}
	readings := proxyadmin.ReadTwice(ctx, pods, wire.MetricsPath, o.Window, proxyadmin.TwiceOptions{Open: open, Clock: clk, Progress: progress})
	windows := map[*corev1.Pod]trafficstats.Window{}
	var unreadable []Unreadable
	for _, r := range readings {
		w, err := window(r)
		if err != nil {
			unreadable = append(unreadable, Unreadable{Namespace: r.Pod.Namespace, Pod: r.Pod.Name, Error: WhyUnread(r.Pod, err)})
			continue
		}
		windows[r.Pod] = w
	}
	return windows, unreadable
}

// window is what a proxy carried between its two readings.
func window(r proxyadmin.Readings) (trafficstats.Window, error) {
	if r.Err != nil {
		return trafficstats.Window{}, r.Err
	}
	first, err := ParseReading(r.First)
	if err != nil {
		return trafficstats.Window{}, err
	}
	second, err := ParseReading(r.Second)
	if err != nil {
		return trafficstats.Window{}, err
	}
	return trafficstats.Between(first, second)
}

// ParseReading parses one answer of a proxy's /metrics into the samples
// pkg/trafficstats reads; the text is the proxy's, so it is checked.
func ParseReading(r proxyadmin.Reading) (trafficstats.Reading, error) {
	fams, err := proxyadmin.ParseMetrics(r.Body)
	if err != nil {
		return trafficstats.Reading{}, fmt.Errorf("%s: %w", wire.MetricsPath, err)
	}
	out := trafficstats.Reading{At: r.At}
	for _, f := range fams {
		for _, s := range f.Samples {
			// Only what the window reads is kept: a reading is held
			// until the next one, for every proxy in scope.
			if !trafficstats.Uses(s.Name) {
				continue
			}
			// ParseMetrics checked that the value is a number.
			v, _ := strconv.ParseFloat(s.Value, 64)
			out.Samples = append(out.Samples, trafficstats.Sample{Name: s.Name, Labels: s.Labels, Value: v})
		}
	}
	return out, nil
}

// WhyUnread says, without the pod's name (the caller gives it), why a proxy was
// not read; a proxy without metrics is told how to turn them on.
func WhyUnread(p *corev1.Pod, err error) string {
	var answer *proxyadmin.AnswerError
	if errors.As(err, &answer) && answer.Code == http.StatusNotFound && answer.Path == wire.MetricsPath {
		return "its proxy serves no metrics: turn on observability.metrics.enable in the MeshConfig and restart the pod"
	}
	msg := err.Error()
	if prefix := fmt.Sprintf("pod %q in namespace %q: ", p.Name, p.Namespace); len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}
