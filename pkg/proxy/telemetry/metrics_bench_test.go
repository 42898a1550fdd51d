package telemetry

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// benchWorkload is the workload the benchmarks' metrics name.
var benchWorkload = Workload{Namespace: "bookstore", Kind: "deployment", Name: "bookstore-v1"}

// BenchmarkObserveRequest is a request's cost to the metrics, which the
// workload's labels must not raise: they are constant, written by scrapes.
func BenchmarkObserveRequest(b *testing.B) {
	m := NewMetricsFor(benchWorkload)
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("inbound", "GET", 200, "bookbuyer/bookbuyer", true, 2*time.Millisecond)
	}
}

// BenchmarkScrape is one scrape of a proxy that talked to 20 peers over
// HTTP and TCP, with handshakes and denials: every traffic series carries
// the workload's labels. The process's metrics are left out: reading
// /proc dwarfs the rest.
func BenchmarkScrape(b *testing.B) {
	m := NewMetricsFor(benchWorkload)
	for i := range 20 {
		peer := fmt.Sprintf("ns-%d/sa-%d", i, i)
		for _, status := range []int{200, 404, 503} {
			m.ObserveRequest("inbound", "GET", status, peer, true, time.Millisecond)
			m.ObserveRequest("outbound", "POST", status, peer, true, time.Millisecond)
		}
		m.TCPOpened("outbound", peer, true)
	}
	m.Handshake("inbound", "ok", time.Millisecond)
	m.Denied("inbound", "http", "ns-1/sa-1", "no_traffic_target")
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		m.appendRequests(&buf)
		m.appendTCP(&buf)
		m.appendHandshakes(&buf)
		m.appendDenied(&buf)
	}
	b.SetBytes(int64(buf.Len()))
}
