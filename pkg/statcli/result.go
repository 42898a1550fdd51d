package statcli

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// Result is what `meshctl stat` prints. Its JSON form is part of the
// CLI's contract.
type Result struct {
	// Window is the time between each proxy's two readings, as asked.
	Window time.Duration `json:"-"`
	// Rows are by namespace and name.
	Rows []Row `json:"rows"`
	// Unreadable are the proxies that were not read, and why; the rows
	// they belong to count without them.
	Unreadable []Unreadable `json:"unreadable,omitempty"`

	wide, namespaces bool
}

// Row is one deployment, statefulset, daemonset, namespace or pod.
type Row struct {
	// Namespace is empty for a namespace's row.
	Namespace string `json:"namespace,omitempty"`
	Kind      Kind   `json:"kind"`
	Name      string `json:"name"`
	// Identity is the peer label of its pods' traffic (namespace/
	// ServiceAccount, from the pod template), what --from and --to match.
	Identity string `json:"identity,omitempty"`
	// Pods are its live pods, MeshedPods those with a proxy.
	MeshedPods int `json:"meshedPods"`
	Pods       int `json:"pods"`
	// Stats are the traffic; nil when no proxy of it was read.
	Stats *Stats `json:"stats,omitempty"`
}

// Stats are the requests (and opaque TCP connections) a row's pods
// received over the window, from the inbound series of the proxies read.
type Stats struct {
	// Proxies is how many proxies were read.
	Proxies int `json:"proxies"`
	// Requests counts the HTTP requests in the window, RequestsPerSecond
	// each proxy's count over its own window, summed.
	Requests          float64 `json:"requests"`
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	// SuccessRate is the share of requests not answered 5xx; Latency the
	// percentiles of their durations. Both nil without requests.
	SuccessRate *float64 `json:"successRate,omitempty"`
	Latency     *Latency `json:"latencySeconds,omitempty"`
	// TCPConnections are the opaque TCP connections open at the second
	// reading; TCPOpenedPerSecond those opened in the window, per second.
	TCPConnections     float64 `json:"tcpConnections"`
	TCPOpenedPerSecond float64 `json:"tcpOpenedPerSecond"`
	// TCPBytesInPerSecond are the bytes the pods' apps received over
	// opaque TCP, TCPBytesOutPerSecond those they answered.
	TCPBytesInPerSecond  float64 `json:"tcpBytesInPerSecond"`
	TCPBytesOutPerSecond float64 `json:"tcpBytesOutPerSecond"`
}

// Latency are percentiles of the requests' durations, in seconds, as
// histogram_quantile estimates them from the proxies' buckets (100 µs to
// 10 s): within a bucket, linear; above the last, its bound.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Unreadable is a proxy that was not read, and why.
type Unreadable struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Error     string `json:"error"`
}

// newStats turns n proxies' traffic into the row's figures.
func newStats(n int, t trafficstats.Traffic) *Stats {
	s := &Stats{
		Proxies: n, Requests: t.Requests, RequestsPerSecond: t.RequestRate,
		TCPConnections: t.TCPActive, TCPOpenedPerSecond: t.TCPOpenRate,
		TCPBytesInPerSecond: t.BytesSentRate, TCPBytesOutPerSecond: t.BytesReceivedRate,
	}
	if sr, ok := t.SuccessRate(); ok {
		s.SuccessRate = &sr
	}
	if l := (Latency{P50: t.Latency.Quantile(0.5), P95: t.Latency.Quantile(0.95), P99: t.Latency.Quantile(0.99)}); !math.IsNaN(l.P50) {
		s.Latency = &l
	}
	return s
}

// column is one column of the table; wide ones only in -o wide.
type column struct {
	header string
	wide   bool
	cell   func(r *Row) string
}

