package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/proxy/authz"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// upgradeApp answers GET /books with an upgrade to an echo protocol (a
// WebSocket in all but framing) and, over h2c, with a stream that sends a
// line every 50 ms until the client goes.
func upgradeApp(t *testing.T) *http.Server {
	t.Helper()
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "echo" {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			brw.Flush()
			io.Copy(c, brw)
			return
		}
		for {
			if _, err := io.WriteString(w, "tick\n"); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})}
	return srv
}

func waitTracked(t *testing.T, az *authz.Authorizer, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for az.Tracked() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d tracked, want %d", az.Tracked(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAuthorizationRevokesUpgradesAndStreams: a WebSocket-like upgraded
// connection and an HTTP/2 stream, both allowed when they began, end
// when a new policy no longer allows the request that began them, as
// opaque TCP connections do; before, they outlived any revocation.
func TestAuthorizationRevokesUpgradesAndStreams(t *testing.T) {
	m := newTestMesh(t)
	srv := upgradeApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	appAddr := netip.MustParseAddrPort(ln.Addr().String())

	t.Run("upgrade", func(t *testing.T) {
		az := authz.Waiting(nil)
		az.Set(compiled(t, m, false, false, 0))
		b := m.serverWithPolicy(t, appAddr, az)
		a := m.client(t, b, m.idB)
		c := dialOutbound(t, a)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /books HTTP/1.1\r\nHost: books\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		io.WriteString(c, "ping\n")
		if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
			t.Fatalf("echo over the upgraded connection: %q %v", line, err)
		}
		waitTracked(t, az, 1)
		// Another rule change that still allows it leaves it open.
		az.Set(compiled(t, m, false, true, 9))
		io.WriteString(c, "still\n")
		if line, err := br.ReadString('\n'); err != nil || line != "still\n" {
			t.Fatalf("a policy that still allows the upgrade cut it: %q %v", line, err)
		}
		az.Set(&policy.Policy{}) // nothing allowed
		rest, err := io.ReadAll(br)
		if err != nil {
			t.Fatalf("the revoked upgrade did not end: %v (read %q)", err, rest)
		}
		waitTracked(t, az, 0)
		waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
			telemetry.MetricDenied+`{direction="inbound",peer="ns-a/sa-a",protocol="http",reason="source-not-allowed"} 1`)
	})

	t.Run("HTTP/2 stream", func(t *testing.T) {
		az := authz.Waiting(nil)
		az.Set(compiled(t, m, false, false, 0))
		b := m.serverWithPolicy(t, appAddr, az)
		a := m.client(t, b, m.idB)
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		client := &http.Client{Transport: &http.Transport{Protocols: &p, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return net.Dial("tcp", a.addr(wire.OutboundPort))
		}}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://books/books", nil)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("the stream: %v %v", resp, err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); err != nil || line != "tick\n" {
			t.Fatalf("first line of the stream: %q %v", line, err)
		}
		waitTracked(t, az, 1)
		az.Set(&policy.Policy{}) // nothing allowed
		start := time.Now()
		for {
			if _, err := br.ReadString('\n'); err != nil {
				if ctx.Err() != nil {
					t.Fatal("the revoked stream did not end")
				}
				break
			}
		}
		t.Logf("the revoked stream ended %s after the new policy", time.Since(start).Round(time.Millisecond))
		waitTracked(t, az, 0)
		waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
			telemetry.MetricDenied+`{direction="inbound",peer="ns-a/sa-a",protocol="http",reason="source-not-allowed"} 1`)
	})
}
