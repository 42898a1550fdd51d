package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/golden"
)

func allChecks() []Check { return append(PreInstallChecks(), Checks()...) }

// Every hint is an anchor of its document (the troubleshooting document,
// or the security document for the mesh CA), and every anchor of the
// troubleshooting document belongs to a check.
func TestHintsHaveAnchors(t *testing.T) {
	docs := map[string][]byte{}
	for _, name := range []string{TroubleshootingDoc, SecurityDoc} {
		b, err := os.ReadFile("../../" + name)
		if err != nil {
			t.Fatal(err)
		}
		docs[name] = b
	}
	hints := map[string]string{}
	for _, c := range allChecks() {
		if c.Hint == "" {
			t.Errorf("check %q has no hint", c.Description)
			continue
		}
		if prev, ok := hints[c.Hint]; ok && prev != c.Description {
			t.Errorf("hint %q is used by %q and %q", c.Hint, prev, c.Description)
		}
		hints[c.Hint] = c.Description
		doc := TroubleshootingDoc
		if c.Doc != "" {
			doc = c.Doc
		}
		if _, known := docs[doc]; !known {
			t.Errorf("check %q: hint into an unknown document %s", c.Description, doc)
			continue
		}
		if !bytes.Contains(docs[doc], []byte(`<a id="`+c.Hint+`"></a>`)) {
			t.Errorf("check %q: %s has no anchor %q", c.Description, doc, c.Hint)
		}
		if c.HintURL() != doc+"#"+c.Hint {
			t.Errorf("hint URL %q", c.HintURL())
		}
	}
	for _, line := range strings.Split(string(docs[TroubleshootingDoc]), "\n") {
		if id, ok := strings.CutPrefix(line, `<a id="`); ok {
			id, _, _ = strings.Cut(id, `"`)
			if _, used := hints[id]; !used {
				t.Errorf("%s has anchor %q that no check uses", TroubleshootingDoc, id)
			}
		}
	}
}

func TestMinimumVersionDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../" + TroubleshootingDoc)
	if err != nil {
		t.Fatal(err)
	}
	want := "Minimum supported Kubernetes version: " + MinKubernetesVersion
	if !strings.Contains(string(doc), want) {
		t.Errorf("%s does not state %q", TroubleshootingDoc, want)
	}
}

