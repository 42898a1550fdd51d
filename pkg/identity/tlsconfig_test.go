package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// proxyEnd is one proxy's TLS state as mesh-proxy would hold it: the
// certificate and bundle behind atomic pointers, swapped on renewal and
// rotation.
type proxyEnd struct {
	id     ID
	cert   atomic.Pointer[tls.Certificate]
	bundle atomic.Pointer[Bundle]
}

func newEnd(t testing.TB, p *testPKI, id ID) *proxyEnd {
	t.Helper()
	e := &proxyEnd{id: id}
	e.issue(t, p, epoch())
	e.bundle.Store(p.bundle)
	return e
}

// issue gives the end a new certificate from p, valid from now.
func (e *proxyEnd) issue(t testing.TB, p *testPKI, now time.Time) {
	t.Helper()
	chain, key := p.leaf(t, e.id, now)
	c, err := TLSCertificate(chain, key)
	if err != nil {
		t.Fatal(err)
	}
	e.cert.Store(c)
}

func (e *proxyEnd) sources() Sources {
	return Sources{Certificate: e.cert.Load, Bundle: e.bundle.Load, Now: epoch}
}

// result is what each side of one connection saw.
type result struct {
	serverErr, clientErr error
	peer                 ID // the client identity the server saw
	echoed               string
}

// connect runs one connection over loopback TCP: a handshake on both
// sides, then the client sends a line the server echoes. Loopback rather
// than net.Pipe: in TLS 1.3 the client may finish its handshake before the
// server refuses the client's certificate, and the server's alert must not
// block on a reader that never comes.
func connect(t testing.TB, server, client *tls.Config) result {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var r result
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			r.serverErr = err
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		if r.serverErr = tc.HandshakeContext(ctx); r.serverErr != nil {
			return
		}
		r.peer, r.serverErr = PeerID(tc.ConnectionState())
		if r.serverErr != nil {
			return
		}
		// Only an authenticated, authorized peer's bytes reach "the app".
		buf := make([]byte, 5)
		if _, r.serverErr = io.ReadFull(tc, buf); r.serverErr == nil {
			_, r.serverErr = tc.Write(buf)
		}
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, client)
	if r.clientErr = tc.HandshakeContext(ctx); r.clientErr == nil {
		if _, r.clientErr = tc.Write([]byte("hello")); r.clientErr == nil {
			buf := make([]byte, 5)
			if _, r.clientErr = io.ReadFull(tc, buf); r.clientErr == nil {
				r.echoed = string(buf)
			}
		}
	}
	if r.clientErr != nil {
		c.Close() // unblock a server still waiting for the client
	}
	<-done
	return r
}

func allowAll(ID) error { return nil }

// TestMTLSHandshake: two proxies of one mesh connect, each learns the
// other's identity, and bytes flow.
func TestMTLSHandshake(t *testing.T) {
	p := newPKI(t, "cluster.local")
	buyer := newEnd(t, p, mustID(t, "cluster.local", "bookbuyer", "bookbuyer"))
	store := newEnd(t, p, mustID(t, "cluster.local", "bookstore", "bookstore"))
	var serverSaw ID
	r := connect(t,
		ServerConfig(store.sources(), func(peer ID) error { serverSaw = peer; return nil }),
		ClientConfig(buyer.sources(), ExpectPeer(store.id)))
	if r.serverErr != nil || r.clientErr != nil {
		t.Fatalf("server: %v; client: %v", r.serverErr, r.clientErr)
	}
	if r.peer != buyer.id || serverSaw != buyer.id {
		t.Errorf("server saw %s (PeerID) and %s (authorizer), want %s", r.peer, serverSaw, buyer.id)
	}
	if r.echoed != "hello" {
		t.Errorf("echoed %q", r.echoed)
	}
}

