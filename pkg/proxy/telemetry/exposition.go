package telemetry

import (
	"bytes"
	"cmp"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshctl/meshctl/pkg/version"
)

// ContentType is the media type of WriteTo's output, Prometheus's text
// exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteTo writes every series in Prometheus's text exposition format,
// sorted so that scrapes compare line by line: the build, the proxy's
// metrics, then the process's (CPU, memory, file descriptors, start time)
// and the Go runtime's (goroutines, heap, GC cycles) under the names
// Prometheus's own collectors use.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	appendBuildInfo(&b, version.Get(), m.workload)
	m.appendRequests(&b)
	m.appendTCP(&b)
	m.appendHandshakes(&b)
	m.appendDenied(&b)
	m.appendProcess(&b)
	return b.WriteTo(w)
}

// Handler serves WriteTo on GET.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		m.WriteTo(w)
	})
}

// appendBuildInfo writes the build as an info metric; it takes the build
// so that the golden test does not depend on the toolchain. It names the
// workload too: a query joins the process's metrics, which do not, to it
// (on instance and job) to sum them by workload.
func appendBuildInfo(b *bytes.Buffer, v version.Info, workload string) {
	header(b, MetricBuildInfo, "gauge", "A metric with a constant '1' value labeled by the version, commit and Go version mesh-proxy was built from.")
	sample(b, MetricBuildInfo, []string{"commit", v.Commit, "go_version", v.GoVersion, "version", v.Version}, workload, "", "", 1)
}

func (m *Metrics) appendRequests(b *bytes.Buffer) {
	m.mu.Lock()
	keys := make([]requestKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	series := make([]*requestSeries, len(keys))
	slices.SortFunc(keys, func(a, b requestKey) int {
		return cmp.Or(strings.Compare(a.direction, b.direction), strings.Compare(a.method, b.method),
			strings.Compare(a.peer, b.peer), strings.Compare(a.class, b.class), compareBool(a.mtls, b.mtls))
	})
	for i, k := range keys {
		series[i] = m.requests[k]
	}
	m.mu.Unlock()

	header(b, MetricRequestsTotal, "counter", "HTTP requests handled by the proxy.")
	for i, k := range keys {
		labels := requestLabels(k)
		sample(b, MetricRequestsTotal, labels, m.workload, "", "", float64(series[i].count.Load()))
	}
	header(b, MetricRequestDuration, "histogram", "Time from receiving an HTTP request to the end of its response.")
	for i, k := range keys {
		m.histogram(b, MetricRequestDuration, requestLabels(k), series[i])
	}
}

// histogram writes the samples of one histogram series.
func (m *Metrics) histogram(b *bytes.Buffer, name string, labels []string, s *requestSeries) {
	// The buckets are read before the count, which an observation
	// meanwhile may have raised; le="+Inf" (the count) is then still
	// at least the largest bucket, as a histogram's must be.
	var cumulative uint64
	counts := make([]uint64, len(durationBuckets))
	for j := range durationBuckets {
		cumulative += s.buckets[j].Load()
		counts[j] = cumulative
	}
	count := max(s.count.Load(), cumulative)
	for j := range durationBuckets {
		sample(b, name+"_bucket", labels, m.workload, "le", m.bounds[j], float64(counts[j]))
	}
	sample(b, name+"_bucket", labels, m.workload, "le", "+Inf", float64(count))
	sample(b, name+"_sum", labels, m.workload, "", "", time.Duration(s.sum.Load()).Seconds())
	sample(b, name+"_count", labels, m.workload, "", "", float64(count))
}

func requestLabels(k requestKey) []string {
	return []string{"direction", k.direction, "method", k.method, "peer", k.peer, "status_class", k.class, "tls", strconv.FormatBool(k.mtls)}
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

func (m *Metrics) appendHandshakes(b *bytes.Buffer) {
	m.mu.Lock()
	keys := make([]handshakeKey, 0, len(m.tls))
	for k := range m.tls {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b handshakeKey) int {
		return cmp.Or(strings.Compare(a.direction, b.direction), strings.Compare(a.result, b.result))
	})
	series := make([]*requestSeries, len(keys))
	for i, k := range keys {
		series[i] = m.tls[k]
	}
	m.mu.Unlock()

	header(b, MetricHandshakes, "counter", "Mutual TLS handshakes between proxies, by result: ok, or why it failed.")
	for i, k := range keys {
		sample(b, MetricHandshakes, []string{"direction", k.direction, "result", k.result}, m.workload, "", "", float64(series[i].count.Load()))
	}
	header(b, MetricHandshakeDuration, "histogram", "Time a mutual TLS handshake between proxies took, including the TCP connect on the outbound side.")
	for i, k := range keys {
		m.histogram(b, MetricHandshakeDuration, []string{"direction", k.direction, "result", k.result}, series[i])
	}
}

func (m *Metrics) appendDenied(b *bytes.Buffer) {
	m.mu.Lock()
	keys := make([]deniedKey, 0, len(m.denied))
	for k := range m.denied {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b deniedKey) int {
		return cmp.Or(strings.Compare(a.direction, b.direction), strings.Compare(a.protocol, b.protocol), strings.Compare(a.peer, b.peer), strings.Compare(a.reason, b.reason))
	})
	counts := make([]uint64, len(keys))
	for i, k := range keys {
		counts[i] = m.denied[k].Load()
	}
	m.mu.Unlock()
	header(b, MetricDenied, "counter", "HTTP requests and connections the mesh refused: inbound by its policy, by caller and reason; outbound to destinations outside the mesh while egress is off.")
	for i, k := range keys {
		sample(b, MetricDenied, []string{"direction", k.direction, "peer", k.peer, "protocol", k.protocol, "reason", k.reason}, m.workload, "", "", float64(counts[i]))
	}
}

