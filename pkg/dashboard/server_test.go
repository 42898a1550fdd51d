package dashboard

import (
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/trafficstats"
)

// serve serves a Server whose State is st on a loopback port, or on addr.
func serve(t *testing.T, addr string, st State) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().(*net.TCPAddr)
	srv := &http.Server{Handler: (&Server{State: func() State { return st }, Listen: listen}).Handler()}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return listen
}

// get asks for path at addr with the Host header host.
func get(t *testing.T, addr *net.TCPAddr, host, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	port := strconv.Itoa(addr.Port)
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = strings.ReplaceAll(host, "PORT", port)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestHostCheck attacks the server as a page of another site would after
// pointing its own name at 127.0.0.1 (DNS rebinding): the browser sends
// that name as Host, and the page and its JSON are refused.
func TestHostCheck(t *testing.T) {
	st := State{Generation: 7, Scope: "namespace bookstore", Graph: Graph{Nodes: []Node{{ID: "a/deployment/b", Kind: "deployment", Name: "b"}}}}
	loopback := serve(t, "127.0.0.1:0", st)
	for _, tc := range []struct {
		host string
		want int
	}{
		{"127.0.0.1:PORT", http.StatusOK},
		{"localhost:PORT", http.StatusOK},
		{"LOCALHOST:PORT", http.StatusOK},
		{"evil.example:PORT", http.StatusMisdirectedRequest},
		{"evil.example", http.StatusMisdirectedRequest},
		{"127.0.0.1.nip.io:PORT", http.StatusMisdirectedRequest},
		{"localhost.evil.example:PORT", http.StatusMisdirectedRequest},
		{"127.0.0.1:1", http.StatusMisdirectedRequest},
		{"10.0.0.1:PORT", http.StatusMisdirectedRequest},
	} {
		for _, path := range []string{StatePath, "/", "/app.js"} {
			resp, body := get(t, loopback, tc.host, path, nil)
			if resp.StatusCode != tc.want {
				t.Errorf("Host %s, GET %s: %d, want %d", tc.host, path, resp.StatusCode, tc.want)
			}
			if tc.want != http.StatusOK && strings.Contains(body, "bookstore") {
				t.Errorf("Host %s, GET %s: the answer shows the state: %s", tc.host, path, body)
			}
		}
	}

	// Listening on every address, any IP literal names it; a DNS name
	// other than localhost still does not.
	everywhere := serve(t, "0.0.0.0:0", st)
	for host, want := range map[string]int{"10.1.2.3:PORT": http.StatusOK, "localhost:PORT": http.StatusOK, "evil.example:PORT": http.StatusMisdirectedRequest} {
		if resp, _ := get(t, everywhere, host, StatePath, nil); resp.StatusCode != want {
			t.Errorf("listening on 0.0.0.0, Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	for _, tc := range []struct {
		listen string
		host   string
		want   bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8080", "[::1]:8080", true},
		{"127.0.0.1:8080", "localhost:8080", true},
		{"127.0.0.1:8080", "localhost", false},
		{"127.0.0.1:80", "localhost", true},
		{"127.0.0.1:80", "127.0.0.1", true},
		{"127.0.0.1:8080", "", false},
		{"127.0.0.1:8080", ":8080", false},
		{"127.0.0.1:8080", "evil.example:8080", false},
		{"127.0.0.1:8080", "192.168.1.5:8080", false},
		{"192.168.1.5:8080", "192.168.1.5:8080", true},
		{"192.168.1.5:8080", "localhost:8080", false},
		{"192.168.1.5:8080", "127.0.0.1:8080", false},
		{"[::]:8080", "[fe80::1]:8080", true},
		{"[::]:8080", "evil.example:8080", false},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.listen)
		if err != nil {
			t.Fatal(err)
		}
		if got := (&Server{Listen: addr}).hostAllowed(tc.host); got != tc.want {
			t.Errorf("listening on %s, Host %q: %v, want %v", tc.listen, tc.host, got, tc.want)
		}
	}
}

// FuzzHostAllowed: whatever the Host header, one that is accepted names
// the listening port, and an IP literal or localhost.
func FuzzHostAllowed(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8080", "localhost:8080", "evil.example:8080", "[::1]:8080", "", "[", "127.0.0.1:08080", "127.0.0.1:+8080"} {
		f.Add(s)
	}
	listen := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	f.Fuzz(func(t *testing.T, host string) {
		if !(&Server{Listen: listen}).hostAllowed(host) {
			return
		}
		h, port, err := net.SplitHostPort(host)
		if err != nil || port != "8080" {
			t.Fatalf("%q accepted: not port 8080", host)
		}
		if ip := net.ParseIP(h); !strings.EqualFold(h, "localhost") && (ip == nil || !ip.IsLoopback()) {
			t.Fatalf("%q accepted: not loopback", host)
		}
	})
}

// TestStateEndpoint: the State as JSON, 304 for the generation the page
// holds, and the page's headers.
func TestStateEndpoint(t *testing.T) {
	addr := serve(t, "127.0.0.1:0", State{Generation: 3, Scope: "all namespaces", Graph: Graph{Nodes: []Node{}, Edges: []Edge{}}})
	resp, body := get(t, addr, "127.0.0.1:PORT", StatePath, nil)
	var st State
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Generation != 3 || st.Scope != "all namespaces" {
		t.Fatalf("GET %s: %v %+v (%s)", StatePath, err, st, body)
	}
	if ct, etag := resp.Header.Get("Content-Type"), resp.Header.Get("ETag"); ct != "application/json" || etag != `"3"` {
		t.Errorf("Content-Type %q, ETag %q", ct, etag)
	}
	if resp, _ := get(t, addr, "127.0.0.1:PORT", StatePath, http.Header{"If-None-Match": {`"3"`}}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match of the same generation: %d", resp.StatusCode)
	}
	if resp, _ := get(t, addr, "127.0.0.1:PORT", StatePath, http.Header{"If-None-Match": {`"2"`}}); resp.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match of an older generation: %d", resp.StatusCode)
	}
	resp, body = get(t, addr, "127.0.0.1:PORT", "/", nil)
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "/app.js") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET /: %d, CSP %q", resp.StatusCode, csp)
	}
	if resp, _ := get(t, addr, "127.0.0.1:PORT", "/nothing", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %d", resp.StatusCode)
	}
}