// TestMTLSRefusesAttacks: each connection is one way of being the wrong
// peer or speaking the wrong protocol; the side named refuses it with its
// reason, and the server's app reads nothing.
func TestMTLSRefusesAttacks(t *testing.T) {
	p := newPKI(t, "cluster.local")
	buyer := newEnd(t, p, mustID(t, "cluster.local", "bookbuyer", "bookbuyer"))
	store := newEnd(t, p, mustID(t, "cluster.local", "bookstore", "bookstore"))
	thief := newEnd(t, p, mustID(t, "cluster.local", "bookthief", "bookthief"))
	stranger := newEnd(t, newPKI(t, "cluster.local"), store.id)
	expired := newEnd(t, p, store.id)
	expiredLeaf := workloadTemplate(store.id.url())
	expiredLeaf.NotBefore, expiredLeaf.NotAfter = epoch().Add(-48*time.Hour), epoch().Add(-24*time.Hour)
	expired.cert.Store(must(TLSCertificate(p.forged(t, expiredLeaf))))
	// The intruder's certificate is from another mesh (same trust domain
	// name, same identity as buyer); it trusts our mesh's anchor, so the
	// refusal is the server's.
	intruder := newEnd(t, newPKI(t, "cluster.local"), buyer.id)
	intruder.bundle.Store(p.bundle)
	notYet := newEnd(t, p, store.id)
	notYetLeaf := workloadTemplate(store.id.url())
	notYetLeaf.NotBefore, notYetLeaf.NotAfter = epoch().Add(time.Hour), epoch().Add(24*time.Hour)
	notYet.cert.Store(must(TLSCertificate(p.forged(t, notYetLeaf))))
	// A server in another trust domain, signed by our own issuer so that
	// only the trust-domain check stands in the way (the client's
	// authorizer lets every identity through).
	foreign := newEnd(t, p, store.id)
	foreign.cert.Store(must(TLSCertificate(p.forged(t, workloadTemplate(mustID(t, "evil.example", "bookstore", "bookstore").url())))))
	// Servers that are not mesh proxies: a valid mesh certificate, but
	// TLS 1.2 only, or no ALPN.
	plainServer := func(f func(*tls.Config)) *tls.Config {
		c := &tls.Config{Certificates: []tls.Certificate{*store.cert.Load()}, NextProtos: []string{ALPN}, ClientAuth: tls.RequireAnyClientCert}
		f(c)
		return c
	}
	noCert, noBundle := newEnd(t, p, store.id), newEnd(t, p, buyer.id)
	noCert.cert.Store(nil)
	noBundle.bundle.Store(nil)

	plainClient := func(f func(*tls.Config)) *tls.Config {
		c := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{ALPN}, MinVersion: tls.VersionTLS12}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return buyer.cert.Load(), nil }
		f(c)
		return c
	}
	server := ServerConfig(store.sources(), allowAll)

	for _, c := range []struct {
		name           string
		server, client *tls.Config
		serverRefuses  bool // else the client refuses
		reason         Reason
		message        string // for refusals crypto/tls makes itself
	}{
		{name: "server presents a valid certificate for another identity",
			server: ServerConfig(thief.sources(), allowAll), client: ClientConfig(buyer.sources(), ExpectPeer(store.id)), reason: ReasonPeerIdentity},
		{name: "server chains to another mesh's anchor",
			server: ServerConfig(stranger.sources(), allowAll), client: ClientConfig(buyer.sources(), ExpectPeer(store.id)), reason: ReasonUntrusted},
		{name: "server certificate expired",
			server: ServerConfig(expired.sources(), allowAll), client: ClientConfig(buyer.sources(), ExpectPeer(store.id)), reason: ReasonLeafExpired},
		{name: "server certificate not valid yet",
			server: ServerConfig(notYet.sources(), allowAll), client: ClientConfig(buyer.sources(), ExpectPeer(store.id)), reason: ReasonLeafNotYetValid},
		{name: "server in another trust domain",
			server: ServerConfig(foreign.sources(), allowAll), client: ClientConfig(buyer.sources(), allowAll), reason: ReasonTrustDomain},
		{name: "TLS 1.2 only server",
			server: plainServer(func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }), client: ClientConfig(buyer.sources(), ExpectPeer(store.id)), message: "protocol version"},
		{name: "server negotiates no ALPN",
			server: plainServer(func(c *tls.Config) { c.NextProtos = nil }), client: ClientConfig(buyer.sources(), ExpectPeer(store.id)), reason: ReasonALPN},
		{name: "client from another mesh",
			server: server, client: ClientConfig(intruder.sources(), ExpectPeer(store.id)), serverRefuses: true, reason: ReasonUntrusted},
		{name: "server's authorizer refuses the client",
			server: ServerConfig(store.sources(), func(ID) error { return errors.New("policy says no") }), client: ClientConfig(buyer.sources(), ExpectPeer(store.id)), serverRefuses: true, message: "policy says no"},
		{name: "client without certificate",
			server: server, client: plainClient(func(c *tls.Config) { c.GetClientCertificate = nil }), serverRefuses: true, message: "client didn't provide a certificate"},
		{name: "TLS 1.2 only client",
			server: server, client: plainClient(func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }), serverRefuses: true, message: "unsupported versions"},
		{name: "client offers no ALPN",
			server: server, client: plainClient(func(c *tls.Config) { c.NextProtos = nil }), serverRefuses: true, reason: ReasonALPN},
		{name: "client offers another ALPN",
			server: server, client: plainClient(func(c *tls.Config) { c.NextProtos = []string{"h2", "http/1.1"} }), serverRefuses: true, message: "application protocol"},
		{name: "server has no certificate yet",
			server: ServerConfig(noCert.sources(), allowAll), client: ClientConfig(buyer.sources(), ExpectPeer(store.id)), serverRefuses: true, reason: ReasonNoCertificate},
		{name: "client has no certificate yet",
			server: server, client: ClientConfig(Sources{Bundle: buyer.bundle.Load, Now: epoch}, ExpectPeer(store.id)), reason: ReasonNoCertificate},
		{name: "client has no bundle yet",
			server: server, client: ClientConfig(noBundle.sources(), ExpectPeer(store.id)), reason: ReasonNoBundle},
		{name: "server without authorizer",
			server: ServerConfig(store.sources(), nil), client: ClientConfig(buyer.sources(), ExpectPeer(store.id)), serverRefuses: true, reason: ReasonPeerIdentity},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := connect(t, c.server, c.client)
			err, side := r.clientErr, "client"
			if c.serverRefuses {
				err, side = r.serverErr, "server"
			}
			if err == nil {
				t.Fatalf("the %s accepted the connection (server: %v; client: %v)", side, r.serverErr, r.clientErr)
			}
			if c.reason != 0 {
				wantReason(t, err, c.reason)
			}
			if c.message != "" && !strings.Contains(err.Error(), c.message) {
				t.Errorf("%s error %q, want it to say %q", side, err, c.message)
			}
			if r.echoed != "" || !r.peer.IsZero() {
				t.Errorf("bytes reached the app (%q) or a peer was accepted (%s)", r.echoed, r.peer)
			}
		})
	}
}

