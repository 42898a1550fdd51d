package forward

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meshctl/meshctl/pkg/proxy/h1"
)

// flakyBackend answers the first request of every connection, then fails
// the second the way fail says: "close" reads it and closes without a
// byte (as a server closing an idle connection does), "partial" sends the
// start of a response first. It counts the requests it read.
func flakyBackend(t *testing.T, fail string) (netip.AddrPort, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					n.Add(1)
					if i == 0 {
						c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
						continue
					}
					if fail == "partial" {
						c.Write([]byte("HTTP/1.1 200"))
					}
					return
				}
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), &n
}

// TestRetryOnlyWhatIsSafe: a request that failed on a reused connection
// goes again on a new one only when it is idempotent (by method or an
// Idempotency-Key) and nothing of a response was read, on the lean path
// and on the pool's RoundTrip alike.
func TestRetryOnlyWhatIsSafe(t *testing.T) {
	for _, tc := range []struct {
		name, method, header, fail string
		retried                    bool
	}{
		{"GET, closed", "GET", "", "close", true},
		{"HEAD, closed", "HEAD", "", "close", true},
		{"OPTIONS, closed", "OPTIONS", "", "close", true},
		{"POST, closed", "POST", "", "close", false},
		{"DELETE, closed", "DELETE", "", "close", false},
		{"POST with Idempotency-Key, closed", "POST", "Idempotency-Key: k", "close", true},
		{"POST with X-Idempotency-Key, closed", "POST", "X-Idempotency-Key: k", "close", true},
		{"GET, part of a response read", "GET", "", "partial", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := 3 // the first request, the failed one and its retry
			if !tc.retried {
				want = 2
			}
			t.Run("lean", func(t *testing.T) {
				dst, n := flakyBackend(t, tc.fail)
				f := New(Forwarder{Destination: func(*http.Request) (netip.AddrPort, bool) { return dst, true }})
				defer f.Close()
				var statuses []int
				for range 2 {
					req := tc.method + " / HTTP/1.1\r\nHost: books\r\n"
					if tc.header != "" {
						req += tc.header + "\r\n"
					}
					req += "\r\n"
					var out bytes.Buffer
					x := &h1.Exchange{Dst: dst, In: bufio.NewReader(strings.NewReader(req)), Out: bufio.NewWriter(&out)}
					if err := h1.PeekRequest(x.In, &x.Request); err != nil {
						t.Fatal(err)
					}
					if err := f.ServeH1(x); err != nil {
						statuses = append(statuses, http.StatusBadGateway)
						continue
					}
					statuses = append(statuses, x.Status)
				}
				if got := int(n.Load()); got != want || (statuses[1] == 200) != tc.retried {
					t.Fatalf("backend read %d requests, statuses %v; want %d, retried %v", got, statuses, want, tc.retried)
				}
			})
			t.Run("RoundTrip", func(t *testing.T) {
				dst, n := flakyBackend(t, tc.fail)
				f := New(Forwarder{Destination: func(*http.Request) (netip.AddrPort, bool) { return dst, true }})
				defer f.Close()
				var errs []error
				for range 2 {
					req, _ := http.NewRequest(tc.method, "http://"+dst.String()+"/", nil)
					if k, v, ok := strings.Cut(tc.header, ": "); ok {
						req.Header.Set(k, v)
					}
					resp, err := f.pool.RoundTrip(req)
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					errs = append(errs, err)
				}
				if got := int(n.Load()); got != want || (errs[1] == nil) != tc.retried {
					t.Fatalf("backend read %d requests, errors %v; want %d, retried %v", got, errs, want, tc.retried)
				}
			})
		})
	}
}
