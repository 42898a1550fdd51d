package sniff

import "github.com/meshctl/meshctl/pkg/identity"

// MaxTLSPeek is how many bytes DetectMesh may need: a ClientHello, record
// headers included, must fit, or the connection is opaque TCP. A mesh
// proxy's (crypto/tls with a post-quantum key share) is about 1.5 KB;
// browsers' stay under 2 KB. Larger ones are some app's own TLS, which
// opaque TCP carries as before.
const MaxTLSPeek = bufSize

// TLS record and handshake constants (RFC 8446 §5.1, §4).
const (
	recordHandshake   = 22
	recordHeaderLen   = 5
	maxPlaintext      = 1 << 14
	handshakeHello    = 1
	extensionALPN     = 16
	helloFixedLen     = 2 + 32 // legacy_version, random
	maxSessionIDLen   = 32
	handshakeHeadLen  = 4
	maxClientHelloLen = MaxTLSPeek - recordHeaderLen - handshakeHeadLen
)

// DetectMesh is Detect that also recognises mesh TLS: a TLS ClientHello
// whose ALPN extension offers identity.ALPN. Any other TLS, and anything
// it cannot parse, is TCP. The ClientHello may come in several records;
// it never needs more than MaxTLSPeek bytes, and allocates nothing.
func DetectMesh(b []byte) (p Protocol, done bool) {
	if len(b) == 0 {
		return TCP, false
	}
	if b[0] != recordHandshake {
		return Detect(b)
	}
	if len(b) > MaxTLSPeek {
		b = b[:MaxTLSPeek]
	}
	offers, done := offersALPN(b, identity.ALPN)
	if offers {
		return MeshTLS, true
	}
	if !done && len(b) >= MaxTLSPeek {
		return TCP, true
	}
	return TCP, done
}

// offersALPN parses the ClientHello at the start of b (TLS records) far
// enough to say whether its ALPN extension lists proto; done is false when
// b ends before that is known.
func offersALPN(b []byte, proto string) (offers, done bool) {
	r := helloReader{b: b}
	if typ := r.byte(); r.fail() || typ != handshakeHello {
		return false, !r.short
	}
	n := r.u24()
	if r.fail() || n < helloFixedLen+1+2+1 || n > maxClientHelloLen {
		return false, !r.short
	}
	end := r.pos + n
	r.skip(helloFixedLen)
	r.skip(r.lenByte(0, maxSessionIDLen))
	cs := r.len16()
	if !r.fail() && (cs < 2 || cs%2 != 0) {
		r.bad = true
	}
	r.skip(cs)
	cm := r.lenByte(1, 255)
	r.skip(cm)
	if r.fail() {
		return false, !r.short
	}
	if r.pos == end {
		// No extensions, so no ALPN.
		return false, true
	}
	if el := r.len16(); !r.fail() && el != end-r.pos {
		r.bad = true
	}
	for !r.fail() && r.pos < end {
		typ, l := r.u16(), r.len16()
		if !r.fail() && r.pos+l > end {
			r.bad = true
		}
		if typ != extensionALPN {
			r.skip(l)
			continue
		}
		list := r.len16()
		if !r.fail() && list+2 != l {
			r.bad = true
		}
		stop := r.pos + list
		for !r.fail() && r.pos < stop {
			nl := r.lenByte(1, 255)
			if !r.fail() && r.pos+nl > stop {
				r.bad = true
			}
			match := nl == len(proto)
			for i := 0; i < nl && !r.fail(); i++ {
				if c := r.byte(); match && c != proto[i] {
					match = false
				}
			}
			if match && !r.fail() {
				return true, true
			}
		}
		// One ALPN extension, and proto is not in it.
		return false, !r.short
	}
	return false, !r.short
}

// helloReader reads the handshake stream carried by consecutive TLS
// handshake records in b, skipping their headers, so that a ClientHello
// split over records needs no copy. Reading past b sets short (more bytes
// may decide); anything malformed sets bad. Once either is set, reads
// return zero and move nothing.
type helloReader struct {
	b []byte
	// off is the next byte of b; left is what remains of the current
	// record's fragment; pos counts handshake bytes read.
	off, left, pos int
	short, bad     bool
}

func (r *helloReader) fail() bool { return r.short || r.bad }

func (r *helloReader) byte() byte {
	if r.fail() {
		return 0
	}
	for r.left == 0 {
		if len(r.b)-r.off < recordHeaderLen {
			r.short = true
			return 0
		}
		h := r.b[r.off : r.off+recordHeaderLen]
		n := int(h[3])<<8 | int(h[4])
		// Handshake records only (RFC 8446 §5.1: no interleaving), TLS
		// major version 3, and never empty.
		if h[0] != recordHandshake || h[1] != 3 || n == 0 || n > maxPlaintext {
			r.bad = true
			return 0
		}
		r.off += recordHeaderLen
		r.left = n
	}
	if r.off >= len(r.b) {
		r.short = true
		return 0
	}
	c := r.b[r.off]
	r.off++
	r.left--
	r.pos++
	return c
}

func (r *helloReader) u16() int { return int(r.byte())<<8 | int(r.byte()) }

func (r *helloReader) u24() int { return int(r.byte())<<16 | r.u16() }

// len16 is a 16-bit length; it must fit in what b could ever hold.
func (r *helloReader) len16() int {
	n := r.u16()
	if n > maxClientHelloLen {
		r.bad = true
	}
	return n
}

// lenByte is an 8-bit length, at least lo and at most hi.
func (r *helloReader) lenByte(lo, hi int) int {
	n := int(r.byte())
	if !r.fail() && (n < lo || n > hi) {
		r.bad = true
	}
	return n
}

// skip reads n bytes; it stops at the end of b or on a bad record.
func (r *helloReader) skip(n int) {
	for i := 0; i < n && !r.fail(); i++ {
		r.byte()
	}
}
