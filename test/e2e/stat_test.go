//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/statcli"
)

// statWindow is the --window of the step's `meshctl stat` runs, and
// loadInterval the pace of its own load generator.
const (
	statWindow   = 10 * time.Second
	loadInterval = 200 * time.Millisecond
)

// meshStat: `meshctl proxy status -A` shows every example app's proxy
// ready, connected and current; `meshctl stat` counts the requests the
// step's own load generator sends. The generator GETs a book from the
// host with a valid token every 200 ms, and books asks stars for its
// rating once per book, over mutual TLS: so the requests stars' proxy
// counts from books (--from books/deploy/books; the same edge seen as
// --to books/deploy/stars from books' row) are the generator's, and
// nobody else's (stars' probes come in plain text, without identity).
// Each stat reads stars' proxy twice, 10 s apart, somewhere inside the
// command's run: it may count at most the requests that overlap the run,
// and at least those inside every 10 s window the run can hold.
func meshStat(t *testing.T, e *Env) {
	m := &e.mesh
	m.need(t, m.token != "" && m.stars.pod != "", "books and stars, with a valid token", "books->stars with JWT, injected by meshctl inject into a namespace not enrolled")

	// The fleet view: every example app's proxy, current and connected.
	out := e.Run(t, m.meshctl, "proxy", "status", "-A", "-o", "json")
	var fleet proxyadmin.Fleet
	if err := json.Unmarshal([]byte(out), &fleet); err != nil {
		t.Fatalf("meshctl proxy status -A -o json: %v\n%s", err, out)
	}
	for _, app := range []meshApp{m.bookstore, m.bookbuyer, m.bookthief, m.books, m.stars} {
		found := false
		for _, p := range fleet.Proxies {
			if p.Namespace != app.namespace || p.Pod != app.pod {
				continue
			}
			found = true
			if !p.Ready || p.ImageState != proxyadmin.ImageCurrent || p.Channel == nil || !p.Channel.Connected || p.CertificateNotAfter == nil || p.Error != "" {
				t.Errorf("proxy status of %s/%s: %+v", app.namespace, app.pod, p)
			}
		}
		if !found {
			t.Errorf("proxy status -A does not list %s/%s", app.namespace, app.pod)
		}
	}
	t.Logf("meshctl proxy status -n bookstore:\n%s", e.Run(t, m.meshctl, "proxy", "status", "-n", "bookstore"))

	// The load generator, until the stats are in.
	book := serviceURL(m.books, "/api/books/1", nil)
	ctx, stop := context.WithCancel(t.Context())
	var mu sync.Mutex
	var sent []loadRequest
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(loadInterval)
		defer tick.Stop()
		for {
			r := loadRequest{start: time.Now()}
			status, _, _, err := request(ctx, book, "Bearer "+m.token)
			r.end, r.ok = time.Now(), err == nil && status == http.StatusOK
			if ctx.Err() != nil {
				return
			}
			mu.Lock()
			sent = append(sent, r)
			mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	time.Sleep(2 * time.Second)

	// Two views of the one edge, at the same time.
	runs := []*statRun{
		{args: []string{"stat", "deploy", "stars", "-n", "books", "--from", "books/deploy/books"}, row: "stars"},
		{args: []string{"stat", "deploy", "books", "-n", "books", "--to", "books/deploy/stars"}, row: "books"},
	}
	var runsDone sync.WaitGroup
	for _, r := range runs {
		runsDone.Add(1)
		go func() {
			defer runsDone.Done()
			r.start = time.Now()
			r.code, r.stdout, r.stderr = e.runExitCtx(t.Context(), m.meshctl, append(r.args, "--window", statWindow.String(), "-o", "json")...)
			r.end = time.Now()
		}()
	}
	runsDone.Wait()
	time.Sleep(time.Second)
	stop()
	wg.Wait()

	failed := 0
	for _, r := range sent {
		if !r.ok {
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d of the generator's %d requests for a book failed", failed, len(sent))
	}
	for _, r := range runs {
		if r.code != 0 {
			t.Errorf("meshctl %v: exit %d\n%s%s", r.args, r.code, r.stdout, r.stderr)
			continue
		}
		var res struct {
			WindowSeconds float64
			Rows          []statcli.Row
		}
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Rows) != 1 || res.Rows[0].Name != r.row {
			t.Errorf("meshctl %v: %v\n%s", r.args, err, r.stdout)
			continue
		}
		s := res.Rows[0].Stats
		lo, hi := countedBounds(sent, r.start, r.end, statWindow)
		fmt.Fprintf(os.Stderr, "e2e: meshctl %v: %v requests in %.0fs (%.1f/s), the generator sent %d to %d of them; the command took %.1fs\n",
			r.args, statRequests(s), res.WindowSeconds, statRate(s), lo, hi, r.end.Sub(r.start).Seconds())
		if s == nil || s.Proxies != 1 {
			t.Errorf("meshctl %v: stats %+v, want stars' one proxy read", r.args, s)
			continue
		}
		if s.Requests < float64(lo) || s.Requests > float64(hi) {
			t.Errorf("meshctl %v: %v requests, but the generator sent between %d and %d in any window the run could hold", r.args, s.Requests, lo, hi)
		}
		if s.SuccessRate == nil || *s.SuccessRate != 1 {
			t.Errorf("meshctl %v: success rate %v, want 1: every book was served", r.args, s.SuccessRate)
		}
		if want := s.Requests / statWindow.Seconds(); s.RequestsPerSecond < want*0.9 || s.RequestsPerSecond > want*1.1 {
			t.Errorf("meshctl %v: %v requests per second for %v requests in about %s", r.args, s.RequestsPerSecond, s.Requests, statWindow)
		}
		if s.Latency == nil || !(s.Latency.P50 > 0) || s.Latency.P99 < s.Latency.P50 {
			t.Errorf("meshctl %v: latency %+v", r.args, s.Latency)
		}
	}
	t.Logf("meshctl stat deploy -n books:\n%s", e.Run(t, m.meshctl, "stat", "deploy", "-n", "books", "--window", "2s"))
}

// loadRequest is one request of the generator: when it was sent, when
// its answer ended, and whether it was a 200.
type loadRequest struct {
	start, end time.Time
	ok         bool
}

// statRun is one `meshctl stat` of the step.
type statRun struct {
	args           []string
	row            string
	start, end     time.Time
	code           int
	stdout, stderr string
}

// countedBounds are how many of the generator's requests a window of
// length w inside [start, end] counts, at least and at most. A request is
// counted when stars' proxy ends its response, somewhere between the
// generator sending it and getting the answer. At most: every request
// that overlaps [start, end]. At least: the good ones entirely inside
// [end-w, start+w], which every window of length w inside [start, end]
// holds.
func countedBounds(sent []loadRequest, start, end time.Time, w time.Duration) (lo, hi int) {
	from, to := end.Add(-w), start.Add(w)
	for _, r := range sent {
		if r.end.After(start) && r.start.Before(end) {
			hi++
		}
		if r.ok && !r.start.Before(from) && !r.end.After(to) {
			lo++
		}
	}
	return lo, hi
}

func statRequests(s *statcli.Stats) float64 {
	if s == nil {
		return 0
	}
	return s.Requests
}

func statRate(s *statcli.Stats) float64 {
	if s == nil {
		return 0
	}
	return s.RequestsPerSecond
}
