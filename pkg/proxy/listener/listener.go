// Package listener owns the proxy's connection handling, shared by the
// inbound and the outbound listener: accept, find where the connection was
// going, detect its protocol, then serve it as HTTP (through an
// http.Server) or pass it through as opaque TCP with correct half-close.
package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/proxy/h1"
	"github.com/meshctl/meshctl/pkg/proxy/sniff"
)

// DefaultSniffTimeout bounds how long a connection may stay silent before
// it is treated as opaque TCP (server-speaks-first protocols wait this long
// once, for their first byte).
const DefaultSniffTimeout = 100 * time.Millisecond

// TCPObserver is told about each opaque TCP connection; telemetry
// implements it. peer is the Peer's Name, or the address the proxy
// connects to when the peer has no identity; mtls is Peer.TLS.
type TCPObserver interface {
	TCPOpened(direction, peer string, mtls bool)
	TCPClosed(direction, peer string, mtls bool, sent, received int64)
}

// Peer is who is at the other end of a connection, as far as mesh TLS
// says: inbound, the client proxy verified at the handshake; outbound,
// the identity the mesh dialer requires of the destination (PeerOf).
type Peer struct {
	// ID is the identity, zero when there is none (plain text).
	ID identity.ID
	// Name is ID.Short(), made once per connection for labels and logs.
	Name string
	// TLS says the connection is (inbound) or goes (outbound) over
	// mutual TLS between proxies.
	TLS bool
}

// NewPeer is the Peer of a mutual TLS connection with id.
func NewPeer(id identity.ID) Peer { return Peer{ID: id, Name: id.Short(), TLS: true} }

// Server serves one listener. Zero values of optional fields work.
type Server struct {
	// Direction names the listener in logs and metrics: inbound or outbound.
	Direction string
	// Destination says where an accepted connection goes, or an error to
	// refuse it (a connection that would loop, for one).
	Destination func(c *net.TCPConn) (netip.AddrPort, error)
	// HTTP serves connections detected as HTTP/1.x or h2c. Requests carry
	// the destination; read it with DestinationFrom.
	HTTP http.Handler
	// H1, when set, serves HTTP/1.1 connections first, on the lean path;
	// HTTP takes over a connection from its first request H1 hands off.
	H1 h1.Handler
	// Dial connects to the destination of opaque TCP connections;
	// net.Dialer.DialContext when nil.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Handshake, when set, terminates mesh TLS: a connection whose
	// ClientHello offers identity.ALPN is handed to it, and the stream it
	// returns goes through detection and the pipeline as any connection
	// does, with the verified peer. An error closes the connection; the
	// hook has logged and counted it. When nil, every TLS connection is
	// opaque TCP.
	Handshake func(c net.Conn) (*tls.Conn, identity.ID, error)
	// PeerOf, when set, names the peer of a connection that was not
	// terminated here, from its destination: the outbound side's mesh
	// dialer's view of who is there. The zero Peer when nil.
	PeerOf func(dst netip.AddrPort) Peer
	// Egress, when set, says whether an outbound connection may go to
	// dst; one it refuses is closed at once, logged and counted (the
	// MeshConfig's enableEgress off, dst outside the mesh).
	Egress func(dst netip.AddrPort) bool
	// Authz, when set, decides on inbound connections before the app is
	// dialed (authz.Authorizer): who may connect at all, and which opaque
	// TCP connections may pass. HTTP requests are decided one by one by
	// the HTTP handlers. Nil allows everything.
	Authz Authorizer
	// Denied, when set, counts refused connections (telemetry.Metrics).
	Denied func(direction, protocol, peer string, reason policy.Reason)
	// SniffTimeout is DefaultSniffTimeout when zero.
	SniffTimeout time.Duration
	// Observer, when not nil, counts opaque TCP connections and bytes.
	Observer TCPObserver
	// Log receives connection errors; slog.Default() when nil.
	Log *slog.Logger

	httpServer *http.Server
	conns      *connQueue
	tcp        sync.WaitGroup
	mu         sync.Mutex
	open       map[io.Closer]struct{}
	lean       map[*leanConn]struct{}
	// writers recycles the lean path's response buffers between
	// requests, so an idle keep-alive connection holds none.
	writers sync.Pool
	// readers holds the read buffers of lean connections between
	// requests (sniff.Conn.ReleaseBuffer).
	readers  sync.Pool
	leanWG   sync.WaitGroup
	draining atomic.Bool
	// closing is set by StopKeepAlives: every exchange from then on is
	// the connection's last.
	closing atomic.Bool
}

