package h1

import (
	"bufio"
	"bytes"
	"testing"
)

func TestHeaderChanges(t *testing.T) {
	br := reader("GET / HTTP/1.1\r\nHost: books\r\ntraceparent: old\r\nX-A: 1\r\nB3: x\r\n\r\n")
	var r Request
	if err := PeekRequest(br, &r); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Traceparent", "new")
	r.Header.Del("b3")
	r.Header.Set("Authorization", "Bearer t")
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	r.WriteHead(w)
	w.Flush()
	want := "GET / HTTP/1.1\r\nHost: books\r\nX-A: 1\r\nTraceparent: new\r\nAuthorization: Bearer t\r\n\r\n"
	if out.String() != want {
		t.Fatalf("head\n%q\nwant\n%q", out.String(), want)
	}
}

// TestHopByHopFields: what only concerns one connection (the set
// httputil.ReverseProxy removes) does not cross the proxy, either way.
func TestHopByHopFields(t *testing.T) {
	var req Request
	if err := PeekRequest(reader("GET / HTTP/1.1\r\nHost: books\r\nProxy-Authorization: Basic eDp5\r\nConnection: keep-alive, close\r\nX-A: 1\r\n\r\n"), &req); err != nil {
		t.Fatal(err)
	}
	if !req.Close || req.Header.Len() != 2 || req.Header.Get("X-A") != "1" || req.Header.Get("Host") != "books" {
		t.Errorf("request fields %+v, close %v; want only Host and X-A, close", req.Header.fields, req.Close)
	}
	hop := []string{"Connection", "Keep-Alive", "Proxy-Connection", "Upgrade", "TE", "Proxy-Authenticate", "X-Named", "X-Named-Too"}
	for _, tc := range []struct {
		name, in string
		keep     []string
	}{
		{"length", "HTTP/1.1 200 OK\r\nX-Named: 1\r\nConnection: X-Named, keep-alive,, x-named-too\r\nKeep-Alive: timeout=5\r\n" +
			"Upgrade: h2c\r\nTE: trailers\r\nProxy-Authenticate: Basic\r\nTrailer: X-T\r\nX-Named-Too: 2\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n",
			[]string{"X-A", "Content-Length"}},
		{"framing stays", "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 0\r\n\r\n", []string{"Content-Length"}},
		{"chunked keeps Trailer", "HTTP/1.1 200 OK\r\nTrailer: X-T\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n",
			[]string{"Trailer", "Transfer-Encoding"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			if err := ReadResponse(reader(tc.in), "GET", &r); err != nil {
				t.Fatal(err)
			}
			for _, name := range hop {
				if r.Header.Get(name) != "" {
					t.Errorf("%s passed on", name)
				}
			}
			for _, name := range tc.keep {
				if r.Header.Get(name) == "" {
					t.Errorf("%s removed", name)
				}
			}
			if r.Header.Len() != len(tc.keep) {
				t.Errorf("%d fields passed on; want %v", r.Header.Len(), tc.keep)
			}
		})
	}
}
