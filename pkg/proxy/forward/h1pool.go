package forward

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshctl/meshctl/pkg/proxy/h1"
	"github.com/meshctl/meshctl/pkg/proxy/sniff"
)

// probeAfter is how long a connection may sit idle before it is checked
// for a close by the server on reuse; busy connections are not probed.
const probeAfter = time.Second

// maxDialsPerHost bounds the dials to one destination in progress at
// once. Without it, when requests come faster than a connection is made
// (a pool filling up, a burst after an idle spell), every request that
// finds no idle connection dials its own, though the exchanges in flight
// free a connection sooner than a new one is made: a mesh TLS handshake
// takes a millisecond or more of CPU on each side, and 64 of them at once
// were most of the mTLS proxies' extra peak memory (their ML-KEM keys,
// certificates and grown goroutine stacks; see meshtls's
// BenchmarkHandshakeBurstMemory). A request past the bound waits for the
// first connection freed or for a dial slot.
const maxDialsPerHost = 2

// h1Pool is an HTTP/1.1 transport that does an exchange in the calling
// goroutine: write the request, read the response, hand the connection
// back when the body ends. net/http's Transport moves every request through
// two goroutines per connection, and the wake-ups that costs are most of a
// proxy's CPU; this path has none. It takes the common case, requests with
// no body or a small body of known length; everything else (upgrades,
// streams) goes to fallback.
type h1Pool struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int
	idleTimeout time.Duration
	fallback    http.RoundTripper

	mu   sync.Mutex
	idle map[string][]*h1Conn
	// dialing counts the dials in progress per destination, and waiters
	// are the requests waiting for one of them to end (or a connection
	// to be freed), first come first served.
	dialing map[string]int
	waiters map[string][]chan handoff
	stop    chan struct{}
	once    sync.Once

	// readers and writers hold the buffers of idle connections: a pool
	// keeps up to maxIdle connections per destination, and few of them
	// are in an exchange at any moment, so buffers are lent for the
	// exchange rather than kept by each connection (8 KiB each).
	readers, writers sync.Pool
}

// sweep closes the idle connections of every destination periodically,
// so that destinations the app stopped calling do not keep sockets open.
func (p *h1Pool) sweep(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		for addr, list := range p.idle {
			for len(list) > 0 && time.Since(list[0].idleSince) > p.idleTimeout {
				list[0].Close()
				list = list[1:]
			}
			if len(list) == 0 {
				delete(p.idle, addr)
			} else {
				p.idle[addr] = list
			}
		}
		p.mu.Unlock()
	}
}

// handoff is what a waiting request is given: a connection freed by
// another exchange, or leave to dial (a dial slot freed; unbounded, all
// waiters at once, after a dial failed, as the bound must not queue
// requests behind the timeouts of a destination that does not answer).
type handoff struct {
	pc        *h1Conn
	unbounded bool
}

type h1Conn struct {
	net.Conn
	// br and bw are nil while the connection is idle in the pool.
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	// resp is reused by the lean path's exchanges; large and largeBR
	// serve a response head too large for br.
	resp    h1.Response
	large   h1.Response
	largeBR *bufio.Reader
}

func (p *h1Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	hasBody := req.Body != nil && req.Body != http.NoBody
	// h1Pool writes the body before it reads the response. Larger bodies,
	// and bodies of unknown length, may be answered while they are still
	// being sent (full duplex), so they go to net/http's Transport, which
	// writes and reads concurrently.
	if req.Header.Get("Upgrade") != "" || (hasBody && (req.ContentLength < 0 || req.ContentLength > h1.MaxBody)) {
		return p.fallback.RoundTrip(req)
	}
	addr := req.URL.Host
	pc, reused, err := p.get(req.Context(), addr)
	if err != nil {
		return nil, err
	}
	resp, unanswered, err := p.exchange(pc, req)
	if err != nil && reused && unanswered && !hasBody && req.Context().Err() == nil &&
		replayable(req.Method, req.Header["Idempotency-Key"] != nil || req.Header["X-Idempotency-Key"] != nil) {
		// The server may have closed the connection just as it was
		// reused; a request it cannot have answered, that can safely be
		// done twice, goes again, once, on a fresh connection.
		if pc, err = p.dialConn(req.Context(), addr); err != nil {
			return nil, err
		}
		resp, _, err = p.exchange(pc, req)
	}
	return resp, err
}

// replayable says a request without a body may be sent again after its
// connection failed, as net/http's Transport decides: its method is
// idempotent, or the client marked it so with an idempotency key.
func replayable(method string, idempotencyKey bool) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return idempotencyKey
}

