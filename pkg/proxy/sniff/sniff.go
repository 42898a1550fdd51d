// Package sniff owns protocol detection: it peeks at the first bytes a
// client sends and says whether the connection is HTTP/1.x, HTTP/2 with
// prior knowledge (h2c), mesh TLS (a TLS ClientHello offering the mesh's
// ALPN, on the inbound side), or anything else (opaque TCP). The peeked
// bytes are kept, so the connection is handed on unchanged.
package sniff

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Protocol is what a connection speaks, as far as the proxy cares.
type Protocol int

// The protocols the proxy tells apart.
const (
	TCP Protocol = iota
	HTTP1
	HTTP2
	// MeshTLS is a TLS ClientHello that offers identity.ALPN: another
	// mesh proxy. Only DetectMesh (PeekMesh) says it; any other TLS is
	// the app's own and stays TCP.
	MeshTLS
)

func (p Protocol) String() string {
	switch p {
	case HTTP1:
		return "http/1.1"
	case HTTP2:
		return "h2c"
	case MeshTLS:
		return "mesh-tls"
	default:
		return "tcp"
	}
}

// h2Preface is the client connection preface of HTTP/2 (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// methods are the HTTP/1.x request methods recognised, each with the space
// that must follow it; PRI is absent on purpose, as it starts h2Preface.
var methods = [...]string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "CONNECT ", "OPTIONS ", "TRACE ", "PATCH "}

// MaxPeek is how many bytes Detect may need before it decides.
const MaxPeek = len(h2Preface)

// Detect classifies the first bytes of a connection. done is false when b
// is a prefix of something recognisable and more bytes could change the
// answer; Detect never needs more than MaxPeek bytes.
func Detect(b []byte) (p Protocol, done bool) {
	if len(b) > MaxPeek {
		b = b[:MaxPeek]
	}
	if bytes.HasPrefix(b, []byte(h2Preface)) {
		return HTTP2, true
	}
	more := len(b) < len(h2Preface) && bytes.HasPrefix([]byte(h2Preface), b)
	for _, m := range methods {
		if bytes.HasPrefix(b, []byte(m)) {
			return HTTP1, true
		}
		if len(b) < len(m) && bytes.HasPrefix([]byte(m), b) {
			more = true
		}
	}
	switch extensionMethod(b) {
	case yes:
		return HTTP1, true
	case maybe:
		more = true
	}
	return TCP, !more
}

// maxMethod is policy.MaxMethod, which this package does not link; a
// test holds the two rules equal.
const maxMethod = 20

type tristate int

const (
	no tristate = iota
	yes
	maybe
)

// extensionMethod recognises a request line of another method than
// methods: one to maxMethod upper-case letters or '-', other than PRI,
// then a space and an origin-form ("/") or asterisk-form ("*") target,
// as PURGE or PROPFIND requests start. Lower-case words followed by a
// space start many text protocols (memcached's "get key"), which stay
// opaque TCP.
func extensionMethod(b []byte) tristate {
	i := 0
	for i < len(b) && i <= maxMethod && (b[i] >= 'A' && b[i] <= 'Z' || b[i] == '-') {
		i++
	}
	switch {
	case i == len(b) && i <= maxMethod:
		return maybe
	case i == 0 || i > maxMethod || b[i] != ' ' || string(b[:i]) == "PRI":
		return no
	case i+1 == len(b):
		return maybe
	case b[i+1] == '/' || b[i+1] == '*':
		return yes
	}
	return no
}

// Conn is a connection whose first bytes have been read for detection;
// reads return them first. It keeps CloseWrite, so half-close still works.
// The stream is usually the TCP socket itself; after mesh TLS it is the
// *tls.Conn over it, and waiting for bytes goes through the TLS layer,
// which may hold decrypted bytes the socket no longer shows.
type Conn struct {
	net.Conn
	// sock is the TCP socket under the stream, nil if there is none;
	// plain says the stream is sock itself.
	sock  *net.TCPConn
	plain bool
	// r is nil while ReleaseBuffer has lent it to pool.
	r    *bufio.Reader
	pool *sync.Pool
	// mesh makes detection look for mesh TLS too (PeekMesh).
	mesh bool
	// raw and peek serve WaitReadable, made once per connection so that
	// waiting allocates nothing; peeked says peek has looked once in this
	// wait.
	raw    syscall.RawConn
	peek   func(fd uintptr) bool
	peeked bool
}

// Read reads the peeked bytes first, then the connection. A plain
// connection whose buffer was released reads its socket directly: that is
// how a TLS layer above it reads, and it then keeps no 4 KiB buffer for
// the connection's life (the TLS layer has its own).
func (c *Conn) Read(p []byte) (int, error) {
	if c.r == nil && c.plain {
		return c.Conn.Read(p)
	}
	return c.Reader().Read(p)
}

