package proxy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/version"
)

// proxy is Run on loopback ports. There is no interception here
// (the netns tests in test/dataplane have it), so every connection's
// "original destination" is the app.
type proxy struct {
	addrs map[string]string // by configured port: inbound/outbound/admin
	log   *syncbuf.Buffer
	stop  func()
	done  chan error
}

// addr is where the test proxy's listener for a configured port listens.
func (p *proxy) addr(port int) string { return p.addrs[":"+strconv.Itoa(port)] }

func startProxy(t *testing.T, r wire.Run, app netip.AddrPort) *proxy {
	return startProxyRun(t, r, app)
}

func startProxyB(b *testing.B, _ *testing.T, app netip.AddrPort) *proxy {
	return startProxyRun(b, run(), app)
}

func startProxyRun(t testing.TB, r wire.Run, app netip.AddrPort) *proxy {
	t.Helper()
	return startProxyWith(t, r, app, nil)
}

// startProxyWith is startProxyRun with mutual TLS between proxies when id
// is not nil.
func startProxyWith(t testing.TB, r wire.Run, app netip.AddrPort, id *Identity) *proxy {
	t.Helper()
	return startProxyOptions(t, Options{Run: r, Identity: id}, app)
}

// startProxyOptions starts a proxy with o's Run, Identity and Pod, on
// loopback, with every connection's original destination app.
func startProxyOptions(t testing.TB, o Options, app netip.AddrPort) *proxy {
	t.Helper()
	p := &proxy{addrs: map[string]string{}, log: &syncbuf.Buffer{}, done: make(chan error, 1)}
	var mu sync.Mutex
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go func() {
		p.done <- Run(ctx, Options{
			Run: o.Run,
			Pod: o.Pod,
			Log: p.log,
			Listen: func(network, addr string) (*net.TCPListener, error) {
				ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err == nil {
					mu.Lock()
					p.addrs[addr] = ln.Addr().String()
					mu.Unlock()
				}
				return ln, err
			},
			OriginalDst:  func(*net.TCPConn) (netip.AddrPort, error) { return app, nil },
			DrainTimeout: 5 * time.Second,
			Ready:        func() { close(ready) },
			Identity:     o.Identity,
		})
	}()
	select {
	case <-ready:
	case err := <-p.done:
		t.Fatalf("proxy did not start: %v", err)
	}
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

func run() wire.Run {
	return wire.Run{LogLevel: wire.LogInfo, InboundPort: wire.InboundPort, OutboundPort: wire.OutboundPort, AdminPort: wire.AdminPort, Metrics: true}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rawApp is an app that records each request head as it came on the
// wire, to tell the lean path (which passes field names on as sent) from
// net/http's (which canonicalises them), and answers "books".
func rawApp(t *testing.T) (netip.AddrPort, chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	heads := make(chan string, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var head strings.Builder
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						head.WriteString(line)
						if line == "\r\n" {
							break
						}
					}
					heads <- head.String()
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nbooks")
				}
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), heads
}

// TestInboundJWTAndMetrics: each case on a connection of its own, so
// that every one meets the lean path's check first (a rejected token hands
// its connection over to net/http for good).
// TestStartUpLogNamesTheVersion: the line that says the proxy serves is
// the one a reader of a pod's log finds first, so it names the build.
func TestStartUpLogNamesTheVersion(t *testing.T) {
	p := startProxy(t, run(), netip.MustParseAddrPort("127.0.0.1:1"))
	for l := range strings.Lines(p.log.String()) {
		var line struct {
			Msg     string `json:"msg"`
			Version string `json:"version"`
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if line.Msg == "mesh-proxy serving" {
			if line.Version != version.Version() {
				t.Fatalf("start-up log line %q: version %q, want %q", l, line.Version, version.Version())
			}
			return
		}
	}
	t.Fatalf("no start-up log line in:\n%s", p.log.String())
}

func TestInboundJWTAndMetrics(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pt, _ := key.PublicKey.Bytes()
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "EC", "crv": "P-256", "kid": "k", "x": b64(pt[1:33]), "y": b64(pt[33:])}}})

	app, heads := rawApp(t)
	r := run()
	r.JWT = &wire.JWT{Issuer: "https://issuer", Audiences: []string{"books"}, JWKS: string(jwks)}
	p := startProxy(t, r, app)

	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "https://issuer", "aud": "books", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k"
	good, _ := tok.SignedString(key)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"valid", "Bearer " + good, http.StatusOK},
		{"none", "", http.StatusUnauthorized},
		{"bad signature", "Bearer " + good[:len(good)-4] + "AAAA", http.StatusUnauthorized},
		{"valid after rejected ones", "Bearer " + good, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialInbound(t, p)
			req := "GET /books HTTP/1.1\r\nHost: books\r\nx-probe: 1\r\n"
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
			if tc.want == http.StatusUnauthorized {
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			select {
			case head := <-heads:
				if !strings.Contains(head, "\r\nx-probe: 1\r\n") || !strings.Contains(head, "\r\nAuthorization: "+tc.auth+"\r\n") {
					t.Fatalf("the app got\n%s\nnot from the lean path (field names as sent), or without the token", head)
				}
			default:
				t.Fatal("the app got no request")
			}
		})
	}
	select {
	case head := <-heads:
		t.Errorf("the app got a request with a rejected token:\n%s", head)
	default:
	}
	// A request is counted once its exchange is done on the proxy's side,
	// which may come just after the client has read the response: wait for
	// the counts rather than read them once.
	waitForMetrics(t, "http://"+p.addr(wire.AdminPort)+"/metrics",
		telemetry.MetricRequestsTotal+`{direction="inbound",method="GET",peer="port/`,
		`status_class="4xx",tls="false"} 2`,
		`status_class="2xx",tls="false"} 2`,
	)
}

