package sniff

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
)

// clientHello is the first flight of a real crypto/tls client offering
// alpn, as the wire carries it: records and all.
func clientHello(t testing.TB, alpn ...string) []byte {
	t.Helper()
	var w helloRecorder
	c := tls.Client(&w, &tls.Config{NextProtos: alpn, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err := c.Handshake(); !errors.Is(err, errRecorded) {
		t.Fatalf("handshake: %v", err)
	}
	return w.Bytes()
}

var errRecorded = errors.New("recorded")

// helloRecorder is a net.Conn that keeps what is written and fails reads,
// so a handshake stops after its ClientHello.
type helloRecorder struct {
	bytes.Buffer
	net.Conn
}

func (w *helloRecorder) Write(b []byte) (int, error) { return w.Buffer.Write(b) }
func (w *helloRecorder) Read([]byte) (int, error)    { return 0, errRecorded }
func (w *helloRecorder) Close() error                { return nil }
func (w *helloRecorder) SetDeadline(time.Time) error { return nil }

// reframe splits the handshake messages of the records in b into records
// of at most size bytes of fragment each.
func reframe(t testing.TB, b []byte, size int) []byte {
	t.Helper()
	var hs []byte
	for len(b) > 0 {
		n := int(b[3])<<8 | int(b[4])
		hs = append(hs, b[5:5+n]...)
		b = b[5+n:]
	}
	var out []byte
	for len(hs) > 0 {
		n := min(size, len(hs))
		out = append(out, recordHandshake, 3, 1, byte(n>>8), byte(n))
		out = append(out, hs[:n]...)
		hs = hs[n:]
	}
	return out
}

// withLength returns b with its ClientHello's handshake length replaced.
func withLength(b []byte, n int) []byte {
	b = bytes.Clone(b)
	b[6], b[7], b[8] = byte(n>>16), byte(n>>8), byte(n)
	return b
}

func TestDetectMesh(t *testing.T) {
	mesh := clientHello(t, identity.ALPN)
	for _, tc := range []struct {
		name string
		in   []byte
		want Protocol
		done bool
	}{
		{"mesh ALPN", mesh, MeshTLS, true},
		{"mesh ALPN among others", clientHello(t, "h2", "http/1.1", identity.ALPN), MeshTLS, true},
		{"other ALPN", clientHello(t, "h2", "http/1.1"), TCP, true},
		{"no ALPN", clientHello(t), TCP, true},
		{"ALPN with the mesh's as a prefix", clientHello(t, identity.ALPN+"0"), TCP, true},
		{"ALPN a prefix of the mesh's", clientHello(t, identity.ALPN[:len(identity.ALPN)-1]), TCP, true},
		{"split over records of 100 bytes", reframe(t, mesh, 100), MeshTLS, true},
		{"split over records of 1 byte", reframe(t, mesh, 1), MeshTLS, true},
		{"records of 1 byte beyond MaxTLSPeek", reframe(t, clientHello(t, "h2"), 1)[:MaxTLSPeek], TCP, true},
		{"truncated in the extensions", mesh[:200], TCP, false},
		{"record header only", mesh[:5], TCP, false},
		{"one byte", mesh[:1], TCP, false},
		{"SSLv3-like record version", append([]byte{22, 2, 0}, mesh[3:]...), TCP, true},
		{"application data record", append([]byte{23}, mesh[1:]...), TCP, true},
		{"empty record", []byte{22, 3, 1, 0, 0, 1}, TCP, true},
		{"record over 2^14", []byte{22, 3, 1, 0x40, 1, 1}, TCP, true},
		{"not a ClientHello", []byte{22, 3, 1, 0, 4, 2, 0, 0, 0}, TCP, true},
		{"ClientHello longer than MaxTLSPeek", withLength(mesh, MaxTLSPeek), TCP, true},
		{"ClientHello length too short", withLength(mesh, 10), TCP, true},
		{"ClientHello length cuts the extensions", withLength(mesh, len(mesh)-20), TCP, true},
		{"HTTP/1.1", []byte("GET / HTTP/1.1\r\n"), HTTP1, true},
		{"h2c", []byte(h2Preface), HTTP2, true},
		{"empty", nil, TCP, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, done := DetectMesh(tc.in)
			if p != tc.want || done != tc.done {
				t.Fatalf("DetectMesh = %v, %v; want %v, %v", p, done, tc.want, tc.done)
			}
		})
	}
	// Every prefix of a mesh ClientHello asks for more until it says
	// mesh TLS (the ALPN extension may come before the key shares).
	for n := range len(mesh) {
		if p, done := DetectMesh(mesh[:n]); done && p != MeshTLS {
			t.Fatalf("DetectMesh(first %d of %d bytes) = %v, done; want more, or mesh-tls", n, len(mesh), p)
		}
	}
	// Plain Detect never says mesh TLS: the outbound side keeps an app's
	// ClientHello opaque, whatever it offers.
	if p, _ := Detect(mesh); p != TCP {
		t.Fatalf("Detect(mesh ClientHello) = %v; want tcp", p)
	}
}

func TestDetectMeshAllocatesNothing(t *testing.T) {
	mesh := reframe(t, clientHello(t, "h2", identity.ALPN), 300)
	if n := testing.AllocsPerRun(100, func() { DetectMesh(mesh) }); n != 0 {
		t.Fatalf("DetectMesh allocates %v times", n)
	}
}

func FuzzDetectMesh(f *testing.F) {
	mesh := clientHello(f, identity.ALPN)
	for _, b := range [][]byte{mesh, reframe(f, mesh, 64), clientHello(f, "h2"), clientHello(f), mesh[:100], []byte("GET / HTTP/1.1\r\n"), {22, 3, 1}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, done := DetectMesh(b)
		if len(b) >= MaxTLSPeek && !done {
			t.Fatalf("DetectMesh wants more than MaxTLSPeek bytes of %q", b)
		}
		if p != TCP && !done {
			t.Fatalf("DetectMesh = %v but not done", p)
		}
		// A decision never changes when more bytes arrive.
		if done {
			q, _ := DetectMesh(append(bytes.Clone(b), "trailing bytes"...))
			if q != p {
				t.Fatalf("DetectMesh = %v, but %v with more bytes", p, q)
			}
		}
	})
}

// TestPeekMeshOverTheWire: a ClientHello that arrives in pieces is read
// whole, detected, and read back unchanged.
func TestPeekMeshOverTheWire(t *testing.T) {
	hello := clientHello(t, identity.ALPN)
	c, s := pair(t)
	go func() {
		for _, part := range [][]byte{hello[:3], hello[3:100], hello[100:]} {
			c.Write(part)
			time.Sleep(10 * time.Millisecond)
		}
		c.CloseWrite()
	}()
	p, sc, err := PeekMesh(s, 2*time.Second)
	if err != nil || p != MeshTLS {
		t.Fatalf("PeekMesh = %v, %v; want mesh-tls", p, err)
	}
	all, err := io.ReadAll(sc)
	if err != nil || !bytes.Equal(all, hello) {
		t.Fatalf("read back %d bytes, %v; want the %d of the ClientHello", len(all), err, len(hello))
	}
}
