package main

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/stdr"
	"go.opentelemetry.io/otel"
	"golang.org/x/sys/unix"
)

// The cgroup v2 files that hold the container's CPU and memory limits.
const (
	cgroupCPUMax    = "/sys/fs/cgroup/cpu.max"
	cgroupMemoryMax = "/sys/fs/cgroup/memory.max"
)

// unlimitedProcs is GOMAXPROCS for a proxy without a CPU limit, the
// injector's default. Go would otherwise run as many Ps as the node has
// cores (dozens), with their caches, GC workers and idle wake-ups, for a
// sidecar that needs a fraction of one. One P measured best in `make
// bench-proxy`: at 5000 requests/s, 10% less CPU and 0.8 MB less memory
// than two, as the runtime never wakes a second thread to look for work
// that the first is about to take; at 1000 requests/s the two were level.
// One core carries about 20000 requests/s per proxy on the benchmark
// machine; a pod that needs more sets a CPU limit, which Go's GOMAXPROCS
// follows, or GOMAXPROCS itself. (Linkerd's proxy also defaults to one
// core; Istio's to two workers.)
const unlimitedProcs = 1

// memoryLimitPercent of the container's memory limit is the Go runtime's
// soft limit: near it the GC works harder instead of the kernel killing
// the proxy.
const memoryLimitPercent = 90

// gcPercent is the proxy's GOGC. Its live heap is small (2 to 3 MB at
// 5000 requests/s, most of it connection buffers and the propagation
// store) and it allocates little per request, so collecting four times as
// often as Go's default costs no CPU that `make bench-proxy` can tell
// apart, while the default's 4 MB minimum heap goal was a quarter of the
// proxy's resident memory.
const gcPercent = 25

// runtimeSettings decides GOMAXPROCS (0: leave it), the soft memory
// limit (0: none) and GOGC (0: leave it) from the environment and the
// contents of cpu.max and memory.max ("" when unreadable). Settings in the
// environment win.
func runtimeSettings(lookupEnv func(string) (string, bool), procs int, cpuMax, memoryMax string) (maxProcs int, memoryLimit int64, gc int) {
	if _, set := lookupEnv("GOMAXPROCS"); !set && procs > unlimitedProcs {
		// cpu.max is "<quota> <period>", or "max <period>" without a limit;
		// no file (cgroup v1, not a container) counts as no limit.
		if quota, _, _ := strings.Cut(strings.TrimSpace(cpuMax), " "); quota == "max" || quota == "" {
			maxProcs = unlimitedProcs
		}
	}
	if _, set := lookupEnv("GOMEMLIMIT"); !set {
		if n, err := strconv.ParseInt(strings.TrimSpace(memoryMax), 10, 64); err == nil && n > 0 {
			memoryLimit = n / 100 * memoryLimitPercent
		}
	}
	if _, set := lookupEnv("GOGC"); !set {
		gc = gcPercent
	}
	return maxProcs, memoryLimit, gc
}

// tuneRuntime applies runtimeSettings to this process.
func tuneRuntime(lookupEnv func(string) (string, bool)) {
	cpuMax, _ := os.ReadFile(cgroupCPUMax)
	memoryMax, _ := os.ReadFile(cgroupMemoryMax)
	procs, limit, gc := runtimeSettings(lookupEnv, runtime.GOMAXPROCS(0), string(cpuMax), string(memoryMax))
	if procs > 0 {
		runtime.GOMAXPROCS(procs)
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	if gc > 0 {
		debug.SetGCPercent(gc)
	}
}

// sysmonGODEBUG keeps the Go runtime's monitor thread (sysmon) out of its
// deep sleep. By default sysmon sleeps whenever every P is idle and is
// woken, with a futex, by the next system call, after which it polls
// every 20 µs until everything is idle again. A proxy at a steady 1000
// requests/s is idle between almost every pair of requests, so it paid
// that cycle per request: about 45% of its CPU went to the monitor's
// wake-ups and sleeps, and mesh-proxy used 1.8× nginx's CPU
// (`make bench-proxy`; with this setting the two are level).
//
// schedtrace is the runtime's only switch for this: with it set, sysmon
// backs off to one wake-up every 10 ms instead of sleeping deeply, which
// costs an idle proxy about 100 cheap wake-ups a second. The interval is
// the largest the runtime takes (24.8 days). The runtime counts it from
// the node's boot, so on a node up longer than that it prints a plain-text
// "SCHED ..." line on stderr as the proxy starts (restartWithGODEBUG drops
// that one), and one more every 24.8 days. A GODEBUG that names schedtrace
// already (schedtrace=0 to opt out) is left as it is.
const sysmonGODEBUG = "schedtrace=2147483647"

// godebugForRun returns the GODEBUG `mesh-proxy run` runs with, given the
// one it was started with, and whether that differs, so that the process
// has to execute itself again to apply it: the runtime reads GODEBUG's
// scheduler settings only at start-up.
func godebugForRun(godebug string) (string, bool) {
	for _, kv := range strings.Split(godebug, ",") {
		if k, _, _ := strings.Cut(kv, "="); strings.TrimSpace(k) == "schedtrace" {
			return godebug, false
		}
	}
	if strings.TrimSpace(godebug) == "" {
		return sysmonGODEBUG, true
	}
	return godebug + "," + sysmonGODEBUG, true
}

// envHiddenStderr names, in a restarted proxy's environment, the
// descriptors of its real stderr and of the pipe that stands in for it
// until main takes it back ("<stderr>,<pipe>").
const envHiddenStderr = "MESH_PROXY_STDERR_FDS"

// schedTraceAfter is the monotonic clock's reading from which the runtime,
// with sysmonGODEBUG, prints a scheduler trace line as the process starts.
const schedTraceAfter = 2147483647 * time.Millisecond

// restartWithGODEBUG executes the same process image again (exec keeps the
// pid, so the container runtime sees no difference) with GODEBUG set to
// godebug, which the runtime reads only at start-up. It returns only if
// that fails.
//
// The restarted process begins with stderr on a pipe, and main takes the
// real one back (takeBackStderr) before it writes anything: with
// sysmonGODEBUG the runtime prints a plain-text scheduler trace line at
// start on nodes up for more than 24.8 days, which does not belong in the
// proxy's JSON log.
func restartWithGODEBUG(godebug string) error {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GODEBUG=") || strings.HasPrefix(kv, envHiddenStderr+"=")
	})
	env = append(env, "GODEBUG="+godebug)
	saved, r := hideStderr()
	if saved >= 0 {
		env = append(env, envHiddenStderr+"="+strconv.Itoa(saved)+","+strconv.Itoa(r))
	}
	err := syscall.Exec("/proc/self/exe", os.Args, env)
	if saved >= 0 {
		unix.Dup3(saved, 2, 0)
		unix.Close(saved)
		unix.Close(r)
	}
	return err
}

