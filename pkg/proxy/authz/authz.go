// Package authz is where mesh-proxy applies the mesh's authorization on
// its inbound side: the Policy of its own identity, swapped atomically as
// the controller's channel delivers new ones, the decisions the listener
// and the inbound pipeline ask of it (pkg/policy decides; this package
// holds, counts and logs), the app's own kubelet probes let through, and
// the opaque TCP connections it closes when a new policy no longer allows
// them.
package authz

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Recorder counts denials; telemetry.Metrics implements it. peer is the
// caller's identity in short form, or "" for plain text.
type Recorder interface {
	Denied(direction, protocol, peer string, reason policy.Reason)
}

// Protocols of a denial, the metric's label.
const (
	ProtocolHTTP = "http"
	ProtocolTCP  = "tcp"
)

// Reasons this package adds to the policy's.
const (
	// ReasonNoPolicyYet: denied, the proxy has not yet received the
	// mesh's policy from the controller (it is not ready then either).
	ReasonNoPolicyYet policy.Reason = "no-policy-yet"
	// ReasonProbe: allowed, the request is one of the app's own kubelet
	// probes.
	ReasonProbe policy.Reason = "probe"
)

// Authorizer holds the proxy's policy. The zero value allows everything
// until its first Set, and so does Set(nil): a proxy whose controller
// sends no policy (an older one) behaves as before authorization existed.
type Authorizer struct {
	// Log gets a line per denied connection and per revoked one; nil
	// discards.
	Log *slog.Logger
	// Record counts denials; nil counts nothing.
	Record Recorder
	// Probes are the app's own kubelet probes, which pass whatever the
	// policy says: the kubelet has no mesh identity.
	Probes wire.ProbeSet

	// st is what decides, swapped as one: a decision never sees a new
	// policy with an old waiting flag.
	st atomic.Pointer[state]

	// mu orders Set's sweep against TCP's decide-and-track, so that no
	// connection allowed by the old policy escapes the new one's sweep.
	mu    sync.Mutex
	conns map[*tracked]struct{}
}

// state is the policy in force; nil allows everything. waiting denies
// everything (Waiting, until the first Set).
type state struct {
	p       *policy.Policy
	waiting bool
}

// Waiting returns an Authorizer that denies everything until its first
// Set: a proxy whose pod IP is reached directly before the controller's
// first snapshot must not let through what the policy may forbid.
func Waiting(log *slog.Logger) *Authorizer {
	a := &Authorizer{Log: log}
	a.st.Store(&state{waiting: true})
	return a
}

func (a *Authorizer) state() state {
	if s := a.st.Load(); s != nil {
		return *s
	}
	return state{}
}

// tracked is an open opaque TCP connection, or a long-lived HTTP request
// (req set), decided when it opened and again whenever the policy
// changes.
type tracked struct {
	src   identity.ID
	ip    netip.Addr
	port  uint16
	req   *policy.Request
	close func()
}

// decide is t's decision under p.
func (t *tracked) decide(p *policy.Policy) policy.Decision {
	if t.req != nil {
		return p.HTTP(t.req)
	}
	return p.TCP(t.src, t.ip, t.port)
}

func (t *tracked) protocol() string {
	if t.req != nil {
		return ProtocolHTTP
	}
	return ProtocolTCP
}

// Policy is the policy in force; nil allows everything. While Waiting it
// is a policy that allows nothing.
func (a *Authorizer) Policy() *policy.Policy {
	st := a.state()
	if st.waiting {
		// Permissive mode off and no rule: nothing is allowed.
		return &policy.Policy{}
	}
	return st.p
}

// Set puts p in force, and closes every tracked connection and ends
// every tracked request p does not allow: a revoked permission ends a
// long-lived connection, a WebSocket or an HTTP/2 stream too, not only
// the next one.
func (a *Authorizer) Set(p *policy.Policy) {
	a.mu.Lock()
	a.st.Store(&state{p: p})
	type revoke struct {
		t      *tracked
		reason policy.Reason
	}
	var revoked []revoke
	if p != nil {
		for t := range a.conns {
			if d := t.decide(p); !d.Allow {
				revoked = append(revoked, revoke{t, d.Reason})
				delete(a.conns, t)
			}
		}
	}
	a.mu.Unlock()
	for _, r := range revoked {
		what := "connection closed: the policy no longer allows it"
		args := []any{"direction", "inbound", "peer", peerName(r.t.src), "source", r.t.ip.String(), "port", r.t.port, "reason", string(r.reason)}
		if r.t.req != nil {
			what = "request ended: the policy no longer allows it"
			args = append(args, "method", r.t.req.Method)
		}
		a.log().Info(what, args...)
		a.record(r.t.protocol(), r.t.src, r.reason)
		r.t.close()
	}
}

func (a *Authorizer) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func (a *Authorizer) record(protocol string, src identity.ID, reason policy.Reason) {
	if a.Record != nil {
		a.Record.Denied("inbound", protocol, peerName(src), reason)
	}
}

func peerName(src identity.ID) string {
	if src.IsZero() {
		return ""
	}
	return src.Short()
}

