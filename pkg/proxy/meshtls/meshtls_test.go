package meshtls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/meshctl/meshctl/internal/golden"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
)

type resolver map[netip.AddrPort]Target

func (r resolver) Resolve(dst netip.AddrPort) (Target, bool) {
	t, ok := r[dst]
	return t, ok
}

type handshakes map[string]int

func (h handshakes) Handshake(direction, result string, _ time.Duration) { h[direction+" "+result]++ }

func mustID(t *testing.T, ns, sa string) identity.ID {
	t.Helper()
	id, err := identity.NewID(identity.DefaultTrustDomain, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// listen accepts connections on loopback and hands each to serve.
func listen(t *testing.T, serve func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// TestDialer: a meshed destination gets mutual TLS with the server's
// identity verified both ways; an unknown one, or one the resolver knows
// without an identity, gets plain text, to Target.Addr when it has one.
func TestDialer(t *testing.T) {
	ca := identitytest.NewCA(t, time.Now())
	client, server := mustID(t, "ns-a", "sa-a"), mustID(t, "ns-b", "sa-b")
	srv := NewServer(Server{Sources: ca.Sources(ca.Leaf(t, server, time.Now(), 0))})
	peers := make(chan identity.ID, 1)
	meshed := listen(t, func(c net.Conn) {
		defer c.Close()
		tc, id, err := srv.Handshake(c)
		if err != nil {
			return
		}
		peers <- id
		io.WriteString(tc, "mesh")
		tc.Close()
	})
	plain := listen(t, func(c net.Conn) { io.WriteString(c, "plain"); c.Close() })
	obs := handshakes{}
	d := &Dialer{Sources: ca.Sources(ca.Leaf(t, client, time.Now(), 0)), Observer: obs, Resolver: resolver{
		netip.MustParseAddrPort("198.18.0.1:80"): {Addr: meshed, ID: server},
		netip.MustParseAddrPort("198.18.0.2:80"): {Addr: plain},
	}}
	for _, tc := range []struct{ dst, want string }{
		{"198.18.0.1:80", "mesh"},
		{"198.18.0.2:80", "plain"},
		{plain.String(), "plain"},
	} {
		t.Run(tc.dst, func(t *testing.T) {
			c, err := d.DialContext(context.Background(), "tcp", tc.dst)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, _ := io.ReadAll(c)
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if _, isTLS := c.(*tls.Conn); isTLS != (tc.want == "mesh") {
				t.Fatalf("%T for %s", c, tc.want)
			}
		})
	}
	if id := <-peers; id != client {
		t.Fatalf("the server saw %v, want %v", id, client)
	}
	if obs["outbound ok"] != 1 {
		t.Fatalf("handshakes %v, want one outbound ok", obs)
	}
}

// TestServerHandshakeTimesOut: a client that opens a connection and
// trickles nothing is dropped after the timeout, not held.
func TestServerHandshakeTimesOut(t *testing.T) {
	ca := identitytest.NewCA(t, time.Now())
	obs := handshakes{}
	srv := NewServer(Server{Sources: ca.Sources(ca.Leaf(t, mustID(t, "ns-b", "sa-b"), time.Now(), 0)), Timeout: 50 * time.Millisecond, Observer: obs})
	errs := make(chan error, 1)
	addr := listen(t, func(c net.Conn) {
		defer c.Close()
		_, _, err := srv.Handshake(c)
		errs <- err
	})
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-errs; err == nil || Reason(err) != "timeout" {
		t.Fatalf("Handshake = %v (%s); want a timeout", err, Reason(err))
	}
	if obs["inbound timeout"] != 1 {
		t.Fatalf("handshakes %v", obs)
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ResultOK},
		{fmt.Errorf("peer x not authorized: %w", fmt.Errorf("wrapped: %w", identity.ReasonPeerIdentity)), "peer_identity"},
		{identity.ReasonLeafExpired, "leaf_expired"},
		{identity.ReasonTrustDomain, "trust_domain"},
		{&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, "remote_refused"},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "not_tls"},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, "timeout"},
		{io.EOF, "closed"},
		{errors.New("tls: client didn't provide a certificate"), "no_peer_certificate"},
		{errors.New("tls: client offered only unsupported versions: [303]"), "version"},
		{errors.New("tls: something else"), "protocol"},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestReasonsDocumented holds docs/configuration.md#metrics to Reason's
// closed set of results.
func TestReasonsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	results := []string{ResultOK, "remote_refused", "not_tls", "timeout", "closed", "version", "protocol"}
	for _, r := range peerReasons {
		results = append(results, r.label)
	}
	for _, r := range results {
		if !strings.Contains(string(doc), "`"+r+"`") {
			t.Errorf("docs/configuration.md does not document the handshake result `%s`", r)
		}
	}
}