// hideStderr moves stderr to a new descriptor and puts the write end of a
// new pipe on fd 2; it returns the saved stderr and the pipe's read end,
// both kept across exec, or -1s if it could not.
func hideStderr() (saved, r int) {
	var p [2]int
	if unix.Pipe2(p[:], 0) != nil {
		return -1, -1
	}
	defer unix.Close(p[1])
	saved, err := unix.Dup(2)
	if err != nil {
		unix.Close(p[0])
		return -1, -1
	}
	if unix.Dup3(p[1], 2, 0) != nil {
		unix.Close(saved)
		unix.Close(p[0])
		return -1, -1
	}
	return saved, p[0]
}

// takeBackStderr puts the real stderr back on fd 2 in a proxy that
// restartWithGODEBUG started. On a node whose monotonic clock is past
// schedTraceAfter it first waits (up to a second) for the runtime's trace
// line on the pipe and drops it; anything else the pipe holds is passed on.
func takeBackStderr() {
	v, ok := os.LookupEnv(envHiddenStderr)
	if !ok {
		return
	}
	os.Unsetenv(envHiddenStderr)
	a, b, _ := strings.Cut(v, ",")
	saved, err1 := strconv.Atoi(a)
	r, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || saved <= 2 || r <= 2 {
		return
	}
	// Non-blocking before NewFile, so that the pipe goes on the poller and
	// takes a read deadline.
	unix.SetNonblock(r, true)
	pipe := os.NewFile(uintptr(r), "stderr until restart")
	defer pipe.Close()
	var line, rest []byte
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) == nil && time.Duration(now.Nano()) >= schedTraceAfter {
		pipe.SetReadDeadline(time.Now().Add(time.Second))
		br := bufio.NewReader(pipe)
		line, _ = br.ReadBytes('\n')
		rest, _ = br.Peek(br.Buffered())
	}
	if unix.Dup3(saved, 2, 0) != nil {
		return
	}
	unix.Close(saved)
	if !bytes.HasPrefix(line, []byte("SCHED ")) {
		os.Stderr.Write(line)
	}
	os.Stderr.Write(rest)
}

// routeLibraryLogs sends what libraries log on their own (the log
// package: net/http servers without an ErrorLog; OpenTelemetry's errors and
// warnings, which otherwise write to os.Stderr itself) to w, the proxy's
// log output. When pollable has made stderr non-blocking, a write straight
// to os.Stderr, which is not on the poller, would fail with EAGAIN on a
// full pipe and its text would be lost.
func routeLibraryLogs(w io.Writer) {
	log.SetOutput(w)
	otel.SetLogger(stdr.New(log.Default()))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Print("opentelemetry: ", err) }))
}

// pollable returns the proxy's log output, descriptor fd (stderr, whose
// *os.File is f), switched to non-blocking mode and onto Go's network
// poller when it is a pipe or a socket, as a container's stderr is: a
// write to a full pipe then parks the logging goroutine instead of holding
// the thread, and with it, at GOMAXPROCS=1, every request until the
// runtime notices (up to 20 ms). A terminal or a file is left as it is:
// other processes share a terminal's mode, and files are never pollable.
// So is a descriptor f already has on the poller.
//
// O_NONBLOCK belongs to the pipe's open file description, not to the
// descriptor, so every writer to fd 2 sees it: routeLibraryLogs moves the
// libraries' logs onto the returned file. Only the Go runtime's own fatal
// error output still writes to fd 2 directly, and it is cut short if the
// pipe is full at that moment. (Reopening /proc/self/fd/2 would give a
// description of its own, but a container's stderr pipe belongs to the
// runtime's user, which the proxy's UID may not open.)
func pollable(fd int, f *os.File) *os.File {
	if f.SetWriteDeadline(time.Time{}) == nil {
		return f
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return f
	}
	if mode := st.Mode & unix.S_IFMT; mode != unix.S_IFIFO && mode != unix.S_IFSOCK {
		return f
	}
	if unix.SetNonblock(fd, true) != nil {
		return f
	}
	// NewFile sees O_NONBLOCK and registers the descriptor with the
	// poller.
	p := os.NewFile(uintptr(fd), f.Name())
	if p.SetWriteDeadline(time.Time{}) != nil {
		unix.SetNonblock(fd, false)
		return f
	}
	return p
}