// exchange writes req on pc and reads the response head; unanswered says
// no byte of a response arrived before an error. Cancelling the request's
// context unblocks both by expiring pc's deadline.
func (p *h1Pool) exchange(pc *h1Conn, req *http.Request) (resp *http.Response, unanswered bool, err error) {
	stop := context.AfterFunc(req.Context(), func() { pc.SetDeadline(time.Unix(1, 0)) })
	unanswered = true
	fail := func(err error) (*http.Response, bool, error) {
		stop()
		pc.Close()
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, unanswered, ctxErr
		}
		return nil, unanswered, err
	}
	// Request.Write flushes the headers on their own before a body it does
	// not know to be in memory (a *bufio.Writer is detected by type);
	// hiding the type lets headers and a small body leave in one write.
	if err := req.Write(unflushed{pc.bw}); err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(err)
	}
	if _, err := pc.br.Peek(1); err != nil {
		return fail(err)
	}
	unanswered = false
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return fail(err)
		}
		// Interim responses (100 Continue, 103 Early Hints) precede the
		// real one; 101 never gets here (upgrades use the fallback).
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			continue
		}
		reusable := !resp.Close && !req.Close
		if resp.Body == http.NoBody {
			p.release(stop, pc, reusable, req.URL.Host)
			return resp, false, nil
		}
		resp.Body = &pooledBody{ReadCloser: resp.Body, release: func(reuse bool) {
			p.release(stop, pc, reuse && reusable, req.URL.Host)
		}}
		return resp, false, nil
	}
}

// unflushed is a *bufio.Writer that Request.Write does not recognise.
type unflushed struct{ *bufio.Writer }

// pooledBody hands its connection back when the body has been read to the
// end, and closes it when the reader gives up early: draining an unwanted
// body could take longer than a new connection.
type pooledBody struct {
	io.ReadCloser
	release func(reuse bool)
	once    sync.Once
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(func() { b.release(err == io.EOF) })
	}
	return n, err
}

func (b *pooledBody) Close() error {
	b.once.Do(func() { b.release(false) })
	return b.ReadCloser.Close()
}

func (p *h1Pool) release(stop func() bool, pc *h1Conn, reuse bool, addr string) {
	if !stop() || !reuse {
		// The context fired (the deadline is spoiled) or the connection
		// cannot carry another request.
		pc.Close()
		return
	}
	p.put(pc, addr)
}

// put makes pc, which has finished an exchange, available to the next,
// and takes back its buffers.
func (p *h1Pool) put(pc *h1Conn, addr string) {
	if pc.br.Buffered() > 0 {
		// The server sent something unasked: the connection is not in
		// step with its requests any more.
		pc.Close()
		return
	}
	pc.br.Reset(nil)
	pc.bw.Reset(nil)
	p.readers.Put(pc.br)
	p.writers.Put(pc.bw)
	pc.br, pc.bw = nil, nil
	pc.idleSince = time.Now()
	p.store(pc, addr)
}

// store gives pc, without buffers, to the first request waiting for addr,
// or keeps it idle.
func (p *h1Pool) store(pc *h1Conn, addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.waiters[addr]; len(w) > 0 {
		p.popWaiter(addr) <- handoff{pc: pc}
		return
	}
	if p.idle == nil {
		p.idle = map[string][]*h1Conn{}
	}
	list := p.idle[addr]
	// Drop connections idle for too long, oldest first.
	for len(list) > 0 && time.Since(list[0].idleSince) > p.idleTimeout {
		list[0].Close()
		list = list[1:]
	}
	if len(list) >= p.maxIdle {
		pc.Close()
		p.idle[addr] = list
		return
	}
	p.idle[addr] = append(list, pc)
}

func (p *h1Pool) get(ctx context.Context, addr string) (*h1Conn, bool, error) {
	bounded := true
	for {
		p.mu.Lock()
		list := p.idle[addr]
		if len(list) == 0 {
			if bounded && p.dialing[addr] >= maxDialsPerHost {
				h, err := p.wait(ctx, addr)
				if err != nil {
					return nil, false, err
				}
				if h.pc != nil {
					h.pc.SetDeadline(time.Time{})
					p.lend(h.pc)
					return h.pc, true, nil
				}
				bounded = !h.unbounded
				continue
			}
			if p.dialing == nil {
				p.dialing = map[string]int{}
			}
			p.dialing[addr]++
			p.mu.Unlock()
			pc, err := p.dialConn(ctx, addr)
			p.dialed(addr, err)
			return pc, false, err
		}
		// Most recently used first: it is the least likely to have been
		// closed by the server.
		pc := list[len(list)-1]
		p.idle[addr] = list[:len(list)-1]
		p.mu.Unlock()
		idle := time.Since(pc.idleSince)
		if idle > p.idleTimeout || (idle > probeAfter && !alive(pc)) {
			pc.Close()
			continue
		}
		pc.SetDeadline(time.Time{})
		p.lend(pc)
		return pc, true, nil
	}
}

