package listener

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"

	"github.com/meshctl/meshctl/pkg/proxy/sniff"
)

// opaquePair is both ends of an opaque TCP connection, closed together by
// Shutdown's deadline and by a revocation: closing one end alone leaves
// the copy that waits on the other blocked for as long as that peer
// neither reads nor writes.
type opaquePair struct {
	mu       sync.Mutex
	closed   bool
	down, up net.Conn
}

// setUp records the upstream connection once dialed; false means the pair
// was closed meanwhile, and up is closed too.
func (p *opaquePair) setUp(up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		up.Close()
		return false
	}
	p.up = up
	return true
}

// Close closes each end's TCP socket before its stream: closing a TLS
// stream first sends close_notify, a write that can block on a peer that
// reads nothing, and Shutdown calls Close under s.mu.
func (p *opaquePair) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	for _, c := range []net.Conn{p.up, p.down} {
		if sc, ok := c.(*sniff.Conn); ok && sc.Socket() != nil {
			sc.Socket().Close()
		}
		if c != nil {
			c.Close()
		}
	}
	return nil
}

// pipeTCP passes an opaque connection through to dst, byte for byte, in
// both directions. When one side finishes sending, the other side is told
// with a half-close (CloseWrite) rather than a full close, so
// request-then-wait protocols still get their answer.
// p.up is the upstream connection when one was opened during detection,
// else nil and dialed here. Either side may be TLS between proxies, whose
// CloseWrite sends close_notify, the TLS stream's end.
func (s *Server) pipeTCP(p *opaquePair, dst netip.AddrPort, peerOf Peer) {
	defer p.Close()
	addr := dst.String()
	if p.up == nil {
		upc, err := s.Dial(context.Background(), "tcp", addr)
		if err != nil {
			s.Log.Warn("upstream dial failed", "direction", s.Direction, "upstream", addr, "error", err)
			return
		}
		if !p.setUp(sniff.NewConn(upc)) {
			return
		}
	}
	down, up := p.down, p.up
	peer := peerOf.Name
	if peer == "" {
		peer = addr
	}
	if s.Observer != nil {
		s.Observer.TCPOpened(s.Direction, peer, peerOf.TLS)
	}
	var sent, received int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		received = copyHalf(down, up)
	}()
	sent = copyHalf(up, down)
	wg.Wait()
	if s.Observer != nil {
		s.Observer.TCPClosed(s.Direction, peer, peerOf.TLS, sent, received)
	}
}

// halfCloser is a connection that can stop sending but keep receiving.
type halfCloser interface {
	CloseWrite() error
}

// copyHalf copies src to dst until src ends, then half-closes dst. On an
// error (a reset), it closes src for reading so the opposite copy stops too.
func copyHalf(dst, src net.Conn) int64 {
	n, err := io.Copy(dst, src)
	if hc, ok := dst.(halfCloser); ok {
		hc.CloseWrite()
	} else {
		dst.Close()
	}
	if err != nil {
		if rc, ok := src.(interface{ CloseRead() error }); ok {
			rc.CloseRead()
		}
	}
	return n
}
