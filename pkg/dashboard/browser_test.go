package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/statcli"
	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// chromiumPath is Debian's chromium, which hack/browser-deps.sh installs.
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium of its own, with a fresh profile,
// for the test; JavaScript errors on its pages fail the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser tests need headless Chromium at %s: run hack/browser-deps.sh as root (make browser-deps): %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these, Chromium's own connections out are refused on
		// the test machine and slow every start.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1500, 940),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	// A bound on a hung browser, not a measure of speed.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	var mu sync.Mutex
	var jsErrors []string
	listen := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			jsErrors = append(jsErrors, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				jsErrors = append(jsErrors, "console.error: "+strings.Join(args, " "))
			}
		}
	})
	if listen != nil {
		t.Fatalf("starting %s: %v", chromiumPath, listen)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range jsErrors {
			t.Errorf("the page: %s", e)
		}
	})
	return ctx
}

// dashboard runs `meshctl dashboard` with the Source src and a fake clock
// until the test ends, and returns the page's URL.
func dashboard(t *testing.T, src Source, clk *clocktesting.FakeClock) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	var stderr syncbuf.Buffer
	o := &Options{
		IOStreams:     genericiooptions.IOStreams{Out: &stderr, ErrOut: &stderr},
		AllNamespaces: true,
		Address:       DefaultAddress,
		Port:          0,
		Interval:      DefaultInterval,
		PagePoll:      100 * time.Millisecond,
		Source:        src,
		Clock:         clk,
		Serving:       func(u string) { urls <- u },
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dashboard: %v", err)
		}
	})
	select {
	case u := <-urls:
		if want := "meshctl dashboard: serving " + u + " (Ctrl-C to stop)\n"; stderr.String() != want {
			t.Errorf("stderr %q, want %q", stderr.String(), want)
		}
		return u
	case err := <-done:
		t.Fatalf("dashboard: %v", err)
	}
	return ""
}

// page is what the dashboard's page shows, read from its DOM.
type page struct {
	Generation string `json:"generation"`
	Scope      string `json:"scope"`
	Window     string `json:"window"`
	Proxies    string `json:"proxies"`
	Status     string `json:"status"`
	Nodes      []struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Sub   string `json:"sub"`
		Title string `json:"title"`
	} `json:"nodes"`
	Edges []struct {
		Source string `json:"source"`
		Target string `json:"target"`
		Label  string `json:"label"`
	} `json:"edges"`
	Labels     [][]string `json:"labels"`
	Rows       [][]string `json:"rows"`
	Unreadable []string   `json:"unreadable"`
	Injected   int        `json:"injected"`
}

const readPage = `(() => {
  const text = sel => document.querySelector(sel).textContent;
  return {
    generation: document.body.dataset.generation || '',
    scope: text('#scope'), window: text('#window'), proxies: text('#proxies'),
    status: document.getElementById('status').hidden ? '' : text('#status'),
    nodes: [...document.querySelectorAll('#graph .node')].map(g => ({id: g.dataset.id,
      name: g.querySelector('.name').textContent, sub: g.querySelector('.sub').textContent,
      title: g.querySelector('title').textContent})),
    edges: [...document.querySelectorAll('#graph .edge')].map(g => ({source: g.dataset.source,
      target: g.dataset.target, label: g.getAttribute('aria-label')})),
    labels: [...document.querySelectorAll('#graph .edge-label')].map(g => [...g.querySelectorAll('tspan')].map(s => s.textContent)),
    rows: [...document.querySelectorAll('#workloads tbody tr')].map(tr => [...tr.cells].map(td => td.textContent)),
    unreadable: [...document.querySelectorAll('#unreadable li')].map(li => li.textContent),
    injected: document.querySelectorAll('img, b, iframe, script:not([src]), [onerror], [onmouseover], [onload]').length +
      (window.__pwned === undefined ? 0 : 1000),
  };
})()`

// waitGeneration waits until the page has drawn generation gen, and reads
// it.
func waitGeneration(t *testing.T, ctx context.Context, gen int) page {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`body[data-generation="%d"]`, gen)))); err != nil {
		t.Fatalf("waiting for the page to draw reading %d: %v", gen, err)
	}
	p, err := chromedp.Run(ctx, chromedp.Evaluate[page](readPage))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return p
}

// readAgain makes the dashboard read its Source once more: its clock
// passes one interval, once the schedule waits on it.
func readAgain(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(DefaultInterval)
}

