package dashboard

import (
	"context"
	"errors"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// failing is a Source whose Read fails, as it does without the right to
// list pods.
type failing struct{ replay }

func (f *failing) Read(context.Context) (Scrape, error) {
	return Scrape{}, errors.New(`listing pods: pods is forbidden: User "jane" cannot list resource "pods"`)
}

// runRefresher runs r until the test ends.
func runRefresher(t *testing.T, r *Refresher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitFor polls the refresher's state without counting as a page: until
// cond holds.
func waitFor(t *testing.T, r *Refresher, cond func(State) bool) State {
	t.Helper()
	for {
		r.mu.Lock()
		st := r.state
		r.mu.Unlock()
		if cond(st) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRefresherSchedule: the Source is read once at start and once per
// interval, however many pages ask how often; after three intervals with
// no page asking, it is not read and its port-forwards are released,
// and the next page to ask has it read at once, without rates across
// the pause.
func TestRefresherSchedule(t *testing.T) {
	src := loadFixture(t, "bookstore")
	clk := clocktesting.NewFakeClock(fixtureStart)
	r := &Refresher{Source: src, Clock: clk, Interval: 5 * time.Second, PagePoll: time.Second, Scope: "all namespaces"}
	runRefresher(t, r)
	waitFor(t, r, func(s State) bool { return s.Generation == 1 })

	// Ten pages asking a hundred times each, between two ticks.
	for range 1000 {
		if st := r.State(); st.Generation != 1 || !st.Waiting {
			t.Fatalf("before the second reading: generation %d, waiting %v", st.Generation, st.Waiting)
		}
	}
	readAgain(t, clk)
	st := waitFor(t, r, func(s State) bool { return s.Generation == 2 })
	if reads, _ := src.counts(); reads != 2 || st.Waiting || len(st.Edges) != 5 || st.Proxies != 5 || st.WindowSeconds != 10 || st.IntervalSeconds != 5 || st.PollSeconds != 1 {
		t.Fatalf("after the second reading: %d reads; waiting %v, %d edges, %d proxies, window %v s", reads, st.Waiting, len(st.Edges), st.Proxies, st.WindowSeconds)
	}

	// Nobody asks from here: one more reading while the last ask (at
	// the start) is under three intervals old, then none, and the Source
	// is released once.
	readAgain(t, clk)
	waitFor(t, r, func(s State) bool { return s.Generation == 3 })
	readAgain(t, clk)
	for {
		if _, released := src.counts(); released == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if reads, released := src.counts(); reads != 3 || released != 1 {
		t.Fatalf("with nobody asking for 15 s: %d reads (want 3), released %d times (want 1)", reads, released)
	}

	// A page asks again: read at once, and no rate spans the pause.
	r.State()
	st = waitFor(t, r, func(s State) bool { return s.Generation == 4 })
	if reads, _ := src.counts(); reads != 4 || !st.Waiting || len(st.Edges) != 0 || len(st.Nodes) != 5 {
		t.Errorf("after the pause: %d reads; waiting %v, %d edges, %d nodes", reads, st.Waiting, len(st.Edges), len(st.Nodes))
	}
}

// TestRefresherError: a reading that fails as a whole is said, and the
// graph before it stays.
func TestRefresherError(t *testing.T) {
	src := &failing{}
	clk := clocktesting.NewFakeClock(fixtureStart)
	r := &Refresher{Source: src, Clock: clk, Scope: "namespace shop"}
	runRefresher(t, r)
	st := waitFor(t, r, func(s State) bool { return s.Generation == 1 })
	if st.Error == "" || st.Scope != "namespace shop" || st.Nodes == nil || st.Edges == nil {
		t.Errorf("a failed reading: %+v", st)
	}
}
