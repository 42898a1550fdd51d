package proxy

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/policy/crd"
	"github.com/meshctl/meshctl/pkg/proxy/authz"
	"github.com/meshctl/meshctl/pkg/proxy/inbound"
	"github.com/meshctl/meshctl/pkg/proxy/listener"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// compiled is the mesh's policy for B (ns-b/sa-b) as the controller
// would send it: A (ns-a/sa-a) may GET /books on any port, and with tcp
// open opaque TCP connections to tcpPort.
func compiled(t testing.TB, m *testMesh, permissive, tcp bool, tcpPort uint16) *policy.Policy {
	t.Helper()
	sa := func(ns, name string) crd.IdentityBindingSubject {
		return crd.IdentityBindingSubject{Kind: crd.KindServiceAccount, Name: name, Namespace: ns}
	}
	rules := []crd.TrafficTargetRule{{Kind: crd.KindHTTPRouteGroup, Name: "routes", Matches: []string{"books"}}}
	if tcp {
		rules = append(rules, crd.TrafficTargetRule{Kind: crd.KindTCPRoute, Name: "opaque"})
	}
	var routes []crd.TCPRoute
	if tcp {
		routes = []crd.TCPRoute{{Metadata: crd.ObjectMeta{Name: "opaque", Namespace: "ns-b"},
			Spec: crd.TCPRouteSpec{Matches: crd.TCPMatch{Ports: []int{int(tcpPort)}}}}}
	}
	set, findings, err := crd.Compile(crd.Cluster{
		TrustDomain: identity.DefaultTrustDomain, Permissive: permissive,
		HTTPRouteGroups: []crd.HTTPRouteGroup{{Metadata: crd.ObjectMeta{Name: "routes", Namespace: "ns-b"},
			Spec: crd.HTTPRouteGroupSpec{Matches: []crd.HTTPMatch{{Name: "books", Methods: []string{"GET"}, PathRegex: "/books"}}}}},
		TCPRoutes: routes,
		TrafficTargets: []crd.TrafficTarget{{Metadata: crd.ObjectMeta{Name: "a-to-b", Namespace: "ns-b"},
			Spec: crd.TrafficTargetSpec{Destination: sa("ns-b", "sa-b"), Sources: []crd.IdentityBindingSubject{sa("ns-a", "sa-a")}, Rules: rules}}},
	})
	if err != nil || len(findings) > 0 {
		t.Fatalf("compiling: %v %v", err, findings)
	}
	return throughJSON(t, set).For(m.idB)
}

// throughJSON is set as a proxy decodes it from the channel's snapshot.
func throughJSON(t testing.TB, set *policy.Set) *policy.Set {
	t.Helper()
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := policy.DecodeSet(b, policy.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return decoded
}

// serverWithPolicy starts B in front of app with az deciding.
func (m *testMesh) serverWithPolicy(t testing.TB, app netip.AddrPort, az *authz.Authorizer) *proxy {
	t.Helper()
	return startProxyWith(t, run(), app, &Identity{Sources: m.ca.Sources(m.ca.Leaf(t, m.idB, m.now, 0)), Resolver: resolver{}, Authz: az})
}

// get sends one request over c and returns the status and body.
func get(t *testing.T, c io.ReadWriter, br *bufio.Reader, target string) (int, string) {
	t.Helper()
	io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: books\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

// TestAuthorizationHTTP: with permissive mode off, A may GET /books and
// nothing else, however the path is spelled; every denial is a 403 that
// names no policy object, reaches no app, and is counted by reason; a
// kept-alive connection is decided request by request, so switching
// permissive mode on takes effect on it at once.
func TestAuthorizationHTTP(t *testing.T) {
	m := newTestMesh(t)
	raw, heads := rawApp(t)
	az := &authz.Authorizer{}
	az.Set(compiled(t, m, false, false, 0))
	b := m.serverWithPolicy(t, raw, az)
	a := m.client(t, b, m.idB)
	c := dialOutbound(t, a)
	br := bufio.NewReader(c)

	for _, target := range []string{"/books", "/%62ooks", "//books", "/x/../books", "/books?x=1"} {
		if code, body := get(t, c, br, target); code != 200 || body != "books" {
			t.Errorf("GET %s: %d %q, want the app's answer", target, code, body)
		}
		<-heads
	}
	for _, target := range []string{"/books/", "/booksx", "/x/books", "/Books", "/books/../admin", "/%2e%2e/admin",
		"/admin%2Fbooks", `/admin/..\books`, "/admin/..%5Cbooks", "/books#/../admin"} {
		code, body := get(t, c, br, target)
		if code != http.StatusForbidden || body != inbound.Forbidden {
			t.Errorf("GET %s: %d %q, want 403 %q", target, code, body, inbound.Forbidden)
		}
	}
	select {
	case h := <-heads:
		t.Fatalf("a denied request reached the app:\n%s", h)
	default:
	}
	waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
		telemetry.MetricDenied+`{direction="inbound",peer="ns-a/sa-a",protocol="http",reason="invalid-path"} 4`,
		telemetry.MetricDenied+`{direction="inbound",peer="ns-a/sa-a",protocol="http",reason="no-rule-matched"} 6`)

	az.Set(compiled(t, m, true, false, 0))
	if code, _ := get(t, c, br, "/admin"); code != 200 {
		t.Errorf("GET /admin with permissive mode on: %d", code)
	}
	<-heads
	az.Set(compiled(t, m, false, false, 0))
	if code, _ := get(t, c, br, "/admin"); code != http.StatusForbidden {
		t.Errorf("GET /admin once permissive mode is off again, on the same connection: %d", code)
	}
}

// TestAuthorizationRefusesBeforeTheApp: plain text from outside the mesh,
// and opaque TCP that only HTTP rules cover, are closed before the app is
// dialed: it sees neither a connection nor a byte.
func TestAuthorizationRefusesBeforeTheApp(t *testing.T) {
	m := newTestMesh(t)
	app := newCountingApp(t)
	az := &authz.Authorizer{}
	az.Set(compiled(t, m, false, false, 0))
	b := m.serverWithPolicy(t, app.addr, az)
	a := m.client(t, b, m.idB)

	t.Run("plain text", func(t *testing.T) {
		c := dialInbound(t, b)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /books HTTP/1.1\r\nHost: books\r\n\r\n")
		if got, _ := io.ReadAll(c); len(got) != 0 {
			t.Fatalf("plain text got %q", got)
		}
	})
	t.Run("opaque TCP from a meshed caller without a TCPRoute", func(t *testing.T) {
		c := dialOutbound(t, a)
		io.WriteString(c, "\x00opaque")
		c.CloseWrite()
		if got, _ := io.ReadAll(c); strings.HasPrefix(string(got), "got") {
			t.Fatalf("the app answered %q", got)
		}
	})
	t.Run("a silent plain-text client", func(t *testing.T) {
		c := dialInbound(t, b)
		time.Sleep(3 * listener.DefaultSniffTimeout)
		c.Close()
	})
	waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
		telemetry.MetricDenied+`{direction="inbound",peer="",protocol="tcp",reason="no-identity"} 1`,
		telemetry.MetricDenied+`{direction="inbound",peer="ns-a/sa-a",protocol="tcp",reason="no-rule-matched"} 1`)
	app.nothingReached(t)
}