// Authorizer decides on inbound connections; authz.Authorizer is the real
// one. src is the zero ID for plain text.
type Authorizer interface {
	// AllowsTCP says whether an opaque TCP connection would be allowed;
	// it logs and counts nothing.
	AllowsTCP(src identity.ID, ip netip.Addr, port uint16) bool
	// MayConnect is Allows, with a denial logged and counted.
	MayConnect(src identity.ID, ip netip.Addr, port uint16) bool
	// TCP decides on an opaque TCP connection, and tracks an allowed one
	// until untrack, closing it with close if a later policy denies it.
	TCP(src identity.ID, ip netip.Addr, port uint16, close func()) (allowed bool, untrack func())
}

// ReasonEgressDisabled is the reason of an outbound connection refused
// because egress is off.
const ReasonEgressDisabled policy.Reason = "egress-disabled"

// LateClientWait is how long a silent client is waited for when plain
// text may not reach the app: no server-speaks-first protocol can be
// allowed then, so the proxy waits for the client's first bytes (a client
// proxy late with its ClientHello, an HTTP client's pooled connection)
// instead of dialing the app.
const LateClientWait = 10 * time.Second

// sourceOf is the address a connection comes from.
func sourceOf(c net.Conn) netip.AddrPort {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

type destKey struct{}

// DestinationFrom returns the destination of the connection a request
// arrived on.
func DestinationFrom(ctx context.Context) (netip.AddrPort, bool) {
	d, ok := ctx.Value(destKey{}).(netip.AddrPort)
	return d, ok
}

// WithDestination returns ctx carrying dst as the destination of the
// connection, for DestinationFrom: what the server does for each
// connection, and what tests of handlers do for their requests.
func WithDestination(ctx context.Context, dst netip.AddrPort) context.Context {
	return context.WithValue(ctx, destKey{}, dst)
}

type peerKey struct{}

// PeerFrom returns the peer of the connection a request arrived on.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// WithPeer returns ctx carrying p as the connection's peer, for PeerFrom.
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// destConn carries a connection's destination and peer to the
// http.Server's ConnContext.
type destConn struct {
	*sniff.Conn
	dst  netip.AddrPort
	peer Peer
}

// Serve accepts connections on ln until ln is closed or Shutdown is called.
func (s *Server) Serve(ln *net.TCPListener) error {
	s.init()
	go s.httpServer.Serve(s.conns)
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go s.handle(c)
	}
}

func (s *Server) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpServer != nil {
		return
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.SniffTimeout == 0 {
		s.SniffTimeout = DefaultSniffTimeout
	}
	if s.Dial == nil {
		s.Dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	s.open = map[io.Closer]struct{}{}
	s.lean = map[*leanConn]struct{}{}
	s.conns = newConnQueue()
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s.httpServer = &http.Server{
		Handler:           s.HTTP,
		Protocols:         &protocols,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if dc, ok := c.(*destConn); ok {
				return WithPeer(WithDestination(ctx, dc.dst), dc.peer)
			}
			return ctx
		},
	}
}

