package listener

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshctl/meshctl/pkg/proxy/h1"
	"github.com/meshctl/meshctl/pkg/proxy/sniff"
)

// Timeouts of HTTP connections, on the lean path and net/http's alike.
const (
	// IdleTimeout closes keep-alive connections that carry no request for
	// this long.
	IdleTimeout = 5 * time.Minute
	// ReadHeaderTimeout bounds the reading of a request head once its
	// first byte arrived (on the lean path, of its small body too), so a
	// client trickling a head cannot hold a connection for IdleTimeout.
	ReadHeaderTimeout = 30 * time.Second
)

// States of a lean connection, for Shutdown.
const (
	leanIdle int32 = iota
	leanActive
	leanClosed
)

// leanConn is a connection of the lean path as Shutdown and
// StopKeepAlives see it.
type leanConn struct {
	c        leanCloser
	state    atomic.Int32
	upstream h1.Inflight
	// watch starts watchClient when an exchange takes longer than
	// watchAfter; exchange counts exchanges, odd while one is under way.
	watch    *time.Timer
	exchange atomic.Uint64
}

// watchAfter is how long an exchange runs before the lean path starts
// checking, once a second, whether its client is still there. Only a
// slow app is worth a goroutine: net/http watches every request.
const watchAfter = time.Second

// watchClient aborts the exchange under way when its client has closed
// the connection, so that an app that does not answer holds neither this
// goroutine nor the upstream connection; it returns when the exchange
// ends.
func (lc *leanConn) watchClient() {
	n := lc.exchange.Load()
	for n%2 == 1 && lc.exchange.Load() == n {
		if clientGone(lc.c.Conn) {
			lc.upstream.Abort()
			return
		}
		time.Sleep(watchAfter)
	}
}

// clientGone peeks at a connection without blocking or consuming: an end
// of stream or an error says the client went away. Bytes waiting (a
// pipelined request) or nothing yet say it is still there.
func clientGone(c *sniff.Conn) bool {
	sock := c.Socket()
	if sock == nil {
		return false
	}
	// Over TLS too: bytes waiting are a record (data or close_notify),
	// and the end of the socket's stream is the client gone.
	raw, err := sock.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	raw.Read(func(fd uintptr) bool {
		n, err := sniff.PeekSocket(fd)
		gone = n == 0 && err == nil || err != nil && !errors.Is(err, unix.EAGAIN)
		return true
	})
	return gone
}

// leanCloser closes a lean connection together with its exchange's
// upstream connection: Shutdown, out of time, must not go on waiting for
// an app that does not answer.
type leanCloser struct {
	*sniff.Conn
	upstream *h1.Inflight
}

func (c leanCloser) Close() error {
	c.upstream.Abort()
	return c.Conn.Close()
}

// startLean counts a connection in leanWG unless Shutdown has begun. The
// check and the Add are one step under s.mu, where Shutdown sets
// draining: an Add after Wait started would race it.
func (s *Server) startLean() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.leanWG.Add(1)
	return true
}

