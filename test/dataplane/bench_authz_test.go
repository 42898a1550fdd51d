package dataplane

import (
	"bufio"
	"fmt"
	"net/http"
	"net/netip"
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

// The authz path of the benchmark: as mesh mTLS, but the server proxy
// enforces a strict policy (permissive mode off) of benchAuthzTargets
// TrafficTargets on its identity, the load generator's identity named by
// the last of them.
//
// The pair has a controller stand-in of its own (the same CA): a Set's
// policies all share its permissive mode (policy.NewSet refuses a strict
// Policy in a permissive Set), and one snapshot goes to every proxy of a
// controller, so the permissive mTLS row and this strict row cannot share
// one.
const (
	benchAuthzClient     = "198.18.101.10"
	benchAuthzServer     = "198.18.101.11"
	benchAuthzController = "198.18.101.12"
	benchAuthzTargets    = 100
	// The pods' names, also their ServiceAccounts.
	benchAuthzClientName = "bazc"
	benchAuthzServerName = "bazs"
	// benchAuthzDenied is a path that no rule allows the load generator
	// to GET (its rule allows POST of any path, and GET of /status only):
	// the probe that shows the policy in force is strict.
	benchAuthzDenied = "/admin/not-allowed"
)

func benchID(b testing.TB, ns, sa string) identity.ID {
	b.Helper()
	id, err := identity.NewID(identity.DefaultTrustDomain, ns, sa)
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// authzBenchCluster is what a cluster would hold: benchAuthzTargets
// TrafficTargets on the server's ServiceAccount, each from a
// ServiceAccount of its own (in ten team namespaces) over an
// HTTPRouteGroup of its own, of three kinds in turn: a method and path,
// a method, path and header (Content-Type), and a path and a tenant
// header. The last TrafficTarget by name (they are evaluated in name
// order) names the load generator's ServiceAccount; of its group's two
// matches the second allows the load generator's requests (POST of any
// path, with Go's User-Agent).
func authzBenchCluster() crd.Cluster {
	meta := func(name string) crd.ObjectMeta { return crd.ObjectMeta{Name: name, Namespace: meshNamespace} }
	c := crd.Cluster{TrustDomain: identity.DefaultTrustDomain, Permissive: false}
	for i := range benchAuthzTargets {
		group := fmt.Sprintf("routes-%03d", i)
		src := crd.IdentityBindingSubject{Kind: crd.KindServiceAccount, Name: fmt.Sprintf("caller-%03d", i), Namespace: fmt.Sprintf("team-%02d", i%10)}
		var matches []crd.HTTPMatch
		switch i % 3 {
		case 0:
			matches = []crd.HTTPMatch{{Name: "read", Methods: []string{"GET", "HEAD"}, PathRegex: fmt.Sprintf(`/api/v1/items%03d/[0-9]+`, i)}}
		case 1:
			matches = []crd.HTTPMatch{{Name: "write", Methods: []string{"POST", "PUT"}, PathRegex: fmt.Sprintf(`/api/v1/items%03d(/.*)?`, i),
				Headers: map[string]string{"Content-Type": `application/json(;.*)?`}}}
		case 2:
			matches = []crd.HTTPMatch{{Name: "tenant", PathRegex: `/tenants/.*`, Headers: map[string]string{"X-Tenant": fmt.Sprintf(`tenant-%03d`, i)}}}
		}
		if i == benchAuthzTargets-1 {
			src = crd.IdentityBindingSubject{Kind: crd.KindServiceAccount, Name: benchAuthzClientName, Namespace: meshNamespace}
			matches = []crd.HTTPMatch{
				{Name: "status", Methods: []string{"GET"}, PathRegex: `/status`},
				{Name: "load", Methods: []string{"POST"}, PathRegex: `/.*`, Headers: map[string]string{"User-Agent": `Go-http-client/1\.1`}},
			}
		}
		c.HTTPRouteGroups = append(c.HTTPRouteGroups, crd.HTTPRouteGroup{Metadata: meta(group), Spec: crd.HTTPRouteGroupSpec{Matches: matches}})
		c.TrafficTargets = append(c.TrafficTargets, crd.TrafficTarget{Metadata: meta(fmt.Sprintf("tt-%03d", i)), Spec: crd.TrafficTargetSpec{
			Destination: crd.IdentityBindingSubject{Kind: crd.KindServiceAccount, Name: benchAuthzServerName, Namespace: meshNamespace},
			Sources:     []crd.IdentityBindingSubject{src},
			Rules:       []crd.TrafficTargetRule{{Kind: crd.KindHTTPRouteGroup, Name: group}},
		}})
	}
	return c
}

// authzBenchSet compiles authzBenchCluster and checks that it came out as
// meant: the server's policy is strict, holds every TrafficTarget, and
// the last one is the load generator's.
func authzBenchSet(b testing.TB) *policy.Set {
	b.Helper()
	set, findings, err := crd.Compile(authzBenchCluster())
	if err != nil || len(findings) > 0 {
		b.Fatalf("compiling the authz benchmark's policy: %v %v", err, findings)
	}
	server := benchID(b, meshNamespace, benchAuthzServerName)
	p := set.For(server)
	if p.Permissive || len(p.Targets) != benchAuthzTargets {
		b.Fatalf("the authz server's policy: permissive %t, %d TrafficTargets; want strict with %d", p.Permissive, len(p.Targets), benchAuthzTargets)
	}
	last := p.Targets[len(p.Targets)-1]
	if want := benchID(b, meshNamespace, benchAuthzClientName); len(last.Sources) != 1 || last.Sources[0] != want {
		b.Fatalf("the last TrafficTarget %s names %v, want %v", last.Name, last.Sources, want)
	}
	return set
}

// authzProxies starts the authz pair's controller stand-in (with ca, and
// authzBenchSet published before any proxy connects) and the proxies of
// the client and server pods. It returns them (client, server).
func authzProxies(b *testing.B, tp *topology, proxyBin string, ic wire.Interception, env []string, ca *identitytest.CA, clientNS, serverNS string) []proc {
	pod := func(ip string, id identity.ID) channel.Pod {
		return channel.Pod{IPs: []netip.Addr{netip.MustParseAddr(ip)}, Identity: id.String(), BypassPorts: []uint16{wire.AdminPort}}
	}
	ctlNS := tp.pod(b, "bazt", benchAuthzController)
	ctl := startController(b, ctlNS, benchAuthzController, ca,
		tokenReviewer{"token-of-" + benchAuthzClientName: benchAuthzClientName, "token-of-" + benchAuthzServerName: benchAuthzServerName},
		[]channel.Pod{
			pod(benchAuthzClient, benchID(b, meshNamespace, benchAuthzClientName)),
			pod(benchAuthzServer, benchID(b, meshNamespace, benchAuthzServerName)),
		})
	ctl.setPolicy(b, authzBenchSet(b))
	return []proc{
		meshPodWithIdentity(b, proxyBin, clientNS, benchAuthzClientName, benchAuthzClient, ic, ctl, identityDir(b, "token-of-"+benchAuthzClientName, ca), "", env...),
		meshPodWithIdentity(b, proxyBin, serverNS, benchAuthzServerName, benchAuthzServer, ic, ctl, identityDir(b, "token-of-"+benchAuthzServerName, ca), "", env...),
	}
}

// authzCounts are a server proxy's inbound requests over mutual TLS
// answered 2xx and 403, and its denials (all reasons), from its metrics.
type authzCounts struct{ ok, forbidden, denied int }

func readAuthzCounts(b testing.TB, admin *http.Client) authzCounts {
	b.Helper()
	resp, err := admin.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", wire.AdminPort))
	if err != nil {
		b.Fatalf("the authz server proxy's metrics: %v", err)
	}
	defer resp.Body.Close()
	var c authzCounts
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		switch {
		case strings.HasPrefix(series, telemetry.MetricDenied+"{"):
			c.denied += int(v)
		case strings.HasPrefix(series, telemetry.MetricRequestsTotal+"{") &&
			strings.Contains(series, `direction="inbound"`) && strings.Contains(series, `tls="true"`):
			switch {
			case strings.Contains(series, `status_class="2xx"`):
				c.ok += int(v)
			case strings.Contains(series, `status_class="4xx"`):
				c.forbidden += int(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatalf("the authz server proxy's metrics: %v", err)
	}
	return c
}

// checkAuthzRow checks that the authz row measured what it claims: every
// request since before was allowed (none denied, the 2xx over mutual TLS
// grew by at least sent), and then that the policy in force is strict: a
// request of the same caller to a path no rule allows gets the 403 of
// the policy and is counted as denied.
func checkAuthzRow(b testing.TB, admin, client *http.Client, before authzCounts, sent int) {
	b.Helper()
	after := readAuthzCounts(b, admin)
	if after.denied != before.denied || after.forbidden != before.forbidden {
		b.Errorf("the authz server proxy denied %d requests (%d answered 403) in the measured turns, want none", after.denied-before.denied, after.forbidden-before.forbidden)
	}
	if after.ok-before.ok < sent {
		b.Errorf("the authz server proxy counted %d requests over mutual TLS answered 2xx in the measured turns, want at least the %d sent", after.ok-before.ok, sent)
	}
	resp, err := client.Get(fmt.Sprintf("http://%s:%d%s", benchAuthzServer, benchAppPort, benchAuthzDenied))
	if err != nil {
		b.Fatalf("the authz path's probe of a path no rule allows: %v", err)
	}
	var body strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || body.String() != inbound.Forbidden {
		b.Errorf("GET %s on the authz path: %s %q, want 403 %q: the server proxy's policy is not the strict one", benchAuthzDenied, resp.Status, body.String(), inbound.Forbidden)
	}
	// The proxy counts the denial after answering.
	deadline := time.Now().Add(5 * time.Second)
	for readAuthzCounts(b, admin).denied != after.denied+1 {
		if time.Now().After(deadline) {
			b.Errorf("the authz server proxy did not count the probe's denial (%s %d)", telemetry.MetricDenied, after.denied)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// authzDiff is the added p50 and p99 of the authz row minus those of the
// permissive mTLS row, at each rate.
func authzDiff(rows []benchRow) string {
	var out strings.Builder
	byRate := map[int]map[string]benchRow{}
	var rates []int
	for _, r := range rows {
		if byRate[r.rate] == nil {
			byRate[r.rate] = map[string]benchRow{}
			rates = append(rates, r.rate)
		}
		byRate[r.rate][r.path] = r
	}
	for _, rate := range rates {
		authz, ok1 := byRate[rate][benchPathAuthz]
		mtls, ok2 := byRate[rate][benchPathMTLS]
		if !ok1 || !ok2 {
			continue
		}
		fmt.Fprintf(&out, "  at %d/s: added p50 %+.0fµs, added p99 %+.0fµs (%s minus %s)\n", rate,
			float64((authz.a50-mtls.a50).Nanoseconds())/1000, float64((authz.a99-mtls.a99).Nanoseconds())/1000, benchPathAuthz, benchPathMTLS)
	}
	return out.String()
}

// Names of the two rows authzDiff compares.
const (
	benchPathMTLS  = "mesh-proxy x2 mTLS"
	benchPathAuthz = "mesh-proxy x2 mTLS authz"
)
