package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func reader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 4096) }

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

func TestReadResponseAndRelay(t *testing.T) {
	for _, tc := range []struct {
		name, method, in string
		status           int
		length           int64
		close            bool
		body             string
		data             int64
	}{
		{"length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\nhello", 200, 5, false, "hello", 5},
		{"chunked with trailer", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n", 200, Chunked, false,
			"5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n", 6},
		{"until closed", "GET", "HTTP/1.1 200 OK\r\n\r\nstream", 200, UntilClosed, true, "stream", 6},
		{"http/1.0", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, 2, true, "ok", 2},
		{"head", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200, 0, false, "", 0},
		{"no content", "GET", "HTTP/1.1 204 No Content\r\n\r\n", 204, 0, false, "", 0},
		{"length and chunked", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, Chunked, false,
			"2\r\nok\r\n0\r\n\r\n", 2},
		{"upstream closes", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 200, 1, true, "x", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := reader(tc.in)
			var r Response
			if err := ReadResponse(br, tc.method, &r); err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status || r.Length != tc.length || r.Close != tc.close {
				t.Fatalf("status %d length %d close %v; want %d %d %v", r.Status, r.Length, r.Close, tc.status, tc.length, tc.close)
			}
			if r.Header.Get("Keep-Alive") != "" || r.Header.Get("Connection") != "" {
				t.Error("hop-by-hop fields kept")
			}
			if r.Length == Chunked && r.Header.Get("Content-Length") != "" {
				t.Error("Content-Length kept beside chunked")
			}
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			var n int64
			var err error
			if r.Length == Chunked {
				n, err = RelayChunked(w, br)
			} else {
				n, err = Relay(w, br, r.Length)
			}
			w.Flush()
			if err != nil || out.String() != tc.body || n != tc.data {
				t.Fatalf("relayed %q (%d bytes of data), %v; want %q (%d)", out.String(), n, err, tc.body, tc.data)
			}
		})
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

func TestReadResponseRefuses(t *testing.T) {
	for _, in := range []string{
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: -0\r\n\r\n",
		"HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\x00\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\x7f\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n",
	} {
		var r Response
		if err := ReadResponse(reader(in), "GET", &r); err == nil {
			t.Errorf("ReadResponse(%.40q) accepted it", in)
		}
	}
}

func TestRelayChunkedFraming(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"plain", "2\r\nok\r\n0\r\n\r\n", true},
		{"upper-case hex", "A\r\n0123456789\r\n0\r\n\r\n", true},
		{"extension", "2;a=b\r\nok\r\n0;c\r\n\r\n", true},
		{"trailing whitespace", "2 \t\r\nok\r\n0\r\n\r\n", true},
		{"trailer", "2\r\nok\r\n0\r\nX-T: 1\r\n\r\n", true},
		{"plus sign", "+2\r\nok\r\n0\r\n\r\n", false},
		{"minus zero", "-0\r\n\r\n", false},
		{"0x prefix", "0x2\r\nok\r\n0\r\n\r\n", false},
		{"leading space", " 2\r\nok\r\n0\r\n\r\n", false},
		{"space inside", "1 0\r\n0123456789abcdef\r\n0\r\n\r\n", false},
		{"space before extension", "2 ;a\r\nok\r\n0\r\n\r\n", false},
		{"empty size", "\r\nok\r\n0\r\n\r\n", false},
		{"underscore", "1_0\r\n0123456789abcdef\r\n0\r\n\r\n", false},
		{"too large", "10000000000000000\r\n", false},
		{"bare LF size line", "2\nok\r\n0\r\n\r\n", false},
		{"CR inside size line", "2;a\rb\r\nok\r\n0\r\n\r\n", false},
		{"bare LF ends the trailer", "2\r\nok\r\n0\r\n\nGET / HTTP/1.1\r\n\r\n", false},
		{"malformed trailer field", "2\r\nok\r\n0\r\nno colon\r\n\r\n", false},
		{"missing chunk end", "2\r\nokX\r\n0\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := RelayChunked(bufio.NewWriter(&out), reader(tc.in))
			_, werr := io.ReadAll(httputil.NewChunkedReader(reader(tc.in)))
			if (err == nil) != tc.ok {
				t.Fatalf("RelayChunked = %v (net/http's chunked reader: %v); want ok %v", err, werr, tc.ok)
			}
		})
	}
}

// FuzzRelayChunked checks that a chunked body the lean path relays is
// passed on byte for byte and reads, through net/http's chunked reader
// and trailer parsing, as the same data ending at the same place.
func FuzzRelayChunked(f *testing.F) {
	f.Add("2\r\nok\r\n0\r\n\r\n")
	f.Add("5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\nnext")
	f.Add("+2\r\nok\r\n-0\r\n\r\n")
	f.Add("2 \r\nok\r\n0\r\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		n, err := RelayChunked(w, reader(in))
		if err != nil {
			return
		}
		w.Flush()
		relayed := out.String()
		if !strings.HasPrefix(in, relayed) {
			t.Fatalf("%q: relayed %q, not a prefix of the input", in, relayed)
		}
		br := reader(in)
		data, err := io.ReadAll(httputil.NewChunkedReader(br))
		if err != nil {
			t.Fatalf("%q: relayed, but net/http's chunked reader refuses it: %v", in, err)
		}
		if int64(len(data)) != n {
			t.Fatalf("%q: %d bytes of data relayed, net/http reads %d", in, n, len(data))
		}
		if _, err := textproto.NewReader(br).ReadMIMEHeader(); err != nil && !(err == io.EOF && br.Buffered() == 0) {
			t.Fatalf("%q: relayed, but net/http refuses the trailer: %v", in, err)
		}
		if rest := br.Buffered(); len(in)-rest != len(relayed) {
			t.Fatalf("%q: relayed %d bytes, net/http reads %d", in, len(relayed), len(in)-rest)
		}
	})
}

func TestRelayShortBody(t *testing.T) {
	var out bytes.Buffer
	if _, err := Relay(bufio.NewWriter(&out), reader("abc"), 5); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Relay of a truncated body = %v; want ErrUnexpectedEOF", err)
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

// FuzzReadResponse checks that whatever an app answers, the lean path
// either refuses it or reads the status and framing net/http reads.
func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
	f.Add("HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		var r Response
		if err := ReadResponse(reader(in), "GET", &r); err != nil {
			return
		}
		want, err := http.ReadResponse(reader(in), nil)
		if err != nil {
			t.Fatalf("lean path read %q, net/http refuses it: %v", in, err)
		}
		if r.Status != want.StatusCode {
			t.Fatalf("%q: status %d, net/http %d", in, r.Status, want.StatusCode)
		}
		switch {
		case r.Length == Chunked:
			if len(want.TransferEncoding) == 0 || want.TransferEncoding[0] != "chunked" {
				t.Fatalf("%q: chunked, net/http %v", in, want.TransferEncoding)
			}
		case r.Length >= 0 && want.ContentLength >= 0 && r.Length != want.ContentLength && r.Status >= 200:
			t.Fatalf("%q: length %d, net/http %d", in, r.Length, want.ContentLength)
		}
	})
}
