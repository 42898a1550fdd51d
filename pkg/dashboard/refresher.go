package dashboard

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/meshctl/meshctl/pkg/statcli"
	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// DefaultInterval is how often the proxies are read while a page looks.
const DefaultInterval = 5 * time.Second

// The bounds of --interval: under two seconds, a thousand proxies would be
// read again before the last reading ended; over a minute, the page is
// hardly live.
const (
	MinInterval = 2 * time.Second
	MaxInterval = time.Minute
)

// State is what the page's JSON endpoint answers: the graph of the last
// two readings and what the page needs to say about it.
type State struct {
	// Generation counts the readings; the page redraws when it changes.
	Generation uint64 `json:"generation"`
	// Scope says what is shown: a namespace, or every one.
	Scope string `json:"scope"`
	// At is when the last proxy was read; WindowSeconds the mean time
	// between each proxy's two readings.
	At            *time.Time `json:"at,omitempty"`
	WindowSeconds float64    `json:"windowSeconds"`
	// IntervalSeconds is how often the proxies are read; PollSeconds how
	// often the page asks.
	IntervalSeconds float64 `json:"intervalSeconds"`
	PollSeconds     float64 `json:"pollSeconds"`
	// Waiting says there has been one reading only, so no rates yet.
	Waiting bool `json:"waiting"`
	// Error is why the last reading failed as a whole; the graph is the
	// one before.
	Error string `json:"error,omitempty"`
	// Proxies counts the proxies read twice; Unreadable are those that
	// were not, and why.
	Proxies    int                  `json:"proxies"`
	Unreadable []statcli.Unreadable `json:"unreadable,omitempty"`
	Graph
}

// Refresher reads a Source on one schedule, whatever the number of pages
// open, and keeps the State of its last two readings. It reads only while
// some page has asked for the State recently; when none has for a while,
// it lets the Source release its port-forwards and forgets the last
// reading, so that no rate spans the pause.
type Refresher struct {
	Source Source
	// Clock runs the schedule.
	Clock clock.WithTicker
	// Interval is the time between readings; DefaultInterval when zero.
	Interval time.Duration
	// PagePoll is how often the page asks for the State; Interval when
	// zero.
	PagePoll time.Duration
	// Scope is shown as it is.
	Scope string

	mu        sync.Mutex
	state     State
	prev      *Scrape
	lastAsked time.Time
	idle      bool
	wake      chan struct{}
}

// idleAfter is how long without a page asking before reading stops.
func (r *Refresher) idleAfter() time.Duration {
	return 3 * max(r.interval(), r.pagePoll())
}

func (r *Refresher) interval() time.Duration {
	if r.Interval == 0 {
		return DefaultInterval
	}
	return r.Interval
}

func (r *Refresher) pagePoll() time.Duration {
	if r.PagePoll == 0 {
		return r.interval()
	}
	return r.PagePoll
}

func (r *Refresher) init() {
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
		r.state = State{Scope: r.Scope, IntervalSeconds: r.interval().Seconds(), PollSeconds: r.pagePoll().Seconds(), Waiting: true, Graph: Graph{Nodes: []Node{}, Edges: []Edge{}}}
	}
}

// State returns the latest State, and counts as a page asking.
func (r *Refresher) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	r.lastAsked = r.Clock.Now()
	if r.idle {
		// Read now rather than at the next tick.
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return r.state
}

// Run reads the Source at once and then every Interval while pages ask,
// until ctx ends; the Source is released on return.
func (r *Refresher) Run(ctx context.Context) {
	r.mu.Lock()
	r.init()
	r.lastAsked = r.Clock.Now()
	r.mu.Unlock()
	defer r.Source.Release()
	tick := r.Clock.NewTicker(r.interval())
	defer tick.Stop()
	r.refresh(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		case <-r.wake:
		}
		if r.asleep() {
			continue
		}
		r.refresh(ctx)
	}
}

// asleep says nobody has asked for a while, and, the first time, lets go
// of the Source's port-forwards and the last reading.
func (r *Refresher) asleep() bool {
	r.mu.Lock()
	idle := r.Clock.Since(r.lastAsked) >= r.idleAfter()
	first := idle && !r.idle
	r.idle = idle
	if first {
		r.prev = nil
	}
	r.mu.Unlock()
	if first {
		r.Source.Release()
	}
	return idle
}

// refresh reads the Source once and computes the State.
func (r *Refresher) refresh(ctx context.Context) {
	cur, err := r.Source.Read(ctx)
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.state
	next.Generation++
	if err != nil {
		next.Error = err.Error()
		r.state = next
		return
	}
	next.Error = ""
	windows := map[PodRef]trafficstats.Window{}
	unreadable := append([]statcli.Unreadable(nil), cur.Unreadable...)
	var latest time.Time
	var seconds float64
	for ref, reading := range cur.Readings {
		if reading.At.After(latest) {
			latest = reading.At
		}
		if r.prev == nil {
			continue
		}
		before, ok := r.prev.Readings[ref]
		if !ok {
			continue
		}
		w, err := trafficstats.Between(before, reading)
		if err != nil {
			unreadable = append(unreadable, statcli.Unreadable{Namespace: ref.Namespace, Pod: ref.Name, Error: err.Error()})
			continue
		}
		windows[ref] = w
		seconds += w.Seconds
	}
	next.Waiting = r.prev == nil
	next.At = nil
	if !latest.IsZero() {
		next.At = &latest
	}
	next.WindowSeconds = 0
	if len(windows) > 0 {
		next.WindowSeconds = seconds / float64(len(windows))
	}
	next.Proxies = len(windows)
	sortUnreadable(unreadable)
	next.Unreadable = unreadable
	next.Graph = Build(cur.Workloads, windows)
	r.state = next
	r.prev = &cur
}

// sortUnreadable orders the proxies not read by namespace and pod, so
// that the page's list stays put between readings.
func sortUnreadable(u []statcli.Unreadable) {
	slices.SortFunc(u, func(a, b statcli.Unreadable) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Pod, b.Pod))
	})
}
