package propagation

import (
	"sync"
	"testing"
	"time"
	"unsafe"
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

// TestStoreOrder checks the recency order through re-records, evictions
// and the reuse of freed slots.
func TestStoreOrder(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	s := &Store{TTL: time.Minute, MaxEntries: 3, Now: c.now}
	ids := []TraceID{NewTraceID(), NewTraceID(), NewTraceID(), NewTraceID(), NewTraceID()}
	s.Record(ids[0], "Bearer 0")
	s.Record(ids[1], "Bearer 1")
	s.Record(ids[2], "Bearer 2")
	s.Record(ids[0], "Bearer 0") // 0 is now the most recent; 1 the least
	s.Record(ids[3], "Bearer 3") // evicts 1
	c.t = c.t.Add(30 * time.Second)
	s.Record(ids[2], "Bearer 2") // 2 refreshed: expires last
	c.t = c.t.Add(40 * time.Second)
	// 0 and 3 have expired, 2 has not; a new entry reuses a freed slot.
	s.Record(ids[4], "Bearer 4")
	for i, want := range []bool{false, false, true, false, true} {
		if got, ok := s.Lookup(ids[i]); ok != want || (ok && got != "Bearer "+string(rune('0'+i))) {
			t.Errorf("lookup %d = %q, %v; want found %v", i, got, ok, want)
		}
	}
	if s.Len() != 2 {
		t.Fatalf("len %d; want 2", s.Len())
	}
}

func TestStoreCopiesTheHeader(t *testing.T) {
	head := []byte("Bearer token-in-a-large-request-head")
	s := &Store{}
	id := NewTraceID()
	// As the lean path's header values are: slices of the head's bytes.
	s.Record(id, unsafe.String(&head[0], 12))
	head[7] = 'X' // the head's buffer reused does not change what was recorded
	if got, _ := s.Lookup(id); got != "Bearer token" {
		t.Fatalf("recorded %q", got)
	}
}

func BenchmarkStoreAtCap(b *testing.B) {
	s := &Store{}
	ids := make([]TraceID, 4096)
	for i := range ids {
		ids[i] = NewTraceID()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := ids[i%len(ids)]
		id[0] = byte(i >> 12)
		id[1] = byte(i >> 20)
		s.Record(id, "")
		s.Lookup(id)
		i++
	}
}