func (m *Metrics) appendTCP(b *bytes.Buffer) {
	m.mu.Lock()
	keys := make([]tcpKey, 0, len(m.tcp))
	for k := range m.tcp {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b tcpKey) int {
		return cmp.Or(strings.Compare(a.direction, b.direction), strings.Compare(a.peer, b.peer), compareBool(a.mtls, b.mtls))
	})
	series := make([]*tcpSeries, len(keys))
	for i, k := range keys {
		series[i] = m.tcp[k]
	}
	m.mu.Unlock()

	header(b, MetricTCPOpened, "counter", "Opaque TCP connections proxied.")
	for i, k := range keys {
		sample(b, MetricTCPOpened, tcpLabels(k), m.workload, "", "", float64(series[i].opened.Load()))
	}
	header(b, MetricTCPActive, "gauge", "Opaque TCP connections open now.")
	for i, k := range keys {
		sample(b, MetricTCPActive, tcpLabels(k), m.workload, "", "", float64(series[i].active.Load()))
	}
	header(b, MetricTCPBytes, "counter", "Bytes of opaque TCP connections, by flow: sent upstream or received from upstream.")
	for i, k := range keys {
		tls := strconv.FormatBool(k.mtls)
		sample(b, MetricTCPBytes, []string{"direction", k.direction, "flow", "received", "peer", k.peer, "tls", tls}, m.workload, "", "", float64(series[i].received.Load()))
		sample(b, MetricTCPBytes, []string{"direction", k.direction, "flow", "sent", "peer", k.peer, "tls", tls}, m.workload, "", "", float64(series[i].sent.Load()))
	}
}

func tcpLabels(k tcpKey) []string {
	return []string{"direction", k.direction, "peer", k.peer, "tls", strconv.FormatBool(k.mtls)}
}

// appendProcess writes the few process and runtime metrics worth a
// dashboard, read when scraped.
func (m *Metrics) appendProcess(b *bytes.Buffer) {
	samples := []metrics.Sample{
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(samples)
	value := func(s metrics.Sample) float64 {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			return float64(s.Value.Uint64())
		case metrics.KindFloat64:
			return s.Value.Float64()
		}
		return 0
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()

	header(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
	sample(b, "process_cpu_seconds_total", nil, "", "", "", cpu)
	if rss, ok := residentBytes(); ok {
		header(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
		sample(b, "process_resident_memory_bytes", nil, "", "", "", float64(rss))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		header(b, "process_open_fds", "gauge", "Number of open file descriptors.")
		sample(b, "process_open_fds", nil, "", "", "", float64(len(fds)))
	}
	var nofile syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile) == nil {
		header(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.")
		sample(b, "process_max_fds", nil, "", "", "", float64(nofile.Cur))
	}
	header(b, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
	sample(b, "process_start_time_seconds", nil, "", "", "", float64(m.start.UnixNano())/1e9)
	header(b, "go_goroutines", "gauge", "Number of goroutines that currently exist.")
	sample(b, "go_goroutines", nil, "", "", "", value(samples[0]))
	header(b, "go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and currently in use.")
	sample(b, "go_memstats_heap_alloc_bytes", nil, "", "", "", value(samples[1]))
	header(b, "go_memstats_sys_bytes", "gauge", "Number of bytes obtained from system.")
	sample(b, "go_memstats_sys_bytes", nil, "", "", "", value(samples[2]))
	header(b, "go_gc_cycles_total", "counter", "Completed GC cycles.")
	sample(b, "go_gc_cycles_total", nil, "", "", "", value(samples[3]))
	header(b, "go_info", "gauge", "Information about the Go environment.")
	sample(b, "go_info", []string{"version", runtime.Version()}, "", "", "", 1)
}

// residentBytes is the process's resident set, from /proc/self/statm.
func residentBytes() (int64, bool) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

func header(b *bytes.Buffer, name, typ, help string) {
	b.WriteString("# HELP ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(help)
	b.WriteString("\n# TYPE ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(typ)
	b.WriteByte('\n')
}

// sample writes one line: labels are name, value pairs in name order;
// fixed, rendered labels (the workload's) whose names sort after them;
// and extraName (le), when set, comes last, as Prometheus's client puts it.
func sample(b *bytes.Buffer, name string, labels []string, fixed, extraName, extraValue string, v float64) {
	b.WriteString(name)
	if len(labels) > 0 || fixed != "" || extraName != "" {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			label(b, labels[i], labels[i+1])
		}
		if fixed != "" {
			if len(labels) > 0 {
				b.WriteByte(',')
			}
			b.WriteString(fixed)
		}
		if extraName != "" {
			if len(labels) > 0 || fixed != "" {
				b.WriteByte(',')
			}
			label(b, extraName, extraValue)
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	var num [32]byte
	b.Write(formatFloat(num[:0], v))
	b.WriteByte('\n')
}

// label writes name="value" with the value escaped as the text format
// requires: backslash, double quote and line feed.
func label(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(`="`)
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// formatFloat appends v as Prometheus's text format writes numbers.
func formatFloat(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'g', -1, 64) }
