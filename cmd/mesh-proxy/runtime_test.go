package main

import (
	"bytes"
	"errors"
	"io"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"golang.org/x/sys/unix"
)

func TestRuntimeSettings(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	for _, tc := range []struct {
		name              string
		env               func(string) (string, bool)
		procs             int
		cpuMax, memoryMax string
		wantProcs         int
		wantLimit         int64
		wantGC            int
	}{
		{"no limits on a big node", env(), 32, "max 100000\n", "max\n", 1, 0, gcPercent},
		{"not in a cgroup v2", env(), 32, "", "", 1, 0, gcPercent},
		{"small node", env(), 2, "max 100000\n", "max\n", 1, 0, gcPercent},
		{"one core", env(), 1, "max 100000\n", "max\n", 0, 0, gcPercent},
		{"CPU limit: Go matches it already", env(), 4, "400000 100000\n", "max\n", 0, 0, gcPercent},
		{"memory limit", env(), 2, "max 100000\n", "268435456\n", 1, 268435456 / 100 * 90, gcPercent},
		{"environment wins", env("GOMAXPROCS", "8", "GOMEMLIMIT", "1GiB", "GOGC", "100"), 32, "max 100000\n", "268435456\n", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			procs, limit, gc := runtimeSettings(tc.env, tc.procs, tc.cpuMax, tc.memoryMax)
			if procs != tc.wantProcs || limit != tc.wantLimit || gc != tc.wantGC {
				t.Fatalf("got GOMAXPROCS %d, limit %d, GOGC %d; want %d, %d, %d", procs, limit, gc, tc.wantProcs, tc.wantLimit, tc.wantGC)
			}
		})
	}
}

func TestGodebugForRun(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		again    bool
	}{
		{"", sysmonGODEBUG, true},
		{"  ", sysmonGODEBUG, true},
		{"http2debug=1", "http2debug=1," + sysmonGODEBUG, true},
		{sysmonGODEBUG, sysmonGODEBUG, false},
		{"schedtrace=0", "schedtrace=0", false},
		{"gctrace=1, schedtrace=1000", "gctrace=1, schedtrace=1000", false},
		{"scheddetail=1", "scheddetail=1," + sysmonGODEBUG, true},
	} {
		got, again := godebugForRun(tc.in)
		if got != tc.want || again != tc.again {
			t.Errorf("godebugForRun(%q) = %q, %v; want %q, %v", tc.in, got, again, tc.want, tc.again)
		}
	}
}

// TestPollable: a pipe comes back on the poller, and a write to it when
// full waits for the reader rather than failing with EAGAIN; a regular
// file is left as it is.
func TestPollable(t *testing.T) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w := os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w")
	defer r.Close()
	p := pollable(fds[1], w)
	defer p.Close()
	// Only a file on the poller takes deadlines.
	if err := p.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatalf("the pipe is not on the poller: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		// More than a pipe holds: the write must wait for the reader.
		_, err := p.Write(make([]byte, 1<<20))
		done <- err
	}()
	go io.Copy(io.Discard, r)
	if err := <-done; err != nil {
		t.Fatalf("write to a full pipe: %v", err)
	}

	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if pollable(int(f.Fd()), f) != f {
		t.Fatal("a regular file was replaced")
	}
	if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK != 0 {
		t.Fatalf("a regular file's flags changed: %#x, %v", fl, err)
	}
}

// TestRouteLibraryLogs: the log package and OpenTelemetry's error handler
// both write to the proxy's log output, not to os.Stderr.
func TestRouteLibraryLogs(t *testing.T) {
	var buf bytes.Buffer
	prevOut, prevHandler := log.Writer(), otel.GetErrorHandler()
	t.Cleanup(func() { log.SetOutput(prevOut); otel.SetErrorHandler(prevHandler) })
	routeLibraryLogs(&buf)
	log.Print("from net/http")
	otel.Handle(errors.New("export failed"))
	if got := buf.String(); !strings.Contains(got, "from net/http") || !strings.Contains(got, "opentelemetry: export failed") {
		t.Fatalf("library logs went elsewhere; got %q", got)
	}
}
