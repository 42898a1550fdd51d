package proxy

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/proxy/listener"
	"github.com/meshctl/meshctl/pkg/proxy/meshtls"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// serviceAddr is the destination the client app calls in these tests, a
// Service's cluster IP nothing listens on: proxy A's resolver sends it to
// proxy B over mesh TLS.
func serviceAddr() netip.AddrPort { return netip.MustParseAddrPort("198.18.0.10:80") }

// resolver is a fixed map of destinations, standing for the channel's
// snapshot.
type resolver map[netip.AddrPort]meshtls.Target

func (r resolver) Resolve(dst netip.AddrPort) (meshtls.Target, bool) {
	t, ok := r[dst]
	return t, ok
}

// testMesh is a mesh CA and the two workloads of these tests: A (the
// client, ns-a/sa-a) and B (the server, ns-b/sa-b).
type testMesh struct {
	ca       *identitytest.CA
	now      time.Time
	idA, idB identity.ID
}

func newTestMesh(t testing.TB) *testMesh {
	t.Helper()
	now := time.Now()
	// The CA dates from three days ago, so that it can sign a leaf
	// that has expired since.
	m := &testMesh{ca: identitytest.NewCA(t, now.Add(-72*time.Hour)), now: now}
	m.idA = m.id(t, identity.DefaultTrustDomain, "ns-a", "sa-a")
	m.idB = m.id(t, identity.DefaultTrustDomain, "ns-b", "sa-b")
	return m
}

func (m *testMesh) id(t testing.TB, td, ns, sa string) identity.ID {
	t.Helper()
	id, err := identity.NewID(td, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// server starts proxy B, holding idB, in front of app.
func (m *testMesh) server(t testing.TB, r wire.Run, app netip.AddrPort) *proxy {
	t.Helper()
	return startProxyWith(t, r, app, &Identity{Sources: m.ca.Sources(m.ca.Leaf(t, m.idB, m.now, 0)), Resolver: resolver{}, Self: m.idB})
}

// client starts proxy A, holding idA, whose app's connections to
// serviceAddr go to b's inbound port, where the server must be expect.
func (m *testMesh) client(t testing.TB, b *proxy, expect identity.ID) *proxy {
	t.Helper()
	res := resolver{serviceAddr(): {Addr: netip.MustParseAddrPort(b.addr(wire.InboundPort)), ID: expect}}
	return startProxyWith(t, run(), serviceAddr(), &Identity{Sources: m.ca.Sources(m.ca.Leaf(t, m.idA, m.now, 0)), Resolver: res, Self: m.idA})
}

// dialOutbound connects to p's outbound port as a redirected app
// connection would arrive, for at most 5 s of exchange.
func dialOutbound(t *testing.T, p *proxy) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", p.addr(wire.OutboundPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c.(*net.TCPConn)
}

// echoApp serves HTTP/1.1 and h2c and answers with the protocol it got,
// then the request body.
func echoApp(t *testing.T) netip.AddrPort {
	t.Helper()
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	app := &http.Server{Protocols: &p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Proto, body)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(ln)
	t.Cleanup(func() { app.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// countingApp is an app that counts the connections and bytes it gets,
// keeps the first bytes of each connection, and answers opaque TCP once
// its client has half-closed: "got <n> bytes".
type countingApp struct {
	addr  netip.AddrPort
	conns atomic.Int32
	bytes atomic.Int64
	first chan []byte
}

func newCountingApp(t *testing.T) *countingApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	a := &countingApp{addr: netip.MustParseAddrPort(ln.Addr().String()), first: make(chan []byte, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.conns.Add(1)
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				var n int64
				for {
					k, err := c.Read(buf)
					if k > 0 && n == 0 {
						a.first <- bytes.Clone(buf[:k])
					}
					n += int64(k)
					a.bytes.Add(int64(k))
					if err != nil {
						break
					}
				}
				fmt.Fprintf(c, "got %d bytes", n)
			}()
		}
	}()
	return a
}

// nothingReached fails if any connection or byte reached the app.
func (a *countingApp) nothingReached(t *testing.T) {
	t.Helper()
	if n, b := a.conns.Load(), a.bytes.Load(); n != 0 || b != 0 {
		t.Fatalf("the app got %d connections and %d bytes; want none", n, b)
	}
}

// accessLog waits up to 5 s for n access-log lines in p's log (the log
// is buffered) and returns them.
func accessLog(t *testing.T, p *proxy, n int) []map[string]any {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var lines []map[string]any
		for l := range strings.Lines(p.log.String()) {
			var line map[string]any
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			if line["msg"] == "request" {
				lines = append(lines, line)
			}
		}
		if len(lines) >= n || time.Now().After(deadline) {
			return lines
		}
	}
}

// TestMutualTLSBetweenProxies: the app's plain HTTP goes from proxy A to
// proxy B over mutual TLS on every path (lean, net/http, h2c), and each
// side names the other by its identity.
func TestMutualTLSBetweenProxies(t *testing.T) {
	m := newTestMesh(t)
	raw, heads := rawApp(t)
	b := m.server(t, run(), raw)
	a := m.client(t, b, m.idB)

	t.Run("lean path, one connection between proxies for both requests", func(t *testing.T) {
		c := dialOutbound(t, a)
		br := bufio.NewReader(c)
		for range 2 {
			io.WriteString(c, "GET /books HTTP/1.1\r\nHost: books\r\nx-probe: 1\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "books" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if head := <-heads; !strings.Contains(head, "\r\nx-probe: 1\r\n") {
				t.Fatalf("the app got\n%s\nnot from the lean paths (field names as sent)", head)
			}
		}
		waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
			telemetry.MetricRequestsTotal+`{direction="inbound",method="GET",peer="ns-a/sa-a",status_class="2xx",tls="true"} 2`,
			telemetry.MetricHandshakes+`{direction="inbound",result="ok"} 1`)
		waitForMetrics(t, "http://"+a.addr(wire.AdminPort)+"/metrics",
			telemetry.MetricRequestsTotal+`{direction="outbound",method="GET",peer="ns-b/sa-b",status_class="2xx",tls="true"} 2`,
			telemetry.MetricHandshakes+`{direction="outbound",result="ok"} 1`)
		for _, tc := range []struct {
			p         *proxy
			direction string
			peer      string
		}{{b, "inbound", "ns-a/sa-a"}, {a, "outbound", "ns-b/sa-b"}} {
			lines := accessLog(t, tc.p, 2)
			if len(lines) != 2 {
				t.Fatalf("%d access log lines from the %s side, want 2", len(lines), tc.direction)
			}
			for _, l := range lines {
				if l["direction"] != tc.direction || l["peer"] != tc.peer || l["tls"] != true {
					t.Fatalf("%s access log line %v: want peer %q and tls true", tc.direction, l, tc.peer)
				}
			}
		}
	})

	t.Run("plain text to the inbound port is still served", func(t *testing.T) {
		c := dialInbound(t, b)
		io.WriteString(c, "GET /plain HTTP/1.1\r\nHost: books\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("plain-text request: %v, %v", resp, err)
		}
		<-heads
		waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
			telemetry.MetricRequestsTotal+`{direction="inbound",method="GET",peer="port/`, `status_class="2xx",tls="false"} 1`)
	})
}

