package dataplane

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sh runs a command and fails the test with its output on error.
func sh(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// requirePrerequisites fails (never skips) when the machine cannot run
// these tests, naming what to run.
func requirePrerequisites(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the data-plane tests create network namespaces and need root: run `sudo go test ./test/dataplane/`")
	}
	for _, bin := range []string{"ip", "nft", "setpriv", "go"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing: run `hack/dataplane-deps.sh` as root (it installs iproute2 and nftables; setpriv is in util-linux)", bin)
		}
	}
}

// topology is a switch namespace holding a bridge, and pod namespaces
// plugged into it with veth pairs. Nothing touches the host's namespace.
type topology struct {
	suffix string
	sw     string
}

func newTopology(t testing.TB) *topology {
	t.Helper()
	tp := &topology{suffix: fmt.Sprintf("%04x", os.Getpid()%0x10000)}
	tp.sw = "mp-sw-" + tp.suffix
	sh(t, "ip", "netns", "add", tp.sw)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", tp.sw).Run() })
	sh(t, "ip", "-n", tp.sw, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", tp.sw, "link", "set", "br0", "up")
	return tp
}

// pod creates namespace mp-<name>-<suffix> with eth0 at addr/24 on the
// bridge, and returns the namespace's name.
func (tp *topology) pod(t testing.TB, name, addr string) string {
	t.Helper()
	ns := "mp-" + name + "-" + tp.suffix
	sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	veth := "v" + name
	sh(t, "ip", "-n", tp.sw, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
	sh(t, "ip", "-n", tp.sw, "link", "set", veth, "master", "br0", "up")
	sh(t, "ip", "-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
	sh(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// dialer dials from inside network namespace ns: the socket is created by
// a thread that has joined ns, and stays in ns after the thread leaves.
func dialer(t testing.TB, ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	t.Helper()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		c, dialErr := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// This thread is stuck in ns: leave it locked so the runtime
			// discards it when the goroutine ends.
			return c, dialErr
		}
		runtime.UnlockOSThread()
		return c, dialErr
	}
}

// start starts a long-running command in ns and stops it (by its own PID,
// with SIGTERM as the kubelet would) at cleanup; its output is shown when
// the test fails.
func start(t testing.TB, ns string, env []string, argv ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"netns", "exec", ns}, argv...)
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), env...)
	log, err := os.CreateTemp("", "mp-process-*.log")
	if err != nil {
		t.Fatal(err)
	}
	// The output goes through a pipe to a cat of its own, as a container's
	// goes through a pipe to its runtime's shim, rather than straight into
	// the file: on this machine's busy disk, a process writing a regular
	// file is held up in the kernel, which a pod writing its stdout is not.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	drain := exec.Command("cat")
	drain.Stdin, drain.Stdout = pr, log
	if err := drain.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(unix.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		// cat ends with the last writer; a straggler must not hold the test.
		drained := make(chan struct{})
		go func() { drain.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(2 * time.Second):
			drain.Process.Kill()
			<-drained
		}
		log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("output of %.80s:\n%s", strings.Join(argv, " "), out)
		}
		if os.Getenv("MP_KEEP_LOGS") == "" {
			os.Remove(log.Name())
		}
	})
	return cmd
}
