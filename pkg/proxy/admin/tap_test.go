package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/proxy/tap"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func TestTapRefusals(t *testing.T) {
	for _, c := range []struct {
		name, remote, query string
		code                int
	}{
		{"another pod", "198.18.0.7:41000", "", http.StatusForbidden},
		{"the pod's own IP", "198.18.0.5:41000", "", http.StatusForbidden},
		{"IPv6 peer", "[fd00::7]:41000", "", http.StatusForbidden},
		{"unparsable peer", "somewhere", "", http.StatusForbidden},
		{"unknown parameter", loopback, "?body=1", http.StatusBadRequest},
		{"bad method", loopback, "?method=G%20T", http.StatusBadRequest},
		{"bad rate", loopback, "?max-rps=-1", http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := &tap.Tap{}
			// Ended already, so that a stream wrongly served ends at once
			// rather than hang the test.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r := httptest.NewRequestWithContext(ctx, http.MethodGet, wire.TapPath+c.query, nil)
			r.RemoteAddr = c.remote
			w := httptest.NewRecorder()
			(&Server{Tap: tp}).Handler().ServeHTTP(w, r)
			if w.Code != c.code {
				t.Errorf("GET %s from %s: %d %s, want %d", wire.TapPath+c.query, c.remote, w.Code, w.Body.String(), c.code)
			}
			if tp.Listening() {
				t.Error("the refused caller listens")
			}
		})
	}
	t.Run("off without a tap", func(t *testing.T) {
		if code, _ := get(t, (&Server{}).Handler(), wire.TapPath); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", wire.TapPath, code)
		}
	})
}

// tapServer is the admin handler with a tap, served on loopback.
func tapServer(t *testing.T) (*tap.Tap, string) {
	t.Helper()
	tp := &tap.Tap{Self: "spiffe://cluster.local/ns/shop/sa/store"}
	srv := httptest.NewServer((&Server{Tap: tp}).Handler())
	t.Cleanup(srv.Close)
	return tp, srv.URL + wire.TapPath
}

// listen opens a stream and waits until the tap counts it.
func listen(t *testing.T, tp *tap.Tap, url string) *tap.Decoder {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tap.ContentType {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s %s", url, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if !tp.Listening() {
		t.Fatal("the tap answered 200 before it listened")
	}
	return tap.NewDecoder(resp.Body)
}

func next(t *testing.T, d *tap.Decoder) tap.Line {
	t.Helper()
	l, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestTapStream(t *testing.T) {
	tp, url := tapServer(t)
	all := listen(t, tp, url)
	books := listen(t, tp, url+"?path-prefix=/books&method=GET")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, path := range []string{"/stars", "/books/1", "/books/2"} {
		tp.Publish(tap.Event{Time: at.Add(time.Duration(i) * time.Millisecond), Direction: tap.Inbound, Method: "GET", Path: path, Status: 200, TLS: true,
			Source: "spiffe://cluster.local/ns/shop/sa/buyer", Destination: tp.Self})
	}
	for _, w := range []string{"/stars", "/books/1", "/books/2"} {
		if l := next(t, all); l.Kind != tap.KindRequest || l.Event.Path != w || l.Event.Source != "spiffe://cluster.local/ns/shop/sa/buyer" {
			t.Errorf("got %+v, want a request for %s", l, w)
		}
	}
	for _, w := range []string{"/books/1", "/books/2"} {
		if l := next(t, books); l.Event.Path != w {
			t.Errorf("filtered: got %+v, want %s", l, w)
		}
	}
}

// At most tap.MaxListeners listen; the next is told to come back later.
func TestTapTooManyListeners(t *testing.T) {
	tp, url := tapServer(t)
	for range tap.MaxListeners {
		listen(t, tp, url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("listener %d: %s, want 429", tap.MaxListeners+1, resp.Status)
	}
}

// Past max-rps in a second of the events' time, events are counted as
// limited rather than sent.
func TestTapMaxRPS(t *testing.T) {
	tp, url := tapServer(t)
	d := listen(t, tp, url+"?max-rps=2")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Published while the stream's writer may be anywhere, so that the
	// lines are counted rather than expected in one order.
	for i := range 5 {
		tp.Publish(tap.Event{Time: at.Add(time.Duration(i) * 100 * time.Millisecond), Direction: tap.Inbound, Method: "GET", Path: "/" + strconv.Itoa(i)})
	}
	tp.Publish(tap.Event{Time: at.Add(1500 * time.Millisecond), Direction: tap.Inbound, Method: "GET", Path: "/next-second"})
	var sent []string
	var limited uint64
	for len(sent) < 3 {
		l := next(t, d)
		switch l.Kind {
		case tap.KindRequest:
			sent = append(sent, l.Event.Path)
		case tap.KindMissed:
			limited += l.Limited
		}
	}
	if strings.Join(sent, " ") != "/0 /1 /next-second" {
		t.Errorf("sent %v, want /0 /1 /next-second", sent)
	}
	// The count follows the batch it belongs to; read until it is in.
	for limited < 3 {
		l := next(t, d)
		if l.Kind != tap.KindMissed {
			t.Fatalf("got %+v, want the count of limited events", l)
		}
		limited += l.Limited
	}
	if limited != 3 {
		t.Errorf("limited %d, want 3", limited)
	}
}

// When the proxy stops, each stream ends with a line that says so, then
// the end of the body.
func TestTapEndsWhenClosed(t *testing.T) {
	tp, url := tapServer(t)
	d := listen(t, tp, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tp.Close(ctx)
	if ctx.Err() != nil {
		t.Fatal("Close waited for its context: the stream did not end")
	}
	if l := next(t, d); l.Kind != tap.KindEnd || l.Reason != "the proxy is stopping" {
		t.Errorf("got %+v, want the end", l)
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the end: %v, want EOF", err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a listener after Close: %s, want 503", resp.Status)
	}
}

func TestRateLimit(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := rateLimit{max: 2}
	var got []bool
	for _, ms := range []int{0, 100, 200, -50, 999, 1000, 1001, 1002} {
		got = append(got, r.allow(at.Add(time.Duration(ms)*time.Millisecond)))
	}
	if want := []bool{true, true, false, false, false, true, true, false}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	r = rateLimit{}
	for range 1000 {
		if !r.allow(at) {
			t.Fatal("no rate limits nothing")
		}
	}
}
