// Package meshtls owns mutual TLS between proxies in the data path: the
// inbound side's handshake of a connection sniffed as mesh TLS, which
// yields the verified peer identity; the outbound side's dialer, which
// asks a Resolver where a destination goes and whom it must reach there
// and holds the server to that identity; and the bounded reasons a
// handshake fails, for metrics and logs. Certificates, trust and the
// checks themselves are pkg/identity's (ServerConfig, ClientConfig).
package meshtls

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
)

// DefaultHandshakeTimeout bounds a handshake when no timeout is set: a
// peer proxy on the cluster network answers in milliseconds, and a client
// that stalls must not hold a connection for long.
const DefaultHandshakeTimeout = 10 * time.Second

// Directions of a handshake, as metrics and logs name them.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Observer is told about every handshake; telemetry.Metrics implements
// it. result is ResultOK or a Reason.
type Observer interface {
	Handshake(direction, result string, d time.Duration)
}

// AnyMeshID is the inbound Authorizer: every peer whose certificate
// verifies against the bundle (so a workload of this mesh's trust domain)
// completes the handshake, and who may reach what is decided per request
// by policy, which sees the identity, rather than by the TLS layer.
func AnyMeshID(identity.ID) error { return nil }

// Server terminates mesh TLS on the inbound side. Build it with NewServer.
type Server struct {
	// Sources are the proxy's certificate and trust bundle.
	Sources identity.Sources
	// Authorize decides who may complete a handshake; AnyMeshID when nil.
	Authorize identity.Authorizer
	// Timeout bounds a handshake; DefaultHandshakeTimeout when zero.
	Timeout time.Duration
	// Observer, when not nil, counts handshakes.
	Observer Observer
	// Log receives refused handshakes; slog.Default() when nil.
	Log *slog.Logger

	cfg *tls.Config
}

