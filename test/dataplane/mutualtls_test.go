package dataplane

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Pods of the mutual TLS test, and its controller.
const (
	mtlsClientIP   = "198.18.100.20"
	mtlsServerIP   = "198.18.100.21"
	mtlsDecoyIP    = "198.18.100.22"
	mtlsIntruderIP = "198.18.100.23"
	mtlsControlIP  = "198.18.100.30"
)

// TestMutualTLS: three mesh-proxy processes with identity, each with its
// certificate from a controller on the network and the controller's
// snapshot, speak mutual TLS to each other; clients that are not meshed
// proxies holding a valid certificate of the mesh are refused at the
// server's handshake, and a server that is not whom the snapshot says is
// refused at the client's. Nothing refused reaches an app.
//
// The attackers dial from an unmeshed pod (intruder) on the same switch:
// from the client pod, anything but the proxy's UID is redirected into the
// client's own proxy, which would speak for it. Either way the connection
// arrives at the server pod's app port and is redirected to its proxy.
func TestMutualTLS(t *testing.T) {
	requirePrerequisites(t)
	proxyBin := buildProxy(t)
	now := time.Now()
	// Three days old, so that it signs a leaf that has expired since.
	ca := identitytest.NewCA(t, now.Add(-72*time.Hour))
	id := func(td, sa string) identity.ID {
		t.Helper()
		id, err := identity.NewID(td, meshNamespace, sa)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	clientID, serverID := id(identity.DefaultTrustDomain, "mcli"), id(identity.DefaultTrustDomain, "msrv")

	tp := newTopology(t)
	ctlNS := tp.pod(t, "mctl", mtlsControlIP)
	clientNS := tp.pod(t, "mcli", mtlsClientIP)
	serverNS := tp.pod(t, "msrv", mtlsServerIP)
	decoyNS := tp.pod(t, "mdec", mtlsDecoyIP)
	intruderNS := tp.pod(t, "mevil", mtlsIntruderIP)

	pod := func(ip string, id identity.ID, bypass ...uint16) channel.Pod {
		return channel.Pod{IPs: []netip.Addr{netip.MustParseAddr(ip)}, Identity: id.String(), BypassPorts: bypass}
	}
	tokens := tokenReviewer{"token-of-mcli": "mcli", "token-of-msrv": "msrv", "token-of-mdec": "mdec"}
	ctl := startController(t, ctlNS, mtlsControlIP, ca, tokens, []channel.Pod{
		pod(mtlsClientIP, clientID, wire.AdminPort),
		pod(mtlsServerIP, serverID, booksAdminPort, wire.AdminPort),
		// The decoy runs as mdec and holds mdec's certificate; the
		// snapshot says msrv, as when a pod IP is reused by another
		// workload before the controller has seen it.
		pod(mtlsDecoyIP, serverID, booksAdminPort, wire.AdminPort),
	})

	base := wire.Interception{InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, ProxyUID: wire.ProxyUID}
	appIC := base
	appIC.SkipInboundPorts = []int32{booksAdminPort}
	meshPodWithIdentity(t, proxyBin, clientNS, "mcli", mtlsClientIP, base, ctl, identityDir(t, "token-of-mcli", ca), "")
	meshPodWithIdentity(t, proxyBin, serverNS, "msrv", mtlsServerIP, appIC, ctl, identityDir(t, "token-of-msrv", ca), "counting")
	meshPodWithIdentity(t, proxyBin, decoyNS, "mdec", mtlsDecoyIP, appIC, ctl, identityDir(t, "token-of-mdec", ca), "counting")

	// The observer reads admin ports and the apps' counts from the
	// unmeshed intruder pod, where nothing is intercepted.
	obsDial := dialer(t, intruderNS)
	obs := &world{dial: obsDial, client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: obsDial, DisableKeepAlives: true}}}
	for _, ip := range []string{mtlsClientIP, mtlsServerIP, mtlsDecoyIP} {
		waitFor(t, "the proxy in "+ip+" to be ready (certificate, bundle, snapshot)", func() bool {
			resp, err := obs.client.Get(fmt.Sprintf("http://%s:%d%s", ip, wire.AdminPort, wire.ReadyPath))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	counts := func(t *testing.T, ip string) appCounts {
		t.Helper()
		_, body := obs.get(t, fmt.Sprintf("http://%s:%d/", ip, booksAdminPort), "")
		var c appCounts
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatalf("the counts of the app in %s: %v: %q", ip, err, body)
		}
		return c
	}
	nothingReached := func(t *testing.T, ip string, before appCounts) {
		t.Helper()
		// The proxy dials the app, if ever, before it closes the
		// client's connection, and the attack returns after that close.
		if after := counts(t, ip); after != before {
			t.Fatalf("the app in %s got %d connections, %d bytes and %d requests", ip, after.Conns-before.Conns, after.Bytes-before.Bytes, after.Requests-before.Requests)
		}
	}

	clientDial := dialer(t, clientNS)
	app := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: clientDial, DisableKeepAlives: true}}
	clientPeer := clientID.Short()
	const reqs = telemetry.MetricRequestsTotal

	t.Run("HTTP from the client's app through both proxies", func(t *testing.T) {
		labels := map[string]string{"direction": "inbound", "method": "GET", "peer": clientPeer, "status_class": "2xx", "tls": "true"}
		before, appBefore := obs.metric(t, mtlsServerIP, reqs, labels), counts(t, mtlsServerIP)
		resp, err := app.Get(fmt.Sprintf("http://%s:%d/", mtlsServerIP, booksPort))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "hello from the counting app" {
			t.Fatalf("%s: %q", resp.Status, body)
		}
		if got := obs.metricReaches(t, mtlsServerIP, reqs, labels, before+1); got != before+1 {
			t.Fatalf("the server's proxy counted %v inbound requests from %s over mutual TLS, want %v", got, clientPeer, before+1)
		}
		if after := counts(t, mtlsServerIP); after.Requests != appBefore.Requests+1 {
			t.Fatalf("the app served %d requests, want 1", after.Requests-appBefore.Requests)
		}
	})

	t.Run("opaque TCP from the client's app through both proxies", func(t *testing.T) {
		labels := map[string]string{"direction": "inbound", "peer": clientPeer, "tls": "true"}
		before := obs.metric(t, mtlsServerIP, telemetry.MetricTCPOpened, labels)
		c, err := clientDial(context.Background(), "tcp", net.JoinHostPort(mtlsServerIP, strconv.Itoa(echoPort)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("\x00opaque\xfe"))
		c.(*net.TCPConn).CloseWrite()
		if b, err := io.ReadAll(c); err != nil || string(b) != "echo:\x00opaque\xfe" {
			t.Fatalf("echo: %q, %v", b, err)
		}
		if got := obs.metricReaches(t, mtlsServerIP, telemetry.MetricTCPOpened, labels, before+1); got != before+1 {
			t.Fatalf("the server's proxy counted %v opaque connections from %s over mutual TLS, want %v", got, clientPeer, before+1)
		}
	})

	// The attackers trust the mesh's bundle and expect the server: they get
	// as far as a real client proxy would, and only their own credentials
	// differ.
	expectServer := identity.ExpectPeer(serverID)
	valid := ca.Leaf(t, clientID, now, 0)
	otherCA := identitytest.NewCA(t, now.Add(-time.Hour))
	withCert := func(cert *tls.Certificate) *tls.Config {
		return identity.ClientConfig(ca.Sources(cert), expectServer)
	}
	server := net.JoinHostPort(mtlsServerIP, strconv.Itoa(booksPort))

	t.Run("a valid client from outside the client pod gets through", func(t *testing.T) {
		// The control of the attacks below: the same path, a valid
		// certificate, and the app answers.
		before := counts(t, mtlsServerIP)
		got, err := exchange(obsDial, server, withCert(valid))
		if err != nil || !strings.HasPrefix(got, "HTTP/1.1 200 ") {
			t.Fatalf("got %q, %v", got, err)
		}
		if after := counts(t, mtlsServerIP); after.Requests != before.Requests+1 {
			t.Fatalf("the app served %d requests, want 1", after.Requests-before.Requests)
		}
	})

	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		reason string
	}{
		{"expired leaf", withCert(ca.Leaf(t, clientID, now.Add(-48*time.Hour), time.Hour)), "leaf_expired"},
		{"leaf not yet valid", withCert(ca.Leaf(t, clientID, now.Add(48*time.Hour), 0)), "leaf_not_yet_valid"},
		{"anchor not in the bundle", withCert(otherCA.Leaf(t, clientID, now, 0)), "untrusted"},
		{"another trust domain", withCert(ca.Leaf(t, id("evil.example", "mcli"), now, 0)), "trust_domain"},
		{"TLS 1.2 only", &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, NextProtos: []string{identity.ALPN},
			Certificates: []tls.Certificate{*valid}, InsecureSkipVerify: true}, "version"},
		{"no client certificate", &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{identity.ALPN}, InsecureSkipVerify: true},
			"no_peer_certificate"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			labels := map[string]string{"direction": "inbound", "result": tc.reason}
			before, appBefore := obs.metric(t, mtlsServerIP, telemetry.MetricHandshakes, labels), counts(t, mtlsServerIP)
			got, err := exchange(obsDial, server, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), "remote error") {
				t.Errorf("the server answered %q (%v): the handshake was not refused on the server's alert", got, err)
			}
			nothingReached(t, mtlsServerIP, appBefore)
			if after := obs.metricReaches(t, mtlsServerIP, telemetry.MetricHandshakes, labels, before+1); after != before+1 {
				t.Errorf("the server's proxy counted %v handshakes refused as %s, want %v", after, tc.reason, before+1)
			}
		})
	}

	t.Run("refused: a server that is not whom the snapshot says", func(t *testing.T) {
		labels := map[string]string{"direction": "outbound", "result": "peer_identity"}
		refusals, before := obs.metric(t, mtlsClientIP, telemetry.MetricHandshakes, labels), counts(t, mtlsDecoyIP)
		resp, err := app.Get(fmt.Sprintf("http://%s:%d/", mtlsDecoyIP, booksPort))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("HTTP to the decoy: %s %q, want 502", resp.Status, body)
		}
		c, err := clientDial(context.Background(), "tcp", net.JoinHostPort(mtlsDecoyIP, strconv.Itoa(echoPort)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("secret"))
		c.(*net.TCPConn).CloseWrite()
		if b, _ := io.ReadAll(c); len(b) != 0 {
			t.Errorf("opaque TCP to the decoy answered %q", b)
		}
		nothingReached(t, mtlsDecoyIP, before)
		if got := obs.metricReaches(t, mtlsClientIP, telemetry.MetricHandshakes, labels, refusals+2); got != refusals+2 {
			t.Errorf("the client's proxy counted %v handshakes refused for the peer's identity, want %v", got, refusals+2)
		}
	})
}

// exchange dials addr with dial, runs a TLS client with cfg and sends an
// HTTP request; it returns the response's first line, or the error that
// ended the exchange. A TLS 1.3 client finishes its handshake before the
// server has checked its certificate, so a refusal may come as the first
// read's error. It returns once the server has closed the connection.
func exchange(dial func(context.Context, string, string) (net.Conn, error), addr string, cfg *tls.Config) (string, error) {
	c, err := dial(context.Background(), "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		io.Copy(io.Discard, c)
		return "", err
	}
	io.WriteString(tc, "GET / HTTP/1.1\r\nHost: msrv\r\nConnection: close\r\n\r\n")
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil {
		io.Copy(io.Discard, c)
		return line, err
	}
	io.Copy(io.Discard, tc)
	return strings.TrimSpace(line), nil
}