func TestCheckListsAreWellFormed(t *testing.T) {
	for name, list := range map[string][]Check{"pre": PreInstallChecks(), "post": Checks(), "proxy": ProxyChecks()} {
		seen := map[string]bool{}
		cats := map[string]int{}
		for i, c := range list {
			if c.Run == nil || c.Description == "" || c.Category == "" {
				t.Errorf("%s[%d]: incomplete check %+v", name, i, c)
			}
			if seen[c.Description] {
				t.Errorf("%s: duplicate check %q", name, c.Description)
			}
			seen[c.Description] = true
			// Categories are contiguous, so the report groups them.
			if last, ok := cats[c.Category]; ok && last != i-1 {
				t.Errorf("%s: category %q is split", name, c.Category)
			}
			cats[c.Category] = i
			for _, n := range c.Needs {
				if _, ok := cats[n]; !ok {
					t.Errorf("%s: %q needs category %q, which does not come before it", name, c.Description, n)
				}
			}
		}
	}
	for _, c := range ProxyChecks() {
		if c.Category == CategoryWebhook || c.Category == CategoryControlPlane {
			t.Errorf("--proxy selects %q", c.Description)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	cases := []struct {
		server, min string
		ok          bool
	}{
		{"v1.34.4", "v1.30.0", true},
		{"v1.30.0", "v1.30.0", true},
		{"v1.30.0-gke.1200", "v1.30.0", true},
		{"v1.29.15", "v1.30.0", false},
		{"v1.31.2+k3s1", "v1.30.0", true},
		{"garbage", "v1.30.0", false},
	}
	for _, tc := range cases {
		err := versionAtLeast(tc.server, tc.min)
		if (err == nil) != tc.ok {
			t.Errorf("versionAtLeast(%q, %q) = %v, want ok=%v", tc.server, tc.min, err, tc.ok)
		}
	}
}

// sampleResults cover every status, a multi-line error and two categories.
func sampleResults() []Result {
	hint := func(a string) string { return HintURL(a) }
	return []Result{
		{Category: CategoryKubernetes, Check: "can reach the Kubernetes API", Status: StatusOK, Severity: Fatal, Attempts: 1, Duration: 12 * time.Millisecond},
		{Category: CategoryKubernetes, Check: "Kubernetes is at least " + MinKubernetesVersion, Status: StatusOK, Severity: Error, Attempts: 1},
		{Category: CategoryControlPlane, Check: "the controller Deployment is available", Status: StatusFail, Severity: Error, Attempts: 1, Duration: 1500 * time.Millisecond,
			Err:  errors.New("deployment mesh-system/mesh-controller is not available: 0 of 1 replicas available, 1 updated\npod mesh-controller-abc: container controller is waiting: ImagePullBackOff"),
			Hint: hint("control-plane-available")},
		{Category: CategoryWebhook, Check: "the webhook's serving certificate is not about to expire", Status: StatusWarn, Severity: Warning, Attempts: 1,
			Err: errors.New(`the serving certificate (subject "CN=x") expires on 2030-01-10T00:00:00Z, in 9d, within the --cert-expiry-warning of 30d`), Hint: hint("webhook-cert-expiry")},
		{Category: CategoryVersions, Check: "the control plane runs the version of this meshctl", Status: StatusSkip, Severity: Warning,
			Err: errors.New(`skipped: needs "the controller Deployment exists" (control-plane)`)},
	}
}

func TestRenderers(t *testing.T) {
	for _, failOnWarning := range []bool{false, true} {
		rep := &Report{FailOnWarning: failOnWarning}
		for _, r := range sampleResults() {
			rep.Observe(r)
		}
		suffix := ""
		if failOnWarning {
			suffix = "-fail-on-warning"
		}
		var j, s, x bytes.Buffer
		if err := rep.WriteJSON(&j); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteShort(&s); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteJUnit(&x); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "testdata/report"+suffix+".json.golden", j.Bytes())
		golden.Assert(t, "testdata/report"+suffix+".short.golden", s.Bytes())
		golden.Assert(t, "testdata/report"+suffix+".junit.golden", x.Bytes())
		var doc map[string]any
		if err := json.Unmarshal(j.Bytes(), &doc); err != nil {
			t.Fatalf("not one JSON document: %v", err)
		}
		if doc["success"] != false {
			t.Errorf("success = %v with a failure", doc["success"])
		}
	}
	for _, decorated := range []bool{false, true} {
		var b bytes.Buffer
		tw := NewTableWriter(&b, decorated)
		for _, r := range sampleResults() {
			tw.Observe(r)
		}
		if err := tw.Finish(false); err != nil {
			t.Fatal(err)
		}
		name := "testdata/report.table.golden"
		if decorated {
			name = "testdata/report-decorated.table.golden"
		}
		golden.Assert(t, name, b.Bytes())
	}
}

func TestSuccess(t *testing.T) {
	warnOnly := []Result{{Status: StatusOK}, {Status: StatusWarn, Err: errors.New("w")}, {Status: StatusSkip}}
	cases := []struct {
		results       []Result
		failOnWarning bool
		want          bool
	}{
		{warnOnly, false, true},
		{warnOnly, true, false},
		{append(warnOnly, Result{Status: StatusFail}), false, false},
		{nil, true, true},
	}
	for i, tc := range cases {
		rep := &Report{Results: tc.results, FailOnWarning: tc.failOnWarning}
		if got := rep.Success(); got != tc.want {
			t.Errorf("case %d: Success() = %v, want %v", i, got, tc.want)
		}
	}
}

// testEnv is an Env for runner tests, whose checks touch no cluster.
func testEnv() *Env { return &Env{} }

func fn(err error, delay time.Duration, calls *atomic.Int32) func(context.Context, *Env) error {
	return func(ctx context.Context, _ *Env) error {
		if calls != nil {
			calls.Add(1)
		}
		select {
		case <-time.After(delay):
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func TestRunnerOrderAndParallelism(t *testing.T) {
	// The first check is the slowest; results still come in list order, and
	// independent checks overlap, so the run takes about one delay.
	var checks []Check
	for i := range 6 {
		delay := 50 * time.Millisecond
		if i == 0 {
			delay = 200 * time.Millisecond
		}
		checks = append(checks, Check{Category: fmt.Sprintf("c%d", i/2), Description: fmt.Sprintf("check %d", i), Hint: "h", Severity: Error, Run: fn(nil, delay, nil)})
	}
	var got []string
	start := time.Now()
	sum := (&Runner{}).Run(context.Background(), testEnv(), checks, func(r Result) { got = append(got, r.Check) })
	if d := time.Since(start); d > 600*time.Millisecond {
		t.Errorf("checks did not run in parallel: %s", d)
	}
	want := "check 0,check 1,check 2,check 3,check 4,check 5"
	if strings.Join(got, ",") != want || sum.OK != 6 {
		t.Errorf("got %v (%+v), want %s", got, sum, want)
	}
}

func TestRunnerFatalSkipsDependents(t *testing.T) {
	boom := errors.New("boom")
	var ran atomic.Int32
	checks := []Check{
		{Category: "a", Description: "a1", Hint: "ha1", Severity: Fatal, Run: fn(boom, 0, nil)},
		{Category: "a", Description: "a2", Hint: "ha2", Severity: Error, Run: fn(nil, 0, &ran)},
		{Category: "b", Description: "b1", Hint: "hb1", Severity: Error, Run: fn(nil, 0, &ran)},
		{Category: "c", Description: "c1", Hint: "hc1", Severity: Fatal, Needs: []string{"a"}, Run: fn(nil, 0, &ran)},
		{Category: "d", Description: "d1", Hint: "hd1", Severity: Warning, Needs: []string{"c"}, Run: fn(nil, 0, &ran)},
	}
	var got []Result
	sum := (&Runner{}).Run(context.Background(), testEnv(), checks, func(r Result) { got = append(got, r) })
	want := []Status{StatusFail, StatusSkip, StatusOK, StatusSkip, StatusSkip}
	for i, r := range got {
		if r.Status != want[i] {
			t.Errorf("%s: status %s, want %s (%v)", r.Check, r.Status, want[i], r.Err)
		}
	}
	if ran.Load() != 1 {
		t.Errorf("%d checks ran after the fatal failure, want only the independent one", ran.Load())
	}
	if got[0].Hint != "docs/troubleshooting.md#ha1" || !errors.Is(got[0].Err, boom) {
		t.Errorf("failure = %+v", got[0])
	}
	if !strings.Contains(got[4].Err.Error(), `needs "c1"`) {
		t.Errorf("skip reason = %v", got[4].Err)
	}
	if sum != (Summary{OK: 1, Failed: 1, Skipped: 3}) {
		t.Errorf("summary %+v", sum)
	}
}

func TestRunnerWaitRetries(t *testing.T) {
	var calls atomic.Int32
	flaky := func(context.Context, *Env) error {
		if calls.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	}
	var never atomic.Int32
	checks := []Check{
		{Category: "a", Description: "flaky", Hint: "h1", Severity: Error, Run: flaky},
		{Category: "a", Description: "final", Hint: "h2", Severity: Error, Retry: NoRetry, Run: fn(errors.New("no"), 0, &never)},
	}
	p := &recordingProgress{}
	var got []Result
	(&Runner{Wait: 2 * time.Second, RetryInterval: 10 * time.Millisecond, Progress: p}).Run(context.Background(), testEnv(), checks, func(r Result) { got = append(got, r) })
	if got[0].Status != StatusOK || got[0].Attempts != 3 {
		t.Errorf("flaky: %+v", got[0])
	}
	if got[1].Status != StatusFail || never.Load() != 1 {
		t.Errorf("NoRetry check ran %d times: %+v", never.Load(), got[1])
	}
	if !strings.Contains(p.String(), "update flaky: waiting (attempt 2): not yet") || !strings.Contains(p.String(), "done flaky: ok") {
		t.Errorf("progress:\n%s", p)
	}

	// Without --wait, a failing check runs once.
	calls.Store(0)
	(&Runner{}).Run(context.Background(), testEnv(), checks[:1], nil)
	if calls.Load() != 1 {
		t.Errorf("ran %d times without --wait", calls.Load())
	}
}

func TestRunnerTimeoutAndPanic(t *testing.T) {
	checks := []Check{
		{Category: "a", Description: "slow", Hint: "h1", Severity: Error, Timeout: 20 * time.Millisecond, Run: fn(nil, time.Hour, nil)},
		{Category: "a", Description: "panics", Hint: "h2", Severity: Warning, Run: func(context.Context, *Env) error { panic("oops") }},
	}
	var got []Result
	(&Runner{}).Run(context.Background(), testEnv(), checks, func(r Result) { got = append(got, r) })
	if got[0].Status != StatusFail || !strings.Contains(got[0].Err.Error(), "no answer within 20ms") {
		t.Errorf("slow: %+v", got[0])
	}
	if got[1].Status != StatusWarn || !strings.Contains(got[1].Err.Error(), "internal error in check: oops") {
		t.Errorf("panics: %+v", got[1])
	}
}

// recordingProgress records progress calls, from any goroutine.
type recordingProgress struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *recordingProgress) record(what, task, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(&p.buf, "%s %s: %s\n", what, task, status)
}

func (p *recordingProgress) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

func (p *recordingProgress) Update(task, status string) { p.record("update", task, status) }
func (p *recordingProgress) Done(task, status string)   { p.record("done", task, status) }
func (p *recordingProgress) Failed(task, status string) { p.record("failed", task, status) }
