package propagation

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// Defaults of Store. An entry lives as long as its inbound requests are
// in flight, however long that is, and then up to TTL longer, so that calls
// the app makes shortly after answering still carry the header. The cap
// bounds the entries of requests that have ended: past it the least
// recently ended one is dropped, so at 5000 requests/s an ended request's
// entry is kept for about 0.8 s; below about 140 requests/s, for TTL.
const (
	DefaultTTL        = 30 * time.Second
	DefaultMaxEntries = 4096
)

// Store remembers, per trace, the Authorization header of the inbound
// request(s) of that trace, for the outbound proxy to add to the app's
// calls in the same trace. It is safe for concurrent use and bounded: an
// inbound request holds its trace's entry from Begin to End, and an entry
// no request holds expires TTL after the last End, or earlier when more
// than MaxEntries such entries are kept. Entries of requests in flight are
// bounded by the connections that carry them.
//
// A trace ID is chosen by whoever sends the request, so one caller could
// reuse another's trace ID to borrow its token. To make that useless, a
// trace seen with two different Authorization values (or with one and
// without) is marked conflicting, and nothing is propagated for it while
// its entry is kept: always while a request of the trace is in flight,
// and for up to TTL after, unless MaxEntries newer ended traces push it
// out first.
type Store struct {
	// TTL and MaxEntries bound the store; zero means the defaults.
	TTL        time.Duration
	MaxEntries int
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu sync.Mutex
	// The entries live in one slice, linked by index into a list from the
	// most to the least recently recorded, and are found through index, an
	// open-addressing table of slot numbers. At thousands of requests a
	// second the store holds its cap of entries: stored this way they cost
	// no allocation each, and the index 4 to 8 bytes each where a Go map of
	// trace IDs took about 66. The proxy's heap, and with it its resident
	// memory, is that much smaller.
	index []int32 // slot+1, 0 when empty; its length is a power of two
	n     int     // entries held
	seed  maphash.Seed
	slots []entry
	// The list holds the entries no request holds, from the most to the
	// least recently ended; listed counts them.
	head, tail int32 // -1 when empty
	listed     int
	free       int32 // first free slot, linked through next; -1 when none
	last       string
}

type entry struct {
	trace         TraceID
	authorization string
	expires       int64 // Unix nanoseconds; unused while active
	prev, next    int32
	active        int32 // requests between Begin and End
	conflict      bool
}

const none = -1

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Begin notes that an inbound request of trace, carrying authorization
// (empty when it had none), is being served; its entry is kept at least
// until the matching End.
func (s *Store) Begin(trace TraceID, authorization string) {
	s.record(trace, authorization, true)
}

// End notes that a request Begin noted has been answered.
func (s *Store) End(trace TraceID) {
	if !trace.IsValid() {
		return
	}
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.find(trace)
	if !ok || s.slots[i].active == 0 {
		return
	}
	e := &s.slots[i]
	if e.active--; e.active == 0 {
		e.expires = now + int64(s.ttl())
		s.pushFront(i)
		for s.listed > s.max() {
			s.remove(s.tail)
		}
	}
}

// Record is Begin and End at once: a request already answered.
func (s *Store) Record(trace TraceID, authorization string) {
	s.record(trace, authorization, false)
}

func (s *Store) ttl() time.Duration {
	if s.TTL == 0 {
		return DefaultTTL
	}
	return s.TTL
}

func (s *Store) max() int {
	if s.MaxEntries == 0 {
		return DefaultMaxEntries
	}
	return s.MaxEntries
}

func (s *Store) record(trace TraceID, authorization string, begin bool) {
	if !trace.IsValid() {
		return
	}
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.index == nil {
		s.index = make([]int32, minIndex)
		s.seed = maphash.MakeSeed()
		s.head, s.tail, s.free = none, none, none
	}
	expires := now + int64(s.ttl())
	if i, ok := s.find(trace); ok {
		e := &s.slots[i]
		if e.active > 0 || now < e.expires {
			if e.authorization != authorization {
				e.conflict = true
			}
			switch {
			case begin && e.active == 0:
				s.unlink(i)
				e.active = 1
			case begin:
				e.active++
			case e.active == 0:
				e.expires = expires
				s.unlink(i)
				s.pushFront(i)
			}
			// A Record while requests hold the entry leaves it to their
			// End to start its TTL.
			return
		}
		s.remove(i)
	}
	// The value may be a slice of a whole request head (the lean HTTP
	// path parses in place); keeping it must not keep the head.
	if authorization == s.last {
		// Consecutive requests mostly carry the same token: share it.
		authorization = s.last
	} else {
		authorization = strings.Clone(authorization)
		s.last = authorization
	}
	// Requests without a header are remembered too: that is what lets a
	// later request of the same trace with a header count as a conflict.
	i := s.alloc()
	s.slots[i] = entry{trace: trace, authorization: authorization}
	s.insert(i)
	if begin {
		s.slots[i].active = 1
		return
	}
	s.slots[i].expires = expires
	s.pushFront(i)
	for s.listed > s.max() {
		s.remove(s.tail)
	}
}