func TestMutualTLSNetHTTPAndH2C(t *testing.T) {
	m := newTestMesh(t)
	b := m.server(t, run(), echoApp(t))
	a := m.client(t, b, m.idB)
	url := "http://" + a.addr(wire.OutboundPort) + "/echo"

	t.Run("chunked upload takes net/http on both proxies", func(t *testing.T) {
		// A body of unknown length is sent chunked, which the lean path
		// hands to net/http.
		body := io.MultiReader(strings.NewReader("chunked "), strings.NewReader("body"))
		resp, err := http.Post(url, "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != "HTTP/1.1 chunked body" {
			t.Fatalf("got %d %q", resp.StatusCode, got)
		}
	})

	t.Run("h2c", func(t *testing.T) {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		client := &http.Client{Transport: &http.Transport{Protocols: &p}}
		defer client.CloseIdleConnections()
		resp, err := client.Post(url, "text/plain", strings.NewReader("h2 body"))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 || string(got) != "HTTP/2.0 h2 body" {
			t.Fatalf("got %s %d %q; want h2c end to end", resp.Proto, resp.StatusCode, got)
		}
	})
	waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
		telemetry.MetricRequestsTotal+`{direction="inbound",method="POST",peer="ns-a/sa-a",status_class="2xx",tls="true"} 2`)
}

// TestMutualTLSOpaqueTCP: bytes that are not HTTP pass through mesh TLS
// unchanged, and the app's half-close reaches the far app as the end of
// its stream (close_notify between the proxies), so request-then-wait
// protocols get their answer.
func TestMutualTLSOpaqueTCP(t *testing.T) {
	m := newTestMesh(t)
	app := newCountingApp(t)
	b := m.server(t, run(), app.addr)
	a := m.client(t, b, m.idB)

	c := dialOutbound(t, a)
	io.WriteString(c, "\x00opaque bytes")
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "got 13 bytes" {
		t.Fatalf("got %q, %v", got, err)
	}
	if first := <-app.first; string(first) != "\x00opaque bytes" {
		t.Fatalf("the app got %q", first)
	}
	waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
		telemetry.MetricTCPOpened+`{direction="inbound",peer="ns-a/sa-a",tls="true"} 1`)
	waitForMetrics(t, "http://"+a.addr(wire.AdminPort)+"/metrics",
		telemetry.MetricTCPOpened+`{direction="outbound",peer="ns-b/sa-b",tls="true"} 1`)
}

