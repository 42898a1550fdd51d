package dataplane

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// loadResult is what one constant-rate run measured.
type loadResult struct {
	sent, errors int
	latencies    []time.Duration // sorted
}

func (r loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(p/100*float64(len(r.latencies))+0.5) - 1
	return r.latencies[max(0, min(i, len(r.latencies)-1))]
}

// constantRate sends POSTs of body to url at rate requests per second for
// d, wrk2-style: request i is due at start + i/rate whatever happened to
// earlier ones, and its latency is measured from when it was due, not from
// when a connection became free to send it. A slow response therefore
// shows up in the latency of every request queued behind it instead of
// silently lowering the rate (coordinated omission). conns keep-alive
// connections share the work.
func constantRate(ctx context.Context, client *http.Client, url string, rate int, d time.Duration, body []byte, conns int) loadResult {
	n := int(d.Seconds() * float64(rate))
	due := make(chan time.Time, n)
	interval := time.Second / time.Duration(rate)
	start := time.Now().Add(10 * time.Millisecond)
	go func() {
		defer close(due)
		// Go's timers wake up to a millisecond late (the runtime's poller
		// sleeps in whole milliseconds), which would be most of what the
		// direct path measures. The schedule runs on a thread of its own
		// that sleeps in the kernel, with a timer slack of 1 ns instead
		// of the default 50 µs: requests go out within tens of µs of
		// their due time.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
		for i := range n {
			t := start.Add(time.Duration(i) * interval)
			if wait := time.Until(t); wait > 0 {
				// Requests that fall due while a wake-up is late go out
				// back to back, with their own due time.
				ts := unix.NsecToTimespec(wait.Nanoseconds())
				for unix.Nanosleep(&ts, &ts) == unix.EINTR {
				}
			}
			select {
			case due <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	res := loadResult{latencies: make([]time.Duration, 0, n)}
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range due {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				resp, err := client.Do(req)
				ok := err == nil
				if ok {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = err == nil && resp.StatusCode == http.StatusOK
				}
				lat := time.Since(t)
				mu.Lock()
				res.sent++
				if ok {
					res.latencies = append(res.latencies, lat)
				} else {
					res.errors++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(res.latencies)
	return res
}
