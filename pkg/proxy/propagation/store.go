package propagation

import (
	"container/list"
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

	mu    sync.Mutex
	items map[TraceID]*list.Element
	lru   list.List // of *entry, most recently recorded at the front
}

type entry struct {
	trace         TraceID
	authorization string
	conflict      bool
	expires       time.Time
}

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
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items == nil {
		s.items = map[TraceID]*list.Element{}
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if el, ok := s.items[trace]; ok {
		e := el.Value.(*entry)
		if now.Before(e.expires) {
			if e.authorization != authorization {
				e.conflict = true
			}
			e.expires = now.Add(ttl)
			s.lru.MoveToFront(el)
			return
		}
		s.remove(el)
	}
	// Requests without a header are remembered too: that is what lets a
	// later request of the same trace with a header count as a conflict.
	s.items[trace] = s.lru.PushFront(&entry{trace: trace, authorization: authorization, expires: now.Add(ttl)})
	max := s.MaxEntries
	if max == 0 {
		max = DefaultMaxEntries
	}
	for s.lru.Len() > max {
		s.remove(s.lru.Back())
	}
}

// Lookup returns the Authorization header to add to an outbound request of
// trace, if there is one: recorded, not expired, not empty and not
// conflicting.
func (s *Store) Lookup(trace TraceID) (string, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[trace]
	if !ok {
		return "", false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		s.remove(el)
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
	return s.lru.Len()
}

func (s *Store) remove(el *list.Element) {
	delete(s.items, el.Value.(*entry).trace)
	s.lru.Remove(el)
}
