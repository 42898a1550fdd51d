package meshtls

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/identity/identitytest"
)

// parkDeep waits for release a few KiB down the stack, as a proxy's
// connection goroutine waits for its next request down the TLS read path:
// deep enough that the runtime will not shrink a stack the goroutine grew
// earlier back to its first 8 KiB (it halves a stack only while a quarter
// of it is enough).
//
//go:noinline
func parkDeep(release <-chan struct{}, parked *sync.WaitGroup) byte {
	var frame [5 << 10]byte
	frame[len(frame)-1] = 1
	parked.Done()
	<-release
	return frame[0] + frame[len(frame)-1]
}

// stackInUse is the goroutine stacks' memory once the GC has shrunk what
// it can.
func stackInUse() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.StackInuse
}

// TestHandshakeLeavesTheCallersStack: the goroutines that call
// Server.Handshake and Dialer.DialContext, which live on with their
// connection, keep the stack they would have without a handshake (8 KiB
// for parkDeep); the handshake's deep stack (key exchange, certificate
// checks) is another goroutine's, gone when it ends. Made on the caller's
// goroutine, it leaves that goroutine 16 KiB, which parkDeep's frame keeps
// the runtime from shrinking. (Goroutines of earlier tests, whose stacks
// the runtime reuses, blur the count per goroutine by a few KiB, not by
// eight.)
func TestHandshakeLeavesTheCallersStack(t *testing.T) {
	const n = 64
	now := time.Now()
	ca := identitytest.NewCA(t, now)
	clientID, serverID := mustID(t, "a", "client"), mustID(t, "b", "server")
	srv := NewServer(Server{Sources: ca.Sources(ca.Leaf(t, serverID, now, 0))})
	release := make(chan struct{})
	var parked sync.WaitGroup
	var conns sync.Map
	keep := func(c net.Conn) { conns.Store(c, true) }
	defer func() {
		close(release)
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
	}()
	addr := listen(t, func(c net.Conn) {
		tc, _, err := srv.Handshake(c)
		if err != nil {
			t.Error(err)
			c.Close()
			parked.Done()
			return
		}
		keep(tc)
		parkDeep(release, &parked)
	})
	dst := netip.MustParseAddrPort("10.0.0.1:80")
	d := &Dialer{Sources: ca.Sources(ca.Leaf(t, clientID, now, 0)), Resolver: resolver{dst: {Addr: addr, ID: serverID}}}

	before := stackInUse()
	parked.Add(2 * n)
	for range n {
		go func() {
			c, err := d.DialContext(context.Background(), "tcp", dst.String())
			if err != nil {
				t.Error(err)
				parked.Done()
				return
			}
			keep(c)
			parkDeep(release, &parked)
		}()
	}
	parked.Wait()
	// Both sides' goroutines: n that dialled, n the listener started.
	perConn := int64(stackInUse()-before) / (2 * n)
	t.Logf("%d bytes of stack per goroutine that made a handshake", perConn)
	if perConn >= 12<<10 {
		t.Fatalf("a goroutine that made a handshake keeps a %d-byte stack, want 8 KiB", perConn)
	}
}