var columns = []column{
	{header: "NAME", cell: func(r *Row) string { return r.Name }},
	{header: "MESHED", cell: func(r *Row) string { return fmt.Sprintf("%d/%d", r.MeshedPods, r.Pods) }},
	{header: "SUCCESS", cell: func(r *Row) string {
		if r.Stats == nil || r.Stats.SuccessRate == nil {
			return "-"
		}
		return strconv.FormatFloat(*r.Stats.SuccessRate*100, 'f', 2, 64) + "%"
	}},
	{header: "RPS", cell: stat(func(s *Stats) string { return rate(s.RequestsPerSecond) + "rps" })},
	{header: "LATENCY_P50", cell: latency(func(l *Latency) float64 { return l.P50 })},
	{header: "LATENCY_P95", cell: latency(func(l *Latency) float64 { return l.P95 })},
	{header: "LATENCY_P99", cell: latency(func(l *Latency) float64 { return l.P99 })},
	{header: "TCP_CONN", cell: stat(func(s *Stats) string { return strconv.FormatFloat(s.TCPConnections, 'f', 0, 64) })},
	{header: "IDENTITY", wide: true, cell: func(r *Row) string { return orDash(r.Identity) }},
	{header: "REQUESTS", wide: true, cell: stat(func(s *Stats) string { return strconv.FormatFloat(s.Requests, 'f', 0, 64) })},
	{header: "TCP_OPENED/S", wide: true, cell: stat(func(s *Stats) string { return rate(s.TCPOpenedPerSecond) })},
	{header: "TCP_IN_B/S", wide: true, cell: stat(func(s *Stats) string { return rate(s.TCPBytesInPerSecond) })},
	{header: "TCP_OUT_B/S", wide: true, cell: stat(func(s *Stats) string { return rate(s.TCPBytesOutPerSecond) })},
	{header: "PROXIES", wide: true, cell: stat(func(s *Stats) string { return strconv.Itoa(s.Proxies) })},
}

// WriteTable writes one line per row; -o wide adds columns.
func (r *Result) WriteTable(out io.Writer) error {
	if len(r.Rows) == 0 {
		_, err := io.WriteString(out, "No resources found.\n")
		return err
	}
	var header []string
	if r.namespaces {
		header = append(header, "NAMESPACE")
	}
	for _, c := range columns {
		if !c.wide || r.wide {
			header = append(header, c.header)
		}
	}
	rows := make([][]string, 0, len(r.Rows))
	for i := range r.Rows {
		row := &r.Rows[i]
		var cells []string
		if r.namespaces {
			cells = append(cells, row.Namespace)
		}
		for _, c := range columns {
			if !c.wide || r.wide {
				cells = append(cells, c.cell(row))
			}
		}
		rows = append(rows, cells)
	}
	return cli.WriteTable(out, header, rows)
}

// WriteJSON writes the rows as one JSON document.
func (r *Result) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, r.doc()) }

// WriteYAML writes the rows as one YAML document.
func (r *Result) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, r.doc()) }

// doc is the JSON form: the window in seconds, then the rows.
func (r *Result) doc() any {
	return struct {
		WindowSeconds float64 `json:"windowSeconds"`
		*Result
	}{r.Window.Seconds(), r}
}

func stat(f func(*Stats) string) func(*Row) string {
	return func(r *Row) string {
		if r.Stats == nil {
			return "-"
		}
		return f(r.Stats)
	}
}

func latency(f func(*Latency) float64) func(*Row) string {
	return func(r *Row) string {
		if r.Stats == nil || r.Stats.Latency == nil {
			return "-"
		}
		return FormatLatency(f(r.Stats.Latency))
	}
}

// rate writes a rate with one decimal, or none from a hundred on.
func rate(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// FormatLatency writes seconds as the table shows them: milliseconds with
// two significant digits under ten (0.25ms, 4.5ms), whole milliseconds
// under ten seconds, seconds above.
func FormatLatency(s float64) string {
	ms := s * 1000
	switch {
	case ms < 10:
		return strconv.FormatFloat(ms, 'g', 2, 64) + "ms"
	case ms < 10_000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(s, 'g', 3, 64) + "s"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