// WriteTo shadows the stream's WriteTo, which io.Copy would otherwise use
// and lose the peeked bytes; bufio writes them first and then hands over
// to the connection's own WriteTo (splice on Linux).
func (c *Conn) WriteTo(w io.Writer) (int64, error) { return c.Reader().WriteTo(w) }

// ReadFrom is the stream's ReadFrom when it has one: a TCP socket's
// splices from another socket.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// writerOnly hides a writer's ReadFrom from io.Copy, which would loop.
type writerOnly struct{ io.Writer }

// CloseWrite stops sending and keeps receiving: a FIN on a TCP socket,
// a close_notify alert on TLS. A stream that cannot half-close closes.
func (c *Conn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Conn.Close()
}

// CloseRead stops receiving on the socket, which ends reads of the stream
// over it too.
func (c *Conn) CloseRead() error {
	if c.sock == nil {
		return c.Conn.Close()
	}
	return c.sock.CloseRead()
}

// Socket is the TCP socket under the stream, nil when there is none.
func (c *Conn) Socket() *net.TCPConn { return c.sock }

// Plain says the stream is the TCP socket itself, not a layer over it
// such as TLS: then the socket's readiness is the stream's.
func (c *Conn) Plain() bool { return c.plain }

// NewConn wraps c so that its first bytes can be peeked at. c is a
// *net.TCPConn or a connection over one, such as a *tls.Conn.
func NewConn(c net.Conn) *Conn {
	sc := &Conn{Conn: c}
	switch v := c.(type) {
	case *net.TCPConn:
		sc.sock, sc.plain = v, true
	case interface{ NetConn() net.Conn }:
		// A *tls.Conn over the Conn its ClientHello was peeked on.
		switch inner := v.NetConn().(type) {
		case *Conn:
			sc.sock = inner.sock
		case *net.TCPConn:
			sc.sock = inner
		}
	}
	sc.r = bufio.NewReaderSize(c, bufSize)
	return sc
}

// bufSize is the read buffer of a Conn, which MaxTLSPeek fills at most.
const bufSize = 4096

// Reader is the connection's read buffer, peeked bytes first; reads
// through it and through c are interchangeable.
func (c *Conn) Reader() *bufio.Reader {
	if c.r == nil {
		c.r, _ = c.pool.Get().(*bufio.Reader)
		if c.r == nil {
			c.r = bufio.NewReaderSize(nil, bufSize)
		}
		c.r.Reset(c.Conn)
	}
	return c.r
}

// Buffered is how many peeked bytes reads will return before reading the
// connection again.
func (c *Conn) Buffered() int {
	if c.r == nil {
		return 0
	}
	return c.r.Buffered()
}

// ReleaseBuffer lends c's read buffer to pool while c waits for its next
// bytes, if it holds none, and reports whether it did; the next read takes
// one from pool again. A proxy keeps many keep-alive connections, few of
// them in an exchange at any moment: 4 KiB of buffer each adds up.
// A stream over TLS keeps its buffer: WaitReadable reads into it.
func (c *Conn) ReleaseBuffer(pool *sync.Pool) bool {
	if !c.plain || c.r == nil || c.r.Buffered() > 0 {
		return false
	}
	c.r.Reset(nil)
	pool.Put(c.r)
	c.r, c.pool = nil, pool
	return true
}

// WaitReadable waits, under c's read deadline, until a read would not
// block: bytes are buffered or have arrived, or the peer closed the
// connection or it failed. On a plain socket it reads nothing and needs
// no buffer; over TLS it reads into the buffer, as only the TLS layer
// knows whether a record holds data.
func (c *Conn) WaitReadable() error {
	if c.Buffered() > 0 {
		return nil
	}
	if !c.plain {
		_, err := c.Reader().Peek(1)
		return err
	}
	if c.raw == nil {
		raw, err := c.sock.SyscallConn()
		if err != nil {
			return err
		}
		c.raw = raw
		c.peek = func(fd uintptr) bool {
			if c.peeked {
				// Called again after the poller said the socket became
				// readable: no need to look. (Were the wake-up spurious,
				// the read that follows would wait as reads do, under the
				// head's deadline; the lean path then waits on within its
				// idle timeout, see listener's nextRequest.)
				return true
			}
			c.peeked = true
			// Look once before waiting: bytes that arrived before this
			// wait began have raised no new readiness event. Anything
			// but "nothing yet" is for the read to see.
			_, err := PeekSocket(fd)
			return err != unix.EAGAIN
		}
	}
	c.peeked = false
	return c.raw.Read(c.peek)
}