// handle is the pipeline of one connection: destination, detection, mesh
// TLS when the client is a proxy, then HTTP or opaque TCP.
func (s *Server) handle(c *net.TCPConn) {
	dst, err := s.Destination(c)
	if err != nil {
		s.Log.Warn("connection refused", "direction", s.Direction, "from", c.RemoteAddr().String(), "error", err)
		c.Close()
		return
	}
	if s.Egress != nil && !s.Egress(dst) {
		s.Log.Warn("egress refused: the destination is outside the mesh and the MeshConfig's traffic.enableEgress is false",
			"direction", s.Direction, "destination", dst.String(), "from", c.RemoteAddr().String())
		if s.Denied != nil {
			s.Denied(s.Direction, "tcp", dst.String(), ReasonEgressDisabled)
		}
		c.Close()
		return
	}
	peek := sniff.Peek
	if s.Handshake != nil {
		peek = sniff.PeekMesh
	}
	proto, sc, err := peek(c, s.SniffTimeout)
	if err != nil {
		// The client went away before saying anything.
		c.Close()
		return
	}
	src := sourceOf(c).Addr().Unmap()
	var plain identity.ID
	if proto == sniff.TCP && sc.Buffered() == 0 && s.Authz != nil && !s.Authz.AllowsTCP(plain, src, dst.Port()) {
		// Opaque plain text may not pass here, so the app is not dialed
		// for a silent client: it is waited for. It may be a client proxy
		// late with its ClientHello, or an HTTP client's pooled
		// connection.
		if proto, err = sc.Detect(time.Now().Add(LateClientWait)); err != nil {
			c.Close()
			return
		}
		if proto == sniff.TCP && sc.Buffered() == 0 {
			// Still silent: nothing it could send in plain text may
			// reach the app unasked.
			s.Authz.MayConnect(plain, src, dst.Port())
			c.Close()
			return
		}
	}
	if proto != sniff.MeshTLS && s.Authz != nil && !s.Authz.MayConnect(plain, src, dst.Port()) {
		c.Close()
		return
	}
	var up *sniff.Conn
	if proto == sniff.TCP && sc.Buffered() == 0 {
		// A client proxy slower than SniffTimeout to send its ClientHello
		// (a busy node, a pause of its runtime) is such a silent client
		// too, and settles as mesh TLS here.
		if proto, up, err = s.settle(c, sc, dst); err != nil {
			return
		}
	}
	var peer Peer
	switch {
	case proto == sniff.MeshTLS:
		tc, id, err := s.Handshake(sc)
		if err != nil {
			c.Close()
			return
		}
		peer = NewPeer(id)
		// The TLS layer reads the socket from now on, through buffers of
		// its own: the peek buffer is lent back, unless the client's first
		// record came with the handshake's last.
		sc.ReleaseBuffer(&s.readers)
		// A meshed caller is not refused here even if nothing allows it:
		// its HTTP requests get a 403 each, which its app can read,
		// rather than a reset its proxy turns into a 502; opaque TCP is
		// refused below, before the app is dialed.
		// What the client proxy carries is detected as any connection
		// is (it never is mesh TLS again).
		if proto, sc, err = sniff.Peek(tc, s.SniffTimeout); err != nil {
			tc.Close()
			return
		}
		if proto == sniff.TCP && sc.Buffered() == 0 && s.Authz != nil && !s.Authz.AllowsTCP(id, src, dst.Port()) {
			// Only HTTP may pass: wait for the request rather than dial
			// the app for a connection that could not carry anything.
			if proto, err = sc.Detect(time.Now().Add(LateClientWait)); err != nil {
				sc.Close()
				return
			}
			if proto == sniff.TCP && sc.Buffered() == 0 {
				sc.Close()
				return
			}
		}
		if proto == sniff.TCP && sc.Buffered() == 0 {
			if proto, up, err = s.settle(c, sc, dst); err != nil {
				return
			}
		}
	case s.PeerOf != nil:
		peer = s.PeerOf(dst)
	}
	s.serve(c, sc, proto, up, dst, peer)
}

