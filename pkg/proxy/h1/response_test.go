package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

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
