// Package tap owns the proxy's live request stream: the Event telemetry
// publishes for every HTTP request it records, the listeners that take
// them (at most MaxListeners at once, each with a buffer of fixed size
// that drops rather than blocks), the filters a listener asks for, and the
// stream's wire format (newline-delimited JSON) with its bounded decoder,
// which meshctl uses. An event holds no body and no header value other
// than the method, the authority and the path without its query.
//
// With nobody listening, publishing costs the request path one atomic
// load (Listening). Standard library only: mesh-proxy links it.
package tap

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Bounds of the tap.
const (
	// MaxListeners is how many listeners a proxy serves at once; more
	// are refused (ErrTooManyListeners, 429 on the admin port).
	MaxListeners = 8
	// ListenerBuffer is how many events wait for one listener; past it,
	// events are dropped and counted.
	ListenerBuffer = 256
	// MaxMethod, MaxAuthority and MaxPath bound what an event keeps of
	// a request, so that a listener's buffer is bounded in bytes too:
	// longer values are cut.
	MaxMethod    = 32
	MaxAuthority = 256
	MaxPath      = 1024
	// MaxIdentity bounds a SPIFFE ID on the stream.
	MaxIdentity = 2048
)

// Directions of an event, as telemetry names them.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Errors of Listen.
var (
	ErrTooManyListeners = errors.New("the tap has as many listeners as it serves")
	ErrClosed           = errors.New("the tap is closed: the proxy is stopping")
)

// Event is one HTTP request as telemetry recorded it.
type Event struct {
	// Time is when the proxy received the request.
	Time time.Time
	// Direction is Inbound or Outbound.
	Direction string
	// Method, Authority and Path are the request's; Path has no query
	// (which may carry secrets) and is as the client sent it, not
	// decoded.
	Method, Authority, Path string
	// Status is the response's status; 502 when the upstream failed.
	Status int
	// Latency is from the request's arrival to the response's end.
	Latency time.Duration
	// Source and Destination are the SPIFFE IDs of the two ends over
	// mutual TLS between proxies: the verified client and this proxy
	// (inbound), or this proxy and the identity required of the server
	// (outbound). Both are empty for plain text.
	Source, Destination string
	// TLS says the request came or went over mutual TLS between proxies.
	TLS bool
}

// bounded returns e with its strings cut to the bounds and copied into
// one allocation, so that an event waiting in a buffer holds neither the
// request's head (with its Authorization) nor more than the bounds.
func (e Event) bounded() Event {
	m, a, p := cut(e.Method, MaxMethod), cut(e.Authority, MaxAuthority), cut(e.Path, MaxPath)
	var b strings.Builder
	b.Grow(len(m) + len(a) + len(p))
	b.WriteString(m)
	b.WriteString(a)
	b.WriteString(p)
	s := b.String()
	e.Method, e.Authority, e.Path = s[:len(m)], s[len(m):len(m)+len(a)], s[len(m)+len(a):]
	return e
}

// cut is s cut to at most n bytes, not within a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Filter selects the events a listener gets. Its zero value selects all.
type Filter struct {
	// Method, when set, is the exact method.
	Method string
	// Authority, when set, is the authority, compared without regard to
	// case as host names are.
	Authority string
	// PathPrefix, when set, starts the path.
	PathPrefix string
}

// Match says whether f selects e.
func (f *Filter) Match(e *Event) bool {
	return (f.Method == "" || e.Method == f.Method) &&
		(f.Authority == "" || strings.EqualFold(e.Authority, f.Authority)) &&
		strings.HasPrefix(e.Path, f.PathPrefix)
}

// Tap hands the events published to it to its listeners. The zero value
// is ready; a nil *Tap has no listeners and takes no events.
type Tap struct {
	// Self is this proxy's own SPIFFE ID: the destination of the inbound
	// and the source of the outbound requests over mutual TLS. Set it
	// before the proxy serves.
	Self string

	// listeners is nil when there are none, so that Listening is one
	// load. It is replaced, never changed, under mu.
	listeners atomic.Pointer[[]*Listener]
	mu        sync.Mutex
	closed    bool
	// idle is closed once the tap is closed and its last listener gone.
	idle chan struct{}
}

// Listening says whether anybody listens: the request path's one check,
// before it builds an event.
func (t *Tap) Listening() bool {
	return t != nil && t.listeners.Load() != nil
}

// Publish hands e to the listeners whose filter selects it, without ever
// waiting: an event a listener has no room for is dropped and counted.
// e's strings may be the request's own; the listeners get bounded copies.
func (t *Tap) Publish(e Event) {
	if t == nil {
		return
	}
	ls := t.listeners.Load()
	if ls == nil {
		return
	}
	copied := false
	for _, l := range *ls {
		if !l.filter.Match(&e) {
			continue
		}
		if !copied {
			e, copied = e.bounded(), true
		}
		select {
		case l.events <- e:
		default:
			l.dropped.Add(1)
		}
	}
}

// Listen adds a listener for the events f selects. It fails with
// ErrTooManyListeners when MaxListeners listen already, and with
// ErrClosed once the tap is closed. The caller must Close the listener.
func (t *Tap) Listen(f Filter) (*Listener, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	var cur []*Listener
	if p := t.listeners.Load(); p != nil {
		cur = *p
	}
	if len(cur) >= MaxListeners {
		return nil, ErrTooManyListeners
	}
	l := &Listener{tap: t, filter: f, events: make(chan Event, ListenerBuffer), done: make(chan struct{})}
	next := append(append(make([]*Listener, 0, len(cur)+1), cur...), l)
	t.listeners.Store(&next)
	return l, nil
}

// Close ends every listener (their Done is closed) and refuses new ones;
// it returns once each has been closed by its owner, which then has said
// goodbye on its stream, or when ctx ends.
func (t *Tap) Close(ctx context.Context) {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		t.idle = make(chan struct{})
		if p := t.listeners.Load(); p != nil {
			for _, l := range *p {
				l.end()
			}
		} else {
			close(t.idle)
		}
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// remove takes l off the list.
func (t *Tap) remove(l *Listener) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.listeners.Load()
	if p == nil {
		return
	}
	next := make([]*Listener, 0, len(*p))
	for _, o := range *p {
		if o != l {
			next = append(next, o)
		}
	}
	if len(next) == len(*p) {
		return
	}
	if len(next) == 0 {
		t.listeners.Store(nil)
		if t.closed {
			close(t.idle)
		}
		return
	}
	t.listeners.Store(&next)
}

// Listener is one listener's buffer of events.
type Listener struct {
	tap     *Tap
	filter  Filter
	events  chan Event
	dropped atomic.Uint64
	done    chan struct{}
	ended   sync.Once
}

// Events are the events the filter selected, in the order published.
// The channel is never closed: wait on Done as well.
func (l *Listener) Events() <-chan Event { return l.events }

// Done is closed when the listener is closed or the tap closes.
func (l *Listener) Done() <-chan struct{} { return l.done }

// TakeDropped returns how many events were dropped for want of room since
// it last asked, and starts counting again.
func (l *Listener) TakeDropped() uint64 { return l.dropped.Swap(0) }

// Close removes the listener; its buffer is left to the garbage
// collector.
func (l *Listener) Close() {
	l.end()
	l.tap.remove(l)
}

func (l *Listener) end() { l.ended.Do(func() { close(l.done) }) }
