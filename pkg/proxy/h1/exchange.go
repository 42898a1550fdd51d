package h1

import (
	"bufio"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
)

// Inflight holds the upstream connection of a downstream connection's
// exchange in flight, so that the server can abort it: Shutdown must not
// wait without end for an app that never answers. Methods of a nil
// *Inflight do nothing.
type Inflight struct {
	mu      sync.Mutex
	c       io.Closer
	aborted bool
}

// Set registers c as the exchange's upstream connection. It returns false
// after Abort: the caller closes c and gives up.
func (u *Inflight) Set(c io.Closer) bool {
	if u == nil {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.aborted {
		return false
	}
	u.c = c
	return true
}

// Clear ends the exchange's use of its upstream connection. It returns
// false if Abort closed it meanwhile.
func (u *Inflight) Clear() bool {
	if u == nil {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.c = nil
	return !u.aborted
}

// Abort closes the registered upstream connection, and any set later, so
// that the exchange fails at once.
func (u *Inflight) Abort() {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.aborted = true
	if u.c != nil {
		u.c.Close()
		u.c = nil
	}
}

// Exchange is one request of a downstream connection on the lean path and
// what became of it. The connection's loop fills in the request side; the
// handlers fill in the rest.
type Exchange struct {
	Request
	// Dst is where the downstream connection was going, and Src where it
	// came from.
	Dst, Src netip.AddrPort
	// In reads the downstream connection: the head, then, once
	// committed, the body.
	In *bufio.Reader
	// Out writes the response downstream.
	Out *bufio.Writer
	// Inflight, when not nil, is where the handler registers its
	// upstream connection while it uses it.
	Inflight *Inflight
	// Peer is who is at the other end as mesh TLS has it: the verified
	// client (inbound) or the identity required of the server (outbound
	// to a meshed destination); zero otherwise. PeerName is its Short
	// form, made once per connection. MTLS says the exchange came (or
	// goes) over mutual TLS between proxies.
	Peer     identity.ID
	PeerName string
	MTLS     bool

	// Trace is the trace context the request goes upstream with, when
	// Traced.
	Trace  propagation.TraceContext
	Traced bool

	// Status, BytesSent (of the response body) and Upstream (from sending
	// the request to the response head) are what happened.
	Status    int
	BytesSent int64
	Upstream  time.Duration
	// Started says the response head has been written downstream; after
	// a failure, the connection can then only be closed.
	Started bool

	committed bool
}

// Commit consumes the head: from then on the request cannot be handed
// off.
func (x *Exchange) Commit() {
	if !x.committed {
		x.committed = true
		x.Request.Commit(x.In)
	}
}

// WriteBadGateway answers an exchange whose upstream failed before
// anything was sent downstream.
func (x *Exchange) WriteBadGateway() error {
	x.Status, x.Started = 502, true
	x.Out.WriteString("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n")
	if x.Close {
		x.Out.WriteString("Connection: close\r\n")
	}
	x.Out.WriteString("\r\n")
	return x.Out.Flush()
}

// Handler serves exchanges of the lean path. ServeH1 returns ErrHandoff,
// without committing, for a request the general path must serve.
type Handler interface {
	ServeH1(x *Exchange) error
}
