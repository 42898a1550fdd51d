package listener

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"

	"github.com/meshctl/meshctl/pkg/proxy/sniff"
)

// pipeTCP passes an opaque connection through to dst, byte for byte, in
// both directions. When one side finishes sending, the other side is told
// with a half-close (CloseWrite) rather than a full close, so
// request-then-wait protocols still get their answer.
// up is the upstream connection when one was opened during detection,
// else nil. Either side may be TLS between proxies, whose CloseWrite
// sends close_notify, the TLS stream's end.
func (s *Server) pipeTCP(down, up *sniff.Conn, dst netip.AddrPort, p Peer) {
	defer down.Close()
	addr := dst.String()
	if up == nil {
		upc, err := s.Dial(context.Background(), "tcp", addr)
		if err != nil {
			s.Log.Warn("upstream dial failed", "direction", s.Direction, "upstream", addr, "error", err)
			return
		}
		up = sniff.NewConn(upc)
	}
	defer up.Close()
	peer := p.Name
	if peer == "" {
		peer = addr
	}
	if s.Observer != nil {
		s.Observer.TCPOpened(s.Direction, peer, p.TLS)
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
		s.Observer.TCPClosed(s.Direction, peer, p.TLS, sent, received)
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
