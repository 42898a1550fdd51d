package tap

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseRequest(t *testing.T) {
	for _, c := range []struct {
		query string
		want  Request
		err   string
	}{
		{"", Request{}, ""},
		{"path-prefix=/books&method=POST&authority=books.shop:8080&max-rps=10",
			Request{Filter: Filter{PathPrefix: "/books", Method: "POST", Authority: "books.shop:8080"}, MaxRPS: 10}, ""},
		{"max-rps=0", Request{}, ""},
		{"path-prefix=books", Request{}, "starts with /"},
		{"path-prefix=/a%20b", Request{}, "visible ASCII"},
		{"path-prefix=/" + strings.Repeat("a", MaxPath), Request{}, "at most 1024"},
		{"method=GET&method=POST", Request{}, "given 2 times"},
		{"method=", Request{}, "HTTP token"},
		{"method=G%2FT", Request{}, "HTTP token"},
		{"method=" + strings.Repeat("A", MaxMethod+1), Request{}, "HTTP token"},
		{"authority=", Request{}, "1 to 256"},
		{"authority=a%0Ab", Request{}, "visible ASCII"},
		{"max-rps=-1", Request{}, "whole number"},
		{"max-rps=1000001", Request{}, "whole number"},
		{"max-rps=ten", Request{}, "whole number"},
		{"body=1", Request{}, `unknown query parameter "body"`},
	} {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseRequest(q)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error with %q", c.query, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v %v, want %+v", c.query, got, err, c.want)
		}
		// What the CLI writes, the proxy reads back.
		q2, _ := url.ParseQuery(got.Query())
		if back, err := ParseRequest(q2); err != nil || back != got {
			t.Errorf("%q: Query %q reads back as %+v %v", c.query, got.Query(), back, err)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add("path-prefix=/books&method=POST&authority=books.shop:8080&max-rps=10")
	f.Add("method=GET&method=GET")
	f.Add("max-rps=99999999999999999999")
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		r, err := ParseRequest(q)
		if err != nil {
			return
		}
		if len(r.PathPrefix) > MaxPath || len(r.Method) > MaxMethod || len(r.Authority) > MaxAuthority || r.MaxRPS < 0 || r.MaxRPS > MaxRPS {
			t.Fatalf("%q: %+v is out of bounds", query, r)
		}
		q2, _ := url.ParseQuery(r.Query())
		if back, err := ParseRequest(q2); err != nil || back != r {
			t.Fatalf("%q: %+v does not read back: %+v %v", query, r, back, err)
		}
	})
}

