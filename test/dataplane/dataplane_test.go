// Package dataplane tests mesh-proxy with real packets: network namespaces
// as pods on a bridge, the real `mesh-proxy init` rules in each, the real
// proxy running as its own UID, and real app processes (books calls stars).
// Addresses are in 198.18.100.0/24, inside namespaces only: nothing is
// routed from or to the host. The tests need root; without it, or without
// ip/nft, they fail and say what to run.
package dataplane

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/common/expfmt"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxy/interception"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func TestMain(m *testing.M) {
	if role := os.Getenv("MP_APP"); role != "" {
		if err := runApp(role); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	clientIP = "198.18.100.10"
	booksIP  = "198.18.100.11"
	starsIP  = "198.18.100.12"
	issuer   = "https://issuer.dataplane.test"
	audience = "bookstore"
)

// buildProxy builds mesh-proxy as the image would (static, CGO off) into a
// directory the proxy's UID can read.
func buildProxy(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mesh-proxy-dataplane-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mesh-proxy")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/meshctl/meshctl/cmd/mesh-proxy")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building mesh-proxy: %v\n%s", err, out)
	}
	return bin
}

type tokens struct {
	jwks                                                       string
	valid, expired, none, otherKey, wrongAudience, wrongIssuer string
}

func newTokens(t *testing.T) tokens {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	sign := func(k *rsa.PrivateKey, mod func(jwt.MapClaims)) string {
		c := jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "reader", "exp": time.Now().Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": issuer, "aud": audience, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return tokens{
		jwks:          string(jwks),
		valid:         sign(key, nil),
		expired:       sign(key, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
		none:          none,
		otherKey:      sign(other, nil),
		wrongAudience: sign(key, func(c jwt.MapClaims) { c["aud"] = "billing" }),
		wrongIssuer:   sign(key, func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }),
	}
}

// meshPod sets up a meshed pod: init (run twice, as a restarted init
// container would), the app, and the proxy as UID 1500.
// asProxyUser is the setpriv command (options to follow) that runs a
// process as the proxy's user and group, as the proxy container's
// securityContext does.
func asProxyUser() []string {
	return []string{"setpriv", fmt.Sprintf("--reuid=%d", wire.ProxyUID), fmt.Sprintf("--regid=%d", wire.ProxyGID), "--clear-groups"}
}

func meshPod(t *testing.T, proxyBin, ns, name, ip string, ic wire.Interception, jwks string, appEnv ...string) {
	t.Helper()
	initArgs := ic.Args()
	for range 2 {
		sh(t, "ip", append([]string{"netns", "exec", ns, proxyBin}, initArgs...)...)
	}
	// The kernel holds exactly the rules the pure generator describes.
	rs, err := interception.Generate(ic)
	if err != nil {
		t.Fatal(err)
	}
	if got := sh(t, "ip", "netns", "exec", ns, "nft", "list", "table", "inet", interception.TableName); got != rs.String() {
		t.Fatalf("%s: installed rules differ from the generated ones:\n--- installed\n%s--- generated\n%s", name, got, rs.String())
	}
	start(t, ns, []string{"MP_APP=" + name, "STARS_IP=" + starsIP}, os.Args[0])
	run := wire.Run{
		LogLevel: wire.LogInfo, InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort,
		AdminPort: wire.AdminPort, Metrics: true,
		JWT: &wire.JWT{Issuer: issuer, Audiences: []string{audience}, JWKS: jwks},
	}
	env := []string{"POD_NAME=" + name, "POD_NAMESPACE=dataplane", "POD_IP=" + ip, "SERVICE_ACCOUNT=" + name}
	argv := append(append(asProxyUser(), "--", proxyBin), run.Args()...)
	start(t, ns, env, argv...)
}

type world struct {
	client *http.Client
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	tok    tokens
}

