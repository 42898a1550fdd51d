package cli

import (
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/syncbuf"
)

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestProgressPlainLines(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	var out syncbuf.Buffer
	p := NewProgress(&out, false, clk)
	p.Update("mesh-controller", "0/1 replicas available")
	p.Update("mesh-controller", "0/1 replicas available") // unchanged: no line
	clk.Step(2 * time.Second)
	p.Update("mesh-controller", "1/1 replicas updated")
	p.Update("webhook", "waiting")
	clk.Step(time.Second)
	p.Done("mesh-controller", "ready")
	p.Failed("webhook", "not ready")
	p.Stop()
	p.Update("late", "ignored after Stop")
	golden.AssertString(t, "testdata/progress-plain.golden", out.String())
	if strings.ContainsAny(out.String(), "\r\x1b") {
		t.Error("plain progress wrote control characters")
	}
}

func TestProgressSpinner(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	var out syncbuf.Buffer
	p := NewProgress(&out, true, clk)
	p.Update("mesh-controller", "0/1 replicas available")
	p.Update("webhook", "waiting")
	// Let the spinner goroutine move one frame.
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(spinnerInterval)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), string([]rune(spinnerFrames)[1])) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	p.Done("mesh-controller", "ready")
	p.Stop()
	got := out.String()
	for _, want := range []string{
		string([]rune(spinnerFrames)[0]) + " mesh-controller: 0/1 replicas available, webhook: waiting",
		string([]rune(spinnerFrames)[1]) + " mesh-controller: 0/1 replicas available, webhook: waiting",
		"\r\x1b[K✓ mesh-controller: ready\n",
		string([]rune(spinnerFrames)[1]) + " webhook: waiting",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("spinner output lacks %q:\n%q", want, got)
		}
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("Stop did not clear the spinner line: %q", got)
	}
}
