package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
	"github.com/meshctl/meshctl/pkg/version"
)

func TestStatusClassAndMethod(t *testing.T) {
	for code, want := range map[int]string{200: "2xx", 204: "2xx", 401: "4xx", 503: "5xx", 0: "0xx", 999: "0xx"} {
		if got := StatusClass(code); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", code, got, want)
		}
	}
	if Method("GET") != "GET" || Method("BREW") != "OTHER" {
		t.Error("Method does not bound the label")
	}
}

// scrape parses m's exposition with Prometheus's own text parser, which
// also holds the output to the format.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, buf.String())
	}
	return fams
}

// series returns the metrics of family name whose labels include want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

func requestCount(t *testing.T, m *Metrics, labels map[string]string) float64 {
	t.Helper()
	s := series(scrape(t, m), MetricRequestsTotal, labels)
	if len(s) != 1 {
		t.Fatalf("%s%v: %d series, want 1", MetricRequestsTotal, labels, len(s))
	}
	return s[0].GetCounter().GetValue()
}

func TestMetricsExposition(t *testing.T) {
	m := NewMetrics()
	m.ObserveRequest("inbound", "GET", 200, "port/80", false, 300*time.Microsecond)
	m.ObserveRequest("inbound", "GET", 204, "port/80", false, 20*time.Second)
	m.ObserveRequest("outbound", "BREW", 503, `we"ird\peer`+"\n", false, time.Millisecond)
	m.TCPOpened("outbound", "10.0.0.1:5432", false)
	m.TCPOpened("outbound", "10.0.0.1:5432", false)
	m.TCPClosed("outbound", "10.0.0.1:5432", false, 100, 2000)
	fams := scrape(t, m)

	if got := requestCount(t, m, map[string]string{"direction": "inbound", "method": "GET", "status_class": "2xx", "peer": "port/80"}); got != 2 {
		t.Errorf("inbound GET 2xx = %v, want 2", got)
	}
	if got := requestCount(t, m, map[string]string{"method": "OTHER", "status_class": "5xx", "peer": `we"ird\peer` + "\n"}); got != 1 {
		t.Errorf("escaped peer = %v, want 1", got)
	}
	h := series(fams, MetricRequestDuration, map[string]string{"direction": "inbound"})
	if len(h) != 1 {
		t.Fatalf("%s: %d inbound series", MetricRequestDuration, len(h))
	}
	hist := h[0].GetHistogram()
	if hist.GetSampleCount() != 2 || math.Abs(hist.GetSampleSum()-20.0003) > 1e-9 {
		t.Errorf("histogram count %d sum %v; want 2, 20.0003", hist.GetSampleCount(), hist.GetSampleSum())
	}
	// 300µs falls in le=0.0005 and above; 20s only in +Inf.
	for _, bk := range hist.Bucket {
		want := uint64(1)
		switch {
		case bk.GetUpperBound() < 0.0005:
			want = 0
		case math.IsInf(bk.GetUpperBound(), 1):
			want = 2
		}
		if bk.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", bk.GetUpperBound(), bk.GetCumulativeCount(), want)
		}
	}
	tcp := func(name string, labels map[string]string) float64 {
		s := series(fams, name, labels)
		if len(s) != 1 {
			t.Fatalf("%s%v: %d series", name, labels, len(s))
		}
		if g := s[0].GetGauge(); g != nil {
			return g.GetValue()
		}
		return s[0].GetCounter().GetValue()
	}
	peer := map[string]string{"direction": "outbound", "peer": "10.0.0.1:5432"}
	if got := tcp(MetricTCPOpened, peer); got != 2 {
		t.Errorf("%s = %v, want 2", MetricTCPOpened, got)
	}
	if got := tcp(MetricTCPActive, peer); got != 1 {
		t.Errorf("%s = %v, want 1", MetricTCPActive, got)
	}
	if got := tcp(MetricTCPBytes, map[string]string{"peer": "10.0.0.1:5432", "flow": "received"}); got != 2000 {
		t.Errorf("received = %v, want 2000", got)
	}
	for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds", "go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_cycles_total", "go_info"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if v := fams["process_resident_memory_bytes"].Metric[0].GetGauge().GetValue(); v < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v", v)
	}
	build := version.Get()
	if s := series(fams, MetricBuildInfo, map[string]string{"version": build.Version, "commit": build.Commit, "go_version": build.GoVersion}); len(s) != 1 || len(fams[MetricBuildInfo].Metric) != 1 || s[0].GetGauge().GetValue() != 1 {
		t.Errorf("%s: %v, want one series of 1 labelled %+v", MetricBuildInfo, fams[MetricBuildInfo], build)
	}
}