// serveLean serves an HTTP/1.1 connection on the lean path, one exchange
// at a time in this goroutine, until the client closes it or a request
// needs the general path: then it returns true, with that request unread,
// for the http.Server to carry on.
func (s *Server) serveLean(c *sniff.Conn, dst netip.AddrPort, peer Peer) (handoff bool) {
	src := sourceOf(c)
	lc := &leanConn{}
	lc.c = leanCloser{Conn: c, upstream: &lc.upstream}
	s.mu.Lock()
	s.lean[lc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		if lc.watch != nil {
			lc.watch.Stop()
		}
		s.mu.Lock()
		delete(s.lean, lc)
		s.mu.Unlock()
		if !handoff {
			c.Close()
		}
	}()
	x := &h1.Exchange{}
	for {
		if s.draining.Load() {
			return false
		}
		err := s.nextRequest(c, &x.Request, IdleTimeout, ReadHeaderTimeout)
		if !lc.state.CompareAndSwap(leanIdle, leanActive) {
			// Shutdown closed the connection while it was idle.
			return false
		}
		if errors.Is(err, h1.ErrHandoff) {
			return true
		}
		if err != nil {
			return false
		}
		bw, _ := s.writers.Get().(*bufio.Writer)
		if bw == nil {
			bw = bufio.NewWriterSize(nil, 4096)
		}
		bw.Reset(c)
		*x = h1.Exchange{Request: x.Request, Dst: dst, Src: src, In: c.Reader(), Out: bw, Inflight: &lc.upstream,
			Peer: peer.ID, PeerName: peer.Name, MTLS: peer.TLS}
		if s.closing.Load() {
			x.Close = true // see StopKeepAlives
		}
		lc.exchange.Add(1)
		if lc.watch == nil {
			lc.watch = time.AfterFunc(watchAfter, lc.watchClient)
		} else {
			lc.watch.Reset(watchAfter)
		}
		err = s.H1.ServeH1(x)
		lc.watch.Stop()
		lc.exchange.Add(1)
		if err != nil && !errors.Is(err, h1.ErrHandoff) && !x.Started {
			x.Close = true
			x.WriteBadGateway()
		}
		bw.Reset(nil)
		s.writers.Put(bw)
		if errors.Is(err, h1.ErrHandoff) {
			return true
		}
		// An exchange under way when StopKeepAlives closed the idle
		// connections ends its connection here.
		if err != nil || x.Close || s.closing.Load() {
			return false
		}
		lc.state.Store(leanIdle)
	}
}

// leanReader is a connection as nextRequest reads it (sniff.Conn).
type leanReader interface {
	readWaiter
	Reader() *bufio.Reader
	ReleaseBuffer(pool *sync.Pool) bool
}

// nextRequest waits, up to idle, for the next request on c and peeks at
// its head, which gets header (see awaitRequest). The connection holds no read buffer while it waits.
// A wake-up with nothing to read (WaitReadable trusts the poller's word)
// makes the head's read time out with nothing buffered; that goes back to
// waiting, so that it costs the connection its idle timeout, not its
// life.
func (s *Server) nextRequest(c leanReader, r *h1.Request, idle, header time.Duration) error {
	start := time.Now()
	for {
		c.ReleaseBuffer(&s.readers)
		if err := awaitRequest(c, idle-time.Since(start), header); err != nil {
			return err
		}
		err := h1.PeekRequest(c.Reader(), r)
		var ne net.Error
		if err == nil || c.Buffered() > 0 || !errors.As(err, &ne) || !ne.Timeout() ||
			time.Since(start) >= idle || s.draining.Load() {
			return err
		}
	}
}

// readWaiter is a connection as awaitRequest waits on it (sniff.Conn).
type readWaiter interface {
	SetReadDeadline(time.Time) error
	// Buffered is how many bytes are read already; WaitReadable waits,
	// under the read deadline, for more to arrive (or an end or error).
	Buffered() int
	WaitReadable() error
}

// awaitRequest waits up to idle for the first byte of the next request
// and leaves c's read deadline header or more, and at most header plus
// half of it, after that byte's arrival, for the head and the (small)
// body; the deadline is left in place for the body rather than cleared.
// The deadline armed first serves for both: a request already buffered,
// or arriving within header/2, costs one timer change; a silent
// connection is re-armed every header until idle has passed.
func awaitRequest(c readWaiter, idle, header time.Duration) error {
	start := time.Now()
	armed := start
	c.SetReadDeadline(start.Add(header + header/2))
	if c.Buffered() > 0 {
		return nil
	}
	for {
		err := c.WaitReadable()
		now := time.Now()
		if err == nil {
			if now.Sub(armed) > header/2 {
				c.SetReadDeadline(now.Add(header))
			}
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || now.Sub(start) >= idle {
			return err
		}
		armed = now
		c.SetReadDeadline(now.Add(min(header+header/2, idle-now.Sub(start))))
	}
}

// closeIdleLean closes the lean connections that wait for a request; the
// busy ones close after their exchange, as draining is set.
func (s *Server) closeIdleLean() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for lc := range s.lean {
		if lc.state.CompareAndSwap(leanIdle, leanClosed) {
			lc.c.Close()
		}
	}
}
