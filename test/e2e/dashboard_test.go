//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/pkg/dashboard"
)

// meshDashboard: `meshctl dashboard --browser=false --port 0 -A` serves
// its page on loopback and prints the URL; the JSON the page reads holds
// the edge from bookbuyer's workload to bookstore's with a rate above
// zero (bookbuyer buys all the time), told by the identity bookstore's
// proxy verified; and the command stops cleanly on SIGINT.
func meshDashboard(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.bookstore.pod != "" && m.bookbuyer.pod != "", "bookstore and bookbuyer deployed", "enrolled namespaces")

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var stdout, stderr syncbuf.Buffer
	cmd := exec.CommandContext(ctx, m.meshctl, "dashboard", "-A", "--browser=false", "--port", "0", "--interval", "2s")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("meshctl dashboard: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()

	serving := regexp.MustCompile(`meshctl dashboard: serving (http://127\.0\.0\.1:[0-9]+/)`)
	var url string
	eventually(t, 30*time.Second, "meshctl dashboard prints its URL", func(context.Context) error {
		select {
		case err := <-exited:
			t.Fatalf("meshctl dashboard exited: %v\n%s", err, stderr.String())
		default:
		}
		if m := serving.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
			return nil
		}
		return fmt.Errorf("stderr: %q", stderr.String())
	})

	buyer := m.bookbuyer.namespace + "/" + m.bookbuyer.name // its ServiceAccount is its name
	store := dashboard.WorkloadID(m.bookstore.namespace, "deployment", m.bookstore.name)
	var edge dashboard.Edge
	eventually(t, 2*time.Minute, "the dashboard's edge from bookbuyer to bookstore has a rate", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"api/state", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var st dashboard.State
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return fmt.Errorf("%s: %w", dashboard.StatePath, err)
		}
		if st.Error != "" {
			return fmt.Errorf("the dashboard's reading failed: %s", st.Error)
		}
		identity := map[string]string{}
		for _, n := range st.Nodes {
			identity[n.ID] = n.Identity
		}
		for _, e := range st.Edges {
			if e.Target == store && identity[e.Source] == buyer && e.RequestsPerSecond > 0 {
				edge = e
				return nil
			}
		}
		return fmt.Errorf("reading %d: no edge from %s to %s with a rate among %+v (unreadable: %+v)", st.Generation, buyer, store, st.Edges, st.Unreadable)
	})
	t.Logf("meshctl dashboard: %s -> %s at %.2f requests/s", edge.Source, edge.Target, edge.RequestsPerSecond)

	// Another name for the same address is refused: DNS rebinding.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"api/state", nil)
	req.Host = "evil.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a request for evil.example: %v %v", resp, err)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil || stdout.String() != "" {
			t.Errorf("meshctl dashboard after SIGINT: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("meshctl dashboard did not stop on SIGINT: %s", stderr.String())
	}
}