// TestMetricsExpositionGolden pins the exposition's layout (ordering,
// label order with le last, escaping) for series whose values are fixed.
func TestMetricsExpositionGolden(t *testing.T) {
	m := NewMetricsFor(Workload{Namespace: "bookstore", Kind: "deployment", Name: "bookstore-v1"})
	for i, d := range []time.Duration{50 * time.Microsecond, 2 * time.Millisecond, 2 * time.Millisecond} {
		m.ObserveRequest([]string{"outbound", "inbound"}[i%2], "POST", 201, "port/8080", false, d)
	}
	m.ObserveRequest("inbound", "GET", 200, "bookbuyer/bookbuyer", true, 2*time.Millisecond)
	m.TCPOpened("inbound", "port/5432", false)
	m.TCPOpened("inbound", "bookbuyer/bookbuyer", true)
	m.Handshake("inbound", "ok", 2*time.Millisecond)
	m.Handshake("outbound", "peer_identity", 50*time.Microsecond)
	var buf bytes.Buffer
	appendBuildInfo(&buf, version.Info{Version: "v1.2.3", Commit: "0123abc", GoVersion: "go1.26.0", Platform: "linux/amd64"}, m.workload)
	m.appendRequests(&buf)
	m.appendTCP(&buf)
	m.appendHandshakes(&buf)
	golden.Assert(t, "testdata/metrics.golden", buf.Bytes())
}

// TestWorkloadLabels: every traffic series and the build's, and only
// those, carry the proxy's workload; values that would break the exposition (quotes,
// backslashes, line feeds, bytes that are not UTF-8) are escaped or
// replaced, and long ones bounded, as Prometheus's own parser reads them.
func TestWorkloadLabels(t *testing.T) {
	long := strings.Repeat("n", 300) + "é"
	for _, tc := range []struct {
		name    string
		w, want Workload
	}{
		{"plain", Workload{"bookstore", "deployment", "bookstore-v1"}, Workload{"bookstore", "deployment", "bookstore-v1"}},
		{"hostile", Workload{"ns\"} 1\n", `de"ploy\ment`, "web\"}\nmesh_proxy_requests_total{x=\"1\xff"},
			Workload{"ns\"} 1\n", `de"ploy\ment`, "web\"}\nmesh_proxy_requests_total{x=\"1\uFFFD"}},
		{"long", Workload{Namespace: "ns", Kind: "job", Name: long}, Workload{"ns", "job", long[:maxWorkloadValue]}},
		{"only the namespace", Workload{Namespace: "ns"}, Workload{Namespace: "ns"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetricsFor(tc.w)
			m.ObserveRequest("inbound", "GET", 200, "a/b", true, time.Millisecond)
			m.TCPOpened("outbound", "a/b", true)
			m.TCPClosed("outbound", "a/b", true, 1, 2)
			m.Handshake("inbound", "ok", time.Millisecond)
			m.Denied("inbound", "http", "c/d", "no_traffic_target")
			fams := scrape(t, m)
			traffic := 0
			for name, f := range fams {
				for _, s := range f.Metric {
					got := map[string]string{}
					for _, l := range s.Label {
						got[l.GetName()] = l.GetValue()
					}
					if !strings.HasPrefix(name, "mesh_proxy_") {
						for k := range got {
							if strings.HasPrefix(k, "workload_") {
								t.Errorf("%s has the workload label %s", name, k)
							}
						}
						continue
					}
					traffic++
					for k, want := range map[string]string{"workload_namespace": tc.want.Namespace, "workload_kind": tc.want.Kind, "workload_name": tc.want.Name} {
						v, ok := got[k]
						if want == "" && ok {
							t.Errorf("%s%v: empty %s written", name, got, k)
						}
						if v != want {
							t.Errorf("%s: %s = %q, want %q", name, k, v, want)
						}
					}
				}
			}
			if traffic != 10 {
				t.Errorf("%d traffic and build series, want 10", traffic)
			}
		})
	}
}

