//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/rollout"
)

// proxyUpgrade: `meshctl upgrade --restart-proxies` to another proxy image
// (the same build, imported under a second tag) while load runs through
// the two meshed services: the journey's own requests to bookstore's
// Service, and bookbuyer's purchases from bookstore, both proxies of which
// are replaced. Not one request fails; afterwards every proxy runs the new
// image and `meshctl check` is green.
func proxyUpgrade(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.bookstore.pod != "" && m.bookbuyer.pod != "", "bookbuyer and bookstore deployed", "enrolled namespaces")
	tag := strings.TrimPrefix(m.proxyImage, proxyconfig.ImageRepository+":") + "-upgrade"
	newImage := proxyconfig.ImageRepository + ":" + tag
	e.Script(t, "mesh-images.sh", newImage, meshconfig.ControllerImageRepository+":"+tag)

	var before callerStats
	e.appStats(t, m.bookbuyer, &before)
	// The journey's own load, one request every 50 ms to bookstore's
	// Service, until the upgrade is over.
	var sent, failed atomic.Int64
	var lastFailure atomic.Value
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			status, _, _, err := request(rctx, serviceURL(m.bookstore, "/api/stats", nil), "")
			cancel()
			if ctx.Err() != nil {
				return
			}
			sent.Add(1)
			if err != nil || status != http.StatusOK {
				failed.Add(1)
				lastFailure.Store(fmt.Sprintf("status %d, %v", status, err))
			}
		}
	}()
	// bookbuyer's counters, read until its old pod goes.
	var last callerStats
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for watchCtx.Err() == nil {
			var s callerStats
			if e.appStatsCtx(watchCtx, m.bookbuyer, &s) == nil {
				last = s
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	begin := time.Now()
	out := e.Run(t, m.meshctl, "upgrade", "--restart-proxies", "--timeout", "3m", "--rollout-timeout", "5m",
		"--set", "meshConfig.sidecar.image="+newImage)
	took := time.Since(begin)
	stopWatch()
	<-watched
	stop()
	<-done
	t.Logf("meshctl upgrade --restart-proxies:\n%s", out)
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests to bookstore failed during the upgrade (last: %v)", n, sent.Load(), lastFailure.Load())
	}
	if sent.Load() < int64(took.Seconds()) {
		t.Errorf("only %d requests in %s: the load did not run", sent.Load(), took.Round(time.Second))
	}
	if f := last.Failed - before.Failed; f != 0 {
		t.Errorf("%d of bookbuyer's purchases failed during the upgrade (last: %s)", f, last.Last)
	}
	fmt.Fprintf(os.Stderr, "e2e: upgrade --restart-proxies under load: %d requests, %d failed, in %.1fs\n", sent.Load(), failed.Load(), took.Seconds())

	// Every proxy runs the new image: namespace restart finds nothing.
	for _, app := range []meshApp{m.bookstore, m.bookbuyer} {
		js := e.Run(t, m.meshctl, "namespace", "restart", app.namespace, "-o", "json", "--skip-webhook-check")
		var s rollout.Summary
		if err := json.Unmarshal([]byte(js), &s); err != nil {
			t.Fatalf("namespace restart -o json: %v\n%s", err, js)
		}
		if len(s.Workloads) != 0 || s.Image != newImage {
			t.Errorf("namespace %s after the upgrade: %+v", app.namespace, s)
		}
	}
	m.bookstore = e.meshedApp(t, m.bookstore.namespace, m.bookstore.name)
	m.bookbuyer = e.meshedApp(t, m.bookbuyer.namespace, m.bookbuyer.name)
	m.proxyImage = newImage
	// books is meshed by meshctl inject, not enrolled: its sidecar is in
	// its manifests, which upgrade leaves alone and names. The operator
	// injects them again, as with any GitOps change.
	injected := e.Run(t, m.meshctl, "inject", "--from-cluster", "-f", filepath.Join(e.RepoRoot, "examples", "books"))
	e.Run(t, e.Kubectl, "apply", "-f", e.writeManifest(t, "books-reinjected", injected))
	for _, d := range []string{"deployment/books", "deployment/stars"} {
		e.Run(t, e.Kubectl, "rollout", "status", "-n", booksNamespace, d, "--timeout=3m")
	}
	eventually(t, 2*time.Minute, "meshctl check to pass once every proxy runs "+newImage, func(context.Context) error {
		if code, stdout, stderr := e.RunExit(t, m.meshctl, "check"); code != 0 {
			return fmt.Errorf("exit %d\n%s%s", code, stdout, stderr)
		}
		return nil
	})
}
