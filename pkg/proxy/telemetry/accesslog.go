package telemetry

import (
	"encoding/hex"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// AccessLog writes one JSON line per request, in the shape of slog's JSON
// handler (time, level, msg, then the fields), so that log pipelines see
// one format from the proxy. The line is appended into a pooled buffer
// rather than built from slog.Attrs: at thousands of requests a second,
// slog's per-record allocations were most of the proxy's garbage.
type AccessLog struct {
	w    io.Writer
	bufs sync.Pool
}

// NewAccessLog writes to w, one Write per line; w must be safe for
// concurrent use (LogBuffer is).
func NewAccessLog(w io.Writer) *AccessLog {
	return &AccessLog{w: w, bufs: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

func (a *AccessLog) write(direction string, status int, r record, traced bool, trace [16]byte) {
	bp := a.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"time":"`...)
	b = appendTimestamp(b, time.Now())
	b = append(b, `","level":"INFO","msg":"request","direction":`...)
	b = appendJSONString(b, direction)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, r.method)
	b = append(b, `,"authority":`...)
	b = appendJSONString(b, r.authority)
	// The path only: query strings may carry secrets.
	b = append(b, `,"path":`...)
	b = appendJSONString(b, r.path)
	b = append(b, `,"protocol":`...)
	b = appendJSONString(b, r.protocol)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"bytes_received":`...)
	b = strconv.AppendInt(b, r.received, 10)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, r.sent, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, ms(r.total), 'f', -1, 64)
	b = append(b, `,"upstream_duration_ms":`...)
	b = strconv.AppendFloat(b, ms(r.upstream), 'f', -1, 64)
	b = append(b, `,"peer":`...)
	b = appendJSONString(b, r.peer)
	b = append(b, `,"tls":`...)
	b = strconv.AppendBool(b, r.mtls)
	if traced {
		b = append(b, `,"trace_id":"`...)
		b = hex.AppendEncode(b, trace[:])
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	a.w.Write(b)
	*bp = b
	a.bufs.Put(bp)
}

// appendTimestamp appends t as time.AppendFormat with layout
// "2006-01-02T15:04:05.000Z07:00" does (slog's JSON time, to the
// millisecond), without interpreting the layout for every line.
func appendTimestamp(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	_, offset := t.Zone()
	if offset == 0 {
		return append(b, 'Z')
	}
	// In whole minutes, the sign taken after truncating, as Format does:
	// an offset of -30 s is "+00:00".
	minutes := offset / 60
	sign := byte('+')
	if minutes < 0 {
		sign, minutes = '-', -minutes
	}
	b = append(b, sign)
	b = appendDigits(b, minutes/60, 2)
	b = append(b, ':')
	return appendDigits(b, minutes%60, 2)
}

// appendDigits appends n, at most width digits, zero-padded to width.
func appendDigits(b []byte, n, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced (authority and path
// come from clients).
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