func TestPeersAreBounded(t *testing.T) {
	m := NewMetrics()
	for i := range MaxPeers + 50 {
		m.ObserveRequest("outbound", "GET", 200, fmt.Sprintf("peer-%d", i), false, time.Millisecond)
	}
	if n := len(series(scrape(t, m), MetricRequestsTotal, nil)); n != MaxPeers+1 {
		t.Fatalf("%d series, want %d (named peers plus %q)", n, MaxPeers+1, OtherPeer)
	}
	if got := requestCount(t, m, map[string]string{"peer": OtherPeer}); got != 50 {
		t.Fatalf("other = %v, want 50", got)
	}
}

// TestMetricsConcurrent: observations racing scrapes (run with -race).
func TestMetricsConcurrent(t *testing.T) {
	m := NewMetrics()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				m.ObserveRequest("inbound", "GET", 200, fmt.Sprintf("p%d", (g+i)%3), false, time.Duration(i)*time.Microsecond)
				m.TCPOpened("outbound", "x", false)
				m.TCPClosed("outbound", "x", false, 1, 1)
			}
		}()
	}
	for range 20 {
		scrape(t, m)
	}
	wg.Wait()
	var total float64
	for _, s := range series(scrape(t, m), MetricRequestsTotal, nil) {
		total += s.GetCounter().GetValue()
	}
	if total != 4000 {
		t.Fatalf("counted %v requests, want 4000", total)
	}
}

// serve runs one request through an HTTP middleware and returns what the
// next handler saw and the access-log line.
func serve(t *testing.T, h *HTTP, req *http.Request) (seen http.Header, logLine map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	h.AccessLog = NewAccessLog(&buf)
	h.Next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "short and stout")
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if err := json.Unmarshal(buf.Bytes(), &logLine); err != nil {
		t.Fatalf("access log %q: %v", buf.String(), err)
	}
	return seen, logLine
}

func TestInboundStartsTraceAndLogs(t *testing.T) {
	h := &HTTP{Direction: "inbound", Inbound: true, Metrics: NewMetrics(), Peer: func(*http.Request) (string, bool) { return "port/8080", false }}
	req := httptest.NewRequest("POST", "http://books:8080/books/1?token=secret", strings.NewReader("12345"))
	req.Header.Set("Authorization", "Bearer x.y.z")
	seen, line := serve(t, h, req)

	w3c, ok := propagation.ParseTraceparent(seen.Get("traceparent"))
	if !ok {
		t.Fatalf("no traceparent passed to the app: %v", seen)
	}
	b3 := http.Header{"X-B3-Traceid": seen["X-B3-Traceid"], "X-B3-Spanid": seen["X-B3-Spanid"], "X-B3-Sampled": seen["X-B3-Sampled"]}
	if got, ok := propagation.Extract(b3); !ok || got != w3c {
		t.Fatalf("B3 %v does not match traceparent %v", b3, w3c)
	}
	if req.Header.Get("traceparent") != "" {
		t.Fatal("the server's request was modified; the middleware must work on a clone")
	}
	want := map[string]any{"direction": "inbound", "method": "POST", "authority": "books:8080", "path": "/books/1",
		"status": float64(418), "bytes_received": float64(5), "bytes_sent": float64(15), "trace_id": w3c.TraceID.String(), "peer": "port/8080"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v", k, line[k], v)
		}
	}
	for _, k := range []string{"duration_ms", "upstream_duration_ms"} {
		if _, ok := line[k].(float64); !ok {
			t.Errorf("access log lacks %s: %v", k, line)
		}
	}
	if strings.Contains(fmt.Sprint(line), "secret") || strings.Contains(fmt.Sprint(line), "x.y.z") {
		t.Errorf("access log leaks the query or the token: %v", line)
	}
	if got := requestCount(t, h.Metrics, map[string]string{"direction": "inbound", "method": "POST", "status_class": "4xx", "peer": "port/8080"}); got != 1 {
		t.Errorf("request counter = %v", got)
	}
}

