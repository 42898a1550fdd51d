package dataplane

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// TestProxyLogIsJSONOnLongRunningNodes: mesh-proxy runs with
// GODEBUG=schedtrace (see cmd/mesh-proxy's sysmonGODEBUG), which makes the
// Go runtime print a plain-text trace line at start once the node has been
// up for more than 24.8 days. A time namespace moves the monotonic clock
// past that; the proxy's output must still be its JSON log and nothing
// else.
func TestProxyLogIsJSONOnLongRunningNodes(t *testing.T) {
	requirePrerequisites(t)
	if err := exec.Command("unshare", "--time", "--monotonic", "2200000", "true").Run(); err != nil {
		t.Fatalf("unshare --time (util-linux 2.36+, a kernel with time namespaces) is needed to move the clock: %v", err)
	}
	bin := buildProxy(t)
	ns := newTopology(t).pod(t, "st", "198.18.102.1")
	run := wire.Run{LogLevel: wire.LogInfo, InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, Metrics: true}
	// 2200000 s is 25.5 days of uptime.
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "unshare", "--time", "--monotonic", "2200000", bin}, run.Args()...)...)
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	waitFor(t, "the proxy to log that it serves", func() bool { return strings.Contains(out.String(), "mesh-proxy serving") })
	time.Sleep(100 * time.Millisecond)
	stop()
	for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("line %d of the proxy's output is not JSON: %q", i+1, line)
		}
	}
}