// wait queues the caller for a connection or a dial slot to addr; p.mu is
// held on entry and released.
func (p *h1Pool) wait(ctx context.Context, addr string) (handoff, error) {
	ch := make(chan handoff, 1)
	if p.waiters == nil {
		p.waiters = map[string][]chan handoff{}
	}
	p.waiters[addr] = append(p.waiters[addr], ch)
	p.mu.Unlock()
	select {
	case h := <-ch:
		return h, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	w := p.waiters[addr]
	if i := slices.Index(w, ch); i >= 0 {
		p.waiters[addr] = slices.Delete(w, i, i+1)
		p.mu.Unlock()
		return handoff{}, ctx.Err()
	}
	p.mu.Unlock()
	// Handed something as the context ended: pass it on.
	switch h := <-ch; {
	case h.pc != nil:
		p.store(h.pc, addr)
	case !h.unbounded:
		p.mu.Lock()
		p.wakeOne(addr)
		p.mu.Unlock()
	}
	return handoff{}, ctx.Err()
}

// dialed ends a dial to addr: its slot goes to the first waiter; after a
// failure every waiter may dial.
func (p *h1Pool) dialed(addr string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dialing[addr]--; p.dialing[addr] <= 0 {
		delete(p.dialing, addr)
	}
	if err == nil {
		p.wakeOne(addr)
		return
	}
	for len(p.waiters[addr]) > 0 {
		p.popWaiter(addr) <- handoff{unbounded: true}
	}
}

// wakeOne lets the first waiter for addr, if any, try again; p.mu is
// held.
func (p *h1Pool) wakeOne(addr string) {
	if len(p.waiters[addr]) > 0 {
		p.popWaiter(addr) <- handoff{}
	}
}

// popWaiter takes the first waiter for addr off the queue; p.mu is held
// and there is one.
func (p *h1Pool) popWaiter(addr string) chan handoff {
	w := p.waiters[addr]
	ch := w[0]
	if len(w) == 1 {
		delete(p.waiters, addr)
	} else {
		p.waiters[addr] = w[1:]
	}
	return ch
}

// lend gives pc buffers for an exchange.
func (p *h1Pool) lend(pc *h1Conn) {
	pc.br, _ = p.readers.Get().(*bufio.Reader)
	if pc.br == nil {
		pc.br = bufio.NewReaderSize(nil, 4096)
	}
	pc.br.Reset(pc.Conn)
	pc.bw, _ = p.writers.Get().(*bufio.Writer)
	if pc.bw == nil {
		pc.bw = bufio.NewWriterSize(nil, 4096)
	}
	pc.bw.Reset(pc.Conn)
}

func (p *h1Pool) dialConn(ctx context.Context, addr string) (*h1Conn, error) {
	c, err := p.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	pc := &h1Conn{Conn: c}
	p.lend(pc)
	return pc, nil
}

// alive peeks at an idle connection without blocking: a server that closed
// it (EOF) or sent something unasked makes it unusable. (An idle connection
// has no buffer: put closed those with unread bytes.)
func alive(pc *h1Conn) bool {
	tc, ok := pc.Conn.(*net.TCPConn)
	if nc, isTLS := pc.Conn.(interface{ NetConn() net.Conn }); isTLS {
		// Mesh TLS: the socket under it says the same, as an idle
		// connection between proxies carries no record (no session
		// tickets); a close_notify waiting is a close.
		tc, ok = nc.NetConn().(*net.TCPConn)
	}
	if !ok {
		return true
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	raw.Read(func(fd uintptr) bool {
		// Nothing to read yet (EAGAIN) is the only healthy answer.
		_, err := sniff.PeekSocket(fd)
		ok = errors.Is(err, unix.EAGAIN)
		return true
	})
	return ok
}

// Close stops the sweeper and closes the idle connections.
func (p *h1Pool) Close() {
	p.once.Do(func() {
		if p.stop != nil {
			close(p.stop)
		}
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, list := range p.idle {
		for _, pc := range list {
			pc.Close()
		}
		delete(p.idle, addr)
	}
}
