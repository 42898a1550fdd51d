package propagation

import (
	"math/rand/v2"
	"runtime"
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

// TestStoreMatchesAModel runs random Begins, Ends, Records, lookups and
// expiries against a plain map that does the same by brute force; it is
// what holds the store's open-addressing index (growth, and the backward
// shift on removal), its list of ended entries and its cap to account.
func TestStoreMatchesAModel(t *testing.T) {
	type modelEntry struct {
		auth     string
		conflict bool
		active   int
		expires  time.Time
		order    int
	}
	c := &clock{t: time.Unix(1000, 0)}
	const max = 300
	s := &Store{TTL: 10 * time.Second, MaxEntries: max, Now: c.now}
	model := map[TraceID]*modelEntry{}
	order := 0
	evict := func() {
		for {
			var oldest *TraceID
			n := 0
			for k, m := range model {
				if m.active == 0 {
					n++
					if oldest == nil || m.order < model[*oldest].order {
						oldest = &k
					}
				}
			}
			if n <= max {
				return
			}
			delete(model, *oldest)
		}
	}
	ended := func(m *modelEntry) {
		order++
		m.expires, m.order = c.t.Add(s.TTL), order
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]TraceID, 1000)
	for i := range ids {
		ids[i] = NewTraceID()
	}
	auths := []string{"", "Bearer a", "Bearer b"}
	for step := range 300000 {
		id := ids[rng.IntN(len(ids))]
		// Time passes slowly enough for the cap, not only the TTL, to
		// decide what is kept.
		switch op := rng.IntN(100); {
		case op < 40: // Record or Begin
			auth := auths[rng.IntN(len(auths))]
			begin := op < 20
			if begin {
				s.Begin(id, auth)
			} else {
				s.Record(id, auth)
			}
			if m, ok := model[id]; ok && (m.active > 0 || c.t.Before(m.expires)) {
				m.conflict = m.conflict || m.auth != auth
				if begin {
					m.active++
				} else if m.active == 0 {
					ended(m)
				}
				break
			}
			m := &modelEntry{auth: auth}
			model[id] = m
			if begin {
				m.active = 1
			} else {
				ended(m)
				evict()
			}
		case op < 60: // End
			s.End(id)
			if m, ok := model[id]; ok && m.active > 0 {
				if m.active--; m.active == 0 {
					ended(m)
					evict()
				}
			}
		case op < 99:
			got, ok := s.Lookup(id)
			m, held := model[id]
			want, wantOK := "", false
			if held && (m.active > 0 || c.t.Before(m.expires)) {
				if !m.conflict && m.auth != "" {
					want, wantOK = m.auth, true
				}
			} else if held {
				delete(model, id)
			}
			if got != want || ok != wantOK {
				t.Fatalf("step %d: Lookup = %q, %v; want %q, %v", step, got, ok, want, wantOK)
			}
		default:
			c.t = c.t.Add(time.Duration(rng.IntN(800)) * time.Millisecond)
		}
		if s.Len() != len(model) {
			t.Fatalf("step %d: Len %d, model holds %d", step, s.Len(), len(model))
		}
	}
}

// TestStoreKeepsRequestsInFlight: however many requests end meanwhile, and
// however long it takes, a request in flight keeps its trace's header.
func TestStoreKeepsRequestsInFlight(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	s := &Store{TTL: time.Second, MaxEntries: 10, Now: c.now}
	long := NewTraceID()
	s.Begin(long, "Bearer long")
	for range 1000 {
		id := NewTraceID()
		s.Begin(id, "Bearer short")
		s.End(id)
	}
	c.t = c.t.Add(time.Hour)
	if got, ok := s.Lookup(long); !ok || got != "Bearer long" {
		t.Fatalf("in flight: lookup = %q, %v", got, ok)
	}
	s.End(long)
	if _, ok := s.Lookup(long); !ok {
		t.Fatal("the entry did not outlive its request")
	}
	c.t = c.t.Add(time.Second)
	if _, ok := s.Lookup(long); ok {
		t.Fatal("the entry outlived its TTL after End")
	}
	if s.Len() > 10 {
		t.Fatalf("len %d over the cap", s.Len())
	}
}

// BenchmarkStoreMemory reports the heap a store at its default cap holds
// per entry, which is most of a busy inbound proxy's live heap.
func BenchmarkStoreMemory(b *testing.B) {
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := &Store{}
		for range DefaultMaxEntries {
			s.Record(NewTraceID(), "")
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/DefaultMaxEntries, "heap-B/entry")
		runtime.KeepAlive(s)
	}
}
