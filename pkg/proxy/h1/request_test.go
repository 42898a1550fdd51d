package h1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

func TestPeekRequest(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		handoff    bool
	}{
		{"get", "GET /a?b=c HTTP/1.1\r\nHost: books\r\nX-Y: z\r\n\r\n", false},
		{"post with a body", "POST / HTTP/1.1\r\nHost: books\r\nContent-Length: 5\r\n\r\nhello", false},
		{"connection close", "GET / HTTP/1.1\r\nHost: books\r\nConnection: close\r\n\r\n", false},
		{"http/1.0", "GET / HTTP/1.0\r\nHost: books\r\n\r\n", true},
		{"no host", "GET / HTTP/1.1\r\n\r\n", true},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", true},
		{"absolute target", "GET http://books/ HTTP/1.1\r\nHost: books\r\n\r\n", true},
		{"connect", "CONNECT books:443 HTTP/1.1\r\nHost: books\r\n\r\n", true},
		{"upgrade", "GET / HTTP/1.1\r\nHost: books\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true},
		{"chunked body", "POST / HTTP/1.1\r\nHost: books\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: books\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"two lengths", "POST / HTTP/1.1\r\nHost: books\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", true},
		{"signed length", "POST / HTTP/1.1\r\nHost: books\r\nContent-Length: +3\r\n\r\n", true},
		{"minus zero length", "POST / HTTP/1.1\r\nHost: books\r\nContent-Length: -0\r\n\r\n", true},
		{"length with a space inside", "POST / HTTP/1.1\r\nHost: books\r\nContent-Length: 1 2\r\n\r\n", true},
		{"large body", "POST / HTTP/1.1\r\nHost: books\r\nContent-Length: 65537\r\n\r\n", true},
		{"expect", "POST / HTTP/1.1\r\nHost: books\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", true},
		{"hop-by-hop named", "GET / HTTP/1.1\r\nHost: books\r\nConnection: X-Secret\r\n\r\n", true},
		{"folded field", "GET / HTTP/1.1\r\nHost: books\r\nX: a\r\n b\r\n\r\n", true},
		{"bare LF", "GET / HTTP/1.1\nHost: books\n\n", true},
		{"malformed host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", true},
		{"space before colon", "GET / HTTP/1.1\r\nHost : books\r\n\r\n", true},
		{"control byte", "GET / HTTP/1.1\r\nHost: books\r\nX: a\x00b\r\n\r\n", true},
		{"head larger than the buffer", "GET / HTTP/1.1\r\nHost: books\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := reader(tc.head)
			var r Request
			err := PeekRequest(br, &r)
			if tc.handoff {
				if !errors.Is(err, ErrHandoff) {
					t.Fatalf("PeekRequest = %v; want ErrHandoff", err)
				}
				// Nothing consumed: the general path reads it all.
				req, err := http.ReadRequest(br)
				if err == nil && req.Method == "" {
					t.Fatal("the handed-off request was consumed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := http.ReadRequest(reader(tc.head))
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != want.Method || r.Target != want.RequestURI || r.Host != want.Host ||
				r.ContentLength != max(want.ContentLength, 0) || r.Close != want.Close || r.Path() != want.URL.Path {
				t.Fatalf("parsed %+v; net/http says %s %s host %s length %d close %v", r, want.Method, want.RequestURI, want.Host, want.ContentLength, want.Close)
			}
			if r.Header.Get("connection") != "" {
				t.Error("Connection is hop by hop and must not go upstream")
			}
			r.Commit(br)
			rest, _ := io.ReadAll(br)
			if body, _ := io.ReadAll(want.Body); string(rest) != string(body) {
				t.Fatalf("after the head: %q; want the body %q", rest, body)
			}
		})
	}
}

func TestPeekRequestWaitsForTheWholeHead(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: books\r\n\r\n"
	br := bufio.NewReader(iotest.OneByteReader(strings.NewReader(head)))
	var r Request
	if err := PeekRequest(br, &r); err != nil || r.Host != "books" {
		t.Fatalf("PeekRequest = %v, host %q", err, r.Host)
	}
}

// FuzzPeekRequest checks that whatever a client sends, the lean path either
// hands it off untouched or parses it the way net/http does.
func FuzzPeekRequest(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	f.Add("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
	f.Add("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, keep-alive\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -0\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		var r Request
		err := PeekRequest(reader(in), &r)
		if err != nil {
			return
		}
		want, werr := http.ReadRequest(reader(in))
		if werr != nil {
			t.Fatalf("lean path accepted %q, net/http refuses it: %v", in, werr)
		}
		if r.Method != want.Method || r.Target != want.RequestURI || r.Host != want.Host || r.ContentLength != max(want.ContentLength, 0) {
			t.Fatalf("%q: lean %s %s %s %d; net/http %s %s %s %d", in, r.Method, r.Target, r.Host, r.ContentLength,
				want.Method, want.RequestURI, want.Host, want.ContentLength)
		}
	})
}
