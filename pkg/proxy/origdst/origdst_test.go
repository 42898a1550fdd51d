package origdst

import (
	"net"
	"strings"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
)

// Without interception there is no original destination to read: Get
// either names the local address (conntrack tracks the connection) or says
// what it could not read. The redirected case is proven with real NAT in
// test/dataplane.
func TestGetWithoutRedirect(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dst, err := Get(s)
	if err != nil {
		if !strings.Contains(err.Error(), "SO_ORIGINAL_DST") {
			t.Fatalf("error %v does not say what failed", err)
		}
		return
	}
	if dst.String() != ln.Addr().String() {
		t.Fatalf("Get = %s, want the local address %s", dst, ln.Addr())
	}
}
