package statcli

import (
	"bytes"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// bookstoreTraffic is what a bookstore proxy carries between two readings:
// from bookbuyer over mutual TLS, 10 requests in 0.8 ms, 8 in 3 ms and 2
// answered 503 in 20 ms; from a caller without a proxy, 5 in 0.2 ms;
// bookstore's own 7 outbound requests; and from bookthief, two opaque TCP
// connections opened, one closed after 100 bytes in and 300 out.
func bookstoreTraffic(m *telemetry.Metrics) {
	for range 10 {
		m.ObserveRequest("inbound", "GET", 200, "bookbuyer/bookbuyer", true, 800*time.Microsecond)
	}
	for range 8 {
		m.ObserveRequest("inbound", "GET", 200, "bookbuyer/bookbuyer", true, 3*time.Millisecond)
	}
	for range 2 {
		m.ObserveRequest("inbound", "POST", 503, "bookbuyer/bookbuyer", true, 20*time.Millisecond)
	}
	for range 5 {
		m.ObserveRequest("inbound", "GET", 200, "port/8080", false, 200*time.Microsecond)
	}
	for range 7 {
		m.ObserveRequest("outbound", "GET", 200, "bookstore/bookstore", true, time.Millisecond)
	}
	m.TCPOpened("inbound", "bookthief/bookthief", true)
	m.TCPOpened("inbound", "bookthief/bookthief", true)
	m.TCPClosed("inbound", "bookthief/bookthief", true, 100, 300)
}

// readTwice reads the proxy's real exposition before and after traffic,
// 10 s apart, as ReadTwice hands them over.
func readTwice(t *testing.T, m *telemetry.Metrics, traffic func(*telemetry.Metrics)) proxyadmin.Readings {
	t.Helper()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var a, b bytes.Buffer
	if _, err := m.WriteTo(&a); err != nil {
		t.Fatal(err)
	}
	traffic(m)
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return proxyadmin.Readings{First: proxyadmin.Reading{At: at, Body: a.Bytes()}, Second: proxyadmin.Reading{At: at.Add(10 * time.Second), Body: b.Bytes()}}
}

// TestStatsFromTheProxysExposition runs the proxy's own metrics, as it
// writes them, through the parser and the arithmetic: the labels stat
// reads are the ones telemetry writes. The figures are worked by hand.
func TestStatsFromTheProxysExposition(t *testing.T) {
	m := telemetry.NewMetrics()
	bookstoreTraffic(m) // before the window: not counted
	w, err := window(readTwice(t, m, bookstoreTraffic))
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{}
	windows := map[*corev1.Pod]trafficstats.Window{pod: w}

	all := statsOf([]*corev1.Pod{pod}, windows, func(trafficstats.Key) bool { return true })
	// 25 inbound requests in 10 s, 2 of them 503. Buckets (cumulative):
	// ≤250µs 5, ≤1ms 15, ≤5ms 23, ≤25ms 25.
	// p50: rank 12.5, 7.5 of 10 into (0.5ms, 1ms]: 0.875ms.
	// p95: rank 23.75, 0.75 of 2 into (10ms, 25ms]: 15.625ms.
	// p99: rank 24.75, 1.75 of 2 into (10ms, 25ms]: 23.125ms.
	want := &Stats{Proxies: 1, Requests: 25, RequestsPerSecond: 2.5, SuccessRate: ptr(23.0 / 25),
		Latency:        &Latency{P50: 0.000875, P95: 0.015625, P99: 0.023125},
		TCPConnections: 2, TCPOpenedPerSecond: 0.2, TCPBytesInPerSecond: 10, TCPBytesOutPerSecond: 30}
	assertStats(t, "all inbound", all, want)

	// --from bookbuyer: its 20. ≤1ms 10, ≤5ms 18, ≤25ms 20.
	// p50: rank 10, all 10 of (0.5ms, 1ms]: 1ms.
	// p95: rank 19, 1 of 2 into (10ms, 25ms]: 17.5ms; p99: rank 19.8: 23.5ms.
	from := statsOf([]*corev1.Pod{pod}, windows, peerMatch("bookbuyer/bookbuyer"))
	assertStats(t, "from bookbuyer", from, &Stats{Proxies: 1, Requests: 20, RequestsPerSecond: 2, SuccessRate: ptr(0.9),
		Latency: &Latency{P50: 0.001, P95: 0.0175, P99: 0.0235}})
	// The namespace bookbuyer: the same identities.
	assertStats(t, "from namespace bookbuyer", statsOf([]*corev1.Pod{pod}, windows, peerMatch("bookbuyer/")), from)
	// Nobody of namespace book: a prefix is a namespace, not a string.
	assertStats(t, "from namespace book", statsOf([]*corev1.Pod{pod}, windows, peerMatch("book/")), &Stats{Proxies: 1})
	// A pod not read counts nothing.
	if s := statsOf([]*corev1.Pod{{}}, windows, peerMatch("a/b")); s != nil {
		t.Errorf("stats of a pod not read: %+v", s)
	}
}

func ptr(f float64) *float64 { return &f }

func assertStats(t *testing.T, what string, got, want *Stats) {
	t.Helper()
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	ok := got != nil && got.Proxies == want.Proxies && near(got.Requests, want.Requests) && near(got.RequestsPerSecond, want.RequestsPerSecond) &&
		near(got.TCPConnections, want.TCPConnections) && near(got.TCPOpenedPerSecond, want.TCPOpenedPerSecond) &&
		near(got.TCPBytesInPerSecond, want.TCPBytesInPerSecond) && near(got.TCPBytesOutPerSecond, want.TCPBytesOutPerSecond) &&
		(got.SuccessRate == nil) == (want.SuccessRate == nil) && (got.Latency == nil) == (want.Latency == nil)
	if ok && want.SuccessRate != nil {
		ok = near(*got.SuccessRate, *want.SuccessRate)
	}
	if ok && want.Latency != nil {
		ok = near(got.Latency.P50, want.Latency.P50) && near(got.Latency.P95, want.Latency.P95) && near(got.Latency.P99, want.Latency.P99)
	}
	if !ok {
		t.Errorf("%s: got %s, want %s", what, dump(got), dump(want))
	}
}

func dump(s *Stats) string {
	if s == nil {
		return "nil"
	}
	var b bytes.Buffer
	(&Result{Rows: []Row{{Stats: s}}}).WriteJSON(&b)
	return b.String()
}

func TestWindowErrors(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"}}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ok := []byte("# TYPE mesh_proxy_requests_total counter\nmesh_proxy_requests_total{direction=\"inbound\",peer=\"a/b\",status_class=\"2xx\"} 1\n")
	for _, tc := range []struct {
		name string
		r    proxyadmin.Readings
		want string
	}{
		{"not read", proxyadmin.Readings{Err: errors.New(`pod "web-1" in namespace "shop": port-forward: forbidden`)}, "port-forward: forbidden"},
		{"no metrics", proxyadmin.Readings{Err: &proxyadmin.AnswerError{Name: "pod", Method: "GET", Path: wire.MetricsPath, Code: http.StatusNotFound}},
			"its proxy serves no metrics: turn on observability.metrics.enable"},
		{"not the text format", proxyadmin.Readings{First: proxyadmin.Reading{At: at, Body: []byte("{}")}, Second: proxyadmin.Reading{At: at.Add(time.Second), Body: ok}}, "/metrics: line 1"},
		{"not a count", proxyadmin.Readings{First: proxyadmin.Reading{At: at, Body: ok}, Second: proxyadmin.Reading{At: at.Add(time.Second), Body: bytes.Replace(ok, []byte("} 1"), []byte("} -4"), 1)}}, "-4 is not a count"},
	} {
		_, err := window(tc.r)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if got := WhyUnread(pod, err); !strings.Contains(got, tc.want) || strings.HasPrefix(got, "pod ") {
			t.Errorf("%s: %q, want it to say %q without naming the pod", tc.name, got, tc.want)
		}
	}
}

func TestFormatLatency(t *testing.T) {
	for s, want := range map[float64]string{
		0: "0ms", 0.000175: "0.17ms", 0.000875: "0.88ms", 0.001: "1ms", 0.0045: "4.5ms", 0.00999: "10ms",
		0.015625: "16ms", 0.25: "250ms", 9.9994: "9999ms", 10: "10s", 12.5: "12.5s",
	} {
		if got := FormatLatency(s); got != want {
			t.Errorf("FormatLatency(%v) = %q, want %q", s, got, want)
		}
	}
}

// TestResultTable: the table, -o wide with every namespace, and JSON.
func TestResultTable(t *testing.T) {
	m := telemetry.NewMetrics()
	w, err := window(readTwice(t, m, bookstoreTraffic))
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{}
	windows := map[*corev1.Pod]trafficstats.Window{pod: w}
	res := &Result{Window: 10 * time.Second, Rows: []Row{
		{Namespace: "bookbuyer", Kind: KindDeployment, Name: "bookbuyer", Identity: "bookbuyer/bookbuyer", MeshedPods: 1, Pods: 1,
			Stats: statsOf([]*corev1.Pod{pod}, windows, peerMatch("nobody/calls"))},
		{Namespace: "bookstore", Kind: KindDeployment, Name: "bookstore", Identity: "bookstore/bookstore", MeshedPods: 1, Pods: 2,
			Stats: statsOf([]*corev1.Pod{pod}, windows, func(trafficstats.Key) bool { return true })},
		{Namespace: "bookstore", Kind: KindDeployment, Name: "legacy", Identity: "bookstore/default", Pods: 3},
	}, Unreadable: []Unreadable{{Namespace: "bookstore", Pod: "bookstore-2", Error: "port-forward: connection refused"}}}
	for _, c := range []struct {
		name             string
		wide, namespaces bool
		json             bool
	}{
		{"stat.table", false, false, false},
		{"stat-wide-all.table", true, true, false},
		{"stat.json", false, false, true},
	} {
		res.wide, res.namespaces = c.wide, c.namespaces
		var b bytes.Buffer
		write := res.WriteTable
		if c.json {
			write = res.WriteJSON
		}
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "testdata/"+c.name+".golden", b.Bytes())
	}
	var b bytes.Buffer
	if err := (&Result{}).WriteTable(&b); err != nil || b.String() != "No resources found.\n" {
		t.Errorf("no rows: %q %v", b.String(), err)
	}
}

// TestParseReadingKeepsOnlyWhatTheWindowReads: a reading is held until the
// next, for every proxy in scope, so the series the window never reads (a
// hostile proxy may send 200,000 of them) are not kept.
func TestParseReadingKeepsOnlyWhatTheWindowReads(t *testing.T) {
	body := "# TYPE mesh_proxy_requests_total counter\n" +
		`mesh_proxy_requests_total{direction="inbound",method="GET",peer="a/b",status_class="2xx",tls="true"} 3` + "\n" +
		"# TYPE junk_total counter\n" +
		`junk_total{x="1"} 1` + "\n" + `junk_total{x="2"} 2` + "\n" +
		"# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 7\n"
	r, err := ParseReading(proxyadmin.Reading{At: time.Unix(1, 0), Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range r.Samples {
		names = append(names, s.Name)
	}
	if want := []string{"mesh_proxy_requests_total", "process_start_time_seconds"}; !slices.Equal(names, want) {
		t.Fatalf("kept %v, want %v", names, want)
	}
}