// NewServer builds a Server; s's fields are kept. Its TLS configuration
// is made once and reads Sources at every handshake.
func NewServer(s Server) *Server {
	if s.Authorize == nil {
		s.Authorize = AnyMeshID
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultHandshakeTimeout
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	s.cfg = identity.ServerConfig(s.Sources, s.Authorize)
	return &s
}

// Handshake completes the server side of mesh TLS on c, whose ClientHello
// has been sniffed (and is still to be read), within the timeout, and
// returns the TLS connection and the verified identity of the client
// proxy. On failure c is left to the caller to close; the failure has
// been logged with its reason and counted.
func (s *Server) Handshake(c net.Conn) (*tls.Conn, identity.ID, error) {
	start := time.Now()
	tc := tls.Server(c, s.cfg)
	// A deadline rather than HandshakeContext: it bounds a client that
	// trickles its flight.
	c.SetDeadline(start.Add(s.Timeout))
	err := aside(tc.Handshake)
	var id identity.ID
	if err == nil {
		id, err = identity.PeerID(tc.ConnectionState())
	}
	c.SetDeadline(time.Time{})
	d := time.Since(start)
	reason := Reason(err)
	if s.Observer != nil {
		s.Observer.Handshake(Inbound, reason, d)
	}
	if err != nil {
		s.Log.Warn("mesh TLS handshake refused", "direction", Inbound, "from", c.RemoteAddr().String(), "reason", reason, "error", err)
		return nil, identity.ID{}, fmt.Errorf("mesh TLS handshake with %s: %w", c.RemoteAddr(), err)
	}
	return tc, id, nil
}

// Target is where a connection to a destination goes and whom it must
// reach.
type Target struct {
	Addr netip.AddrPort
	// ID is the identity the server must prove; zero means plain text
	// to Addr.
	ID identity.ID
}

// Resolver says where a connection to dst (an app's original destination,
// a Service's cluster IP or a pod's IP) goes; false means unknown, and the
// connection goes in plain text to dst as it would without the mesh.
type Resolver interface {
	Resolve(dst netip.AddrPort) (Target, bool)
}

// Dialer connects the outbound side upstream: through mesh TLS to a
// destination the Resolver knows as meshed, in plain text otherwise. Its
// DialContext is the Dial hook of forward.Forwarder and listener.Server.
type Dialer struct {
	// Sources are the proxy's certificate and trust bundle.
	Sources identity.Sources
	// Resolver maps destinations to targets; nil dials everything in
	// plain text.
	Resolver Resolver
	// Dial opens TCP connections; a net.Dialer with a 5 s timeout when
	// nil.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds the handshake after the TCP connect;
	// DefaultHandshakeTimeout when zero.
	Timeout time.Duration
	// Observer, when not nil, counts handshakes.
	Observer Observer
	// Log receives failed handshakes; slog.Default() when nil.
	Log *slog.Logger
}

// DialContext connects to addr ("ip:port", the app's original
// destination). When the Resolver gives a Target with an identity, it
// connects to Target.Addr and completes mutual TLS in which the server
// must prove exactly that identity; the *tls.Conn it returns carries the
// app's bytes. A failed handshake is a failed dial: the app's request gets
// a 502, its opaque TCP connection closes.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	dst, err := netip.ParseAddrPort(addr)
	if err != nil || d.Resolver == nil {
		return d.dial(ctx, network, addr)
	}
	t, ok := d.Resolver.Resolve(dst)
	if !ok {
		return d.dial(ctx, network, addr)
	}
	if !t.Addr.IsValid() {
		t.Addr = dst
	}
	if t.ID.IsZero() {
		return d.dial(ctx, network, t.Addr.String())
	}
	start := time.Now()
	c, err := d.dial(ctx, network, t.Addr.String())
	if err != nil {
		return nil, err
	}
	tc := tls.Client(c, identity.ClientConfig(d.Sources, identity.ExpectPeer(t.ID)))
	timeout := d.Timeout
	if timeout == 0 {
		timeout = DefaultHandshakeTimeout
	}
	c.SetDeadline(start.Add(timeout))
	err = aside(func() error { return tc.HandshakeContext(ctx) })
	c.SetDeadline(time.Time{})
	reason := Reason(err)
	if d.Observer != nil {
		d.Observer.Handshake(Outbound, reason, time.Since(start))
	}
	if err != nil {
		c.Close()
		log := d.Log
		if log == nil {
			log = slog.Default()
		}
		log.Warn("mesh TLS handshake failed", "direction", Outbound, "destination", addr, "endpoint", t.Addr.String(),
			"peer", t.ID.String(), "reason", reason, "error", err)
		return nil, fmt.Errorf("mesh TLS to %s at %s for %s: %w", t.ID, t.Addr, addr, err)
	}
	return tc, nil
}

// aside runs a handshake on a goroutine of its own and waits for it. A
// handshake's certificate checks and key exchange (ML-KEM, ECDSA, X.509)
// need a goroutine stack of 16 to 32 KiB, and a goroutine keeps a grown
// stack for as long as it runs deep enough: the connection's own
// goroutine, which lives as long as the connection and waits for its
// next request some frames down the TLS read path, would keep 16 KiB
// rather than 8 (measured in bench-proxy: 0.5 MB per 64 connections on
// the inbound side). The short-lived one hands its stack back when it
// ends.
func aside(handshake func() error) error {
	done := make(chan error, 1)
	go func() { done <- handshake() }()
	return <-done
}

func (d *Dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.Dial == nil {
		return (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
	}
	return d.Dial(ctx, network, addr)
}

// PeerOf is the identity the Resolver gives dst, if any: whom an
// outbound connection to dst must reach over mesh TLS.
func (d *Dialer) PeerOf(dst netip.AddrPort) (identity.ID, bool) {
	if d.Resolver == nil {
		return identity.ID{}, false
	}
	t, ok := d.Resolver.Resolve(dst)
	if !ok || t.ID.IsZero() {
		return identity.ID{}, false
	}
	return t.ID, true
}
