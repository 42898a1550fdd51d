package trafficstats

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// req is a mesh_proxy_requests_total sample.
func req(direction, peer, class string, v float64) Sample {
	return Sample{Name: telemetry.MetricRequestsTotal, Labels: map[string]string{
		"direction": direction, "method": "GET", "peer": peer, "status_class": class, "tls": "true"}, Value: v}
}

// buckets are the _bucket samples of one latency series, bounds and
// cumulative counts in pairs, +Inf included.
func buckets(direction, peer, class string, pairs ...float64) []Sample {
	var out []Sample
	for i := 0; i+1 < len(pairs); i += 2 {
		le := strconv.FormatFloat(pairs[i], 'g', -1, 64)
		if math.IsInf(pairs[i], +1) {
			le = "+Inf"
		}
		out = append(out, Sample{Name: telemetry.MetricRequestDuration + "_bucket", Labels: map[string]string{
			"direction": direction, "method": "GET", "peer": peer, "status_class": class, "tls": "true", "le": le}, Value: pairs[i+1]})
	}
	return out
}

func tcp(name, direction, peer string, v float64, extra ...string) Sample {
	l := map[string]string{"direction": direction, "peer": peer, "tls": "true"}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return Sample{Name: name, Labels: l, Value: v}
}

func start(v float64) Sample { return Sample{Name: "process_start_time_seconds", Value: v} }

func reading(at time.Time, samples ...[]Sample) Reading {
	return Reading{At: at, Samples: slices.Concat(samples...)}
}

func one(s ...Sample) []Sample { return s }

// TestBetween works a window of 10 s by hand: the increase of each
// series, summed by direction and peer.
func TestBetween(t *testing.T) {
	first := reading(t0,
		one(start(1000),
			req("inbound", "shop/web", "2xx", 10), req("inbound", "shop/web", "5xx", 1),
			req("inbound", "port/8080", "2xx", 4),
			req("outbound", "shop/db", "2xx", 7),
			// A series of another metric, which stat does not read.
			Sample{Name: "mesh_proxy_authz_denied_total", Labels: map[string]string{"direction": "inbound", "peer": "shop/web"}, Value: 3},
			tcp(telemetry.MetricTCPOpened, "inbound", "shop/cache", 2),
			tcp(telemetry.MetricTCPActive, "inbound", "shop/cache", 2),
			tcp(telemetry.MetricTCPBytes, "inbound", "shop/cache", 100, "flow", "sent"),
			tcp(telemetry.MetricTCPBytes, "inbound", "shop/cache", 1000, "flow", "received"),
		),
		buckets("inbound", "shop/web", "2xx", 0.001, 5, 0.01, 9, inf, 10),
		buckets("inbound", "shop/web", "5xx", 0.001, 0, 0.01, 1, inf, 1),
	)
	second := reading(t0.Add(10*time.Second),
		one(start(1000),
			// +20 2xx, +2 5xx, and a new series of 2 4xx.
			req("inbound", "shop/web", "2xx", 30), req("inbound", "shop/web", "5xx", 3), req("inbound", "shop/web", "4xx", 2),
			req("inbound", "port/8080", "2xx", 4),
			req("outbound", "shop/db", "2xx", 17),
			tcp(telemetry.MetricTCPOpened, "inbound", "shop/cache", 5),
			tcp(telemetry.MetricTCPActive, "inbound", "shop/cache", 1),
			tcp(telemetry.MetricTCPBytes, "inbound", "shop/cache", 600, "flow", "sent"),
			tcp(telemetry.MetricTCPBytes, "inbound", "shop/cache", 3000, "flow", "received"),
		),
		// 2xx: +20, 10 of them ≤ 1ms, 18 ≤ 10ms. 5xx: +2, both ≤ 10ms.
		// 4xx: new, 2 ≤ 1ms.
		buckets("inbound", "shop/web", "2xx", 0.001, 15, 0.01, 27, inf, 30),
		buckets("inbound", "shop/web", "5xx", 0.001, 0, 0.01, 3, inf, 3),
		buckets("inbound", "shop/web", "4xx", 0.001, 2, 0.01, 2, inf, 2),
	)
	w, err := Between(first, second)
	if err != nil {
		t.Fatal(err)
	}
	if w.Seconds != 10 || w.Restarted {
		t.Errorf("Seconds %v, Restarted %v; want 10, false", w.Seconds, w.Restarted)
	}
	web := w.Traffic[Key{"inbound", "shop/web"}]
	if web.Requests != 24 || web.Failures != 2 || web.RequestRate != 2.4 {
		t.Errorf("shop/web: requests %v, failures %v, rate %v; want 24, 2, 2.4", web.Requests, web.Failures, web.RequestRate)
	}
	if sr, ok := web.SuccessRate(); !ok || sr != 22.0/24 {
		t.Errorf("shop/web: success rate %v %v, want 22/24", sr, ok)
	}
	// The merged increase: ≤1ms 10+0+2, ≤10ms 18+2+2, all 20+2+2.
	if want := hist(0.001, 12, 0.01, 22, inf, 24); !slices.Equal(web.Latency.Buckets, want.Buckets) {
		t.Errorf("shop/web latency %v, want %v", web.Latency.Buckets, want.Buckets)
	}
	// p50: rank 12 is the first bucket's top; p95: rank 22.8 is in +Inf.
	if p50, p95 := web.Latency.Quantile(0.5), web.Latency.Quantile(0.95); p50 != 0.001 || p95 != 0.01 {
		t.Errorf("shop/web p50 %v, p95 %v; want 0.001, 0.01", p50, p95)
	}
	if plain, ok := w.Traffic[Key{"inbound", "port/8080"}]; ok && (plain.Requests != 0 || plain.RequestRate != 0) {
		t.Errorf("port/8080 did not change but counts %+v", plain)
	}
	if db := w.Traffic[Key{"outbound", "shop/db"}]; db.Requests != 10 || db.RequestRate != 1 {
		t.Errorf("outbound shop/db: %+v, want 10 requests, 1/s", db)
	}
	cache := w.Traffic[Key{"inbound", "shop/cache"}]
	if cache.TCPOpened != 3 || cache.TCPOpenRate != 0.3 || cache.TCPActive != 1 || cache.BytesSentRate != 50 || cache.BytesReceivedRate != 200 {
		t.Errorf("shop/cache: %+v; want 3 opened, 0.3/s, 1 active, 50 B/s sent, 200 B/s received", cache)
	}
	// Select adds keys: every inbound key.
	in := w.Select(func(k Key) bool { return k.Direction == Inbound })
	if in.Requests != 24 || in.TCPActive != 1 || in.Latency.Count() != 24 {
		t.Errorf("inbound: %+v", in)
	}
}