// rawPath is a request-target without its query, as probes are matched.
func rawPath(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		return target[:i]
	}
	return target
}

// AllowsTCP says whether an opaque TCP connection would be allowed, without
// a log line or a count.
func (a *Authorizer) AllowsTCP(src identity.ID, ip netip.Addr, port uint16) bool {
	st := a.state()
	return !st.waiting && (st.p == nil || st.p.TCP(src, ip, port).Allow)
}

// MayConnect says whether a new connection from src (zero for plain
// text) at ip to port may go on: whether anything could allow it,
// including the app's probes on their port. A connection nothing allows
// is closed before the app is dialed; the denial is logged and counted.
func (a *Authorizer) MayConnect(src identity.ID, ip netip.Addr, port uint16) bool {
	st := a.state()
	reason := policy.ReasonSourceNotAllowed
	switch {
	case st.waiting:
		reason = ReasonNoPolicyYet
	case st.p == nil || st.p.MayConnect(src, ip, port):
		return true
	case src.IsZero() && a.Probes.HasPort(port):
		// It may be the kubelet's probe: each request is decided.
		return true
	case src.IsZero():
		reason = policy.ReasonNoIdentity
	}
	a.log().Info("connection refused by policy", "direction", "inbound", "peer", peerName(src), "source", ip.String(), "port", port, "reason", string(reason))
	a.record(ProtocolTCP, src, reason)
	return false
}

// TCP decides on an opaque TCP connection before any of its bytes reaches
// the app. When allowed, it is tracked until untrack is called, and
// closed (with close) if a later policy denies it.
func (a *Authorizer) TCP(src identity.ID, ip netip.Addr, port uint16, close func()) (allowed bool, untrack func()) {
	a.mu.Lock()
	st := a.state()
	reason := ReasonNoPolicyYet
	if !st.waiting {
		if st.p == nil {
			reason = ""
		} else if d := st.p.TCP(src, ip, port); d.Allow {
			reason = ""
		} else {
			reason = d.Reason
		}
	}
	if reason != "" {
		a.mu.Unlock()
		a.log().Info("connection refused by policy", "direction", "inbound", "peer", peerName(src), "source", ip.String(), "port", port, "reason", string(reason))
		a.record(ProtocolTCP, src, reason)
		return false, func() {}
	}
	t := &tracked{src: src, ip: ip, port: port, close: close}
	if a.conns == nil {
		a.conns = map[*tracked]struct{}{}
	}
	a.conns[t] = struct{}{}
	a.mu.Unlock()
	return true, func() {
		a.mu.Lock()
		delete(a.conns, t)
		a.mu.Unlock()
	}
}

// HTTP decides on one request; a denial is counted, and the caller
// answers 403. It takes the request by value, so that calling it through
// an interface does not move the request to the heap: it allocates
// nothing on an allowed request whose path is already normal.
func (a *Authorizer) HTTP(req policy.Request) policy.Decision {
	r := &req
	if a.Probes.Matches(r.Method, r.Port, rawPath(r.Target)) {
		return policy.Decision{Allow: true, Reason: ReasonProbe}
	}
	st := a.state()
	switch {
	case st.waiting:
		a.record(ProtocolHTTP, r.Source, ReasonNoPolicyYet)
		return policy.Decision{Reason: ReasonNoPolicyYet}
	case st.p == nil:
		return policy.Decision{Allow: true, Reason: policy.ReasonPermissive}
	}
	d := st.p.HTTP(r)
	if !d.Allow {
		a.record(ProtocolHTTP, r.Source, d.Reason)
	}
	return d
}

// LongHTTP is HTTP for a request that may outlive the policy in force
// (an upgrade to a WebSocket, an HTTP/2 stream): when allowed, it is
// tracked until untrack is called, and ended with cancel if a later
// policy denies it, as opaque TCP connections are. The app's probes and
// a proxy without policy track nothing.
func (a *Authorizer) LongHTTP(req policy.Request, cancel func()) (d policy.Decision, untrack func()) {
	a.mu.Lock()
	d = a.HTTP(req)
	st := a.state()
	if !d.Allow || d.Reason == ReasonProbe || st.p == nil {
		a.mu.Unlock()
		return d, func() {}
	}
	t := &tracked{src: req.Source, ip: req.SourceIP, port: req.Port, req: &req, close: cancel}
	if a.conns == nil {
		a.conns = map[*tracked]struct{}{}
	}
	a.conns[t] = struct{}{}
	a.mu.Unlock()
	return d, func() {
		a.mu.Lock()
		delete(a.conns, t)
		a.mu.Unlock()
	}
}

// Allows is HTTP's answer without counting a denial: for a path that
// hands a denied request to another, which decides again and counts.
func (a *Authorizer) Allows(req policy.Request) bool {
	r := &req
	if a.Probes.Matches(r.Method, r.Port, rawPath(r.Target)) {
		return true
	}
	st := a.state()
	return !st.waiting && (st.p == nil || st.p.HTTP(r).Allow)
}

// Tracked is how many opaque TCP connections and long-lived requests are
// tracked, for tests.
func (a *Authorizer) Tracked() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.conns)
}