// TestAuthorizationRevokesTCP: an opaque TCP connection a TCPRoute allowed
// is closed when a new policy no longer does, without waiting for its
// next byte.
func TestAuthorizationRevokesTCP(t *testing.T) {
	m := newTestMesh(t)
	app := newCountingApp(t)
	az := &authz.Authorizer{}
	az.Set(compiled(t, m, false, true, app.addr.Port()))
	b := m.serverWithPolicy(t, app.addr, az)
	a := m.client(t, b, m.idB)
	c := dialOutbound(t, a)
	io.WriteString(c, "\x00opaque")
	if first := <-app.first; string(first) != "\x00opaque" {
		t.Fatalf("the app got %q", first)
	}
	deadline := time.Now().Add(5 * time.Second)
	for az.Tracked() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections tracked, want 1", az.Tracked())
		}
		time.Sleep(10 * time.Millisecond)
	}
	az.Set(compiled(t, m, false, false, 0))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the revoked connection did not end: %v (got %q)", err, got)
	}
	if az.Tracked() != 0 {
		t.Errorf("%d connections still tracked", az.Tracked())
	}
	waitForMetrics(t, "http://"+b.addr(wire.AdminPort)+"/metrics",
		telemetry.MetricDenied+`{direction="inbound",peer="ns-a/sa-a",protocol="tcp",reason="no-rule-matched"} 1`)
}

// TestAuthorizationWaitsForThePolicy: before the controller's first
// snapshot the proxy allows nothing, not everything.
func TestAuthorizationWaitsForThePolicy(t *testing.T) {
	m := newTestMesh(t)
	raw, heads := rawApp(t)
	b := m.serverWithPolicy(t, raw, authz.Waiting(nil))
	a := m.client(t, b, m.idB)
	c := dialOutbound(t, a)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /books HTTP/1.1\r\nHost: books\r\n\r\n")
	got, _ := io.ReadAll(c)
	if strings.Contains(string(got), "books") && !strings.Contains(string(got), "403") {
		t.Fatalf("served before any policy arrived: %q", got)
	}
	select {
	case h := <-heads:
		t.Fatalf("the app got a request before any policy arrived:\n%s", h)
	default:
	}
}

// TestAuthorizationLetsProbesThrough: with permissive mode off, the app's
// own kubelet probe (plain text, from the node) still passes, exactly as
// the probe is written: another path, another method or another spelling
// of the path on the probe's port gets a 403.
func TestAuthorizationLetsProbesThrough(t *testing.T) {
	m := newTestMesh(t)
	raw, heads := rawApp(t)
	az := &authz.Authorizer{Probes: wire.NewProbeSet([]wire.Probe{{Port: int32(raw.Port()), Path: "/healthz"}})}
	az.Set(compiled(t, m, false, false, 0))
	b := m.serverWithPolicy(t, raw, az)
	c := dialInbound(t, b)
	br := bufio.NewReader(c)
	if code, body := get(t, c, br, "/healthz"); code != 200 || body != "books" {
		t.Fatalf("the kubelet's probe: %d %q", code, body)
	}
	<-heads
	for _, target := range []string{"/books", "/healthz/", "/%68ealthz", "/healthz/../books"} {
		if code, _ := get(t, c, br, target); code != http.StatusForbidden {
			t.Errorf("plain GET %s on the probe's port: %d, want 403", target, code)
		}
	}
	io.WriteString(c, "POST /healthz HTTP/1.1\r\nHost: books\r\nContent-Length: 0\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST to the probe's path: %v %v, want 403", resp, err)
	}
	select {
	case h := <-heads:
		t.Fatalf("a request that is not the probe reached the app:\n%s", h)
	default:
	}
}