func TestEncodeDecode(t *testing.T) {
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	ev := Event{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Direction: Outbound, Method: "POST", Authority: "books.shop:8080",
		Path: "/books/1", Status: 201, Latency: 1234 * time.Microsecond,
		Source: "spiffe://cluster.local/ns/a/sa/a", Destination: "spiffe://cluster.local/ns/b/sa/b", TLS: true,
	}
	plain := Event{Time: ev.Time, Direction: Inbound, Method: "GET", Path: "/", Status: 0}
	for _, err := range []error{enc.Event(&ev), enc.Event(&plain), enc.Missed(3, 4), enc.End("bye")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := `{"kind":"request","time":"2026-01-02T03:04:05.000006Z","direction":"outbound","method":"POST","authority":"books.shop:8080","path":"/books/1","status":201,"latencyMs":1.234,"source":"spiffe://cluster.local/ns/a/sa/a","destination":"spiffe://cluster.local/ns/b/sa/b","tls":true}
{"kind":"request","time":"2026-01-02T03:04:05.000006Z","direction":"inbound","method":"GET","path":"/","status":0,"latencyMs":0,"tls":false}
{"kind":"missed","dropped":3,"limited":4}
{"kind":"end","reason":"bye"}
`
	if buf.String() != want {
		t.Fatalf("the stream:\n%s\nwant:\n%s", buf.String(), want)
	}
	d := NewDecoder(&buf)
	for _, w := range []Line{{Kind: KindRequest, Event: ev}, {Kind: KindRequest, Event: plain}, {Kind: KindMissed, Dropped: 3, Limited: 4}, {Kind: KindEnd, Reason: "bye"}} {
		got, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !got.Event.Time.Equal(w.Event.Time) {
			t.Errorf("time %v, want %v", got.Event.Time, w.Event.Time)
		}
		got.Event.Time, w.Event.Time = time.Time{}, time.Time{}
		if got != w {
			t.Errorf("got %+v, want %+v", got, w)
		}
	}
	if _, err := d.Next(); err != io.EOF {
		t.Errorf("after the last line: %v, want EOF", err)
	}
}

func TestDecoderRefuses(t *testing.T) {
	const ok = `"kind":"request","time":"2026-01-02T03:04:05Z","direction":"inbound","method":"GET","path":"/","status":200,"latencyMs":1,"tls":false`
	for _, c := range []struct {
		name, line, err string
	}{
		{"not JSON", `GET / HTTP/1.1`, "not a JSON object"},
		{"an array", `[1]`, "not a JSON object"},
		{"no kind", `{"status":200}`, "no kind"},
		{"no time", `{"kind":"request","direction":"inbound","method":"GET","status":200,"latencyMs":1,"tls":false}`, "without time"},
		{"direction", `{` + strings.Replace(ok, `"inbound"`, `"sideways"`, 1) + `}`, `direction "sideways"`},
		{"no method", `{` + strings.Replace(ok, `"GET"`, `""`, 1) + `}`, "a method of 0 bytes"},
		{"long method", `{` + strings.Replace(ok, `"GET"`, `"`+strings.Repeat("A", MaxMethod+1)+`"`, 1) + `}`, "a method of 33 bytes"},
		{"long authority", `{` + ok + `,"authority":"` + strings.Repeat("a", MaxAuthority+1) + `"}`, "authority over"},
		{"long path", `{` + strings.Replace(ok, `"/"`, `"/`+strings.Repeat("a", MaxPath)+`"`, 1) + `}`, "path over"},
		{"status", `{` + strings.Replace(ok, `200`, `1000`, 1) + `}`, "status from 0 to 999"},
		{"negative status", `{` + strings.Replace(ok, `200`, `-1`, 1) + `}`, "status from 0 to 999"},
		{"no status", `{` + strings.Replace(ok, `"status":200,`, ``, 1) + `}`, "status from 0 to 999"},
		{"negative latency", `{` + strings.Replace(ok, `"latencyMs":1`, `"latencyMs":-1`, 1) + `}`, "latency"},
		{"huge latency", `{` + strings.Replace(ok, `"latencyMs":1`, `"latencyMs":1e300`, 1) + `}`, "latency"},
		{"no tls", `{` + strings.Replace(ok, `,"tls":false`, ``, 1) + `}`, "without tls"},
		{"not an identity", `{` + ok + `,"source":"bookbuyer"}`, "not a SPIFFE ID"},
		{"long identity", `{` + ok + `,"destination":"spiffe://` + strings.Repeat("a", MaxIdentity) + `"}`, "not a SPIFFE ID"},
		{"long reason", `{"kind":"end","reason":"` + strings.Repeat("a", MaxPath+1) + `"}`, "reason is over"},
		{"a number too large", `{"kind":"missed","dropped":1e30}`, "not a JSON object"},
		{"a blank line", ``, "not a JSON object"},
		{"a long line", `{"kind":"other","x":"` + strings.Repeat("a", MaxLine) + `"}`, "over 32768 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(`{"kind":"missed","dropped":1}` + "\n" + c.line + "\n"))
			if l, err := d.Next(); err != nil || l.Dropped != 1 {
				t.Fatalf("the first line: %+v %v", l, err)
			}
			l, err := d.Next()
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "line 2 of the tap stream") {
				t.Errorf("%+v %v, want an error naming line 2 with %q", l, err, c.err)
			}
		})
	}
}

func TestDecoderCutStream(t *testing.T) {
	d := NewDecoder(strings.NewReader(`{"kind":"missed","dropped":1}` + "\n" + `{"kind":"missed","dro`))
	if l, err := d.Next(); err != nil || l.Dropped != 1 {
		t.Fatalf("the first line: %+v %v", l, err)
	}
	if _, err := d.Next(); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "ends within line 2") {
		t.Errorf("%v, want io.ErrUnexpectedEOF within line 2", err)
	}
}

