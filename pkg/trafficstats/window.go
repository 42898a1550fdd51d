// Package trafficstats owns the arithmetic of `meshctl stat`: what two
// readings of a proxy's own metrics, taken a window apart, say about the
// traffic it carried in between (requests and their rate, the share that
// did not fail, latency percentiles, opaque TCP connections and bytes), and
// how the windows of many proxies add up. It does what Prometheus's
// increase(), rate(), sum() and histogram_quantile() would, with no
// Prometheus: a counter that went down was reset and the second reading is
// its increase; histograms merge by bucket bound; a percentile is
// interpolated linearly within its bucket.
//
// It reads samples already parsed (proxyadmin.ParseMetrics parses the
// proxy's text) and the series pkg/proxy/telemetry writes, and imports
// nothing of Kubernetes.
package trafficstats

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// The labels of the proxy's series that stat reads, as pkg/proxy/telemetry
// writes them (docs/configuration.md#metrics).
const (
	LabelDirection   = "direction"
	LabelPeer        = "peer"
	LabelStatusClass = "status_class"
	LabelFlow        = "flow"
	labelLE          = "le"
)

// Directions of the direction label.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// The process's start time, which tells a restart between two readings.
const metricStart = "process_start_time_seconds"

// failureClass is the status class stat counts as failed: the server's
// errors. 4xx are the caller's, and 0xx (no response: the caller went
// away) are not the server's doing either.
const failureClass = "5xx"

// Sample is one sample of a proxy's exposition: the name it was written
// under (a histogram's _bucket, _sum and _count samples keep their
// suffixes), its labels and its value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Reading is what one proxy's metrics said at one moment.
type Reading struct {
	// At is when the reading was asked for; rates divide by the time
	// between two readings' At.
	At      time.Time
	Samples []Sample
}

// Key is what the traffic of one proxy is grouped by: the direction and
// peer labels of its series.
type Key struct {
	Direction string
	Peer      string
}

// Traffic is what some proxies carried in one window: counts over the
// window, rates per second, the latency histogram of the requests, and
// the opaque TCP connections. Add merges the traffic of several proxies or
// keys; the zero value is no traffic.
type Traffic struct {
	// Requests counts the HTTP requests handled; Failures those of them
	// answered 5xx.
	Requests, Failures float64
	// RequestRate is Requests per second: each proxy's count divided by its
	// own window, summed.
	RequestRate float64
	// Latency is the histogram of the requests' durations, in seconds.
	Latency Histogram
	// TCPOpened counts opaque TCP connections opened, TCPOpenRate per
	// second; TCPActive is how many were open at the second reading.
	TCPOpened, TCPOpenRate, TCPActive float64
	// BytesSent and BytesReceived are opaque TCP bytes by flow: sent
	// upstream (inbound: to the app), received from upstream (inbound: the
	// app's answers); BytesSentRate and BytesReceivedRate per second.
	BytesSent, BytesReceived, BytesSentRate, BytesReceivedRate float64
}

// Add adds o to t.
func (t *Traffic) Add(o Traffic) {
	t.Requests += o.Requests
	t.Failures += o.Failures
	t.RequestRate += o.RequestRate
	t.Latency = t.Latency.Merge(o.Latency)
	t.TCPOpened += o.TCPOpened
	t.TCPOpenRate += o.TCPOpenRate
	t.TCPActive += o.TCPActive
	t.BytesSent += o.BytesSent
	t.BytesReceived += o.BytesReceived
	t.BytesSentRate += o.BytesSentRate
	t.BytesReceivedRate += o.BytesReceivedRate
}

// SuccessRate is the share of requests not answered 5xx; false when there
// were none.
func (t Traffic) SuccessRate() (float64, bool) {
	if t.Requests <= 0 {
		return 0, false
	}
	return (t.Requests - t.Failures) / t.Requests, true
}

// Window is what one proxy carried between two readings.
type Window struct {
	// Seconds is the time between the readings.
	Seconds float64
	// Restarted says the proxy restarted in between (its start time
	// changed): its counters started again from zero, so the second
	// reading is all that is known of the window.
	Restarted bool
	// Traffic is by direction and peer; a key without traffic in the
	// window may be absent.
	Traffic map[Key]Traffic
}

// Select adds up the traffic of the keys match accepts.
func (w Window) Select(match func(Key) bool) Traffic {
	var t Traffic
	for k, v := range w.Traffic {
		if match(k) {
			t.Add(v)
		}
	}
	return t
}

