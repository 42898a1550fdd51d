package proxyadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/meshctl/meshctl/internal/clocktest"
)

// fakeProxies opens sessions to numbered answers, counting what is asked
// and how many port-forwards are open and opening at once.
type fakeProxies struct {
	mu                  sync.Mutex
	opens, gets, closes map[string]int
	opening, sessions   atomic.Int32
	maxOpening, maxOpen atomic.Int32
	failOpen, failGet   string // a pod whose Open, or second Get, fails
}

type fakeSession struct {
	p    *fakeProxies
	name string
}

func (p *fakeProxies) open(ctx context.Context, ns, pod string) (Session, error) {
	n := p.opening.Add(1)
	defer p.opening.Add(-1)
	raise(&p.maxOpening, n)
	time.Sleep(time.Millisecond) // long enough for the others to pile up
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opens[pod]++
	if pod == p.failOpen {
		return nil, errors.New("forbidden")
	}
	raise(&p.maxOpen, p.sessions.Add(1))
	return &fakeSession{p: p, name: pod}, nil
}

func raise(m *atomic.Int32, n int32) {
	for {
		old := m.Load()
		if n <= old || m.CompareAndSwap(old, n) {
			return
		}
	}
}

func (s *fakeSession) Get(_ context.Context, path string) ([]byte, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.gets[s.name]++
	if s.name == s.p.failGet && s.p.gets[s.name] == 2 {
		return nil, errors.New("connection reset")
	}
	return fmt.Appendf(nil, "%s %s %d", s.name, path, s.p.gets[s.name]), nil
}

func (s *fakeSession) Close() {
	s.p.sessions.Add(-1)
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.closes[s.name]++
}

func testPods(n int) []*corev1.Pod {
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		pods[i] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("p%03d", i)}}
	}
	return pods
}

// TestReadTwice: one port-forward per proxy, two readings over it a
// window apart, every session closed, and a proxy that fails is its
// own row only.
func TestReadTwice(t *testing.T) {
	p := &fakeProxies{opens: map[string]int{}, gets: map[string]int{}, closes: map[string]int{}, failOpen: "p003", failGet: "p007"}
	pods := testPods(40)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := &countingClock{FakeClock: testingclock.NewFakeClock(start)}
	var calls, lastFirst, lastSecond int
	done := make(chan []Readings)
	go func() {
		done <- ReadTwice(context.Background(), pods, "/metrics", 10*time.Second, TwiceOptions{
			Open: p.open, Clock: clk,
			Progress: func(first, second, total int) {
				calls++
				if first < lastFirst || second < lastSecond || total != len(pods) {
					t.Errorf("progress went from %d/%d to %d/%d of %d", lastFirst, lastSecond, first, second, total)
				}
				lastFirst, lastSecond = first, second
			},
		})
	}()
	// Every proxy that could be read once waits for its second reading
	// with its port-forward open: the windows overlap, and one step of
	// the clock by the window ends them all.
	for clk.waiting.Load() < int32(len(pods)-1) {
		time.Sleep(time.Millisecond)
	}
	if n := p.sessions.Load(); n != int32(len(pods)-1) {
		t.Errorf("%d sessions open while waiting for the window, want %d", n, len(pods)-1)
	}
	clk.Step(10 * time.Second)
	out := <-done
	if lastFirst != len(pods) || lastSecond != len(pods) || calls == 0 {
		t.Errorf("progress ended at %d/%d of %d after %d calls", lastFirst, lastSecond, len(pods), calls)
	}
	for i, r := range out {
		name := pods[i].Name
		if r.Pod != pods[i] {
			t.Errorf("reading %d is of %s, want %s", i, r.Pod.Name, name)
		}
		if p.opens[name] != 1 {
			t.Errorf("%s: %d port-forwards, want 1", name, p.opens[name])
		}
		switch name {
		case "p003":
			if r.Err == nil || !strings.Contains(r.Err.Error(), "forbidden") || p.gets[name] != 0 || p.closes[name] != 0 {
				t.Errorf("%s whose Open fails: err %v, %d gets, %d closes", name, r.Err, p.gets[name], p.closes[name])
			}
			continue
		case "p007":
			if r.Err == nil || !strings.Contains(r.Err.Error(), "connection reset") || string(r.First.Body) != "p007 /metrics 1" {
				t.Errorf("%s whose second Get fails: err %v, first %q", name, r.Err, r.First.Body)
			}
		default:
			if r.Err != nil || string(r.First.Body) != name+" /metrics 1" || string(r.Second.Body) != name+" /metrics 2" {
				t.Errorf("%s: err %v, readings %q and %q", name, r.Err, r.First.Body, r.Second.Body)
			}
			if d := r.Second.At.Sub(r.First.At); d < 10*time.Second {
				t.Errorf("%s: readings %v apart, want at least the window", name, d)
			}
		}
		if p.gets[name] != 2 || p.closes[name] != 1 {
			t.Errorf("%s: %d gets and %d closes, want 2 and 1", name, p.gets[name], p.closes[name])
		}
	}
	if n := p.maxOpening.Load(); n > FleetConcurrency {
		t.Errorf("%d port-forwards were being opened at once, want at most %d", n, FleetConcurrency)
	}
}

// countingClock counts the waits of After.
type countingClock struct {
	*testingclock.FakeClock
	waiting atomic.Int32
}

func (c *countingClock) After(d time.Duration) <-chan time.Time {
	defer c.waiting.Add(1)
	return c.FakeClock.After(d)
}

func TestReadTwiceCancelled(t *testing.T) {
	p := &fakeProxies{opens: map[string]int{}, gets: map[string]int{}, closes: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := ReadTwice(ctx, testPods(20), "/metrics", time.Second, TwiceOptions{Open: p.open, Clock: clocktest.NewStepping(time.Now())})
	for _, r := range out {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", r.Pod.Name, r.Err)
		}
	}
	if p.sessions.Load() != 0 {
		t.Errorf("%d sessions left open", p.sessions.Load())
	}
}
