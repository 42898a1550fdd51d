package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/policy/crd"
	"github.com/meshctl/meshctl/pkg/proxy/inbound"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Pods of the authorization test, and its controller.
const (
	authzBuyerIP    = "198.18.104.1"
	authzThiefIP    = "198.18.104.2"
	authzStoreIP    = "198.18.104.3"
	authzOutsideIP  = "198.18.104.4"
	authzIngressIP  = "198.18.104.5"
	authzControlIP  = "198.18.104.9"
	authzServiceTCP = 80
)

// authzSet is the policy the controller would compile for the test's
// mesh: buyer may GET /buy from store, and open opaque TCP to its echo
// port when tcp; plain HTTP from the ingress pod's address reaches store's
// HTTP port through an IngressBackend.
func authzSet(t testing.TB, permissive, tcp bool) *policy.Set {
	t.Helper()
	sa := func(name string) crd.IdentityBindingSubject {
		return crd.IdentityBindingSubject{Kind: crd.KindServiceAccount, Name: name, Namespace: meshNamespace}
	}
	meta := func(name string) crd.ObjectMeta { return crd.ObjectMeta{Name: name, Namespace: meshNamespace} }
	rules := []crd.TrafficTargetRule{{Kind: crd.KindHTTPRouteGroup, Name: "store-routes", Matches: []string{"buy"}}}
	var routes []crd.TCPRoute
	if tcp {
		rules = append(rules, crd.TrafficTargetRule{Kind: crd.KindTCPRoute, Name: "echo"})
		routes = []crd.TCPRoute{{Metadata: meta("echo"), Spec: crd.TCPRouteSpec{Matches: crd.TCPMatch{Ports: []int{echoPort}}}}}
	}
	storeID, err := identity.NewID(identity.DefaultTrustDomain, meshNamespace, "store")
	if err != nil {
		t.Fatal(err)
	}
	set, findings, err := crd.Compile(crd.Cluster{
		TrustDomain: identity.DefaultTrustDomain, Permissive: permissive,
		HTTPRouteGroups: []crd.HTTPRouteGroup{{Metadata: meta("store-routes"),
			Spec: crd.HTTPRouteGroupSpec{Matches: []crd.HTTPMatch{{Name: "buy", Methods: []string{"GET"}, PathRegex: "/buy"}}}}},
		TCPRoutes: routes,
		TrafficTargets: []crd.TrafficTarget{{Metadata: meta("store"),
			Spec: crd.TrafficTargetSpec{Destination: sa("store"), Sources: []crd.IdentityBindingSubject{sa("buyer")}, Rules: rules}}},
		IngressBackends: []crd.IngressBackend{{Metadata: meta("store-ingress"), Spec: crd.IngressBackendSpec{
			Backends: []crd.BackendSpec{{Name: "store", Port: crd.PortSpec{Number: authzServiceTCP, Protocol: "http"}}},
			Sources:  []crd.IngressSourceSpec{{Kind: crd.KindIPRange, Name: authzIngressIP + "/32"}},
		}}},
		Services: []crd.Service{{Namespace: meshNamespace, Name: "store", Ports: []crd.ServicePort{{Port: authzServiceTCP, TargetPort: booksPort}},
			Identities: []identity.ID{storeID}}},
	})
	if err != nil || len(findings) > 0 {
		t.Fatalf("compiling the test's policy: %v %v", err, findings)
	}
	return set
}