func TestInboundKeepsCallersTrace(t *testing.T) {
	h := &HTTP{Direction: "inbound", Inbound: true}
	req := httptest.NewRequest("GET", "http://books/", nil)
	req.Header.Set("X-B3-TraceId", "a3ce929d0e0e4736")
	req.Header.Set("X-B3-SpanId", "00f067aa0ba902b7")
	seen, _ := serve(t, h, req)
	got, ok := propagation.ParseTraceparent(seen.Get("traceparent"))
	if !ok || got.TraceID.String() != "0000000000000000a3ce929d0e0e4736" || got.SpanID.String() == "00f067aa0ba902b7" {
		t.Fatalf("traceparent %q: want the caller's trace with the proxy's own span", seen.Get("traceparent"))
	}
}

func TestOutboundWithoutTracingLeavesContext(t *testing.T) {
	h := &HTTP{Direction: "outbound"}
	req := httptest.NewRequest("GET", "http://stars/", nil)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req.Header.Set("traceparent", tp)
	seen, line := serve(t, h, req)
	if seen.Get("traceparent") != tp || seen.Get("X-B3-TraceId") != "" {
		t.Fatalf("outbound headers changed without tracing: %v", seen)
	}
	if line["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("trace_id %v", line["trace_id"])
	}
	// No trace context at all: the request goes out unchanged, not refused.
	seen, line = serve(t, h, httptest.NewRequest("GET", "http://stars/", nil))
	if seen.Get("traceparent") != "" || line["status"] != float64(418) {
		t.Fatalf("request without context: %v %v", seen, line)
	}
}

func TestLogBuffer(t *testing.T) {
	var out syncbuf.Buffer
	b := NewLogBuffer(&out, 20*time.Millisecond)
	b.Write([]byte("one\n"))
	if out.String() != "" {
		t.Fatal("written before the flush interval")
	}
	deadline := time.Now().Add(2 * time.Second)
	for out.String() != "one\n" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if out.String() != "one\n" {
		t.Fatalf("not flushed by the ticker: %q", out.String())
	}
	b.Write([]byte("two\n"))
	b.Close()
	if out.String() != "one\ntwo\n" {
		t.Fatalf("Close did not flush: %q", out.String())
	}
}

// TestAccessLogMatchesSlog keeps the hand-built line in slog's JSON shape,
// whatever the client put in the authority and path.
func TestAccessLogMatchesSlog(t *testing.T) {
	for _, s := range []string{"books:8080", `quo"te\back`, "ctl\x00\x1f\n\t\r", "bad\xffutf8", "ünïcode ✓", ""} {
		r := record{method: "GET", authority: s, path: "/" + s, protocol: "HTTP/1.1", peer: "port/80", mtls: true,
			received: 5, sent: 1 << 40, total: 1234567 * time.Nanosecond, upstream: 2 * time.Millisecond}
		var ours, theirs bytes.Buffer
		NewAccessLog(&ours).write("inbound", 200, r, true, propagation.TraceID{1, 2, 3})
		slog.New(slog.NewJSONHandler(&theirs, nil)).Info("request",
			"direction", "inbound", "method", r.method, "authority", r.authority, "path", r.path, "protocol", r.protocol,
			"status", 200, "bytes_received", r.received, "bytes_sent", r.sent, "duration_ms", ms(r.total),
			"upstream_duration_ms", ms(r.upstream), "peer", r.peer, "tls", true, "trace_id", propagation.TraceID{1, 2, 3}.String())
		var a, b map[string]any
		if err := json.Unmarshal(ours.Bytes(), &a); err != nil {
			t.Fatalf("%q: not JSON: %v", ours.String(), err)
		}
		json.Unmarshal(theirs.Bytes(), &b)
		if _, err := time.Parse(time.RFC3339, a["time"].(string)); err != nil {
			t.Errorf("time %v: %v", a["time"], err)
		}
		delete(a, "time")
		delete(b, "time")
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("authority %q:\nours   %v\nslog's %v", s, a, b)
		}
		if !strings.HasSuffix(ours.String(), "}\n") || strings.Count(ours.String(), "\n") != 1 {
			t.Errorf("not one line: %q", ours.String())
		}
	}
}