func TestBetweenResets(t *testing.T) {
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name          string
		first, second Reading
		want          float64 // inbound shop/web requests
		restarted     bool
	}{
		{"counter went down: the second value", reading(at(0), one(req("inbound", "shop/web", "2xx", 50))), reading(at(5), one(req("inbound", "shop/web", "2xx", 8))), 8, false},
		{"new series: the second value", reading(at(0)), reading(at(5), one(req("inbound", "shop/web", "2xx", 8))), 8, false},
		{"vanished series: nothing", reading(at(0), one(req("inbound", "shop/web", "2xx", 8))), reading(at(5)), 0, false},
		// The counter grew, but the process started again: all 60 are new.
		{"restart seen by the start time", reading(at(0), one(start(100), req("inbound", "shop/web", "2xx", 50))),
			reading(at(5), one(start(103), req("inbound", "shop/web", "2xx", 60))), 60, true},
		{"same start time", reading(at(0), one(start(100), req("inbound", "shop/web", "2xx", 50))),
			reading(at(5), one(start(100), req("inbound", "shop/web", "2xx", 60))), 10, false},
		{"start time unknown on one side", reading(at(0), one(req("inbound", "shop/web", "2xx", 50))),
			reading(at(5), one(start(100), req("inbound", "shop/web", "2xx", 60))), 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Between(tc.first, tc.second)
			if err != nil {
				t.Fatal(err)
			}
			got := w.Traffic[Key{"inbound", "shop/web"}]
			if got.Requests != tc.want || got.RequestRate != tc.want/5 || w.Restarted != tc.restarted {
				t.Errorf("requests %v, rate %v, restarted %v; want %v, %v, %v", got.Requests, got.RequestRate, w.Restarted, tc.want, tc.want/5, tc.restarted)
			}
		})
	}
}

// Each series is its own counter: one reset while another grows is not
// netted out.
func TestBetweenResetPerSeries(t *testing.T) {
	w, err := Between(
		reading(t0, one(req("inbound", "shop/web", "2xx", 100), req("inbound", "shop/web", "5xx", 1))),
		reading(t0.Add(time.Second), one(req("inbound", "shop/web", "2xx", 120), req("inbound", "shop/web", "5xx", 0))))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Traffic[Key{"inbound", "shop/web"}]; got.Requests != 20 || got.Failures != 0 {
		t.Errorf("%+v, want 20 requests (2xx +20, 5xx reset to 0), no failure", got)
	}
}