// Lookup returns the Authorization header to add to an outbound request of
// trace, if there is one: recorded, not expired, not empty and not
// conflicting.
func (s *Store) Lookup(trace TraceID) (string, bool) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.find(trace)
	if !ok {
		return "", false
	}
	e := &s.slots[i]
	if e.active == 0 && now >= e.expires {
		s.remove(i)
		return "", false
	}
	if e.conflict || e.authorization == "" {
		return "", false
	}
	return e.authorization, true
}

// Len is the number of entries held, expired or not, in flight or not.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *Store) alloc() int32 {
	if s.free != none {
		i := s.free
		s.free = s.slots[i].next
		return i
	}
	s.slots = append(s.slots, entry{})
	return int32(len(s.slots) - 1)
}

// remove drops the entry in slot i, which no request holds.
func (s *Store) remove(i int32) {
	s.deindex(i)
	s.unlink(i)
	if s.n == 0 {
		// Not even the last token outlives every entry.
		s.last = ""
	}
	s.slots[i] = entry{next: s.free}
	s.free = i
}

func (s *Store) unlink(i int32) {
	s.listed--
	e := &s.slots[i]
	if e.prev != none {
		s.slots[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next != none {
		s.slots[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
}

func (s *Store) pushFront(i int32) {
	s.listed++
	e := &s.slots[i]
	e.prev, e.next = none, s.head
	if s.head != none {
		s.slots[s.head].prev = i
	} else {
		s.tail = i
	}
	s.head = i
}

// minIndex is the index's first length; it doubles while more than half
// full, so a probe finds its entry or a hole within a few steps.
const minIndex = 64

// home is the index position where a search for trace starts. The hash is
// keyed by a random seed: trace IDs come from callers, and chosen IDs must
// not be able to pile up in one run of the table.
func (s *Store) home(trace TraceID) int {
	return int(maphash.Comparable(s.seed, trace)) & (len(s.index) - 1)
}

// find returns the slot of trace's entry.
func (s *Store) find(trace TraceID) (int32, bool) {
	if s.index == nil {
		return 0, false
	}
	mask := len(s.index) - 1
	for p := s.home(trace); ; p = (p + 1) & mask {
		v := s.index[p]
		if v == 0 {
			return 0, false
		}
		if s.slots[v-1].trace == trace {
			return v - 1, true
		}
	}
}

// insert indexes slot i, whose trace is not indexed yet.
func (s *Store) insert(i int32) {
	if 2*(s.n+1) > len(s.index) {
		s.grow()
	}
	s.place(i)
	s.n++
}

func (s *Store) place(i int32) {
	mask := len(s.index) - 1
	p := s.home(s.slots[i].trace)
	for s.index[p] != 0 {
		p = (p + 1) & mask
	}
	s.index[p] = i + 1
}

func (s *Store) grow() {
	old := s.index
	s.index = make([]int32, 2*len(old))
	for _, v := range old {
		if v != 0 {
			s.place(v - 1)
		}
	}
}

// deindex removes slot i from the index. Linear probing without
// tombstones: the entries after the hole that would no longer be found
// across it move back into it.
func (s *Store) deindex(i int32) {
	mask := len(s.index) - 1
	p := s.home(s.slots[i].trace)
	for s.index[p] != i+1 {
		p = (p + 1) & mask
	}
	hole := p
	for q := (p + 1) & mask; s.index[q] != 0; q = (q + 1) & mask {
		// An entry may move into the hole only if its home is not
		// (cyclically) after the hole and up to its own position.
		h := s.home(s.slots[s.index[q]-1].trace)
		if (q-h)&mask >= (q-hole)&mask {
			s.index[hole] = s.index[q]
			hole = q
		}
	}
	s.index[hole] = 0
	s.n--
}
