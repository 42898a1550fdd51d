package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/statcli"
	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// replay is a Source that answers recorded scrapes, one per Read, the
// last one again once they are used up.
type replay struct {
	mu       sync.Mutex
	scrapes  []Scrape
	reads    int
	released int
}

func (r *replay) Read(context.Context) (Scrape, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.scrapes[min(r.reads, len(r.scrapes)-1)]
	r.reads++
	return s, nil
}

func (r *replay) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.released++
}

func (r *replay) counts() (reads, released int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads, r.released
}

// The recorded readings are taken at fixtureStart and every fixtureWindow
// after it.
var fixtureStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const fixtureWindow = 10 * time.Second

// fixtureScrapes is how many readings each pod of the fixture has.
const fixtureScrapes = 3

// bookstoreTraffic is what each proxy of the bookstore fixture carried
// before its first reading (window 0) and between its readings (1 and
// 2). The figures the tests expect are worked from it by hand.
//
// Window 1, 10 s: bookbuyer called bookstore 48 times in 2 ms and twice
// answered 503 in 150 ms on the first pod, 30 times in 2 ms on the
// second; bookthief was refused (403) 10 times in 0.5 ms; the kubelet's
// probes came in plain text; bookstore called bookwarehouse 8 times in
// 0.8 ms and 12 in 4 ms, and Prometheus (an identity of a namespace not
// shown) scraped it twice. Window 2: bookbuyer 60 times in 2 ms, and 30
// in 2 ms and 10 in 0.8 ms, none failed; bookwarehouse answered 3 of its
// 4 ms requests with 500.
var bookstoreTraffic = map[string]func(m *telemetry.Metrics, window int){
	"bookstore.bookstore-5d8f7c9b4-x2x7q": func(m *telemetry.Metrics, window int) {
		ok, failed := 48, 2
		if window == 2 {
			ok, failed = 60, 0
		}
		observe(m, "inbound", 200, "bookbuyer/bookbuyer", true, 2*time.Millisecond, ok)
		observe(m, "inbound", 503, "bookbuyer/bookbuyer", true, 150*time.Millisecond, failed)
		observe(m, "inbound", 403, "bookthief/bookthief", true, 500*time.Microsecond, 10)
		observe(m, "outbound", 200, "bookwarehouse/bookwarehouse", true, 8*time.Millisecond, 10)
	},
	"bookstore.bookstore-5d8f7c9b4-z9k2m": func(m *telemetry.Metrics, window int) {
		fast := 0
		if window == 2 {
			fast = 10
		}
		observe(m, "inbound", 200, "bookbuyer/bookbuyer", true, 2*time.Millisecond, 30)
		observe(m, "inbound", 200, "bookbuyer/bookbuyer", true, 800*time.Microsecond, fast)
		observe(m, "inbound", 200, "port/14001", false, 200*time.Microsecond, 10)
		observe(m, "outbound", 200, "bookwarehouse/bookwarehouse", true, 8*time.Millisecond, 10)
	},
	"bookbuyer.bookbuyer-7c9d5b8f4-kx2lp": func(m *telemetry.Metrics, window int) {
		observe(m, "outbound", 200, "bookstore/bookstore", true, 2*time.Millisecond, 78)
	},
	"bookthief.bookthief-6f7b8c5d9-m4n8r": func(m *telemetry.Metrics, window int) {
		observe(m, "outbound", 403, "bookstore/bookstore", true, 500*time.Microsecond, 10)
	},
	"bookwarehouse.bookwarehouse-0": func(m *telemetry.Metrics, window int) {
		ok, failed := 12, 0
		if window == 2 {
			ok, failed = 9, 3
		}
		observe(m, "inbound", 200, "bookstore/bookstore", true, 800*time.Microsecond, 8)
		observe(m, "inbound", 200, "bookstore/bookstore", true, 4*time.Millisecond, ok)
		observe(m, "inbound", 500, "bookstore/bookstore", true, 4*time.Millisecond, failed)
		observe(m, "inbound", 200, "monitoring/prometheus", true, 3*time.Millisecond, 2)
	},
}

func observe(m *telemetry.Metrics, direction string, status int, peer string, mtls bool, d time.Duration, n int) {
	for range n {
		m.ObserveRequest(direction, "GET", status, peer, mtls, d)
	}
}

// TestBookstoreFixture records the fixture's readings with the proxy's
// own metrics code (pkg/proxy/telemetry), as a proxy would answer
// /metrics, keeping its request series and a fixed start time: with
// -update it rewrites them, otherwise they must not have changed.
func TestBookstoreFixture(t *testing.T) {
	for pod, traffic := range bookstoreTraffic {
		m := telemetry.NewMetrics()
		for scrape := 1; scrape <= fixtureScrapes; scrape++ {
			traffic(m, scrape-1)
			var b bytes.Buffer
			m.WriteTo(&b)
			golden.Assert(t, filepath.Join("testdata", "bookstore", fmt.Sprintf("%s.%d.prom", pod, scrape)), requestSeries(b.Bytes()))
		}
	}
}

// requestSeries keeps, of an exposition, the request series and a start
// time that does not change, so that the recording is stable.
func requestSeries(text []byte) []byte {
	var out bytes.Buffer
	keep := [][]byte{[]byte("mesh_proxy_requests_total"), []byte("mesh_proxy_request_duration_seconds")}
	for line := range bytes.Lines(text) {
		body := bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("# HELP ")), []byte("# TYPE "))
		for _, k := range keep {
			if bytes.HasPrefix(body, k) {
				out.Write(line)
				break
			}
		}
	}
	out.WriteString("# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1.7728416e+09\n")
	return out.Bytes()
}

// loadFixture reads a recorded fixture from testdata/NAME: its workloads,
// and for each meshed pod its readings NS.POD.N.prom, parsed as the
// proxies' answers are.
func loadFixture(t testing.TB, name string) *replay {
	t.Helper()
	dir := filepath.Join("testdata", name)
	data, err := os.ReadFile(filepath.Join(dir, "workloads.json"))
	if err != nil {
		t.Fatal(err)
	}
	var workloads []Workload
	if err := json.Unmarshal(data, &workloads); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	r := &replay{}
	for scrape := 1; scrape <= fixtureScrapes; scrape++ {
		s := Scrape{Workloads: workloads, Readings: map[PodRef]trafficstats.Reading{}}
		for _, w := range workloads {
			for _, p := range w.Pods {
				if !p.Meshed {
					continue
				}
				body, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%s.%s.%d.prom", w.Namespace, p.Name, scrape)))
				if err != nil {
					t.Fatal(err)
				}
				reading, err := statcli.ParseReading(proxyadmin.Reading{At: fixtureStart.Add(time.Duration(scrape-1) * fixtureWindow), Body: body})
				if err != nil {
					t.Fatalf("%s/%s, reading %d: %v", w.Namespace, p.Name, scrape, err)
				}
				s.Readings[PodRef{w.Namespace, p.Name}] = reading
			}
		}
		r.scrapes = append(r.scrapes, s)
	}
	return r
}