// waitForMetrics polls url for up to 5 s until its body holds every one of
// wants, and fails naming those still missing.
func waitForMetrics(t *testing.T, url string, wants ...string) {
	t.Helper()
	var missing []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(string(body), want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %s\n%s", strings.Join(missing, ", "), body)
		}
	}
}

func TestDrainFinishesInFlight(t *testing.T) {
	release := make(chan struct{})
	app := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "late but whole")
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go app.Serve(ln)
	defer app.Close()
	p := startProxy(t, run(), ln.Addr().(*net.TCPAddr).AddrPort())

	type result struct {
		body string
		err  error
	}
	got := make(chan result)
	go func() {
		resp, err := http.Get("http://" + p.addr(wire.InboundPort) + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{string(b), err}
	}()
	time.Sleep(100 * time.Millisecond)
	p.stop() // SIGTERM
	time.Sleep(100 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", p.addr(wire.InboundPort), time.Second); err == nil {
		t.Error("the inbound listener still accepts while draining")
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "late but whole" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-p.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	p.done <- nil // for Cleanup
}

func TestTracingExportsOverOTLP(t *testing.T) {
	got := make(chan *http.Request, 10)
	collector := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r
	})}
	cln, _ := net.Listen("tcp", "127.0.0.1:0")
	go collector.Serve(cln)
	defer collector.Close()
	var traceparent string
	app := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceparent = r.Header.Get("Traceparent")
	})}
	aln, _ := net.Listen("tcp", "127.0.0.1:0")
	go app.Serve(aln)
	defer app.Close()

	r := run()
	r.Tracing = &wire.Tracing{Address: "127.0.0.1", Port: int32(cln.Addr().(*net.TCPAddr).Port), Endpoint: "/v1/traces"}
	p := startProxy(t, r, aln.Addr().(*net.TCPAddr).AddrPort())
	req, _ := http.NewRequest("GET", "http://"+p.addr(wire.InboundPort)+"/", nil)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req.Header.Set("Traceparent", parent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || traceparent == parent {
		t.Fatalf("app got traceparent %q: want the caller's trace with the proxy's span", traceparent)
	}
	p.stop() // shutdown flushes the batch
	select {
	case r := <-got:
		if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Fatalf("collector got %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no spans exported over OTLP")
	}
}

// TestBadGatewayClosesTheConnection: when the app is gone, the lean path
// answers 502 and closes the connection without reading the request's
// body, which would otherwise be parsed as the connection's next request
// (smuggled past the proxy's checks).
func TestBadGatewayClosesTheConnection(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	p := startProxy(t, run(), dead)
	for _, tc := range []struct{ name, req string }{
		{"body", "POST / HTTP/1.1\r\nHost: books\r\nContent-Length: 34\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"no body", "GET / HTTP/1.1\r\nHost: books\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialInbound(t, p)
			io.WriteString(c, tc.req)
			all, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("connection not closed after the 502: %v (read %q)", err, all)
			}
			if n := strings.Count(string(all), "HTTP/1.1 "); n != 1 || !strings.HasPrefix(string(all), "HTTP/1.1 502 ") {
				t.Fatalf("got %q; want one 502 and the connection closed", all)
			}
		})
	}
}

// dialInbound connects to p's inbound port, for at most 5 s of exchange;
// the connection closes with the test.
func dialInbound(t *testing.T, p *proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.addr(wire.InboundPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}
