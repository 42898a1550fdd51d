package propagation

import (
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestStore(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	s := &Store{TTL: time.Minute, MaxEntries: 3, Now: c.now}
	a, b := NewTraceID(), NewTraceID()

	s.Record(a, "Bearer A")
	// Fan-out: every lookup of the trace finds the header, not just the first.
	for i := range 10 {
		if got, ok := s.Lookup(a); !ok || got != "Bearer A" {
			t.Fatalf("lookup %d = %q, %v", i, got, ok)
		}
	}
	// Another trace never sees it.
	if got, ok := s.Lookup(b); ok {
		t.Fatalf("trace b got %q", got)
	}
	// Expiry.
	c.t = c.t.Add(time.Minute)
	if _, ok := s.Lookup(a); ok {
		t.Fatal("entry outlived its TTL")
	}
	if s.Len() != 0 {
		t.Fatalf("expired entry kept: len %d", s.Len())
	}
}

func TestStoreCap(t *testing.T) {
	s := &Store{MaxEntries: 3}
	var ids []TraceID
	for range 5 {
		id := NewTraceID()
		ids = append(ids, id)
		s.Record(id, "Bearer x")
	}
	if s.Len() != 3 {
		t.Fatalf("len %d, want the cap 3", s.Len())
	}
	if _, ok := s.Lookup(ids[0]); ok {
		t.Fatal("the least recently recorded entry was not evicted")
	}
	if _, ok := s.Lookup(ids[4]); !ok {
		t.Fatal("the newest entry was evicted")
	}
}

func TestStoreConflict(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record []string
		want   bool
	}{
		{"same header twice", []string{"Bearer A", "Bearer A"}, true},
		{"different headers", []string{"Bearer A", "Bearer B"}, false},
		{"header then none", []string{"Bearer A", ""}, false},
		{"none then header", []string{"", "Bearer A"}, false},
		{"none", []string{""}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Store{}
			id := NewTraceID()
			for _, r := range tc.record {
				s.Record(id, r)
			}
			if _, ok := s.Lookup(id); ok != tc.want {
				t.Fatalf("lookup ok = %v, want %v", ok, tc.want)
			}
		})
	}
}

func TestStoreConcurrent(t *testing.T) {
	s := &Store{MaxEntries: 100}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				id := NewTraceID()
				s.Record(id, "Bearer x")
				s.Lookup(id)
			}
		}()
	}
	wg.Wait()
	if s.Len() > 100 {
		t.Fatalf("len %d over the cap", s.Len())
	}
}