// TestAuthorization: real proxies in network namespaces, with the
// interception rules, enforce the policy the controller's channel sends:
// the allowed request passes; a request of an unlisted caller, of an
// unlisted path (however spelled), and plain text from outside the mesh
// are refused before the app; opaque TCP needs a TCPRoute and is cut when
// the TCPRoute goes; an IngressBackend lets its address range in; and
// switching permissive mode on and off takes effect on the next request.
func TestAuthorization(t *testing.T) {
	requirePrerequisites(t)
	proxyBin := buildProxy(t)
	ca := identitytest.NewCA(t, time.Now())
	id := func(sa string) identity.ID {
		t.Helper()
		id, err := identity.NewID(identity.DefaultTrustDomain, meshNamespace, sa)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tp := newTopology(t)
	ctlNS := tp.pod(t, "zctl", authzControlIP)
	buyerNS := tp.pod(t, "zbuy", authzBuyerIP)
	thiefNS := tp.pod(t, "zthf", authzThiefIP)
	storeNS := tp.pod(t, "zsto", authzStoreIP)
	outsideNS := tp.pod(t, "zout", authzOutsideIP)
	ingressNS := tp.pod(t, "zing", authzIngressIP)
	pod := func(ip string, id identity.ID, bypass ...uint16) channel.Pod {
		return channel.Pod{IPs: []netip.Addr{netip.MustParseAddr(ip)}, Identity: id.String(), BypassPorts: bypass}
	}
	ctl := startController(t, ctlNS, authzControlIP, ca, tokenReviewer{"token-of-buyer": "buyer", "token-of-thief": "thief", "token-of-store": "store"}, []channel.Pod{
		pod(authzBuyerIP, id("buyer"), wire.AdminPort),
		pod(authzThiefIP, id("thief"), wire.AdminPort),
		pod(authzStoreIP, id("store"), booksAdminPort, wire.AdminPort),
	})
	ctl.setPolicy(t, authzSet(t, false, true))
	base := wire.Interception{InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, ProxyUID: wire.ProxyUID}
	appIC := base
	appIC.SkipInboundPorts = []int32{booksAdminPort}
	meshPodWithIdentity(t, proxyBin, buyerNS, "buyer", authzBuyerIP, base, ctl, identityDir(t, "token-of-buyer", ca), "")
	meshPodWithIdentity(t, proxyBin, thiefNS, "thief", authzThiefIP, base, ctl, identityDir(t, "token-of-thief", ca), "")
	meshPodWithIdentity(t, proxyBin, storeNS, "store", authzStoreIP, appIC, ctl, identityDir(t, "token-of-store", ca), "counting")

	// An app outside the mesh, for egress.
	start(t, outsideNS, []string{"MP_APP=counting"}, os.Args[0])
	obsDial := dialer(t, outsideNS)
	obs := &world{dial: obsDial, client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: obsDial, DisableKeepAlives: true}}}
	for _, ip := range []string{authzBuyerIP, authzThiefIP, authzStoreIP} {
		waitFor(t, "the proxy in "+ip+" to be ready", func() bool {
			resp, err := obs.client.Get(fmt.Sprintf("http://%s:%d%s", ip, wire.AdminPort, wire.ReadyPath))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	counts := func(t *testing.T) appCounts {
		t.Helper()
		_, body := obs.get(t, fmt.Sprintf("http://%s:%d/", authzStoreIP, booksAdminPort), "")
		var c appCounts
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatalf("the store app's counts: %v: %q", err, body)
		}
		return c
	}
	client := func(ns string) (*http.Client, func(ctx context.Context, network, addr string) (net.Conn, error)) {
		d := dialer(t, ns)
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d, DisableKeepAlives: true}}, d
	}
	buyer, buyerDial := client(buyerNS)
	thief, thiefDial := client(thiefNS)
	outside, _ := client(outsideNS)
	ingress, _ := client(ingressNS)
	// request sends GET target from c's pod; the status is 0 when the
	// connection was closed without an answer.
	request := func(c *http.Client, target string) (int, string) {
		t.Helper()
		resp, err := c.Get(fmt.Sprintf("http://%s:%d%s", authzStoreIP, booksPort, target))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	echo := func(dial func(ctx context.Context, network, addr string) (net.Conn, error)) (string, error) {
		c, err := dial(context.Background(), "tcp", net.JoinHostPort(authzStoreIP, strconv.Itoa(echoPort)))
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("\x00bytes"))
		c.(*net.TCPConn).CloseWrite()
		b, err := io.ReadAll(c)
		return string(b), err
	}

	t.Run("the allowed request passes, spelled any way", func(t *testing.T) {
		for _, target := range []string{"/buy", "//buy", "/x/../buy", "/%62uy", "/buy?q=1"} {
			if code, body := request(buyer, target); code != http.StatusOK || body != "hello from the counting app" {
				t.Errorf("buyer GET %s: %d %q", target, code, body)
			}
		}
	})
	t.Run("refused requests reach no app", func(t *testing.T) {
		before := counts(t)
		for _, c := range []struct {
			who    string
			client *http.Client
			target string
		}{
			{"thief", thief, "/buy"}, {"thief", thief, "/steal"}, {"buyer", buyer, "/steal"}, {"buyer", buyer, "/buy/../steal"},
			{"buyer", buyer, "/%2e%2e/steal"}, {"buyer", buyer, "/buy%2F..%2Fsteal"}, {"buyer", buyer, "/BUY"},
		} {
			if code, body := request(c.client, c.target); code != http.StatusForbidden || body != inbound.Forbidden {
				t.Errorf("%s GET %s: %d %q, want 403 %q", c.who, c.target, code, body, inbound.Forbidden)
			}
		}
		if code, body := request(outside, "/buy"); code != 0 {
			t.Errorf("plain text from outside the mesh: %d %q, want the connection closed", code, body)
		}
		if got, err := echo(thiefDial); strings.HasPrefix(got, "echo:") {
			t.Errorf("thief's opaque TCP was echoed: %q %v", got, err)
		}
		if after := counts(t); after.Requests != before.Requests || after.Bytes != before.Bytes {
			t.Errorf("refused callers reached the app: %d requests, %d bytes", after.Requests-before.Requests, after.Bytes-before.Bytes)
		}
		for _, l := range []map[string]string{
			{"direction": "inbound", "peer": id("thief").Short(), "protocol": "http", "reason": "source-not-allowed"},
			{"direction": "inbound", "peer": id("buyer").Short(), "protocol": "http", "reason": "no-rule-matched"},
			{"direction": "inbound", "peer": "", "protocol": "tcp", "reason": "no-identity"},
			{"direction": "inbound", "peer": id("thief").Short(), "protocol": "tcp", "reason": "source-not-allowed"},
		} {
			if got := obs.metric(t, authzStoreIP, telemetry.MetricDenied, l); got < 1 {
				t.Errorf("store's proxy counted no denial %v", l)
			}
		}
	})
	t.Run("an IngressBackend lets its address range in, for HTTP", func(t *testing.T) {
		if code, body := request(ingress, "/anything"); code != http.StatusOK || body != "hello from the counting app" {
			t.Errorf("plain text from the ingress's address: %d %q", code, body)
		}
	})
	t.Run("opaque TCP with a TCPRoute, cut when it goes", func(t *testing.T) {
		if got, err := echo(buyerDial); got != "echo:\x00bytes" {
			t.Fatalf("buyer's opaque TCP: %q %v", got, err)
		}
		c, err := buyerDial(context.Background(), "tcp", net.JoinHostPort(authzStoreIP, strconv.Itoa(echoPort)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("long-lived"))
		before := counts(t)
		waitFor(t, "the long-lived connection to reach the app", func() bool {
			return counts(t).Bytes >= before.Bytes
		})
		time.Sleep(200 * time.Millisecond)
		ctl.setPolicy(t, authzSet(t, false, false))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		start := time.Now()
		_, err = io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the connection whose TCPRoute went was not closed")
		}
		t.Logf("the revoked connection closed %s after the new snapshot was published", time.Since(start).Round(time.Millisecond))
		if got, _ := echo(buyerDial); strings.HasPrefix(got, "echo:") {
			t.Errorf("a new opaque connection without the TCPRoute was echoed: %q", got)
		}
	})
	t.Run("egress off refuses destinations outside the mesh", func(t *testing.T) {
		outsideURL := fmt.Sprintf("http://%s:%d/", authzOutsideIP, booksPort)
		waitFor(t, "the app outside the mesh", func() bool {
			resp, err := buyer.Get(outsideURL)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		ctl.setSettings(t, channel.Settings{EnableEgress: false})
		waitFor(t, "egress to be refused", func() bool {
			resp, err := buyer.Get(outsideURL)
			if err == nil {
				resp.Body.Close()
			}
			return err != nil
		})
		if code, _ := request(buyer, "/buy"); code != http.StatusOK {
			t.Errorf("buyer -> store (in the mesh) with egress off: %d", code)
		}
		l := map[string]string{"direction": "outbound", "peer": fmt.Sprintf("%s:%d", authzOutsideIP, booksPort), "protocol": "tcp", "reason": "egress-disabled"}
		if got := obs.metric(t, authzBuyerIP, telemetry.MetricDenied, l); got < 1 {
			t.Errorf("buyer's proxy counted no refused egress %v", l)
		}
		ctl.setSettings(t, channel.Settings{EnableEgress: true})
		waitFor(t, "egress to be allowed again", func() bool {
			resp, err := buyer.Get(outsideURL)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	})
	t.Run("permissive mode switched on and off", func(t *testing.T) {
		ctl.setPolicy(t, authzSet(t, true, false))
		waitFor(t, "thief to steal in permissive mode", func() bool { code, _ := request(thief, "/steal"); return code == http.StatusOK })
		if code, _ := request(outside, "/buy"); code != http.StatusOK {
			t.Errorf("plain text in permissive mode: %d", code)
		}
		ctl.setPolicy(t, authzSet(t, false, false))
		waitFor(t, "thief to be refused again", func() bool { code, _ := request(thief, "/steal"); return code == http.StatusForbidden })
	})
	t.Run("JWT validation turned on and scoped while the proxies run", func(t *testing.T) {
		tok := newTokens(t)
		withToken := func(token string) int {
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s:%d/buy", authzStoreIP, booksPort), nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := buyer.Do(req)
			if err != nil {
				return 0
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		settingsDigest := func() string {
			_, body := obs.get(t, fmt.Sprintf("http://%s:%d%s", authzStoreIP, wire.AdminPort, wire.StatusPath), "")
			var st struct {
				Settings struct {
					Digest string `json:"digest"`
					JWT    bool   `json:"jwt"`
				} `json:"settings"`
			}
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatalf("store's /status: %v: %q", err, body)
			}
			return st.Settings.Digest
		}
		jwtFor := func(dst ...channel.JWTDestination) channel.Settings {
			return channel.Settings{EnableEgress: true, LogLevel: "info", Tracing: &channel.Tracing{},
				JWT: &channel.JWT{Enable: true, Issuer: issuer, Audiences: []string{audience}, JWKS: tok.jwks, Destinations: dst}}
		}
		// Required of store: a TrafficTarget-allowed caller without a
		// token is refused, one with a valid token passes.
		on := jwtFor(channel.JWTDestination{Namespace: meshNamespace, ServiceAccount: "store"})
		ctl.setSettings(t, on)
		waitFor(t, "store to require a token", func() bool { return withToken("") == http.StatusUnauthorized })
		if code := withToken(tok.valid); code != http.StatusOK {
			t.Errorf("buyer -> store with a valid token: %d", code)
		}
		if code := withToken(tok.otherKey); code != http.StatusUnauthorized {
			t.Errorf("buyer -> store with a token of another key: %d, want 401", code)
		}
		// The policy still comes first: thief's valid token is no pass.
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s:%d/steal", authzStoreIP, booksPort), nil)
		req.Header.Set("Authorization", "Bearer "+tok.valid)
		if resp, err := thief.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("thief -> store with a valid token: %v %v, want 403", resp, err)
		} else {
			resp.Body.Close()
		}
		if got := settingsDigest(); got != on.Digest() {
			t.Errorf("store's /status settings digest %q, want %q", got, on.Digest())
		}
		// Scoped to another workload of the namespace: store no longer
		// asks, without a restart.
		ctl.setSettings(t, jwtFor(channel.JWTDestination{Namespace: meshNamespace, ServiceAccount: "buyer"}))
		waitFor(t, "store to stop requiring a token", func() bool { return withToken("") == http.StatusOK })
		// A controller that says nothing of JWT (an older one) does not
		// turn off validation that is on.
		ctl.setSettings(t, on)
		waitFor(t, "store to require a token again", func() bool { return withToken("") == http.StatusUnauthorized })
		ctl.setSettings(t, channel.Settings{EnableEgress: true})
		time.Sleep(500 * time.Millisecond)
		if code := withToken(""); code != http.StatusUnauthorized {
			t.Errorf("after settings without jwt: buyer -> store without a token: %d, want 401 (kept)", code)
		}
		ctl.setSettings(t, jwtFor())
		ctl.setSettings(t, channel.Settings{EnableEgress: true, JWT: &channel.JWT{}})
		waitFor(t, "store to stop requiring a token when validation is off", func() bool { return withToken("") == http.StatusOK })
	})
}
