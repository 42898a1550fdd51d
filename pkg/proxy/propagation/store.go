package propagation

import (
	"strings"
	"sync"
	"time"
)

// Defaults of Store: an entry outlives its inbound request by up to TTL, so
// calls the app makes shortly after answering still carry the header, and
// the cap bounds memory whatever the traffic.
const (
	DefaultTTL        = 30 * time.Second
	DefaultMaxEntries = 10000
)

// Store remembers, per trace, the Authorization header of the inbound
// request(s) of that trace, for the outbound proxy to add to the app's
// calls in the same trace. It is safe for concurrent use and bounded: each
// entry expires TTL after it was last recorded, and past MaxEntries the
// least recently recorded entry is dropped.
//
// A trace ID is chosen by whoever sends the request, so one caller could
// reuse another's trace ID to borrow its token. To make that useless, a
// trace seen with two different Authorization values (or with one and
// without) is marked conflicting, and nothing is propagated for it again.
type Store struct {
	// TTL and MaxEntries bound the store; zero means the defaults.
	TTL        time.Duration
	MaxEntries int
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu sync.Mutex
	// The entries live in one slice, linked by index into a list from the
	// most to the least recently recorded, and are found through a map
	// whose keys and values hold no pointers. At thousands of requests a
	// second the store holds its cap of entries; stored this way they cost
	// no allocation each and little work for the garbage collector.
	index map[TraceID]int32
	slots []entry
	head  int32 // most recently recorded; -1 when empty
	tail  int32 // least recently recorded
	free  int32 // first free slot, linked through next; -1 when none
}

type entry struct {
	trace         TraceID
	authorization string
	conflict      bool
	expires       int64 // Unix nanoseconds
	prev, next    int32
}

const none = -1

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Record notes that an inbound request of trace carried authorization
// (empty when it had none).
func (s *Store) Record(trace TraceID, authorization string) {
	if !trace.IsValid() {
		return
	}
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.index == nil {
		s.index = map[TraceID]int32{}
		s.head, s.tail, s.free = none, none, none
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if i, ok := s.index[trace]; ok {
		e := &s.slots[i]
		if now < e.expires {
			if e.authorization != authorization {
				e.conflict = true
			}
			e.expires = now + int64(ttl)
			s.unlink(i)
			s.pushFront(i)
			return
		}
		s.remove(i)
	}
	max := s.MaxEntries
	if max == 0 {
		max = DefaultMaxEntries
	}
	for len(s.index) >= max {
		s.remove(s.tail)
	}
	// The value may be a slice of a whole request head (the lean HTTP
	// path parses in place); keeping it must not keep the head.
	if s.head != none && s.slots[s.head].authorization == authorization {
		// Consecutive requests mostly carry the same token: share it.
		authorization = s.slots[s.head].authorization
	} else {
		authorization = strings.Clone(authorization)
	}
	// Requests without a header are remembered too: that is what lets a
	// later request of the same trace with a header count as a conflict.
	i := s.alloc()
	s.slots[i] = entry{trace: trace, authorization: authorization, expires: now + int64(ttl)}
	s.index[trace] = i
	s.pushFront(i)
}

// Lookup returns the Authorization header to add to an outbound request of
// trace, if there is one: recorded, not expired, not empty and not
// conflicting.
func (s *Store) Lookup(trace TraceID) (string, bool) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[trace]
	if !ok {
		return "", false
	}
	e := &s.slots[i]
	if now >= e.expires {
		s.remove(i)
		return "", false
	}
	if e.conflict || e.authorization == "" {
		return "", false
	}
	return e.authorization, true
}

// Len is the number of entries held, expired or not.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.index)
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

func (s *Store) remove(i int32) {
	delete(s.index, s.slots[i].trace)
	s.unlink(i)
	s.slots[i] = entry{next: s.free}
	s.free = i
}

func (s *Store) unlink(i int32) {
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
	e := &s.slots[i]
	e.prev, e.next = none, s.head
	if s.head != none {
		s.slots[s.head].prev = i
	} else {
		s.tail = i
	}
	s.head = i
}