// Between computes the window between two readings of one proxy, first
// before second. Each series' increase is computed on its own, as
// Prometheus does, then added up by direction and peer: a series that went
// down was reset and counts its second value, a series that is new counts
// its second value, a series that vanished counts nothing. The samples
// are the proxy's, so untrusted: a value that is not a finite,
// non-negative count, or a bucket without a numeric bound, is an error
// naming the series.
func Between(first, second Reading) (Window, error) {
	secs := second.At.Sub(first.At).Seconds()
	if !(secs > 0) {
		return Window{}, fmt.Errorf("the second reading (%s) is not after the first (%s)", second.At.Format(time.RFC3339Nano), first.At.Format(time.RFC3339Nano))
	}
	a, err := collect(first.Samples)
	if err != nil {
		return Window{}, fmt.Errorf("first reading: %w", err)
	}
	b, err := collect(second.Samples)
	if err != nil {
		return Window{}, fmt.Errorf("second reading: %w", err)
	}
	w := Window{Seconds: secs, Traffic: map[Key]Traffic{}}
	if a.start != b.start && a.start != 0 && b.start != 0 {
		w.Restarted = true
		a = &series{}
	}
	add := func(k Key, f func(*Traffic)) {
		t := w.Traffic[k]
		f(&t)
		w.Traffic[k] = t
	}
	for id, c := range b.counters {
		inc := increase(a.counters[id].value, c.value, a.counters[id].present)
		switch c.metric {
		case wire.MetricRequestsTotal:
			add(c.key, func(t *Traffic) {
				t.Requests += inc
				if c.class == failureClass {
					t.Failures += inc
				}
			})
		case wire.MetricTCPOpened:
			add(c.key, func(t *Traffic) { t.TCPOpened += inc })
		case wire.MetricTCPBytes:
			add(c.key, func(t *Traffic) {
				switch c.flow {
				case "sent":
					t.BytesSent += inc
				case "received":
					t.BytesReceived += inc
				}
			})
		case wire.MetricTCPActive:
			// A gauge: its value now, not an increase.
			add(c.key, func(t *Traffic) { t.TCPActive += c.value })
		}
	}
	for id, h := range b.histograms {
		inc := h.hist.Increase(a.histograms[id].hist)
		if inc.Count() == 0 {
			continue
		}
		add(h.key, func(t *Traffic) { t.Latency = t.Latency.Merge(inc) })
	}
	// Rates from the sums, so that they divide once.
	for k, t := range w.Traffic {
		t.RequestRate, t.TCPOpenRate = t.Requests/secs, t.TCPOpened/secs
		t.BytesSentRate, t.BytesReceivedRate = t.BytesSent/secs, t.BytesReceived/secs
		w.Traffic[k] = t
	}
	return w, nil
}

// increase is a counter's increase from prev to cur: cur when it went
// down (a reset) or was not there before.
func increase(prev, cur float64, hadPrev bool) float64 {
	if !hadPrev || cur < prev {
		return cur
	}
	return cur - prev
}

// series is what collect keeps of one reading: the counters and gauges
// stat reads and the latency histograms, each by its full label set.
type series struct {
	start      float64
	counters   map[string]counter
	histograms map[string]histogramSeries
}

type counter struct {
	metric      string
	key         Key
	class, flow string
	value       float64
	present     bool
}

type histogramSeries struct {
	key  Key
	hist Histogram
}

// collect sorts the samples stat reads out of one reading.
// Uses says whether Between reads samples of the series name: a reading
// need keep no other (a proxy's exposition carries more, and a hostile
// one may carry anything).
func Uses(name string) bool {
	switch name {
	case metricStart, wire.MetricRequestsTotal, wire.MetricTCPOpened, wire.MetricTCPBytes, wire.MetricTCPActive, wire.MetricRequestDuration + "_bucket":
		return true
	}
	return false
}

func collect(samples []Sample) (*series, error) {
	s := &series{counters: map[string]counter{}, histograms: map[string]histogramSeries{}}
	buckets := map[string][]Bucket{}
	keys := map[string]Key{}
	var errs []error
	for _, smp := range samples {
		switch smp.Name {
		case metricStart:
			s.start = smp.Value
			continue
		case wire.MetricRequestsTotal, wire.MetricTCPOpened, wire.MetricTCPBytes, wire.MetricTCPActive:
		case wire.MetricRequestDuration + "_bucket":
		default:
			continue
		}
		if err := count(smp); err != nil {
			errs = append(errs, err)
			continue
		}
		k := Key{Direction: smp.Labels[LabelDirection], Peer: smp.Labels[LabelPeer]}
		if smp.Name != wire.MetricRequestDuration+"_bucket" {
			id := seriesID(smp.Name, smp.Labels, "")
			c := s.counters[id]
			// A series twice in one reading (the proxy never writes one)
			// adds up, as Prometheus's sum would.
			s.counters[id] = counter{metric: smp.Name, key: k, class: smp.Labels[LabelStatusClass], flow: smp.Labels[LabelFlow], value: c.value + smp.Value, present: true}
			continue
		}
		le, ok := smp.Labels[labelLE]
		bound, err := strconv.ParseFloat(le, 64)
		if !ok || err != nil || math.IsNaN(bound) {
			errs = append(errs, fmt.Errorf("%s: bucket bound le=%q is not a number", clip(seriesID(smp.Name, smp.Labels, "")), clip(le)))
			continue
		}
		id := seriesID(wire.MetricRequestDuration, smp.Labels, labelLE)
		buckets[id] = append(buckets[id], Bucket{UpperBound: bound, Count: smp.Value})
		keys[id] = k
	}
	for id, bs := range buckets {
		slices.SortStableFunc(bs, func(a, b Bucket) int { return cmpFloat(a.UpperBound, b.UpperBound) })
		// A bound written twice adds up, as Prometheus's coalescing does.
		out := bs[:0]
		for _, b := range bs {
			if n := len(out); n > 0 && out[n-1].UpperBound == b.UpperBound {
				out[n-1].Count += b.Count
				continue
			}
			out = append(out, b)
		}
		s.histograms[id] = histogramSeries{key: keys[id], hist: Histogram{Buckets: out}}
	}
	return s, errors.Join(errs...)
}

// count checks that a counter's, gauge's or bucket's value is a count.
func count(s Sample) error {
	if s.Value < 0 || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		return fmt.Errorf("%s: %v is not a count", clip(seriesID(s.Name, s.Labels, "")), s.Value)
	}
	return nil
}

// seriesID names a series by its name and labels, skip left out, in the
// form Prometheus writes: name{a="1",b="2"}.
func seriesID(name string, labels map[string]string, skip string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		if k != skip {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(strconv.Quote(labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// clip keeps error messages about untrusted text short.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
