// Package clocktest holds the clock tests use to run code that waits,
// without waiting: Stepping.
package clocktest

import (
	"sync"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// Stepping is a clock.Clock whose After and Sleep return at once, having
// moved the time on by their duration: code that waits for a window sees
// the window pass, exactly, in no time. Waits of several goroutines add
// up, so a wait never ends before its deadline. Its other timers are a
// FakeClock's, which only Step moves.
type Stepping struct {
	*testingclock.FakeClock
	mu  sync.Mutex
	now time.Time
}

// NewStepping starts a Stepping clock at t.
func NewStepping(t time.Time) *Stepping {
	return &Stepping{FakeClock: testingclock.NewFakeClock(t), now: t}
}

// Now is the clock's time.
func (c *Stepping) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since is the time from t to Now.
func (c *Stepping) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Step moves the time on by d.
func (c *Stepping) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
}

// After moves the time on by d and returns a channel that holds the new
// time.
func (c *Stepping) After(d time.Duration) <-chan time.Time {
	c.Step(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// Sleep moves the time on by d.
func (c *Stepping) Sleep(d time.Duration) { c.Step(d) }
