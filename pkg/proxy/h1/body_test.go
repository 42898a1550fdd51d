package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http/httputil"
	"net/textproto"
	"strings"
	"testing"
)

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
