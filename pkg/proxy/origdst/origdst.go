// Package origdst reads the destination a connection had before the
// interception rules redirected it to the proxy (SO_ORIGINAL_DST).
package origdst

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// soOriginalDst is SO_ORIGINAL_DST (linux/netfilter_ipv4.h), and the same
// number as IP6T_SO_ORIGINAL_DST at SOL_IPV6.
const soOriginalDst = 80

// Get returns the original destination of c, a connection accepted on a
// port that the interception rules redirect to. For a connection that was
// not redirected it returns the local address, or an error when conntrack
// does not track the connection.
func Get(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	local, _ := c.LocalAddr().(*net.TCPAddr)
	var dst netip.AddrPort
	var serr error
	err = raw.Control(func(fd uintptr) {
		if local != nil && local.IP.To4() == nil {
			dst, serr = getV6(int(fd))
			return
		}
		dst, serr = getV4(int(fd))
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("reading the original destination (SO_ORIGINAL_DST): %w", err)
	}
	return dst, nil
}

func getV4(fd int) (netip.AddrPort, error) {
	// sockaddr_in is 16 bytes, the size of an IPv6Mreq: x/sys has no
	// getsockopt for raw bytes, so this is the usual stand-in.
	m, err := unix.GetsockoptIPv6Mreq(fd, unix.SOL_IP, soOriginalDst)
	if err != nil {
		return netip.AddrPort{}, err
	}
	b := m.Multiaddr[:]
	port := binary.BigEndian.Uint16(b[2:4])
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), nil
}

func getV6(fd int) (netip.AddrPort, error) {
	// IPv6MTUInfo starts with a sockaddr_in6 (28 bytes), which is what the
	// kernel writes.
	m, err := unix.GetsockoptIPv6MTUInfo(fd, unix.SOL_IPV6, soOriginalDst)
	if err != nil {
		return netip.AddrPort{}, err
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&m.Addr))
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port), nil
}