func TestBetweenRefuses(t *testing.T) {
	ok := one(req("inbound", "a/b", "2xx", 1))
	for _, tc := range []struct {
		name          string
		first, second Reading
		want          string
	}{
		{"same time", reading(t0, ok), reading(t0, ok), "is not after the first"},
		{"backwards", reading(t0.Add(time.Second), ok), reading(t0, ok), "is not after the first"},
		{"negative count", reading(t0, ok), reading(t0.Add(time.Second), one(req("inbound", "a/b", "2xx", -1))), `second reading: mesh_proxy_requests_total{direction="inbound",method="GET",peer="a/b",status_class="2xx",tls="true"}: -1 is not a count`},
		{"NaN count", reading(t0, one(req("inbound", "a/b", "2xx", math.NaN()))), reading(t0.Add(time.Second), ok), "first reading: mesh_proxy_requests_total{"},
		{"infinite count", reading(t0, ok), reading(t0.Add(time.Second), one(req("inbound", "a/b", "2xx", inf))), "+Inf is not a count"},
		{"bucket bound not a number", reading(t0, ok), reading(t0.Add(time.Second), []Sample{{Name: telemetry.MetricRequestDuration + "_bucket", Labels: map[string]string{"le": "soon"}, Value: 1}}), `le="soon" is not a number`},
		{"bucket without bound", reading(t0, ok), reading(t0.Add(time.Second), []Sample{{Name: telemetry.MetricRequestDuration + "_bucket", Value: 1}}), `le="" is not a number`},
		{"bucket bound NaN", reading(t0, ok), reading(t0.Add(time.Second), []Sample{{Name: telemetry.MetricRequestDuration + "_bucket", Labels: map[string]string{"le": "NaN"}, Value: 1}}), `le="NaN" is not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Between(tc.first, tc.second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Between: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// An error message about a long label is cut short.
	long := strings.Repeat("x", 10_000)
	_, err := Between(reading(t0, ok), reading(t0.Add(time.Second), one(req("inbound", long, "2xx", -1))))
	if err == nil || len(err.Error()) > 300 {
		t.Errorf("error about a 10 kB label: %d bytes", len(err.Error()))
	}
}

// FuzzBetween: whatever a proxy answers, Between does not panic, and what
// it accepts gives counts and rates that are finite and not negative, a
// success rate within [0, 1], and cumulative latency histograms.
func FuzzBetween(f *testing.F) {
	f.Add("mesh_proxy_requests_total direction=inbound,peer=a/b,status_class=2xx 5\n"+
		"mesh_proxy_request_duration_seconds_bucket direction=inbound,peer=a/b,le=0.1 3\n"+
		"mesh_proxy_request_duration_seconds_bucket direction=inbound,peer=a/b,le=+Inf 5",
		"mesh_proxy_requests_total direction=inbound,peer=a/b,status_class=5xx 2\n"+
			"mesh_proxy_request_duration_seconds_bucket direction=inbound,peer=a/b,le=0.1 1\n"+
			"mesh_proxy_request_duration_seconds_bucket direction=inbound,peer=a/b,le=+Inf 9\n"+
			"process_start_time_seconds  7", int64(1))
	f.Add("mesh_proxy_tcp_connections_active direction=inbound 1e308", "mesh_proxy_tcp_bytes_total flow=sent 1e308", int64(-5))
	f.Fuzz(func(t *testing.T, a, b string, millis int64) {
		w, err := Between(Reading{At: t0, Samples: fuzzSamples(a)}, Reading{At: t0.Add(time.Duration(millis) * time.Millisecond), Samples: fuzzSamples(b)})
		if err != nil {
			return
		}
		if !(w.Seconds > 0) {
			t.Fatalf("accepted a window of %v s", w.Seconds)
		}
		for k, tr := range w.Traffic {
			for _, v := range []float64{tr.Requests, tr.Failures, tr.RequestRate, tr.TCPOpened, tr.TCPOpenRate, tr.TCPActive, tr.BytesSent, tr.BytesReceived, tr.BytesSentRate, tr.BytesReceivedRate} {
				if v < 0 || math.IsNaN(v) {
					t.Errorf("%v: %+v has a negative or NaN figure", k, tr)
				}
			}
			if sr, ok := tr.SuccessRate(); ok && (sr < 0 || sr > 1) && !math.IsNaN(sr) {
				t.Errorf("%v: success rate %v", k, sr)
			}
			for i := 1; i < len(tr.Latency.Buckets); i++ {
				if tr.Latency.Buckets[i].UpperBound <= tr.Latency.Buckets[i-1].UpperBound {
					t.Errorf("%v: latency bounds not ascending: %v", k, tr.Latency.Buckets)
				}
			}
		}
	})
}

// fuzzSamples reads lines of `name labels value`, labels as k=v,k=v.
func fuzzSamples(s string) []Sample {
	var out []Sample
	for line := range strings.Lines(s) {
		f := strings.SplitN(strings.TrimSpace(line), " ", 3)
		if len(f) != 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for kv := range strings.SplitSeq(f[1], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = v
			}
		}
		out = append(out, Sample{Name: f[0], Labels: labels, Value: v})
	}
	return out
}