// Peek reads from c until Detect decides, the client stops sending, or
// timeout passes; a client that sends nothing first (a server-speaks-first
// protocol, or a client that opened the connection ahead of use) gets TCP
// with nothing buffered, and Detect or SpeaksFirst can settle it later.
// The returned Conn must be used in place of c.
func Peek(c net.Conn, timeout time.Duration) (Protocol, *Conn, error) {
	sc := NewConn(c)
	p, err := sc.Detect(time.Now().Add(timeout))
	return p, sc, err
}

// PeekMesh is Peek with DetectMesh: a connection may also be mesh TLS.
// Only the inbound side asks: an app's own ClientHello with the mesh's
// ALPN, on its way out, is the app's business.
func PeekMesh(c net.Conn, timeout time.Duration) (Protocol, *Conn, error) {
	sc := NewConn(c)
	sc.mesh = true
	p, err := sc.Detect(time.Now().Add(timeout))
	return p, sc, err
}

// Detect reads until the protocol is decided or deadline (none when zero)
// passes; the bytes read are kept for the next reads.
func (c *Conn) Detect(deadline time.Time) (Protocol, error) {
	if err := c.SetReadDeadline(deadline); err != nil {
		return TCP, err
	}
	defer c.SetReadDeadline(time.Time{})
	return c.detect()
}

// classify is Detect or DetectMesh, with the most bytes it may need.
func (c *Conn) classify(b []byte) (p Protocol, done bool, max int) {
	if c.mesh {
		p, done = DetectMesh(b)
		return p, done, MaxTLSPeek
	}
	p, done = Detect(b)
	return p, done, MaxPeek
}

// detect is Detect under whatever read deadline c has.
func (c *Conn) detect() (Protocol, error) {
	for n := 1; ; {
		b, err := c.Reader().Peek(n)
		p, done, most := c.classify(b)
		if done || len(b) >= most {
			return p, nil
		}
		// Look at everything already received before waiting for more:
		// a short request may never send another byte.
		n = len(b) + 1
		if c.Buffered() > len(b) {
			n = c.Buffered()
		}
		n = min(n, most)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// Silent or slow clients fall back to opaque TCP; the
				// bytes peeked so far are kept in the buffer.
				return TCP, nil
			}
			if len(b) > 0 {
				return TCP, nil
			}
			return TCP, err
		}
	}
}

// PeekSocket looks at socket fd without consuming or blocking: n is 1 when
// a byte is waiting and 0 at the end of the stream; err is EAGAIN when
// nothing has arrived yet. Unlike unix.Recvfrom it asks for no sender
// address, so it allocates nothing, which matters once per request.
func PeekSocket(fd uintptr) (n int, err error) {
	var b [1]byte
	for {
		r, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return 0, errno
	}
}

// expired is a deadline in the past, to interrupt a blocked read.
var expired = time.Unix(1, 0)

// SpeaksFirst settles the protocol of a client that stayed silent through
// Peek's timeout, given a connection to where it was going. If the server
// speaks first (SMTP, MySQL...), the connection is opaque TCP, and the
// server's first bytes are kept in the returned upstream Conn. If the
// client speaks first (an HTTP client that opened a pooled connection
// before it had a request for it), its bytes are detected as usual: when
// that says HTTP, the returned upstream Conn is nil and up has been closed,
// as HTTP goes upstream through the proxy's own pool. up may be mesh TLS
// (a *tls.Conn whose handshake is done): its read deadline interrupts a
// read without spoiling it.
func (c *Conn) SpeaksFirst(up net.Conn) (Protocol, *Conn, error) {
	upc := NewConn(up)
	// No deadline from here on but the goroutine's: clearing it after
	// the goroutine started could undo an early wake-up.
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return TCP, upc, err
	}
	serverSpoke := make(chan bool, 1)
	go func() {
		_, err := upc.r.Peek(1)
		if err == nil {
			// Wake the client's Detect below: the server was first.
			c.SetReadDeadline(expired)
		}
		serverSpoke <- err == nil
	}()
	p, err := c.detect()
	// The goroutine may set the client's deadline until it has returned:
	// stop it, then clear both for good.
	up.SetReadDeadline(expired)
	spoke := <-serverSpoke
	c.SetReadDeadline(time.Time{})
	up.SetReadDeadline(time.Time{})
	if spoke || upc.r.Buffered() > 0 {
		return TCP, upc, nil
	}
	if err != nil {
		return TCP, upc, err
	}
	if p != TCP {
		up.Close()
		return p, nil, nil
	}
	return TCP, upc, nil
}
