package tap

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func event(path string) Event {
	return Event{Time: time.Unix(1700000000, 0), Direction: Inbound, Method: "GET", Authority: "books.shop:8080", Path: path, Status: 200, Latency: time.Millisecond}
}

func TestNobodyListening(t *testing.T) {
	var nilTap *Tap
	if nilTap.Listening() {
		t.Error("a nil tap listens")
	}
	nilTap.Publish(event("/")) // no panic
	tp := &Tap{}
	if tp.Listening() {
		t.Error("a new tap listens")
	}
	l, err := tp.Listen(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !tp.Listening() {
		t.Error("a tap with a listener does not listen")
	}
	l.Close()
	l.Close() // twice is fine
	if tp.Listening() {
		t.Error("the tap still listens once its only listener closed")
	}
}

func TestFilters(t *testing.T) {
	tp := &Tap{}
	all, _ := tp.Listen(Filter{})
	books, _ := tp.Listen(Filter{PathPrefix: "/books"})
	post, _ := tp.Listen(Filter{Method: "POST"})
	host, _ := tp.Listen(Filter{Authority: "BOOKS.shop:8080"})
	for _, l := range []*Listener{all, books, post, host} {
		defer l.Close()
	}
	tp.Publish(event("/books/1"))
	tp.Publish(event("/stars"))
	e := event("/books/2")
	e.Method, e.Authority = "POST", "other"
	tp.Publish(e)
	for _, c := range []struct {
		name string
		l    *Listener
		want []string
	}{
		{"all", all, []string{"/books/1", "/stars", "/books/2"}},
		{"path prefix", books, []string{"/books/1", "/books/2"}},
		{"method", post, []string{"/books/2"}},
		{"authority, without regard to case", host, []string{"/books/1", "/stars"}},
	} {
		var got []string
		for len(c.l.Events()) > 0 {
			got = append(got, (<-c.l.Events()).Path)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// A listener that takes nothing costs the publisher nothing but a count:
// its buffer holds ListenerBuffer events, the rest are dropped, and
// Publish never waits.
func TestFullBufferDropsAndCounts(t *testing.T) {
	tp := &Tap{}
	slow, _ := tp.Listen(Filter{})
	defer slow.Close()
	fast, _ := tp.Listen(Filter{})
	defer fast.Close()
	const n = ListenerBuffer + 1000
	taken := 0
	for range n {
		tp.Publish(event("/"))
		for len(fast.Events()) > 0 {
			<-fast.Events()
			taken++
		}
	}
	if len(slow.Events()) != ListenerBuffer || cap(slow.Events()) != ListenerBuffer {
		t.Errorf("the slow listener holds %d events in a buffer of %d, want %d in %d", len(slow.Events()), cap(slow.Events()), ListenerBuffer, ListenerBuffer)
	}
	if d := slow.TakeDropped(); d != n-ListenerBuffer {
		t.Errorf("dropped %d, want %d", d, n-ListenerBuffer)
	}
	if d := slow.TakeDropped(); d != 0 {
		t.Errorf("dropped %d after taking the count, want 0", d)
	}
	if taken != n || fast.TakeDropped() != 0 {
		t.Errorf("the listener that kept up got %d of %d events", taken, n)
	}
}

func TestAtMostMaxListeners(t *testing.T) {
	tp := &Tap{}
	var ls []*Listener
	for range MaxListeners {
		l, err := tp.Listen(Filter{})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	if _, err := tp.Listen(Filter{}); !errors.Is(err, ErrTooManyListeners) {
		t.Fatalf("listener %d: %v, want ErrTooManyListeners", MaxListeners+1, err)
	}
	ls[3].Close()
	l, err := tp.Listen(Filter{})
	if err != nil {
		t.Fatalf("a place was freed, yet: %v", err)
	}
	// The closed one gets nothing more; the others do.
	tp.Publish(event("/"))
	if len(ls[3].Events()) != 0 || len(l.Events()) != 1 || len(ls[0].Events()) != 1 {
		t.Error("events went to a closed listener, or not to the open ones")
	}
}

// The events a listener holds are bounded copies: not the request's
// strings (which on the lean path are its whole head, Authorization
// included), and cut to the bounds.
func TestEventsAreBoundedCopies(t *testing.T) {
	tp := &Tap{}
	l, _ := tp.Listen(Filter{})
	defer l.Close()
	head := "GET /books/" + strings.Repeat("x", 2*MaxPath) + " HTTP/1.1\r\nHost: " + strings.Repeat("h", 2*MaxAuthority) + "\r\nAuthorization: Bearer secret\r\n\r\n"
	e := event(head[4 : 4+len("/books/")+2*MaxPath])
	e.Authority = head[strings.Index(head, "Host: ")+6 : strings.Index(head, "\r\nAuthorization")]
	e.Method = head[:3]
	tp.Publish(e)
	got := <-l.Events()
	if len(got.Path) != MaxPath || len(got.Authority) != MaxAuthority || got.Method != "GET" || !strings.HasPrefix(got.Path, "/books/x") {
		t.Fatalf("path %d bytes, authority %d, method %q: want the bounds", len(got.Path), len(got.Authority), got.Method)
	}
	for _, f := range []string{got.Method, got.Authority, got.Path} {
		if within(f, head) {
			t.Errorf("the event's %q shares the request head's memory", clip(f))
		}
	}
}

// within says whether s's bytes lie in those of of.
func within(s, of string) bool {
	p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(of)))
	return p >= start && p < start+uintptr(len(of))
}

func TestCutKeepsWholeRunes(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"aé", 2, "a"}, // é is two bytes
		{"aé", 3, "aé"},
		{"€", 2, ""},
	} {
		if got := cut(c.s, c.n); got != c.want {
			t.Errorf("cut(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

// Close ends every listener, refuses new ones, and returns once their
// owners have closed them (or its context ends).
func TestClose(t *testing.T) {
	tp := &Tap{}
	a, _ := tp.Listen(Filter{})
	b, _ := tp.Listen(Filter{})
	returned := make(chan struct{})
	go func() {
		tp.Close(context.Background())
		close(returned)
	}()
	for _, l := range []*Listener{a, b} {
		<-l.Done()
	}
	select {
	case <-returned:
		t.Fatal("Close returned while its listeners were still open")
	default:
	}
	if _, err := tp.Listen(Filter{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Listen after Close: %v, want ErrClosed", err)
	}
	a.Close()
	b.Close()
	<-returned
	if tp.Listening() {
		t.Error("a closed tap listens")
	}
	tp.Close(context.Background()) // again, with nobody: returns at once

	// A listener whose owner never closes it holds Close only until its
	// context ends.
	tp = &Tap{}
	tp.Listen(Filter{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tp.Close(ctx)
}

// BenchmarkPublish is what the request path does, as telemetry calls it:
// check, and publish only to somebody. Nobody listening is one load and
// no allocation; one listener (drained as fast as it fills) adds the
// bounded copy and the channel send.
func BenchmarkPublish(b *testing.B) {
	e := event("/books/1")
	for _, c := range []struct {
		name   string
		tap    *Tap
		listen bool
	}{{"no-tap", nil, false}, {"nobody-listening", &Tap{}, false}, {"one-listener", &Tap{}, true}} {
		b.Run(c.name, func(b *testing.B) {
			if c.listen {
				l, err := c.tap.Listen(Filter{})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
			}
			b.ReportAllocs()
			for b.Loop() {
				if c.tap.Listening() {
					c.tap.Publish(e)
				}
				if c.listen {
					<-(*c.tap.listeners.Load())[0].events
				}
			}
		})
	}
}