// TestMTLSRotationWithoutRebuild: the same configurations follow a
// renewed certificate and a rotated bundle, read at each handshake.
func TestMTLSRotationWithoutRebuild(t *testing.T) {
	old, next := newPKI(t, "cluster.local"), newPKI(t, "cluster.local")
	both, err := NewBundle("cluster.local", append(old.anchor.CertificatePEM(), next.anchor.CertificatePEM()...))
	if err != nil {
		t.Fatal(err)
	}
	buyer := newEnd(t, old, mustID(t, "cluster.local", "bookbuyer", "bookbuyer"))
	store := newEnd(t, old, mustID(t, "cluster.local", "bookstore", "bookstore"))
	server := ServerConfig(store.sources(), allowAll)
	client := ClientConfig(buyer.sources(), ExpectPeer(store.id))
	step := func(name string, wantOK bool) {
		t.Helper()
		r := connect(t, server, client)
		if ok := r.serverErr == nil && r.clientErr == nil; ok != wantOK {
			t.Errorf("%s: connected=%v, want %v (server: %v; client: %v)", name, ok, wantOK, r.serverErr, r.clientErr)
		}
	}
	step("before rotation", true)
	buyer.bundle.Store(both)
	store.bundle.Store(both)
	store.issue(t, next, epoch()) // the store renews from the new anchor first
	step("overlap: old client leaf, new server leaf", true)
	store.bundle.Store(next.bundle)
	step("server dropped the old anchor, client leaf still old", false)
	buyer.issue(t, next, epoch())
	step("client renewed from the new anchor", true)
	buyer.bundle.Store(next.bundle)
	store.issue(t, old, epoch())
	step("server presents a leaf from the dropped anchor", false)
}

// BenchmarkHandshake: one full mutual TLS 1.3 handshake between two
// proxies over net.Pipe, both sides, certificate verification and
// authorization included.
func BenchmarkHandshake(b *testing.B) {
	p := newPKI(b, "cluster.local")
	buyer := newEnd(b, p, mustID(b, "cluster.local", "bookbuyer", "bookbuyer"))
	store := newEnd(b, p, mustID(b, "cluster.local", "bookstore", "bookstore"))
	server := ServerConfig(store.sources(), allowAll)
	client := ClientConfig(buyer.sources(), ExpectPeer(store.id))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sc, cc := net.Pipe()
		errc := make(chan error, 1)
		go func() { errc <- tls.Server(sc, server).HandshakeContext(ctx) }()
		if err := tls.Client(cc, client).HandshakeContext(ctx); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		sc.Close()
		cc.Close()
	}
}

// TestPeerIDNeedsACompleteHandshake: certificates in a state whose
// handshake did not complete were never verified, and name no peer.
func TestPeerIDNeedsACompleteHandshake(t *testing.T) {
	p := newPKI(t, "cluster.local")
	id := mustID(t, "cluster.local", "a", "b")
	chain, key := p.leaf(t, id, epoch())
	cert := must(TLSCertificate(chain, key))
	if got, err := PeerID(tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{cert.Leaf}}); err != nil || got != id {
		t.Fatalf("complete handshake: %v, %v", got, err)
	}
	got, err := PeerID(tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}})
	if !got.IsZero() {
		t.Errorf("identity %s from an incomplete handshake", got)
	}
	wantReason(t, err, ReasonNoPeerCertificate)
}

// TestTLSCertificateRefuses: a chain without a usable key is an error,
// not a panic at the first handshake or here.
func TestTLSCertificateRefuses(t *testing.T) {
	p := newPKI(t, "cluster.local")
	chain, _ := p.leaf(t, mustID(t, "cluster.local", "a", "b"), epoch())
	for name, c := range map[string]struct {
		chain [][]byte
		key   *ecdsa.PrivateKey
	}{
		"no key":       {chain, nil},
		"another key":  {chain, mustKey(t)},
		"empty chain":  {nil, mustKey(t)},
		"leaf not DER": {[][]byte{[]byte("x")}, mustKey(t)},
	} {
		if cert, err := TLSCertificate(c.chain, c.key); err == nil || cert != nil {
			t.Errorf("%s: %v, %v", name, cert, err)
		}
	}
}
