package inbound

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/proxy/auth"
	"github.com/meshctl/meshctl/pkg/proxy/h1"
	"github.com/meshctl/meshctl/pkg/proxy/listener"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// testValidator is a real ES256 validator of issuer https://issuer.example,
// exempting probes, with the key that signs its tokens.
func testValidator(t *testing.T, probes ...wire.Probe) (*auth.Validator, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	jwks := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k","x":%q,"y":%q}]}`,
		b64(k.X.FillBytes(make([]byte, 32))), b64(k.Y.FillBytes(make([]byte, 32))))
	set, err := auth.ParseJWKS([]byte(jwks))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(auth.Options{Issuer: "https://issuer.example", Keys: auth.StaticKeys(set), ExemptProbes: probes})
	if err != nil {
		t.Fatal(err)
	}
	return v, k
}

// exemptValidator is a real validator (requests here carry no token) that
// exempts the probes GET /healthz and /a%20b on 8080.
func exemptValidator(t *testing.T) *auth.Validator {
	t.Helper()
	v, _ := testValidator(t, wire.Probe{Port: 8080, Path: "/healthz"}, wire.Probe{Port: 8080, Path: "/a%20b"})
	return v
}

// serveInbound runs h behind a real inbound listener whose connections all
// went to port, and returns its address.
func serveInbound(t *testing.T, h *Handler, port uint16) string {
	t.Helper()
	s := &listener.Server{
		Direction: "inbound",
		Destination: func(*net.TCPConn) (netip.AddrPort, error) {
			return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), nil
		},
		HTTP: h, H1: h,
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// The probe cases: only a GET or HEAD to exactly the probe's port and raw
// path passes without a token.
var exemptCases = []struct {
	method string
	port   uint16
	target string
	pass   bool
}{
	{"GET", 8080, "/healthz", true},
	{"HEAD", 8080, "/healthz", true},
	{"GET", 8080, "/healthz?verbose=1", true},
	{"GET", 8080, "/a%20b", true},
	{"POST", 8080, "/healthz", false},
	{"PUT", 8080, "/healthz", false},
	{"GET", 8080, "/healthz/x", false},
	{"GET", 8080, "/healthz/", false},
	{"GET", 8080, "/healthzx", false},
	{"GET", 8080, "/Healthz", false},
	{"GET", 8080, "/%68ealthz", false},
	{"GET", 8080, "//healthz", false},
	{"GET", 8080, "/a b", false},
	{"GET", 9090, "/healthz", false},
	{"GET", 8080, "/other", false},
	{"GET", 8080, "/", false},
}

func TestExemptProbesGeneralPath(t *testing.T) {
	h := &Handler{Auth: exemptValidator(t), Forward: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})}
	for _, tc := range exemptCases {
		r := httptest.NewRequest(tc.method, "http://pod/", nil)
		r.RequestURI = tc.target // as received, not as httptest re-encodes it
		r = r.WithContext(listener.WithDestination(r.Context(), netip.AddrPortFrom(netip.MustParseAddr("198.18.0.5"), tc.port)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if want := map[bool]int{true: 200, false: 401}[tc.pass]; w.Code != want {
			t.Errorf("%s %d %s: status %d, want %d", tc.method, tc.port, tc.target, w.Code, want)
		}
	}
	// Without the listener's destination, nothing is exempt.
	r := httptest.NewRequest("GET", "/healthz", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("GET /healthz without a destination: status %d, want 401", w.Code)
	}
}

type leanRecorder struct{ n int }

func (l *leanRecorder) ServeH1(*h1.Exchange) error {
	l.n++
	return nil
}

func TestExemptProbesLeanPath(t *testing.T) {
	for _, tc := range exemptCases {
		lean := &leanRecorder{}
		h := &Handler{Auth: exemptValidator(t), Forward: http.NotFoundHandler(), ForwardH1: lean}
		x := &h1.Exchange{Request: h1.Request{Method: tc.method, Target: tc.target}, Dst: netip.AddrPortFrom(netip.MustParseAddr("198.18.0.5"), tc.port)}
		err := h.ServeH1(x)
		if tc.pass && (err != nil || lean.n != 1) {
			t.Errorf("%s %d %s: %v, forwarded %d; want forwarded on the lean path", tc.method, tc.port, tc.target, err, lean.n)
		}
		if !tc.pass && (err != h1.ErrHandoff || lean.n != 0) {
			t.Errorf("%s %d %s: %v, forwarded %d; want handed off to the 401 of the general path", tc.method, tc.port, tc.target, err, lean.n)
		}
	}
}

// handoffRecorder counts the exchanges the lean path forwards, then hands
// them to the general path, so that one real connection shows both paths'
// decisions.
type handoffRecorder struct{ n atomic.Int64 }

func (l *handoffRecorder) ServeH1(*h1.Exchange) error {
	l.n.Add(1)
	return h1.ErrHandoff
}

// TestExemptProbesThroughTheListener sends real requests through the
// inbound listener, as the kubelet's probe arrives: each is decided on the
// lean path first, then answered by the general one.
func TestExemptProbesThroughTheListener(t *testing.T) {
	v := exemptValidator(t)
	serve := func(port uint16) (string, *handoffRecorder) {
		lean := &handoffRecorder{}
		h := &Handler{Auth: v, ForwardH1: lean, Forward: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
		})}
		return serveInbound(t, h, port), lean
	}
	addrs := map[uint16]string{}
	leans := map[uint16]*handoffRecorder{}
	for _, p := range []uint16{8080, 9090} {
		addrs[p], leans[p] = serve(p)
	}
	for _, tc := range exemptCases {
		if strings.Contains(tc.target, " ") {
			continue // not a request line
		}
		before := leans[tc.port].n.Load()
		status := rawRequest(t, addrs[tc.port], tc.method, tc.target)
		if want := map[bool]int{true: 200, false: 401}[tc.pass]; status != want {
			t.Errorf("%s %d %s: status %d, want %d", tc.method, tc.port, tc.target, status, want)
		}
		if forwarded := leans[tc.port].n.Load() - before; forwarded != map[bool]int64{true: 1, false: 0}[tc.pass] {
			t.Errorf("%s %d %s: the lean path forwarded %d", tc.method, tc.port, tc.target, forwarded)
		}
	}
}

// rawRequest sends one HTTP/1.1 request with target written as it is, as
// the kubelet's client writes it, and returns the response's status.
func rawRequest(t *testing.T, addr, method, target string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: pod\r\nUser-Agent: kube-probe/1.34\r\nConnection: close\r\n\r\n", method, target)
	r, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	r.Body.Close()
	return r.StatusCode
}
