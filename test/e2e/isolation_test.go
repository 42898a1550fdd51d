//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/testenv"
)

// The stand-in for "the rest of the world": a network namespace on this
// machine, on a veth from the host, in TEST-NET-3 (RFC 5737), which no real
// network routes. If the isolation rules were missing, pod traffic to it
// would arrive there and still never leave the machine.
const (
	outsideHostIP = "203.0.113.1"
	outsideIP     = "203.0.113.2"
	outsidePrefix = "/30"
	outsidePort   = "8080"
)

// podTrafficStaysInside: the forwarding rules of cluster-up drop what a pod
// sends outside 198.18.0.0/15, and what comes into it from outside, so a pod
// cannot reach a server that the host itself reaches, nor be reached by it.
func podTrafficStaysInside(t *testing.T, e *Env) {
	suffix := testenv.UniqueName("o")[2:] // 6 hex digits
	ns, hostLink := "meshctl-e2e-outside-"+suffix, "mxo"+suffix
	run := func(args ...string) {
		t.Helper()
		if b, err := exec.CommandContext(t.Context(), args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() }) // takes the veth with it
	run("ip", "link", "add", hostLink, "type", "veth", "peer", "name", "eth0", "netns", ns)
	run("ip", "addr", "add", outsideHostIP+outsidePrefix, "dev", hostLink)
	run("ip", "link", "set", hostLink, "up")
	run("ip", "netns", "exec", ns, "ip", "addr", "add", outsideIP+outsidePrefix, "dev", "eth0")
	run("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
	run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
	run("ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", outsideHostIP)

	// A server "outside": the e2e-app binary, run in the namespace.
	server := exec.Command("ip", "netns", "exec", ns, e.AppBinary)
	server.Env = append(os.Environ(), "PORT="+outsidePort)
	if err := server.Start(); err != nil {
		t.Fatalf("starting the outside server: %v", err)
	}
	t.Cleanup(func() { _ = server.Process.Kill(); _ = server.Wait() })

	// The host reaches it, so a failure from the pod is the rules' doing.
	outsideURL := "http://" + outsideIP + ":" + outsidePort + "/"
	eventually(t, 10*time.Second, "the host's GET of "+outsideURL, func(ctx context.Context) error {
		status, _, err := get(ctx, outsideURL)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("status %d", status)
		}
		return err
	})

	ctx := testenv.Context(t)
	// A dropped SYN is retried, never refused: a short timeout is the answer.
	fetch := e.appURL("/fetch", url.Values{"url": {outsideURL}, "timeout": {"1s"}})
	status, body, err := get(ctx, fetch)
	if err != nil {
		t.Fatalf("GET %s: %v", fetch, err)
	}
	if status != http.StatusBadGateway {
		t.Errorf("a pod reached %s outside 198.18.0.0/15 (status %d, %q); forwarded traffic must be dropped", outsideURL, status, strings.TrimSpace(body))
	}

	// And the way in: from outside to the pod, through the host.
	run("ip", "netns", "exec", ns, "ip", "route", "add", "198.18.0.0/15", "via", outsideHostIP)
	podURL := fmt.Sprintf("http://%s:%d/", e.smoke.podIP, appPort)
	probe := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "1", podURL)
	if out, err := probe.CombinedOutput(); err == nil {
		t.Errorf("a host outside 198.18.0.0/15 reached pod %s: %s", podURL, out)
	}
}