func (w *world) get(t *testing.T, url, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (w *world) books(t *testing.T, path string) booksReply {
	t.Helper()
	resp, body := w.get(t, "http://"+booksIP+":"+strconv.Itoa(booksPort)+path, w.tok.valid)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	var r booksReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return r
}

// metric returns the value of one series in the proxy of ip (0 when the
// series does not exist yet): the series of name whose labels are exactly
// labels, leaving aside the proxy's workload labels (workload_*), which
// every traffic series of a proxy carries alike.
func (w *world) metric(t *testing.T, ip, name string, labels map[string]string) float64 {
	t.Helper()
	_, body := w.get(t, fmt.Sprintf("http://%s:%d/metrics", ip, wire.AdminPort), "")
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("metrics of %s: %v", ip, err)
	}
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.Metric {
		n := 0
		for _, l := range m.Label {
			if strings.HasPrefix(l.GetName(), "workload_") {
				continue
			}
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
			n++
		}
		if n != len(labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return 0
}

// metricReaches polls one series until it equals want, for up to 5 s, and
// returns its last value: a proxy counts a request once the exchange is
// done on its side, which may come just after the client has its answer.
func (w *world) metricReaches(t *testing.T, ip, name string, labels map[string]string, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := w.metric(t, ip, name, labels)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func requests(direction, peer, class string) map[string]string {
	return map[string]string{"direction": direction, "method": "GET", "peer": peer, "status_class": class, "tls": "false"}
}

func (w *world) appServed(t *testing.T) int {
	t.Helper()
	_, body := w.get(t, fmt.Sprintf("http://%s:%d/", booksIP, booksAdminPort), "")
	n, err := strconv.Atoi(body)
	if err != nil {
		t.Fatalf("books' request count %q: %v", body, err)
	}
	return n
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDataplane(t *testing.T) {
	requirePrerequisites(t)
	proxyBin := buildProxy(t)
	tok := newTokens(t)

	tp := newTopology(t)
	clientNS := tp.pod(t, "client", clientIP)
	booksNS := tp.pod(t, "books", booksIP)
	starsNS := tp.pod(t, "stars", starsIP)

	base := wire.Interception{InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, ProxyUID: wire.ProxyUID}
	booksIC := base
	booksIC.SkipInboundPorts = []int32{booksAdminPort}
	booksIC.SkipOutboundPorts = []int32{starsSkipPort}
	starsIC := base
	starsIC.SkipInboundPorts = []int32{starsSkipPort}

	t.Run("init without NET_ADMIN fails loudly", func(t *testing.T) {
		argv := append(append(append([]string{"netns", "exec", clientNS}, asProxyUser()...), "--inh-caps=-all", "--", proxyBin), base.Args()...)
		out, err := exec.Command("ip", argv...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "needs the NET_ADMIN capability") {
			t.Fatalf("init as an unprivileged user: %v\n%s", err, out)
		}
	})

	meshPod(t, proxyBin, starsNS, "stars", starsIP, starsIC, tok.jwks)
	meshPod(t, proxyBin, booksNS, "books", booksIP, booksIC, tok.jwks)

	dial := dialer(t, clientNS)
	w := &world{dial: dial, tok: tok, client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}}
	for _, ip := range []string{booksIP, starsIP} {
		waitFor(t, "the proxy in "+ip+" to be ready", func() bool {
			resp, err := w.client.Get(fmt.Sprintf("http://%s:%d/ready", ip, wire.AdminPort))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	waitFor(t, "the books app", func() bool {
		resp, err := w.client.Get(fmt.Sprintf("http://%s:%d/", booksIP, booksAdminPort))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	waitFor(t, "the stars app", func() bool {
		resp, err := w.client.Get(fmt.Sprintf("http://%s:%d/", starsIP, starsSkipPort))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	booksIn := requests("inbound", "port/8080", "2xx")
	booksOut := requests("outbound", starsIP+":9090", "2xx")
	starsIn := requests("inbound", "port/9090", "2xx")
	const reqs = telemetry.MetricRequestsTotal

	t.Run("client reaches books through its proxy", func(t *testing.T) {
		before := w.metric(t, booksIP, reqs, booksIn)
		r := w.books(t, "/books")
		if after := w.metricReaches(t, booksIP, reqs, booksIn, before+1); after != before+1 {
			t.Fatalf("books' proxy counted %v inbound requests, want %v", after, before+1)
		}
		// The client sent no trace context: the proxy started a trace and
		// gave it to the app in both formats.
		tc := regexp.MustCompile(`^00-([0-9a-f]{32})-[0-9a-f]{16}-01$`).FindStringSubmatch(r.Traceparent)
		if tc == nil || r.B3TraceID != tc[1] {
			t.Fatalf("app got traceparent %q and B3 trace ID %q", r.Traceparent, r.B3TraceID)
		}
	})

	t.Run("books calls stars through both proxies with the Authorization", func(t *testing.T) {
		outBefore, inBefore := w.metric(t, booksIP, reqs, booksOut), w.metric(t, starsIP, reqs, starsIn)
		r := w.books(t, "/books")
		if got := r.Stars[0].Authorization; got != "Bearer "+tok.valid {
			t.Fatalf("stars saw Authorization %.30q, want the client's token", got)
		}
		if !strings.Contains(r.Stars[0].Traceparent, r.Traceparent[3:35]) {
			t.Fatalf("stars is in trace %q, books in %q", r.Stars[0].Traceparent, r.Traceparent)
		}
		if got := w.metricReaches(t, booksIP, reqs, booksOut, outBefore+1); got != outBefore+1 {
			t.Errorf("books' proxy counted %v outbound requests, want %v", got, outBefore+1)
		}
		if got := w.metricReaches(t, starsIP, reqs, starsIn, inBefore+1); got != inBefore+1 {
			t.Errorf("stars' proxy counted %v inbound requests, want %v", got, inBefore+1)
		}
	})

	t.Run("bad tokens get 401 and never reach the app", func(t *testing.T) {
		before := w.appServed(t)
		for name, token := range map[string]string{
			"missing": "", "expired": tok.expired, "alg none": tok.none, "signed by another key": tok.otherKey,
			"wrong audience": tok.wrongAudience, "wrong issuer": tok.wrongIssuer, "garbage": "not.a.jwt",
		} {
			resp, body := w.get(t, fmt.Sprintf("http://%s:%d/books", booksIP, booksPort), token)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("%s: %s, WWW-Authenticate %q", name, resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
			if token != "" && (strings.Contains(body, token) || strings.Contains(resp.Header.Get("WWW-Authenticate"), token)) {
				t.Errorf("%s: the response echoes the token", name)
			}
		}
		if after := w.appServed(t); after != before {
			t.Fatalf("%d rejected requests reached the app", after-before)
		}
	})

	t.Run("fan-out of 10 calls all carry the header", func(t *testing.T) {
		outBefore, inBefore := w.metric(t, booksIP, reqs, booksOut), w.metric(t, starsIP, reqs, starsIn)
		r := w.books(t, "/fanout?n=10")
		if len(r.Stars) != 10 {
			t.Fatalf("%d replies", len(r.Stars))
		}
		for i, s := range r.Stars {
			if s.Authorization != "Bearer "+tok.valid {
				t.Errorf("call %d reached stars with Authorization %.30q", i, s.Authorization)
			}
		}
		// Exactly 10 each: the proxy's own upstream connections (UID 1500)
		// are not redirected into itself, or they would be counted twice
		// or refused.
		if got := w.metricReaches(t, booksIP, reqs, booksOut, outBefore+10); got != outBefore+10 {
			t.Errorf("books' proxy counted %v outbound requests, want %v", got, outBefore+10)
		}
		if got := w.metricReaches(t, starsIP, reqs, starsIn, inBefore+10); got != inBefore+10 {
			t.Errorf("stars' proxy counted %v inbound requests, want %v", got, inBefore+10)
		}
	})

	t.Run("raw TCP echo works through the proxies", func(t *testing.T) {
		tcpConns := func(ip, direction, peer string) float64 {
			return w.metric(t, ip, "mesh_proxy_tcp_connections_total", map[string]string{"direction": direction, "peer": peer, "tls": "false"})
		}
		inBefore := tcpConns(booksIP, "inbound", "127.0.0.1:7000")
		c, err := dial(context.Background(), "tcp", net.JoinHostPort(booksIP, strconv.Itoa(echoPort)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("\x00raw\xfe"))
		c.(*net.TCPConn).CloseWrite()
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "echo:\x00raw\xfe" {
			t.Fatalf("client -> books echo: %q, %v", b, err)
		}
		// books -> stars: opaque through books' outbound and stars' inbound.
		outBefore, starsBefore := tcpConns(booksIP, "outbound", starsIP+":7000"), tcpConns(starsIP, "inbound", "127.0.0.1:7000")
		if r := w.books(t, "/echo"); r.Echo != "echo:\x00\x01binary\x7f" {
			t.Fatalf("books -> stars echo: %q", r.Echo)
		}
		waitFor(t, "TCP metrics", func() bool {
			return tcpConns(booksIP, "inbound", "127.0.0.1:7000") == inBefore+1 &&
				tcpConns(booksIP, "outbound", starsIP+":7000") == outBefore+1 &&
				tcpConns(starsIP, "inbound", "127.0.0.1:7000") == starsBefore+1
		})
	})

	t.Run("the proxy's own traffic is not looped", func(t *testing.T) {
		// The proxy (UID 1500) reaching stars from inside the books pod
		// must go straight out: stars' proxy sees it once; books' proxy
		// never sees its own connection come back.
		before := w.metric(t, booksIP, reqs, booksOut)
		argv := append(append([]string{"netns", "exec", booksNS}, asProxyUser()...), "--", os.Args[0], "-test.run=^TestFetchHelper$", "-fetch.url=http://"+starsIP+":9090/")
		out := sh(t, "ip", argv...)
		if !strings.Contains(out, "fetch status 401") {
			t.Fatalf("UID %d reaching stars directly should meet stars' JWT check (401), got: %s", wire.ProxyUID, out)
		}
		if got := w.metric(t, booksIP, reqs, booksOut); got != before {
			t.Fatalf("books' outbound listener saw the proxy UID's own request (%v -> %v)", before, got)
		}
	})

	t.Run("excluded ports bypass the proxy", func(t *testing.T) {
		r := w.books(t, "/skip")
		if got := r.Stars[0].Authorization; got != "" {
			t.Fatalf("a call on an excluded outbound port got Authorization %.30q: it went through the proxy", got)
		}
		if got := w.metric(t, booksIP, reqs, requests("outbound", starsIP+":9091", "2xx")); got != 0 {
			t.Errorf("books' proxy counted %v requests to the excluded outbound port", got)
		}
		if got := w.metric(t, starsIP, reqs, requests("inbound", "port/9091", "2xx")); got != 0 {
			t.Errorf("stars' proxy counted %v requests to its excluded inbound port", got)
		}
		w.appServed(t) // reaches books:8081 directly
		if got := w.metric(t, booksIP, reqs, requests("inbound", "port/8081", "2xx")); got != 0 {
			t.Errorf("books' proxy counted %v requests to its excluded inbound port", got)
		}
	})

}
