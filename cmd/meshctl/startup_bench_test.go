package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkStartupVersionClient measures `meshctl version --client` as a whole
// process, the cost every invocation pays before doing any work: exec, the
// runtime and every package's init. The goal is a median under 30 ms.
func BenchmarkStartupVersionClient(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "meshctl")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	home := b.TempDir()
	durations := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		cmd := exec.Command(bin, "version", "--client")
		cmd.Env = []string{"HOME=" + home}
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("meshctl version --client: %v\n%s", err, out)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	pct := func(p float64) float64 {
		return float64(durations[int(p*float64(len(durations)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
}