func TestMutualTLSWithJWT(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pt, _ := key.PublicKey.Bytes()
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "EC", "crv": "P-256", "kid": "k", "x": b64(pt[1:33]), "y": b64(pt[33:])}}})
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "https://issuer", "aud": "books", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k"
	good, _ := tok.SignedString(key)

	m := newTestMesh(t)
	raw, heads := rawApp(t)
	r := run()
	r.JWT = &wire.JWT{Issuer: "https://issuer", Audiences: []string{"books"}, JWKS: string(jwks)}
	b := m.server(t, r, raw)
	a := m.client(t, b, m.idB)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"valid", "Bearer " + good, http.StatusOK},
		{"none", "", http.StatusUnauthorized},
		{"bad signature", "Bearer " + good[:len(good)-4] + "AAAA", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialOutbound(t, a)
			req := "GET /books HTTP/1.1\r\nHost: books\r\n"
			if tc.auth != "" {
				req += "Authorization: " + tc.auth + "\r\n"
			}
			io.WriteString(c, req+"\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusOK {
				<-heads
			}
		})
	}
	select {
	case head := <-heads:
		t.Fatalf("the app got a request with a rejected token:\n%s", head)
	default:
	}
}

// refuse runs a client with cfg against b's inbound port and returns an
// error unless the server refuses the handshake: the client's own
// Handshake fails on the server's alert or, as a TLS 1.3 client finishes
// before the server has checked its certificate, the first read after a
// request gets that alert. It returns once b has closed the connection,
// after which b dials nothing for it.
func refuse(b *proxy, cfg *tls.Config) error {
	c, err := net.Dial("tcp", b.addr(wire.InboundPort))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, cfg)
	err = tc.Handshake()
	if err == nil {
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: books\r\n\r\n")
		var got []byte
		got, err = io.ReadAll(tc)
		if err == nil || len(got) > 0 {
			return fmt.Errorf("the server answered %q (%v): the handshake was not refused", got, err)
		}
	}
	if !strings.Contains(err.Error(), "remote error") {
		return fmt.Errorf("the client failed with %v, not on the server's alert", err)
	}
	// Wait for the server's side to close: then the app's counts are
	// final for this connection.
	if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
		return fmt.Errorf("waiting for the server to close: %w", err)
	}
	return nil
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

// TestMutualTLSRefusals: each client is refused at the handshake, the
// reason is counted, and not one byte reaches the app.
func TestMutualTLSRefusals(t *testing.T) {
	m := newTestMesh(t)
	app := newCountingApp(t)
	b := m.server(t, run(), app.addr)
	// The attackers trust the mesh's bundle and expect B: they get as far
	// as a real client proxy would, and only their own credentials differ.
	expectB := identity.ExpectPeer(m.idB)
	valid := m.ca.Leaf(t, m.idA, m.now, 0)
	otherCA := identitytest.NewCA(t, m.now.Add(-time.Hour))
	withCert := func(cert *tls.Certificate) *tls.Config {
		src := m.ca.Sources(cert)
		return identity.ClientConfig(src, expectB)
	}
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		reason string
	}{
		{"expired leaf", withCert(m.ca.Leaf(t, m.idA, m.now.Add(-48*time.Hour), time.Hour)), "leaf_expired"},
		{"leaf not yet valid", withCert(m.ca.Leaf(t, m.idA, m.now.Add(48*time.Hour), 0)), "leaf_not_yet_valid"},
		{"anchor not in the bundle", withCert(otherCA.Leaf(t, m.idA, m.now, 0)), "untrusted"},
		{"another trust domain", withCert(m.ca.Leaf(t, m.id(t, "evil.example", "ns-a", "sa-a"), m.now, 0)), "trust_domain"},
		{"TLS 1.2 only", &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, NextProtos: []string{identity.ALPN},
			Certificates: []tls.Certificate{*valid}, InsecureSkipVerify: true}, "version"},
		{"no client certificate", &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{identity.ALPN}, InsecureSkipVerify: true},
			"no_peer_certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refuse(b, tc.cfg)
			app.nothingReached(t)
			if err != nil {
				t.Fatal(err)
			}
			waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
				telemetry.MetricHandshakes+`{direction="inbound",result="`+tc.reason+`"} 1`)
		})
	}
	if strings.Contains(b.log.String(), `"msg":"request"`) {
		t.Fatalf("a refused client's request was served:\n%s", b.log.String())
	}
	// A valid client on the same proxy gets through: the refusals above
	// are the credentials', not the setup's.
	c, err := tls.Dial("tcp", b.addr(wire.InboundPort), withCert(valid))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "opaque")
	c.CloseWrite()
	if got, _ := io.ReadAll(c); string(got) != "got 6 bytes" {
		t.Fatalf("valid client: got %q", got)
	}
}

