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
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/meshctl/meshctl/pkg/proxy/auth"
	"github.com/meshctl/meshctl/pkg/proxy/listener"
)

// TestOneAuthorizationOnly: a request with a valid token in its first
// Authorization field and another field after it is refused on both paths,
// as only the first is checked and the app might read the second; a request
// with the valid token alone passes.
func TestOneAuthorizationOnly(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	set, err := auth.ParseJWKS([]byte(fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k","x":%q,"y":%q}]}`,
		b64(k.X.FillBytes(make([]byte, 32))), b64(k.Y.FillBytes(make([]byte, 32))))))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(auth.Options{Issuer: "https://issuer.example", Keys: auth.StaticKeys(set)})
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{Issuer: "https://issuer.example", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))})
	tok.Header["kid"] = "k"
	token, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}

	lean := &handoffRecorder{}
	var reached atomic.Int64
	h := &Handler{Auth: v, ForwardH1: lean, Forward: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusOK)
	})}
	s := &listener.Server{
		Direction: "inbound",
		Destination: func(*net.TCPConn) (netip.AddrPort, error) {
			return netip.MustParseAddrPort("127.0.0.1:8080"), nil
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
	for _, tc := range []struct {
		headers    string
		wantStatus int
		wantLean   int64 // exchanges the lean path forwarded (it hands off what it refuses)
	}{
		{"Authorization: Bearer " + token + "\r\n", 200, 1},
		{"Authorization: Bearer " + token + "\r\nAuthorization: Bearer forged\r\n", 401, 0},
		{"Authorization: Bearer " + token + "\r\nAuthorization: Bearer " + token + "\r\n", 401, 0},
	} {
		before, reachedBefore := lean.n.Load(), reached.Load()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /api HTTP/1.1\r\nHost: pod\r\n%sConnection: close\r\n\r\n", tc.headers)
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != tc.wantStatus || lean.n.Load()-before != tc.wantLean {
			t.Errorf("%q: status %d, lean path forwarded %d; want %d and %d", tc.headers, r.StatusCode, lean.n.Load()-before, tc.wantStatus, tc.wantLean)
		}
		if tc.wantStatus != 200 && reached.Load() != reachedBefore {
			t.Errorf("%q: the refused request reached the app", tc.headers)
		}
	}
}
