package inbound

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestOneAuthorizationOnly: a request with a valid token in its first
// Authorization field and another field after it is refused on both paths,
// as only the first is checked and the app might read the second; a request
// with the valid token alone passes.
func TestOneAuthorizationOnly(t *testing.T) {
	v, k := testValidator(t)
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
	addr := serveInbound(t, h, 8080)
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
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
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