// TestCrossSiteRequestsRefused: another site's page can send a request with
// the right Host (an <img> or a no-cors fetch to 127.0.0.1); browsers mark
// it cross-site, and it is refused, so it cannot keep the proxies being
// read. The page's own requests, and the address typed in, are served.
func TestCrossSiteRequestsRefused(t *testing.T) {
	addr := serve(t, "127.0.0.1:0", State{Generation: 1})
	for _, tc := range []struct {
		site string
		want int
	}{
		{"", http.StatusOK},
		{"same-origin", http.StatusOK},
		{"none", http.StatusOK},
		{"cross-site", http.StatusForbidden},
		{"same-site", http.StatusForbidden},
	} {
		for _, path := range []string{StatePath, "/"} {
			h := http.Header{}
			if tc.site != "" {
				h.Set("Sec-Fetch-Site", tc.site)
			}
			resp, body := get(t, addr, "127.0.0.1:PORT", path, h)
			if resp.StatusCode != tc.want {
				t.Errorf("%s with Sec-Fetch-Site %q: %d, want %d", path, tc.site, resp.StatusCode, tc.want)
			}
			if tc.want != http.StatusOK && strings.Contains(body, `"generation"`) {
				t.Errorf("%s with Sec-Fetch-Site %q: the state was sent: %s", path, tc.site, body)
			}
		}
	}
}

// TestAbsurdCountersStillEncode: a proxy's counters are its own to report;
// two of 1.7e308 for one caller sum to +Inf, whose success rate is NaN.
// The state must still reach the page as JSON, not as an empty 200.
func TestAbsurdCountersStillEncode(t *testing.T) {
	inf := math.Inf(1)
	f := figuresOf(trafficstats.Traffic{Requests: inf, RequestRate: inf, TCPActive: math.NaN()})
	st := State{Generation: 3, Graph: Graph{Edges: []Edge{{Source: "a/deployment/b", Target: "a/deployment/c", Figures: f}}}}
	addr := serve(t, "127.0.0.1:0", st)
	resp, body := get(t, addr, "127.0.0.1:PORT", StatePath, nil)
	var got State
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || len(got.Edges) != 1 {
		t.Fatalf("state of a proxy with absurd counters: %d %q", resp.StatusCode, body)
	}
	if n := got.Edges[0].Figures; n.SuccessRate != nil || n.Requests != 0 {
		t.Errorf("non-finite figures shown as %+v, want unknown", n)
	}
}