// TestMutualTLSOtherALPNIsTheAppsOwnTLS: a ClientHello that does not offer
// the mesh's ALPN is an app's own TLS (an unmeshed client's HTTPS): the
// proxy does not terminate it, whatever certificate the client holds, and
// passes its bytes to the app untouched, as opaque TCP.
func TestMutualTLSOtherALPNIsTheAppsOwnTLS(t *testing.T) {
	m := newTestMesh(t)
	app := newCountingApp(t)
	b := m.server(t, run(), app.addr)
	cfg := m.ca.Sources(m.ca.Leaf(t, m.idA, m.now, 0))
	client := identity.ClientConfig(cfg, identity.ExpectPeer(m.idB))
	client.NextProtos = []string{"h2", "http/1.1"}

	c, err := net.Dial("tcp", b.addr(wire.InboundPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	done := make(chan error, 1)
	go func() { done <- tls.Client(c, client).Handshake() }()
	var first []byte
	select {
	case first = <-app.first:
	case err := <-done:
		t.Fatalf("the handshake ended (%v) before the app got a byte", err)
	}
	if len(first) < 6 || first[0] != 22 || first[5] != 1 {
		t.Fatalf("the app got %q; want the client's ClientHello as it was sent", first)
	}
	c.Close()
	<-done
	waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
		telemetry.MetricTCPOpened+`{direction="inbound",peer="127.0.0.1:`, `tls="false"} 1`)
	if strings.Contains(b.log.String(), "mesh TLS") {
		t.Fatalf("the proxy took the app's TLS for mesh TLS:\n%s", b.log.String())
	}
}

// TestMutualTLSServerIsNotWhomResolveSaid: B holds a valid mesh
// certificate, but for another identity than the one A's resolver gives
// the destination (an endpoint IP reused by another workload): A refuses
// it at the handshake, the app's request gets a 502 and its opaque TCP
// connection closes, and nothing reaches B's app.
func TestMutualTLSServerIsNotWhomResolveSaid(t *testing.T) {
	m := newTestMesh(t)
	app := newCountingApp(t)
	b := m.server(t, run(), app.addr)
	a := m.client(t, b, m.id(t, identity.DefaultTrustDomain, "ns-b", "other-sa"))

	t.Run("HTTP gets 502", func(t *testing.T) {
		c := dialOutbound(t, a)
		io.WriteString(c, "GET /books HTTP/1.1\r\nHost: books\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d, want 502", resp.StatusCode)
		}
	})
	t.Run("opaque TCP is closed", func(t *testing.T) {
		c := dialOutbound(t, a)
		io.WriteString(c, "\x00opaque")
		c.CloseWrite()
		got, _ := io.ReadAll(c)
		if len(got) > 0 {
			t.Fatalf("got %q; want the connection closed", got)
		}
	})
	waitForMetrics(t, "http://"+a.addr(wire.AdminPort)+"/metrics",
		telemetry.MetricHandshakes+`{direction="outbound",result="peer_identity"} 2`)
	waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
		telemetry.MetricHandshakes+`{direction="inbound",result="remote_refused"} 2`)
	if !strings.Contains(a.log.String(), `"reason":"peer_identity"`) {
		t.Fatalf("A's log does not give the reason:\n%s", a.log.String())
	}
	app.nothingReached(t)
}

// TestMutualTLSSlowClientHello: a client proxy that sends its ClientHello
// only after the sniff timeout (a busy node, a pause of its runtime while
// it renews its certificate) still gets mutual TLS. The server first takes
// it for a silent client and connects to the app; the ClientHello then
// settles it as mesh TLS, not as plain HTTP answered with a 400.
func TestMutualTLSSlowClientHello(t *testing.T) {
	m := newTestMesh(t)
	app := newCountingApp(t)
	b := m.server(t, run(), app.addr)
	c, err := net.Dial("tcp", b.addr(wire.InboundPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	time.Sleep(3 * listener.DefaultSniffTimeout)
	tc := tls.Client(c, identity.ClientConfig(m.ca.Sources(m.ca.Leaf(t, m.idA, m.now, 0)), identity.ExpectPeer(m.idB)))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("a ClientHello after the sniff timeout: %v", err)
	}
	io.WriteString(tc, "opaque")
	tc.CloseWrite()
	if got, _ := io.ReadAll(tc); string(got) != "got 6 bytes" {
		t.Fatalf("got %q", got)
	}
	waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics", telemetry.MetricHandshakes+`{direction="inbound",result="ok"} 1`)
}