// Lines of kinds a newer proxy may add are skipped, and so are fields.
func TestDecoderSkipsTheUnknown(t *testing.T) {
	d := NewDecoder(strings.NewReader(`{"kind":"hello","version":2}` + "\n" +
		`{"kind":"missed","dropped":2,"color":"red"}` + "\n"))
	l, err := d.Next()
	if err != nil || l.Kind != KindMissed || l.Dropped != 2 {
		t.Errorf("%+v %v", l, err)
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("%v, want EOF", err)
	}
}

func FuzzDecoder(f *testing.F) {
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	enc.Event(&Event{Time: time.Unix(1, 0), Direction: Inbound, Method: "GET", Authority: "a", Path: "/b", Status: 200, Latency: time.Millisecond,
		Source: "spiffe://td/ns/a/sa/b", Destination: "spiffe://td/ns/c/sa/d", TLS: true})
	enc.Missed(1, 2)
	enc.End("bye")
	f.Add(buf.Bytes())
	f.Add([]byte(`{"kind":"request","time":"2026-01-02T03:04:05Z","direction":"outbound","method":"\u001b[2J","path":"\u202e","status":999,"latencyMs":0.001,"tls":true}`))
	f.Add([]byte("{\"kind\":\"x\"}\n\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(bytes.NewReader(data))
		for range 1000 {
			l, err := d.Next()
			if err != nil {
				return
			}
			e := l.Event
			switch l.Kind {
			case KindRequest:
				if (e.Direction != Inbound && e.Direction != Outbound) || e.Method == "" || len(e.Method) > MaxMethod || len(e.Authority) > MaxAuthority ||
					len(e.Path) > MaxPath || e.Status < 0 || e.Status > 999 || e.Latency < 0 || len(e.Source) > MaxIdentity || len(e.Destination) > MaxIdentity {
					t.Fatalf("decoded an event out of bounds: %+v", e)
				}
			case KindMissed, KindEnd:
			default:
				t.Fatalf("decoded a line of kind %q", l.Kind)
			}
		}
	})
}

// The hand-written request line is what encoding/json writes of the same
// fields (bar the HTML escapes it adds), and reads back as the event,
// whatever a caller put in the strings.
func FuzzEncodeEvent(f *testing.F) {
	f.Add("GET", "books.shop:8080", "/books/1", "spiffe://td/ns/a/sa/b", 200, int64(1234), true)
	f.Add("G\"T", "a\\b", "/\x00\x1f\x7f\u2028\u2029\xff<>&", "", 0, int64(0), false)
	f.Add("", "é", "/😀\xed\xa0\x80", "spiffe://x", 999, int64(-5), true)
	f.Fuzz(func(t *testing.T, method, authority, path, id string, status int, latency int64, tls bool) {
		if method == "" {
			method = "GET" // never empty, and omitted when it is
		}
		ev := Event{Time: time.Unix(1700000000, 123456789), Direction: Inbound, Method: method, Authority: authority, Path: path,
			Status: status, Latency: time.Duration(latency), Source: id, Destination: id, TLS: tls}
		var mine bytes.Buffer
		if err := NewEncoder(&mine).Event(&ev); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(mine.String(), "}\n") || strings.Count(mine.String(), "\n") != 1 {
			t.Fatalf("not one line: %q", mine.String())
		}
		// encoding/json's line of the same fields.
		t0 := ev.Time.UTC()
		ms := float64(ev.Latency.Microseconds()) / 1000
		var theirs bytes.Buffer
		enc := json.NewEncoder(&theirs)
		enc.SetEscapeHTML(false)
		enc.Encode(&wireLine{Kind: KindRequest, Time: &t0, Direction: ev.Direction, Method: method, Authority: authority, Path: path,
			Status: &status, LatencyMs: &ms, Source: id, Destination: id, TLS: &tls})
		if mine.String() != theirs.String() {
			t.Fatalf("hand-written %q\nencoding/json %q", mine.String(), theirs.String())
		}
	})
}

func BenchmarkEncodeEvent(b *testing.B) {
	ev := Event{Time: time.Now(), Direction: Inbound, Method: "POST", Authority: "bookstore.bookstore:14001", Path: "/api/buy",
		Status: 200, Latency: 1234 * time.Microsecond, Source: "spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer",
		Destination: "spiffe://cluster.local/ns/bookstore/sa/bookstore", TLS: true}
	enc := NewEncoder(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		enc.Event(&ev)
	}
}