// blockingWriter holds every Write until released.
type blockingWriter struct {
	syncbuf.Buffer
	release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.Buffer.Write(p)
}

func TestLogBufferDoesNotWaitForTheOutput(t *testing.T) {
	out := &blockingWriter{release: make(chan struct{})}
	b := NewLogBuffer(out, time.Hour)
	line := bytes.Repeat([]byte("x"), 1023)
	line = append(line, '\n')
	// Enough to wake the flusher, which then blocks in the output.
	for range flushSize/len(line) + 1 {
		b.Write(line)
	}
	done := make(chan struct{})
	go func() {
		b.Write([]byte("while the output is stuck\n"))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Write waited for a stuck output with far less than maxBuffered buffered")
	}
	close(out.release)
	b.Close()
	if got := out.String(); !strings.HasSuffix(got, "while the output is stuck\n") || len(got) != (flushSize/len(line)+1)*len(line)+26 {
		t.Fatalf("output of %d bytes ending %q", len(got), got[max(0, len(got)-30):])
	}
}

// TestAppendTimestamp holds appendTimestamp to time.AppendFormat's output
// across zones (whole, half-hour and negative offsets) and instants.
func TestAppendTimestamp(t *testing.T) {
	const layout = "2006-01-02T15:04:05.000Z07:00"
	zones := []*time.Location{time.UTC, time.FixedZone("plus", 5*3600+30*60), time.FixedZone("minus", -(9*3600 + 45*60)), time.FixedZone("tiny", 59), time.FixedZone("tiny-west", -30), time.FixedZone("lmt", -(52*60 + 58))}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		inst := time.Unix(rng.Int64N(1<<36)-1<<34, rng.Int64N(1e9))
		if i == 0 {
			inst = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
		}
		for _, z := range zones {
			tt := inst.In(z)
			if got, want := string(appendTimestamp(nil, tt)), tt.Format(layout); got != want {
				t.Fatalf("%v: got %s, want %s", tt, got, want)
			}
		}
	}
}

// FuzzWorkloadLabels: whatever names Metrics is given, the exposition
// parses with Prometheus's parser, and each label is the value given,
// bounded and made valid UTF-8, or absent when empty.
func FuzzWorkloadLabels(f *testing.F) {
	f.Add("bookstore", "deployment", "bookstore-v1")
	f.Add("ns\"} 1\n", `de"ploy\ment`, "web\xff")
	f.Fuzz(func(t *testing.T, ns, kind, name string) {
		m := NewMetricsFor(Workload{Namespace: ns, Kind: kind, Name: name})
		m.ObserveRequest("inbound", "GET", 200, "a/b", true, time.Millisecond)
		s := series(scrape(t, m), MetricRequestsTotal, nil)
		if len(s) != 1 {
			t.Fatalf("%d series", len(s))
		}
		got := map[string]string{}
		for _, l := range s[0].Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range map[string]string{"workload_namespace": ns, "workload_kind": kind, "workload_name": name} {
			v = strings.ToValidUTF8(v, "\uFFFD")
			if len(v) > maxWorkloadValue {
				v = strings.ToValidUTF8(v[:maxWorkloadValue], "")
			}
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
	})
}
