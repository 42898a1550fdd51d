package sniff

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/policy"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Protocol
		done bool
	}{
		{"GET / HTTP/1.1\r\n", HTTP1, true},
		{"POST ", HTTP1, true},
		{"PATCH /x", HTTP1, true},
		{"DELETE", TCP, false},
		{"G", TCP, false},
		{"", TCP, false},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP2, true},
		{"PRI * HTTP/2.0\r\n", TCP, false},
		{"PRI * HTTP/1.1\r\n", TCP, true},
		{"\x16\x03\x01\x02\x00", TCP, true}, // TLS ClientHello
		{"SSH-2.0-OpenSSH", TCP, true},
		{"get / HTTP/1.1", TCP, true},    // methods are case-sensitive
		{"GETX / HTTP/1.1", HTTP1, true}, // an extension method, as PURGE
		{"PURGE /cache/x HTTP/1.1", HTTP1, true},
		{"VERSION-CONTROL /r HTTP/1.1", HTTP1, true},
		{"OPTIONS * HTTP/1.1", HTTP1, true},
		{"PURG", TCP, false}, // may become PURGE /
		{"PURGE", TCP, false},
		{"PURGE ", TCP, false},
		{"PURGE key", TCP, true}, // no origin-form target
		{"SET k v\r\n", TCP, true},
		{"get key\r\n", TCP, true}, // memcached
		{"PRI * HTTP/1.1\r\n", TCP, true},
		{"ABCDEFGHIJKLMNOPQRSTU /", TCP, true}, // longer than policy.MaxMethod
		{"ABCDEFGHIJKLMNOPQRST /", HTTP1, true},
	} {
		p, done := Detect([]byte(tc.in))
		if p != tc.want || done != tc.done {
			t.Errorf("Detect(%q) = %v, %v; want %v, %v", tc.in, p, done, tc.want, tc.done)
		}
	}
}

func FuzzDetect(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1\r\n", h2Preface, "PRI *", "\x16\x03\x01", "", "HEAD"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, done := Detect(b)
		if len(b) >= MaxPeek && !done {
			t.Fatalf("Detect(%q) wants more than MaxPeek bytes", b)
		}
		if p != TCP && !done {
			t.Fatalf("Detect(%q) = %v but not done", b, p)
		}
		// A decision never changes when more bytes arrive.
		if done {
			q, _ := Detect(append(append([]byte{}, b...), "trailing"...))
			if q != p {
				t.Fatalf("Detect(%q) = %v, but %v with more bytes", b, p, q)
			}
		}
	})
}

// pair returns both ends of a real loopback TCP connection.
func pair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func TestPeekKeepsBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sends []string
		want  Protocol
	}{
		{"http1 in pieces", []string{"GE", "T / HTTP/1.1\r\n\r\n"}, HTTP1},
		{"h2c", []string{h2Preface}, HTTP2},
		{"tls", []string{"\x16\x03\x01hello"}, TCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t)
			go func() {
				for _, m := range tc.sends {
					c.Write([]byte(m))
					time.Sleep(10 * time.Millisecond)
				}
				c.CloseWrite()
			}()
			p, sc, err := Peek(s, 2*time.Second)
			if err != nil || p != tc.want {
				t.Fatalf("Peek = %v, %v; want %v", p, err, tc.want)
			}
			all, err := io.ReadAll(sc)
			want := ""
			for _, m := range tc.sends {
				want += m
			}
			if err != nil || string(all) != want {
				t.Fatalf("read back %q, %v; want %q", all, err, want)
			}
		})
	}
}

func TestPeekTimesOutToTCP(t *testing.T) {
	_, s := pair(t)
	start := time.Now()
	p, _, err := Peek(s, 50*time.Millisecond)
	if err != nil || p != TCP {
		t.Fatalf("Peek = %v, %v; want tcp after the timeout", p, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Peek took %v for a 50ms timeout", d)
	}
}

func TestSpeaksFirst(t *testing.T) {
	for _, tc := range []struct {
		name           string
		client, server string
		want           Protocol
	}{
		// A pooled HTTP connection used late: HTTP, and the connection
		// opened to the server is closed unused.
		{"client sends http late", "GET / HTTP/1.1\r\n\r\n", "", HTTP1},
		{"client sends h2c late", h2Preface, "", HTTP2},
		{"client sends binary late", "\x00\x01", "", TCP},
		// A server-speaks-first protocol: TCP, the greeting kept.
		{"server greets", "", "220 ready\r\n", TCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, down := pair(t)
			up, server := pair(t)
			p, sc, err := Peek(down, 20*time.Millisecond)
			if err != nil || p != TCP || sc.Buffered() != 0 {
				t.Fatalf("Peek of a silent client = %v, %v, %d buffered", p, err, sc.Buffered())
			}
			time.AfterFunc(20*time.Millisecond, func() {
				if tc.client != "" {
					client.Write([]byte(tc.client))
				}
				if tc.server != "" {
					server.Write([]byte(tc.server))
				}
			})
			p, upc, err := sc.SpeaksFirst(up)
			if err != nil || p != tc.want {
				t.Fatalf("SpeaksFirst = %v, %v; want %v", p, err, tc.want)
			}
			if p != TCP {
				if upc != nil {
					t.Fatal("SpeaksFirst kept the upstream connection of an HTTP client")
				}
				server.SetReadDeadline(time.Now().Add(2 * time.Second))
				if n, err := server.Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("the unused upstream connection is still open: %d, %v", n, err)
				}
			} else {
				upc.SetReadDeadline(time.Now().Add(2 * time.Second))
				got := make([]byte, len(tc.server))
				if _, err := io.ReadFull(upc, got); err != nil || string(got) != tc.server {
					t.Fatalf("upstream read back %q, %v; want %q", got, err, tc.server)
				}
			}
			sc.SetReadDeadline(time.Now().Add(2 * time.Second))
			got := make([]byte, len(tc.client))
			if _, err := io.ReadFull(sc, got); err != nil || string(got) != tc.client {
				t.Fatalf("client read back %q, %v; want %q", got, err, tc.client)
			}
		})
	}
}