// screenshot saves the page as a PNG under $TEST_OUTPUT_DIR, or
// testdata/out (ignored by git), and logs where.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("TEST_OUTPUT_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "out")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s: not a PNG", name)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowserBookstore loads the page in headless Chromium against the
// recorded bookstore readings and checks what it draws, with figures
// worked by hand from fixture_test.go's traffic, then again after the
// next reading.
func TestBrowserBookstore(t *testing.T) {
	ctx := browser(t)
	src := loadFixture(t, "bookstore")
	clk := clocktesting.NewFakeClock(fixtureStart)
	url := dashboard(t, src, clk)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}

	// One reading: the workloads, no rates yet.
	p := waitGeneration(t, ctx, 1)
	if len(p.Edges) != 0 || len(p.Rows) != 5 || !strings.Contains(p.Status, "to compute rates") || p.Window != "measuring…" {
		t.Errorf("after the first reading: %d edges, %d rows, status %q, window %q", len(p.Edges), len(p.Rows), p.Status, p.Window)
	}

	readAgain(t, clk)
	p = waitGeneration(t, ctx, 2)
	var names []string
	for _, n := range p.Nodes {
		names = append(names, n.Name)
	}
	if want := []string{"bookbuyer", "legacy-client", "bookstore", "bookthief", "bookwarehouse", "prometheus", "callers without a proxy"}; !slices.Equal(names, want) {
		t.Errorf("nodes %q, want %q", names, want)
	}
	if p.Scope != "all namespaces" || p.Window != "10.0 s" || p.Proxies != "5" || p.Status != "" {
		t.Errorf("scope %q, window %q, proxies %q, status %q", p.Scope, p.Window, p.Proxies, p.Status)
	}
	// bookbuyer to bookstore: 78 + 2 failed of 80 in 10 s; 78 in (1 ms,
	// 2.5 ms], 2 in (100 ms, 250 ms]: p50 rank 40 at 1 + 1.5·40/78 =
	// 1.77 ms, p99 rank 79.2 at 100 + 150·1.2/2 = 190 ms.
	wantEdges := map[string]string{
		"bookbuyer/deployment/bookbuyer bookstore/deployment/bookstore":                "bookbuyer → bookstore: 8.0 rps · 97.50% · p50 1.8ms · p99 190ms",
		"bookstore/deployment/bookstore bookwarehouse/statefulset/bookwarehouse":       "bookstore → bookwarehouse: 2.0 rps · 100.00% · p50 2.9ms · p99 5ms",
		"bookthief/deployment/bookthief bookstore/deployment/bookstore":                "bookthief → bookstore: 1.0 rps · 100.00% · p50 0.38ms · p99 0.5ms",
		"monitoring/serviceaccount/prometheus bookwarehouse/statefulset/bookwarehouse": "",
		"unmeshed bookstore/deployment/bookstore":                                      "",
	}
	if len(p.Edges) != len(wantEdges) {
		t.Errorf("%d edges, want %d: %+v", len(p.Edges), len(wantEdges), p.Edges)
	}
	for _, e := range p.Edges {
		want, ok := wantEdges[e.Source+" "+e.Target]
		if !ok || (want != "" && e.Label != want) {
			t.Errorf("edge %s -> %s: %q, want %q", e.Source, e.Target, e.Label, want)
		}
	}
	if !slices.ContainsFunc(p.Labels, func(l []string) bool { return slices.Equal(l, []string{"8.0 rps · 97.50%", "p50 1.8ms · p99 190ms"}) }) {
		t.Errorf("no edge label reads 8.0 rps · 97.50%%, p50 1.8ms · p99 190ms: %q", p.Labels)
	}
	// bookstore received 100 in 10 s, 98 ok: 10 at 0.2 ms, 10 at 0.5 ms,
	// 78 at 2 ms, 2 at 150 ms; p50 rank 50 at 1 + 1.5·30/78 = 1.58 ms, p99
	// rank 99 at 100 + 150·1/2 = 175 ms. bookwarehouse 22 in 10 s: 8 at
	// 0.8 ms, 14 in (2.5 ms, 5 ms]; p50 rank 11 at 2.5 + 2.5·3/14 = 3.04
	// ms, p99 rank 21.78 at 2.5 + 2.5·13.78/14 = 4.96 ms.
	wantRows := [][]string{
		{"bookbuyer", "bookbuyerdeploy", "1/1", "0.0", "-", "-", "-", "0"},
		{"bookbuyer", "legacy-clientdeploy", "0/1", "-", "-", "-", "-", "-"},
		{"bookstore", "bookstoredeploy", "2/2", "10.0", "98.00%", "1.6ms", "175ms", "0"},
		{"bookthief", "bookthiefdeploy", "1/1", "0.0", "-", "-", "-", "0"},
		{"bookwarehouse", "bookwarehousests", "1/1", "2.2", "100.00%", "3ms", "5ms", "0"},
	}
	if !slices.EqualFunc(p.Rows, wantRows, slices.Equal) {
		t.Errorf("table rows\n%q\nwant\n%q", p.Rows, wantRows)
	}
	screenshot(t, ctx, "bookstore")

	// The next reading: bookbuyer's calls all succeed, 10 of 100 in
	// under 1 ms; p50 rank 50 at 1 + 1.5·40/90 = 1.67 ms, p99 rank 99 at
	// 1 + 1.5·89/90 = 2.48 ms. bookwarehouse fails 3 of 20. bookstore
	// received 70 and 50.
	readAgain(t, clk)
	p = waitGeneration(t, ctx, 3)
	got := map[string]string{}
	for _, e := range p.Edges {
		got[e.Source+" "+e.Target] = e.Label
	}
	if l := got["bookbuyer/deployment/bookbuyer bookstore/deployment/bookstore"]; l != "bookbuyer → bookstore: 10.0 rps · 100.00% · p50 1.7ms · p99 2.5ms" {
		t.Errorf("after the next reading, bookbuyer → bookstore: %q", l)
	}
	if l := got["bookstore/deployment/bookstore bookwarehouse/statefulset/bookwarehouse"]; !strings.HasPrefix(l, "bookstore → bookwarehouse: 2.0 rps · 85.00% · ") {
		t.Errorf("after the next reading, bookstore → bookwarehouse: %q", l)
	}
	if len(p.Edges) != len(wantEdges) || len(p.Rows) != 5 || p.Rows[2][3] != "12.0" || p.Rows[2][4] != "100.00%" {
		t.Errorf("after the next reading: %d edges, rows %q", len(p.Edges), p.Rows)
	}
	screenshot(t, ctx, "bookstore-next")
	if reads, _ := src.counts(); reads != 3 {
		t.Errorf("the source was read %d times for 3 readings, whatever the page's polls", reads)
	}
}

