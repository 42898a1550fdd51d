package manifest

import (
	"bytes"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// benchStream is n Deployments with a Service after each, as a GitOps
// repository's rendered manifests look.
func benchStream(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `---
# app %[1]d
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%[1]d
  namespace: team-%[2]d
  labels:
    app: app-%[1]d
spec:
  replicas: 2
  selector:
    matchLabels:
      app: app-%[1]d
  template:
    metadata:
      labels:
        app: app-%[1]d
        version: v1
    spec:
      serviceAccountName: app-%[1]d
      containers:
      - name: app
        image: registry.example/app-%[1]d:1.0.%[1]d
        ports:
        - name: http
          containerPort: 8080
        env:
        - name: LOG_LEVEL
          value: info
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
---
apiVersion: v1
kind: Service
metadata:
  name: app-%[1]d
  namespace: team-%[2]d
spec:
  selector:
    app: app-%[1]d
  ports:
  - name: http
    port: 80
    targetPort: http
`, i, i%10)
	}
	return b.Bytes()
}

// BenchmarkStream injects a stream of 1000 Deployments with Services
// between them, as `meshctl inject` does, once with the blockReader reading
// the documents and once with yaml.v3 alone: the difference is what the
// blockReader's lines buy. Run it on one core: go test -bench Stream -cpu 1.
// It reports workloads/s, allocations and bytes allocated per workload, and
// the peak heap while one whole stream is processed.
func BenchmarkStream(b *testing.B) {
	const workloads = 1000
	data := benchStream(workloads)
	in := testInjector(b, testVersion)
	for _, reader := range []struct {
		name   string
		blocks bool
	}{{"blockReader", true}, {"yaml.v3", false}} {
		b.Run(reader.name, func(b *testing.B) {
			process := func() {
				s := &Stream{Injector: in}
				s.start(reader.blocks)
				if _, _, err := s.Process("bench", data); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			cpu0 := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				process()
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&m1)
			elapsed := b.Elapsed()
			b.ReportMetric(float64(workloads*b.N)/elapsed.Seconds(), "workloads/s")
			// On a shared machine wall time includes waiting for a core; CPU
			// time (with -cpu 1, one core's worth) does not.
			b.ReportMetric(float64(workloads*b.N)/cpu.Seconds(), "workloads/cpu-s")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(workloads*b.N), "allocs/workload")
			b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(workloads*b.N), "B/workload")
			b.ReportMetric(float64(peakHeap(process))/(1<<20), "peak-heap-MiB")
		})
	}
}

// peakHeap runs f and returns the largest live heap seen meanwhile, above
// what was live before it started.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	peak := base
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
	}()
	f()
	close(stop)
	<-done
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapAlloc)
	return peak - base
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