// TestSpeaksFirstServerAlreadySpoke is a greeting that is there before
// SpeaksFirst starts waiting: it must not be missed.
func TestSpeaksFirstServerAlreadySpoke(t *testing.T) {
	for range 50 {
		_, down := pair(t)
		up, server := pair(t)
		_, sc, _ := Peek(down, time.Millisecond)
		server.Write([]byte("220 ready\r\n"))
		done := make(chan Protocol, 1)
		go func() {
			p, _, _ := sc.SpeaksFirst(up)
			done <- p
		}()
		select {
		case p := <-done:
			if p != TCP {
				t.Fatalf("SpeaksFirst = %v after a greeting; want tcp", p)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("SpeaksFirst missed a greeting sent before it started")
		}
	}
}

// TestReleaseBufferAndWaitReadable: a connection lends its buffer out
// only when it holds nothing, waits without one (under its deadline, and
// through an end of stream), and reads on with a buffer from the pool.
func TestReleaseBufferAndWaitReadable(t *testing.T) {
	client, server := pair(t)
	c := NewConn(server)
	var pool sync.Pool

	client.Write([]byte("GET / HTTP/1.1\r\n"))
	if err := c.WaitReadable(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reader().Peek(4); err != nil {
		t.Fatal(err)
	}
	if c.ReleaseBuffer(&pool) {
		t.Fatal("released a buffer holding unread bytes")
	}
	c.Reader().Discard(c.Buffered())
	if !c.ReleaseBuffer(&pool) || c.Buffered() != 0 {
		t.Fatal("an empty buffer was not released")
	}

	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if err := c.WaitReadable(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("silent connection: %v, want a timeout", err)
	}
	c.SetReadDeadline(time.Time{})

	go func() {
		time.Sleep(20 * time.Millisecond)
		client.Write([]byte("next"))
		client.CloseWrite()
	}()
	if err := c.WaitReadable(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "next" {
		t.Fatalf("read %q, %v", got, err)
	}
	// At the end of stream, waiting returns at once for the read to see it.
	c.ReleaseBuffer(&pool)
	if err := c.WaitReadable(); err != nil {
		t.Fatalf("at EOF: %v", err)
	}
}

// TestReadWithoutBuffer: a plain connection whose buffer was released
// reads its socket directly and takes no buffer back, as a TLS layer over
// it reads for the connection's whole life.
func TestReadWithoutBuffer(t *testing.T) {
	client, server := pair(t)
	c := NewConn(server)
	var pool sync.Pool
	if !c.ReleaseBuffer(&pool) {
		t.Fatal("an empty buffer was not released")
	}
	client.Write([]byte("record"))
	client.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "record" {
		t.Fatalf("read %q, %v", got, err)
	}
	if c.r != nil {
		t.Fatal("reading took a buffer back")
	}
}

// TestPeekSocket: nothing yet, a byte (not consumed), the end of stream;
// and no allocation, as it runs once per request.
func TestPeekSocket(t *testing.T) {
	client, server := pair(t)
	raw, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	peek := func() (n int, err error) {
		raw.Control(func(fd uintptr) { n, err = PeekSocket(fd) })
		return n, err
	}
	if n, err := peek(); n != 0 || err != unix.EAGAIN {
		t.Fatalf("nothing sent: %d, %v; want EAGAIN", n, err)
	}
	client.Write([]byte("x"))
	time.Sleep(20 * time.Millisecond)
	for range 2 { // peeking does not consume
		if n, err := peek(); n != 1 || err != nil {
			t.Fatalf("a byte sent: %d, %v", n, err)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { peek() }); allocs != 0 {
		t.Errorf("PeekSocket allocates %v times", allocs)
	}
	var b [1]byte
	server.Read(b[:])
	client.CloseWrite()
	time.Sleep(20 * time.Millisecond)
	if n, err := peek(); n != 0 || err != nil {
		t.Fatalf("end of stream: %d, %v; want 0, nil", n, err)
	}
}

// TestDetectAgreesWithThePolicy: a connection is HTTP to the proxy
// exactly when its first request's method is one the policy decides on
// as HTTP (policy.IsHTTPMethod); otherwise `meshctl policy explain`
// would decide a request the proxy never sees as one.
func TestDetectAgreesWithThePolicy(t *testing.T) {
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "PURGE", "PROPFIND", "MKCOL",
		"VERSION-CONTROL", "get", "Get", "GET2", "G_T", "PRI", "-", "A", strings.Repeat("A", policy.MaxMethod), strings.Repeat("A", policy.MaxMethod+1)}
	for _, m := range methods {
		p, done := Detect([]byte(m + " /path HTTP/1.1\r\n"))
		if got, want := p == HTTP1 && done, policy.IsHTTPMethod(m); got != want {
			t.Errorf("%q: detected as HTTP %t, policy.IsHTTPMethod %t", m, got, want)
		}
	}
	if policy.MaxMethod != maxMethod {
		t.Errorf("maxMethod %d, policy.MaxMethod %d", maxMethod, policy.MaxMethod)
	}
}
