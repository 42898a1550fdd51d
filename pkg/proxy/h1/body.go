package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Relay copies n bytes (all until EOF when n < 0) from src to dst. It
// flushes dst whenever it is about to wait for src, so a slow or streamed
// body reaches the client as it comes, and a fast one in few writes.
func Relay(dst *bufio.Writer, src *bufio.Reader, n int64) (int64, error) {
	var done int64
	for n < 0 || done < n {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return done, err
			}
			if _, err := src.Peek(1); err != nil {
				if n < 0 && err == io.EOF {
					return done, nil
				}
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return done, err
			}
		}
		k := src.Buffered()
		if n >= 0 {
			k = int(min(int64(k), n-done))
		}
		b, _ := src.Peek(k)
		if _, err := dst.Write(b); err != nil {
			return done, err
		}
		src.Discard(k)
		done += int64(k)
	}
	return done, nil
}

// RelayChunked copies a chunked body from src to dst as it is, chunk
// sizes, extensions and trailer included, and returns the bytes of data.
func RelayChunked(dst *bufio.Writer, src *bufio.Reader) (int64, error) {
	var data int64
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return data, err
			}
		}
		line, err := src.ReadSlice('\n')
		if err != nil {
			return data, noEOF(err)
		}
		n, ok := chunkSize(line)
		if !ok {
			return data, errors.New("malformed chunk size")
		}
		dst.Write(line)
		if n == 0 {
			// The trailer: fields until an empty line.
			for {
				line, err := src.ReadSlice('\n')
				if err != nil {
					return data, noEOF(err)
				}
				if !crlfLine(line) {
					return data, errors.New("malformed trailer")
				}
				dst.Write(line)
				if len(line) == 2 {
					return data, dst.Flush()
				}
				if _, ok := parseField(string(line[:len(line)-2])); !ok || line[0] == ' ' || line[0] == '\t' {
					return data, errors.New("malformed trailer")
				}
			}
		}
		k, err := Relay(dst, src, n)
		data += k
		if err != nil {
			return data, err
		}
		crlf, err := src.Peek(2)
		if err != nil || string(crlf) != "\r\n" {
			return data, errors.New("malformed chunk end")
		}
		dst.Write(crlf)
		src.Discard(2)
	}
}

// crlfLine says line ends in CRLF, holds no other CR or control
// character (HTAB aside): a chunk line or trailer field a client could
// split differently is refused rather than relayed.
func crlfLine(line []byte) bool {
	n := len(line)
	if n < 2 || line[n-2] != '\r' || line[n-1] != '\n' {
		return false
	}
	for _, c := range line[:n-2] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// chunkSize parses a chunk-size line (CRLF included) the way net/http's
// chunked reader does: hex digits, then optional whitespace or a ;
// extension. Signs, leading spaces and bare LF line ends are refused.
func chunkSize(line []byte) (int64, bool) {
	if !crlfLine(line) {
		return 0, false
	}
	p := line[:len(line)-2]
	for len(p) > 0 && (p[len(p)-1] == ' ' || p[len(p)-1] == '\t') {
		p = p[:len(p)-1]
	}
	if i := bytes.IndexByte(p, ';'); i >= 0 {
		p = p[:i]
	}
	// 15 hex digits cannot overflow an int64.
	if len(p) == 0 || len(p) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range p {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
