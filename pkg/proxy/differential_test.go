package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/policy/crd"
	"github.com/meshctl/meshctl/pkg/policy/policytest"
	"github.com/meshctl/meshctl/pkg/proxy/authz"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// ingressClient is the loopback address plain text comes from: the
// IngressBackend of differentialSet lets it in, and only it, so that
// requests over mutual TLS (from 127.0.0.1) are decided by identity.
var ingressClient = netip.MustParseAddr("127.0.0.2")

// differentialSet is the policy of pkg/policycli's differential test,
// for B (ns-b/sa-b) behind appPort: A may GET /api/buy; B itself may
// call /api/.* with X-Role: admin, or GET it with the host
// bookstore.example; plain text from ingressClient reaches the app's port.
func differentialSet(t *testing.T, m *testMesh, appPort uint16) *policy.Set {
	t.Helper()
	sa := func(ns, name string) crd.IdentityBindingSubject {
		return crd.IdentityBindingSubject{Kind: crd.KindServiceAccount, Name: name, Namespace: ns}
	}
	meta := func(name string) crd.ObjectMeta { return crd.ObjectMeta{Name: name, Namespace: "ns-b"} }
	set, findings, err := crd.Compile(crd.Cluster{
		TrustDomain: identity.DefaultTrustDomain,
		HTTPRouteGroups: []crd.HTTPRouteGroup{
			{Metadata: meta("routes"), Spec: crd.HTTPRouteGroupSpec{Matches: []crd.HTTPMatch{{Name: "buy", Methods: []string{"GET"}, PathRegex: "/api/buy"}}}},
			{Metadata: meta("admin-routes"), Spec: crd.HTTPRouteGroupSpec{Matches: []crd.HTTPMatch{
				{Name: "by-role", Methods: []string{"*"}, PathRegex: "/api/.*", Headers: map[string]string{"x-role": "admin"}},
				{Name: "by-host", Methods: []string{"GET"}, PathRegex: "/api/.*", Headers: map[string]string{"host": `bookstore\.example`}},
			}}},
		},
		TrafficTargets: []crd.TrafficTarget{
			{Metadata: meta("buy"), Spec: crd.TrafficTargetSpec{Destination: sa("ns-b", "sa-b"), Sources: []crd.IdentityBindingSubject{sa("ns-a", "sa-a")},
				Rules: []crd.TrafficTargetRule{{Kind: crd.KindHTTPRouteGroup, Name: "routes"}}}},
			{Metadata: meta("admin"), Spec: crd.TrafficTargetSpec{Destination: sa("ns-b", "sa-b"), Sources: []crd.IdentityBindingSubject{sa("ns-b", "sa-b")},
				Rules: []crd.TrafficTargetRule{{Kind: crd.KindHTTPRouteGroup, Name: "admin-routes"}}}},
		},
		IngressBackends: []crd.IngressBackend{{Metadata: meta("ingress"), Spec: crd.IngressBackendSpec{
			Backends: []crd.BackendSpec{{Name: "b", Port: crd.PortSpec{Number: 80, Protocol: "http"}}},
			Sources:  []crd.IngressSourceSpec{{Kind: crd.KindIPRange, Name: ingressClient.String() + "/32"}},
		}}},
		Services: []crd.Service{{Namespace: "ns-b", Name: "b", Ports: []crd.ServicePort{{Port: 80, TargetPort: int(appPort)}}, Identities: []identity.ID{m.idB}}},
	})
	if err != nil || len(findings) > 0 {
		t.Fatalf("compiling: %v %v", err, findings)
	}
	return throughJSON(t, set)
}

// TestDifferentialProxyAgreesWithEvaluator: every request of
// policytest's generator (sources × methods × odd spellings × headers),
// sent as raw bytes to a real proxy over mutual TLS with the source's
// certificate (or in plain text from the ingress address), reaches the
// app exactly when the evaluator, which `meshctl policy explain` calls,
// allows it. pkg/policycli's differential test holds explain to the
// evaluator; this one holds the proxy to it, so the CLI's answer and the
// proxy's decision cannot drift apart.
func TestDifferentialProxyAgreesWithEvaluator(t *testing.T) {
	m := newTestMesh(t)
	var reached atomic.Int64
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "reached")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(ln)
	t.Cleanup(func() { app.Close() })
	appAddr := netip.MustParseAddrPort(ln.Addr().String())

	set := differentialSet(t, m, appAddr.Port())
	az := authz.Waiting(nil)
	az.Set(set.For(m.idB))
	b := m.serverWithPolicy(t, appAddr, az)

	idC := m.id(t, identity.DefaultTrustDomain, "ns-c", "sa-c")
	sources := []identity.ID{m.idA, m.idB, idC, {}}
	configs := map[identity.ID]*tls.Config{}
	for _, id := range sources[:3] {
		configs[id] = identity.ClientConfig(m.ca.Sources(m.ca.Leaf(t, id, m.now, 0)), identity.ExpectPeer(m.idB))
	}
	send := func(r policytest.Request) (status int, body string) {
		t.Helper()
		d := net.Dialer{Timeout: 5 * time.Second}
		if r.Source.IsZero() {
			d.LocalAddr = &net.TCPAddr{IP: ingressClient.AsSlice()}
		}
		raw, err := d.Dial("tcp", b.addr(wire.InboundPort))
		if err != nil {
			t.Fatal(err)
		}
		c := raw
		if !r.Source.IsZero() {
			c = tls.Client(raw, configs[r.Source])
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var head strings.Builder
		head.WriteString(r.Method + " " + r.Target + " HTTP/1.1\r\n")
		if _, ok := r.Header["Host"]; !ok {
			head.WriteString("Host: bookstore\r\n")
		}
		for _, k := range slices.Sorted(maps.Keys(r.Header)) {
			for _, v := range r.Header[k] {
				head.WriteString(k + ": " + v + "\r\n")
			}
		}
		head.WriteString("Connection: close\r\n\r\n")
		if _, err := io.WriteString(c, head.String()); err != nil {
			return 0, err.Error()
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: r.Method})
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		bb, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(bb)
	}

	reqs := policytest.Requests(sources, []string{"/api/buy", "/api/steal"})
	allowed, denied := 0, 0
	for _, r := range reqs {
		pr := r.Policy(appAddr.Port())
		if pr.Host == "" {
			pr.Host = "bookstore"
		}
		pr.SourceIP = netip.MustParseAddr("127.0.0.1")
		if r.Source.IsZero() {
			pr.SourceIP = ingressClient
		}
		want := set.For(m.idB).HTTP(pr)
		before := reached.Load()
		status, body := send(r)
		got := reached.Load() > before
		if got != want.Allow {
			t.Errorf("%s: the proxy answered %d %.60q (reached the app: %t); the evaluator says %+v", r, status, body, got, want)
		}
		if !want.Allow && status/100 == 2 {
			t.Errorf("%s: denied by the evaluator, answered %d by the proxy", r, status)
		}
		if want.Allow {
			allowed++
		} else {
			denied++
		}
	}
	if allowed < 20 || denied < 20 {
		t.Errorf("%d requests allowed and %d denied: the generator no longer covers both", allowed, denied)
	}
	t.Logf("%d requests through a real proxy: %d allowed, %d denied, all as the evaluator decides", len(reqs), allowed, denied)
}