// settle decides the protocol of a silent client: it connects upstream and
// lets whoever speaks first decide, so that neither a server-speaks-first
// protocol nor a client's connection opened ahead of its first request
// (Go's and most HTTP clients' pools do that) is misjudged. up is the
// upstream connection when the answer is opaque TCP. On error both are
// closed.
func (s *Server) settle(c *net.TCPConn, sc *sniff.Conn, dst netip.AddrPort) (sniff.Protocol, *sniff.Conn, error) {
	upc, err := s.Dial(context.Background(), "tcp", dst.String())
	if err != nil {
		s.Log.Warn("upstream dial failed", "direction", s.Direction, "upstream", dst.String(), "error", err)
		sc.Close()
		return sniff.TCP, nil, err
	}
	s.track(c, true)
	proto, up, err := sc.SpeaksFirst(upc)
	s.track(c, false)
	if err != nil {
		upc.Close()
		sc.Close()
		return sniff.TCP, nil, err
	}
	return proto, up, nil
}

// serve is the pipeline after detection: sc is the stream (the socket c,
// or TLS over it), proto what it was detected as, and up the upstream
// connection settle opened for opaque TCP, if it did.
func (s *Server) serve(c *net.TCPConn, sc *sniff.Conn, proto sniff.Protocol, up *sniff.Conn, dst netip.AddrPort, peer Peer) {
	if proto == sniff.TCP {
		pair := &opaquePair{down: sc}
		if up != nil {
			pair.up = up
		}
		if s.Authz != nil {
			allowed, untrack := s.Authz.TCP(peer.ID, sourceOf(c).Addr().Unmap(), dst.Port(), func() { pair.Close() })
			if !allowed {
				pair.Close()
				return
			}
			defer untrack()
		}
		if !s.startTCP(pair) {
			pair.Close()
			return
		}
		defer s.tcp.Done()
		defer s.track(pair, false)
		s.pipeTCP(pair, dst, peer)
		return
	}
	if proto == sniff.HTTP1 && s.H1 != nil && s.startLean() {
		handoff := s.serveLean(sc, dst, peer)
		s.leanWG.Done()
		if !handoff {
			return
		}
	}
	s.conns.push(&destConn{Conn: sc, dst: dst, peer: peer})
}

// startTCP counts and tracks an opaque connection unless Shutdown has
// begun, in one step under s.mu as startLean does: a connection that ends
// its detection after Shutdown's close pass would otherwise be counted
// after Wait began and never be closed.
func (s *Server) startTCP(p *opaquePair) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.tcp.Add(1)
	s.open[p] = struct{}{}
	return true
}

func (s *Server) track(c io.Closer, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.open[c] = struct{}{}
	} else {
		delete(s.open, c)
	}
}

// StopKeepAlives makes clients reconnect while the server still answers:
// idle HTTP connections close now, and every response from now on carries
// Connection: close (HTTP/2 clients get a GOAWAY). A stopping pod calls it
// as it turns not-ready, because callers' pooled connections would
// otherwise keep reaching it after the Service has moved on, and fail once
// its app is gone.
func (s *Server) StopKeepAlives() {
	s.init()
	s.closing.Store(true)
	s.httpServer.SetKeepAlivesEnabled(false)
	s.closeIdleLean()
}

// Shutdown stops HTTP gracefully (in-flight requests finish, idle
// connections close) and waits for opaque TCP connections to end on their
// own until ctx is done, then closes them. The caller closes the listener.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	// Under s.mu, as startLean checks it: a connection is counted in
	// leanWG before Wait below, or not at all.
	s.mu.Lock()
	s.draining.Store(true)
	s.mu.Unlock()
	s.conns.Close()
	s.closeIdleLean()
	err := s.httpServer.Shutdown(ctx)
	done := make(chan struct{})
	go func() { s.tcp.Wait(); s.leanWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.open {
			c.Close()
		}
		for lc := range s.lean {
			lc.c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	return err
}