// TestBrowserHostileNames: names and labels from the cluster and the
// proxies are shown as text. A workload, a namespace, a caller's
// identity (the peer label a proxy reports) and an error holding markup
// and quotes must not become elements or attributes, nor run.
func TestBrowserHostileNames(t *testing.T) {
	ctx := browser(t)
	const (
		ns    = `"onmouseover="window.__pwned=1`
		name  = `<img src=x onerror="window.__pwned=2">`
		peer  = `<script>window.__pwned=3<` + "/" + `b onmouseover=window.__pwned=4>x`
		error = `<iframe src="javascript:window.__pwned=5"></iframe>`
	)
	metrics := func(n int) []byte {
		var b bytes.Buffer
		fmt.Fprintf(&b, "# TYPE mesh_proxy_requests_total counter\n")
		fmt.Fprintf(&b, "mesh_proxy_requests_total{direction=\"inbound\",method=\"GET\",peer=%q,status_class=\"2xx\",tls=\"true\"} %d\n", peer, 10*n)
		return b.Bytes()
	}
	reading := func(n int) Scrape {
		r, err := parseReading(fixtureStart.Add(time.Duration(n)*fixtureWindow), metrics(n))
		if err != nil {
			t.Fatal(err)
		}
		return Scrape{
			Workloads:  []Workload{{Namespace: ns, Kind: "deployment", Name: name, Identity: ns + "/x", Pods: []Pod{{Name: name + "-1", Meshed: true}, {Name: "p2", Meshed: true}}}},
			Readings:   map[PodRef]trafficstats.Reading{{ns, name + "-1"}: r},
			Unreadable: []statcli.Unreadable{{Namespace: ns, Pod: "p2", Error: error}},
		}
	}
	src := &replay{scrapes: []Scrape{reading(1), reading(2)}}
	clk := clocktesting.NewFakeClock(fixtureStart)
	url := dashboard(t, src, clk)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitGeneration(t, ctx, 1)
	readAgain(t, clk)
	p := waitGeneration(t, ctx, 2)
	// Hover every node and label, which would fire an injected handler.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { for (const e of document.querySelectorAll('*')) e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})); return true })()`)); err != nil {
		t.Fatal(err)
	}
	pwned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__pwned !== undefined`))
	if err != nil {
		t.Fatal(err)
	}
	if pwned || p.Injected != 0 {
		t.Errorf("the page ran or built what the cluster named: pwned %v, %d injected elements", pwned, p.Injected)
	}
	if len(p.Rows) != 1 || p.Rows[0][0] != ns || p.Rows[0][1] != name+"deploy" {
		t.Errorf("table rows %q, want the namespace %q and workload %q as text", p.Rows, ns, name)
	}
	var titles []string
	for _, n := range p.Nodes {
		titles = append(titles, n.Title)
	}
	if joined := strings.Join(titles, "\n"); !strings.Contains(joined, "deployment/"+name) || !strings.Contains(joined, "namespace "+ns) {
		t.Errorf("node titles %q, want the names as text", titles)
	}
	// The peer is split at its first slash, as namespace/ServiceAccount.
	if len(p.Edges) != 1 || !strings.HasPrefix(p.Edges[0].Label, "b onmouseover=window.__pwned=4>x → "+name+": 1.0 rps · 100.00%") {
		t.Errorf("edges %+v, want one from the identity as text", p.Edges)
	}
	if len(p.Unreadable) != 1 || p.Unreadable[0] != ns+"/p2 "+error {
		t.Errorf("unreadable %q, want the error as text", p.Unreadable)
	}
	screenshot(t, ctx, "hostile-names")
}

// parseReading parses metrics text as a proxy's answer at at.
func parseReading(at time.Time, body []byte) (trafficstats.Reading, error) {
	r, err := statcli.ParseReading(proxyadmin.Reading{At: at, Body: body})
	if err != nil {
		return r, errors.Join(errors.New("a test reading"), err)
	}
	return r, nil
}

// TestBrowserManyWorkloads: a mesh of 40 workloads in 5 namespaces, each
// calling the next two of its namespace and one of the next namespace,
// some idle: every node is drawn, no two overlap, and every edge has its
// label.
func TestBrowserManyWorkloads(t *testing.T) {
	ctx := browser(t)
	const namespaces, perNamespace = 5, 8
	var workloads []Workload
	metrics := map[PodRef]*telemetry.Metrics{}
	edges := 0
	for n := range namespaces {
		ns := fmt.Sprintf("team-%c", 'a'+n)
		for w := range perNamespace {
			name := fmt.Sprintf("service-%d", w)
			pod := name + "-5d8f7c9b4-x2x7q"
			workloads = append(workloads, Workload{Namespace: ns, Kind: "deployment", Name: name, Identity: ns + "/" + name, Pods: []Pod{{Name: pod, Meshed: w != 7}}})
			metrics[PodRef{ns, pod}] = telemetry.NewMetrics()
		}
	}
	call := func(from, to PodRef, n, failed int) {
		m := metrics[to]
		for i := range n {
			status := 200
			if i < failed {
				status = 503
			}
			m.ObserveRequest("inbound", "GET", status, from.Namespace+"/"+strings.TrimSuffix(from.Name, "-5d8f7c9b4-x2x7q"), true, time.Duration(1+i%7)*time.Millisecond)
		}
		edges++
	}
	ref := func(n, w int) PodRef {
		return PodRef{fmt.Sprintf("team-%c", 'a'+n), fmt.Sprintf("service-%d-5d8f7c9b4-x2x7q", w)}
	}
	script := func() {
		edges = 0
		for n := range namespaces {
			for w := range 5 {
				call(ref(n, w), ref(n, w+1), 10*(w+1), w%3)
				call(ref(n, w), ref(n, w+2), 5, 0)
			}
			call(ref(n, 0), ref((n+1)%namespaces, 0), 20, 1)
		}
	}
	var scrapes []Scrape
	for scrape := range 2 {
		script()
		s := Scrape{Workloads: workloads, Readings: map[PodRef]trafficstats.Reading{}}
		for _, w := range workloads {
			if !w.Pods[0].Meshed {
				continue
			}
			ref := PodRef{w.Namespace, w.Pods[0].Name}
			var b bytes.Buffer
			metrics[ref].WriteTo(&b)
			r, err := parseReading(fixtureStart.Add(time.Duration(scrape)*fixtureWindow), b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			s.Readings[ref] = r
		}
		scrapes = append(scrapes, s)
	}
	clk := clocktesting.NewFakeClock(fixtureStart)
	url := dashboard(t, &replay{scrapes: scrapes}, clk)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitGeneration(t, ctx, 1)
	readAgain(t, clk)
	p := waitGeneration(t, ctx, 2)
	if len(p.Nodes) != namespaces*perNamespace || len(p.Edges) != edges || len(p.Labels) != edges || len(p.Rows) != namespaces*perNamespace {
		t.Errorf("%d nodes, %d edges, %d labels, %d rows; want %d nodes and rows, %d edges", len(p.Nodes), len(p.Edges), len(p.Labels), len(p.Rows), namespaces*perNamespace, edges)
	}
	overlaps, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => {
  const boxes = [...document.querySelectorAll('#graph .node')].map(g => g.getBoundingClientRect());
  let n = 0;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) n++;
  }
  return n;
})()`))
	if err != nil || overlaps != 0 {
		t.Errorf("%d pairs of nodes overlap (%v)", overlaps, err)
	}
	screenshot(t, ctx, "many-workloads")
}
