package admin

import (
	"bufio"
	"errors"
	"net/http"
	"time"

	"github.com/meshctl/meshctl/pkg/proxy/tap"
)

// Bounds of a tap stream.
const (
	// TapWriteTimeout bounds one write to a listener: one that reads
	// nothing for that long is cut off, so that it does not hold one of
	// the tap's few places for good. Until then its events are dropped
	// and counted, never waited for.
	TapWriteTimeout = 30 * time.Second
	// TapEndTimeout bounds the goodbye written when the proxy stops, and
	// how long the proxy waits for its streams to end (tap.Tap.Close)
	// before it closes the admin port, so that a listener that reads
	// nothing does not hold up the drain.
	TapEndTimeout = time.Second
	// TapFlushInterval is how long an event may wait before it is sent:
	// the stream takes what its buffer holds that often. A listener's
	// buffer (tap.ListenerBuffer) holds that long at 5,000 requests a
	// second; past that rate the stream drops and counts.
	TapFlushInterval = 50 * time.Millisecond
	// tapBufferSize is the stream's write buffer.
	tapBufferSize = 32 << 10
)

// serveTap answers GET wire.TapPath: the proxy's requests as they happen,
// one JSON line each (tap.Encoder), filtered as the query asks
// (tap.ParseRequest). Only a caller on the pod's loopback may listen, by
// the rule of PUT /log-level: the API server's port-forward arrives there
// (meshctl tap), while any pod of the cluster may reach the admin port's
// other addresses, and the stream names every caller of the app, its
// paths and its identities.
func serveTap(t *tap.Tap, w http.ResponseWriter, r *http.Request) {
	if !fromLoopback(r) {
		http.Error(w, "the tap is served only on the pod's loopback (meshctl tap reaches it through the API server's port-forward)", http.StatusForbidden)
		return
	}
	req, err := tap.ParseRequest(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	l, err := t.Listen(req.Filter)
	switch {
	case errors.Is(err, tap.ErrTooManyListeners):
		http.Error(w, "the proxy already serves as many tap listeners as it may; try again once one has ended", http.StatusTooManyRequests)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer l.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", tap.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	// The headers now, so that the listener knows it was accepted.
	if rc.Flush() != nil {
		return
	}
	// Lines gather in a buffer of the stream's own and go out every
	// TapFlushInterval (or when it fills): a write to the socket per
	// request was most of what a listener cost the proxy.
	out := bufio.NewWriterSize(w, tapBufferSize)
	enc := tap.NewEncoder(out)
	flush := func() error {
		if err := out.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	limit := rateLimit{max: req.MaxRPS}
	var limited uint64
	emit := func(e *tap.Event) error {
		if !limit.allow(e.Time) {
			limited++
			return nil
		}
		return enc.Event(e)
	}
	// The stream wakes for the first event after a quiet spell, then
	// only every TapFlushInterval, to take what has gathered in the
	// listener's buffer: a wake-up per request was a good part of what a
	// listener cost the proxy.
	timer := time.NewTimer(TapFlushInterval)
	timer.Stop()
	defer timer.Stop()
	events := l.Events() // nil while the timer runs
	for {
		var e tap.Event
		select {
		case <-r.Context().Done():
			return
		case <-l.Done():
			rc.SetWriteDeadline(time.Now().Add(TapEndTimeout))
			if enc.End("the proxy is stopping") == nil {
				flush()
			}
			return
		case e = <-events:
			// Writes block only once the buffer is full: this bounds
			// them until the flush.
			rc.SetWriteDeadline(time.Now().Add(TapWriteTimeout))
			if emit(&e) != nil {
				return
			}
			events = nil
			timer.Reset(TapFlushInterval)
			continue
		case <-timer.C:
		}
		var err error
		n := 0
		// At most a buffer's worth, so that the listener's end and the
		// caller's are heard under any load.
	drain:
		for ; err == nil && n < tap.ListenerBuffer; n++ {
			select {
			case e = <-l.Events():
				err = emit(&e)
			default:
				break drain
			}
		}
		if dropped := l.TakeDropped(); err == nil && (dropped > 0 || limited > 0) {
			err = enc.Missed(dropped, limited)
			limited = 0
		}
		if err != nil || flush() != nil {
			return
		}
		if n > 0 {
			// Busy: come back after another interval.
			rc.SetWriteDeadline(time.Now().Add(TapWriteTimeout))
			timer.Reset(TapFlushInterval)
		} else {
			events = l.Events()
		}
	}
}

// rateLimit allows at most max events a second, by the events' own times
// (no clock read per event); 0 allows all.
type rateLimit struct {
	max    int
	window time.Time
	n      int
}

func (r *rateLimit) allow(t time.Time) bool {
	if r.max == 0 {
		return true
	}
	// Events come in the order their requests ended, so an earlier
	// start counts in the window at hand.
	if t.Sub(r.window) >= time.Second {
		r.window, r.n = t, 0
	}
	if r.n >= r.max {
		return false
	}
	r.n++
	return true
}
