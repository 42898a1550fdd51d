// Package proxytest runs proxies for tests of the CLI's side of the admin
// port: Admin, the real admin handler (pkg/proxy/admin) with real metrics
// (pkg/proxy/telemetry) on a loopback port of the test process, cheap
// enough to run a thousand; Process, a real mesh-proxy process; and the
// pod parts of a meshed pod (Sidecar, AppSpec).
package proxytest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Admin is a proxy's admin port on loopback, whose traffic a test
// scripts: before each answer of /metrics, Traffic records what the proxy
// carried since the last one, so two readings of the proxy differ by
// exactly one Traffic, whenever they are made.
type Admin struct {
	// Addr is the address it listens on.
	Addr string
	// Metrics are its metrics.
	Metrics *telemetry.Metrics

	mu      sync.Mutex
	scrapes int
}

// Options are what an Admin serves.
type Options struct {
	// Traffic, when not nil, is recorded before each answer of /metrics;
	// scrape counts the answers, from 1.
	Traffic func(m *telemetry.Metrics, scrape int)
	// Status, when not nil, is served on /status.
	Status func() any
	// Text, when not nil, is served on /metrics instead of Metrics'
	// exposition: a thousand proxies in one test process would each list
	// the process's thousands of file descriptors for
	// process_open_fds on every scrape, which a real proxy, with a few,
	// does not pay.
	Text func(scrape int) []byte
	// NoMetrics turns /metrics off, as the MeshConfig's
	// observability.metrics.enable does.
	NoMetrics bool
}

// StartAdmin serves an Admin until the test ends.
func StartAdmin(t testing.TB, o Options) *Admin {
	t.Helper()
	a := &Admin{Metrics: telemetry.NewMetrics()}
	srv := &admin.Server{Config: wire.Run{LogLevel: wire.LogInfo, AdminPort: wire.AdminPort, Metrics: !o.NoMetrics}, Status: o.Status}
	if !o.NoMetrics {
		metrics := a.Metrics.Handler()
		srv.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.mu.Lock()
			a.scrapes++
			scrape := a.scrapes
			if o.Traffic != nil {
				o.Traffic(a.Metrics, scrape)
			}
			a.mu.Unlock()
			if o.Text != nil {
				w.Header().Set("Content-Type", telemetry.ContentType)
				w.Write(o.Text(scrape))
				return
			}
			metrics.ServeHTTP(w, r)
		})
	}
	srv.SetReady(true)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	a.Addr = hs.Listener.Addr().String()
	return a
}

// Scrapes is how many times /metrics was answered.
func (a *Admin) Scrapes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.scrapes
}

// Process is a real mesh-proxy process on this machine's loopback.
type Process struct {
	// Admin is its admin address.
	Admin string
	// Log is what it wrote.
	Log *syncbuf.Buffer
}

// StartProcess builds mesh-proxy and runs it at log level info, with
// metrics, on free ports, until the test ends.
func StartProcess(t testing.TB) *Process {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mesh-proxy")
	build := exec.Command("go", "build", "-o", bin, "github.com/meshctl/meshctl/cmd/mesh-proxy")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mesh-proxy: %v\n%s", err, out)
	}
	run := wire.Run{LogLevel: wire.LogInfo, InboundPort: FreePort(t), OutboundPort: FreePort(t), AdminPort: FreePort(t), Metrics: true}
	p := &Process{Admin: "127.0.0.1:" + strconv.Itoa(int(run.AdminPort)), Log: &syncbuf.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, run.Args()...)
	cmd.Stdout, cmd.Stderr = p.Log, p.Log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting mesh-proxy: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mesh-proxy's log:\n%s", p.Log.String())
		}
	})
	// Ready once its listeners are up: wait for the admin port to say so.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.Admin + wire.ReadyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mesh-proxy is not ready after 30s: %v\n%s", err, p.Log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort is a loopback port nothing listens on now.
func FreePort(t testing.TB) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}
