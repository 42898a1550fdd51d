//go:build e2e

package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// This file reads pod traffic from the node's side, as a packet capture
// does: whatever the proxies claim, what crosses the pods' veths is what an
// eavesdropper on the node network would see.

// segment is one TCP segment with a payload, from a captured frame.
type segment struct {
	src, dst netip.AddrPort
	payload  []byte
}

// parseFrame reads an Ethernet frame carrying IPv4 and TCP; ok is false
// for anything else or a truncated frame.
func parseFrame(f []byte) (segment, bool) {
	const ethLen = 14
	if len(f) < ethLen+20 || binary.BigEndian.Uint16(f[12:14]) != 0x0800 {
		return segment{}, false
	}
	ip := f[ethLen:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[0]>>4 != 4 || ihl < 20 || total < ihl || total > len(ip) || ip[9] != syscall.IPPROTO_TCP {
		return segment{}, false
	}
	if frag := binary.BigEndian.Uint16(ip[6:8]) & 0x1fff; frag != 0 {
		return segment{}, false // not a first fragment: no TCP header
	}
	tcp := ip[ihl:total]
	if len(tcp) < 20 {
		return segment{}, false
	}
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return segment{}, false
	}
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(tcp[0:2]))
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(tcp[2:4]))
	return segment{src: src, dst: dst, payload: tcp[off:]}, true
}

// capture collects the TCP payloads to and from one pod IP seen on any
// interface of the node's network namespace (the test runs there, as
// root), until stop is called.
type capture struct {
	fd       int
	ip       netip.Addr
	mu       sync.Mutex
	segments []segment
	done     chan struct{}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// startCapture opens an AF_PACKET socket on every interface and keeps the
// segments to or from ip.
func startCapture(t *testing.T, ip netip.Addr) *capture {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ALL)))
	if err != nil {
		t.Fatalf("packet socket (the e2e test runs as root on the node): %v", err)
	}
	// A read timeout, so that stop is seen without a packet arriving.
	tv := syscall.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	c := &capture{fd: fd, ip: ip, done: make(chan struct{})}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, 65536)
		for {
			select {
			case <-c.done:
				return
			default:
			}
			n, _, err := syscall.Recvfrom(fd, buf, 0)
			if err != nil {
				if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
					continue
				}
				return
			}
			s, ok := parseFrame(buf[:n])
			if !ok || len(s.payload) == 0 {
				continue
			}
			if s.src.Addr() == ip || s.dst.Addr() == ip {
				s.payload = bytes.Clone(s.payload)
				c.mu.Lock()
				c.segments = append(c.segments, s)
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { c.stop(); <-stopped; syscall.Close(fd) })
	return c
}

// stop ends the capture; it may be called more than once.
func (c *capture) stop() {
	select {
	case <-c.done:
	default:
		close(c.done)
	}
}

// seen returns the segments captured so far.
func (c *capture) seen() []segment {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]segment(nil), c.segments...)
}

// tlsClientHelloWithALPN reports whether payload starts a TLS handshake
// record holding a ClientHello that offers alpn: the first bytes a mesh
// proxy sends on a new connection.
func tlsClientHelloWithALPN(payload []byte, alpn string) bool {
	return len(payload) > 5 && payload[0] == 0x16 && payload[1] == 0x03 && payload[5] == 0x01 &&
		bytes.Contains(payload, append([]byte{byte(len(alpn))}, alpn...))
}

func TestParseFrame(t *testing.T) {
	frame := func(proto byte, frag uint16, payload string) []byte {
		f := make([]byte, 14+20+20)
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		ip := f[14:]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
		binary.BigEndian.PutUint16(ip[6:], frag)
		ip[9] = proto
		copy(ip[12:], []byte{198, 18, 0, 5})
		copy(ip[16:], []byte{198, 18, 0, 9})
		tcp := ip[20:]
		binary.BigEndian.PutUint16(tcp[0:], 40000)
		binary.BigEndian.PutUint16(tcp[2:], 8080)
		tcp[12] = 5 << 4
		return append(f, payload...)
	}
	s, ok := parseFrame(frame(syscall.IPPROTO_TCP, 0, "GET / HTTP/1.1\r\n"))
	if !ok || s.src.String() != "198.18.0.5:40000" || s.dst.String() != "198.18.0.9:8080" || string(s.payload) != "GET / HTTP/1.1\r\n" {
		t.Errorf("got %+v %v", s, ok)
	}
	for name, f := range map[string][]byte{
		"udp":         frame(syscall.IPPROTO_UDP, 0, "x"),
		"a fragment":  frame(syscall.IPPROTO_TCP, 3, "x"),
		"truncated":   frame(syscall.IPPROTO_TCP, 0, "x")[:40],
		"not IPv4":    append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd}, make([]byte, 60)...),
		"short frame": {1, 2, 3},
	} {
		if _, ok := parseFrame(f); ok {
			t.Errorf("%s: parsed", name)
		}
	}
	hello := append([]byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01}, append([]byte{0, 0, 9}, "meshctl/1"...)...)
	if !tlsClientHelloWithALPN(hello, "meshctl/1") || tlsClientHelloWithALPN([]byte("GET / HTTP/1.1"), "meshctl/1") {
		t.Error("tlsClientHelloWithALPN")
	}
}
