package inbound

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func TestDestination(t *testing.T) {
	dest := Destination(wire.InboundPort, wire.OutboundPort, wire.AdminPort)
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"198.18.100.2:8080", "127.0.0.1:8080", false},
		{"[::ffff:198.18.100.2]:8080", "127.0.0.1:8080", false},
		{"[fd00::2]:8080", "[::1]:8080", false},
		{fmt.Sprintf("198.18.100.2:%d", wire.InboundPort), "", true},
		{fmt.Sprintf("198.18.100.2:%d", wire.OutboundPort), "", true},
		{fmt.Sprintf("198.18.100.2:%d", wire.AdminPort), "", true},
	} {
		got, err := dest(netip.MustParseAddrPort(tc.in))
		if (err != nil) != tc.err || (!tc.err && got.String() != tc.want) {
			t.Errorf("Destination(%s) = %v, %v; want %s, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

type denyAll struct{}

func (denyAll) Check(*http.Request) error { return errors.New("no") }
func (denyAll) CheckAuthorization(context.Context, string) error {
	return errors.New("no")
}
func (denyAll) Reject(w http.ResponseWriter, _ error) {
	w.WriteHeader(http.StatusUnauthorized)
}
func (denyAll) Exempt(string, uint16, string) bool { return false }

func TestHandler(t *testing.T) {
	store := &propagation.Store{}
	var forwarded int
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { forwarded++ })
	tc := propagation.TraceContext{TraceID: propagation.NewTraceID(), SpanID: propagation.NewSpanID()}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer a.b.c")
	req = req.WithContext(propagation.WithTrace(req.Context(), tc))

	w := httptest.NewRecorder()
	(&Handler{Auth: denyAll{}, Store: store, Forward: next}).ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized || forwarded != 0 || store.Len() != 0 {
		t.Fatalf("rejected request: status %d, forwarded %d, recorded %d", w.Code, forwarded, store.Len())
	}
	(&Handler{Store: store, Forward: next}).ServeHTTP(httptest.NewRecorder(), req)
	if got, ok := store.Lookup(tc.TraceID); forwarded != 1 || !ok || got != "Bearer a.b.c" {
		t.Fatalf("accepted request: forwarded %d, recorded %q %v", forwarded, got, ok)
	}
}

// TestHandlerHoldsTheEntryWhileServing: the trace's entry is held while the
// app serves the request, and only its TTL runs after the answer.
func TestHandlerHoldsTheEntryWhileServing(t *testing.T) {
	now := time.Unix(1000, 0)
	store := &propagation.Store{TTL: time.Second, Now: func() time.Time { return now }}
	tc := propagation.TraceContext{TraceID: propagation.NewTraceID(), SpanID: propagation.NewSpanID()}
	var during bool
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		now = now.Add(time.Hour) // a long request
		_, during = store.Lookup(tc.TraceID)
	})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer a.b.c")
	req = req.WithContext(propagation.WithTrace(req.Context(), tc))
	(&Handler{Store: store, Forward: next}).ServeHTTP(httptest.NewRecorder(), req)
	if !during {
		t.Fatal("the entry expired while the app was serving its request")
	}
	if _, ok := store.Lookup(tc.TraceID); !ok {
		t.Fatal("the entry did not outlive the request")
	}
	now = now.Add(time.Second)
	if _, ok := store.Lookup(tc.TraceID); ok || store.Len() != 0 {
		t.Fatal("the entry outlived its TTL after the answer: End was not called")
	}
}
