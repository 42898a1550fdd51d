package meshtls

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
)

// burst is how many connections between two proxies open at once when an
// app's pool fills: bench-proxy's load generator keeps 64.
const burst = 64

// BenchmarkHandshakeBurstMemory: what a burst of mesh TLS connections
// costs in memory, both sides in this process (Server.Handshake and
// Dialer.DialContext over loopback): bytes allocated per connection, the
// heap and stack peak during the burst, and what stays per open
// connection once it has been collected; with all the handshakes at once,
// and with at most two at once (forward's maxDialsPerHost).
func BenchmarkHandshakeBurstMemory(b *testing.B) {
	for _, at := range []int{burst, 2} {
		b.Run(fmt.Sprintf("at-once=%d", at), func(b *testing.B) { benchmarkHandshakeBurst(b, at) })
	}
}

func benchmarkHandshakeBurst(b *testing.B, atOnce int) {
	now := time.Now()
	ca := identitytest.NewCA(b, now)
	id := func(sa string) identity.ID {
		id, err := identity.NewID(identity.DefaultTrustDomain, "bench", sa)
		if err != nil {
			b.Fatal(err)
		}
		return id
	}
	clientID, serverID := id("client"), id("server")
	srv := NewServer(Server{Sources: ca.Sources(ca.Leaf(b, serverID, now, 0))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	served := make(chan *tls.Conn, burst)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc, _, err := srv.Handshake(c)
				if err != nil {
					c.Close()
					served <- nil
					return
				}
				// Park, as a server connection waiting for its next
				// request does: in a read.
				served <- tc
				var one [1]byte
				tc.Read(one[:])
			}()
		}
	}()
	dst := netip.MustParseAddrPort("10.0.0.1:80")
	d := &Dialer{Sources: ca.Sources(ca.Leaf(b, clientID, now, 0)),
		Resolver: resolver{dst: {Addr: netip.MustParseAddrPort(ln.Addr().String()), ID: serverID}}}

	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	read := func() (heap, stacks uint64) {
		metrics.Read(samples)
		return samples[0].Value.Uint64(), samples[1].Value.Uint64()
	}
	var peakHeap, peakStacks, retained, retainedStacks, baseline uint64
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		h0, s0 := read()
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ph, ps uint64
			for {
				h, s := read()
				ph, ps = max(ph, h-min(h, h0)), max(ps, s-min(s, s0))
				select {
				case <-stop:
					peakHeap, peakStacks = max(peakHeap, ph), max(peakStacks, ps)
					return
				case <-time.After(100 * time.Microsecond):
				}
			}
		}()
		clients := make([]net.Conn, burst)
		var wg sync.WaitGroup
		slots := make(chan struct{}, atOnce)
		for i := range clients {
			wg.Go(func() {
				slots <- struct{}{}
				defer func() { <-slots }()
				c, err := d.DialContext(context.Background(), "tcp", dst.String())
				if err != nil {
					b.Error(err)
					return
				}
				clients[i] = c
			})
		}
		wg.Wait()
		servers := make([]*tls.Conn, burst)
		for i := range servers {
			servers[i] = <-served
		}
		close(stop)
		<-sampled
		runtime.GC()
		h1, s1 := read()
		retained, retainedStacks, baseline = (h1+s1)-(h0+s0), s1-s0, h0+s0
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
		for _, c := range servers {
			if c != nil {
				c.Close()
			}
		}
	}
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MB/burst")
	b.ReportMetric(float64(peakStacks)/(1<<20), "peak-stacks-MB/burst")
	b.ReportMetric(float64(retained)/burst, "retained-B/conn-pair")
	b.ReportMetric(float64(retainedStacks)/burst, "retained-stack-B/conn-pair")
	_ = baseline
}
