package channel

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

func testIndex(t testing.TB) *Index {
	t.Helper()
	s, err := NewSnapshot(Version{Hash: HashContent(nil), Generated: testTime}, testContent())
	if err != nil {
		t.Fatal(err)
	}
	return NewIndex(s)
}

func TestResolve(t *testing.T) {
	x := testIndex(t)
	web := "spiffe://cluster.local/ns/shop/sa/web"
	api := "spiffe://cluster.local/ns/shop/sa/api"
	for _, tc := range []struct {
		dst, addr, id string
		ok            bool
	}{
		{"198.18.0.10:8080", "198.18.0.10:8080", web, true},
		{"198.18.0.10:9090", "198.18.0.10:9090", "", true},       // bypass port
		{"198.18.0.10:15000", "198.18.0.10:15000", "", true},     // the admin port bypasses
		{"198.18.0.11:8080", "198.18.0.11:8080", api, true},      // second pod
		{"[fd00::11]:8080", "[fd00::11]:8080", api, true},        // its second IP
		{"[::ffff:198.18.0.11]:80", "198.18.0.11:80", api, true}, // mapped
		{"198.18.0.99:8080", "198.18.0.99:8080", "", false},      // not meshed, not known
		{"198.19.0.1:9090", "198.18.0.10:9090", "", true},        // Service to a bypass port
		{"198.19.0.1:443", "198.19.0.1:443", "", false},          // Service port without endpoints
		{"198.19.0.1:81", "198.19.0.1:81", "", false},            // not a Service port
		{"203.0.113.1:443", "203.0.113.1:443", "", false},        // outside the mesh
	} {
		addr, id, ok := x.Resolve(netip.MustParseAddrPort(tc.dst))
		if addr.String() != tc.addr || id.String() != tc.id || ok != tc.ok {
			t.Errorf("Resolve(%s) = %s, %q, %v; want %s, %q, %v", tc.dst, addr, id, ok, tc.addr, tc.id, tc.ok)
		}
	}
}

// TestResolveServiceRoundRobin: a Service's endpoints are chosen in turn,
// each with its own identity (or none), with the target port.
func TestResolveServiceRoundRobin(t *testing.T) {
	x := testIndex(t)
	got := map[string]string{}
	for range 6 {
		addr, id, ok := x.Resolve(netip.MustParseAddrPort("198.19.0.1:80"))
		if !ok {
			t.Fatal("Service address unknown")
		}
		got[addr.String()] = id.String()
	}
	want := map[string]string{
		"198.18.0.10:8080": "spiffe://cluster.local/ns/shop/sa/web",
		"198.18.0.11:8080": "spiffe://cluster.local/ns/shop/sa/api",
		"198.18.0.99:8080": "", // an endpoint that is not meshed: plain text
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("six picks reached %v, want each of %v", got, want)
	}
}

func TestResolveNilIndex(t *testing.T) {
	var x *Index
	dst := netip.MustParseAddrPort("198.18.0.10:8080")
	if addr, id, ok := x.Resolve(dst); ok || !id.IsZero() || addr != dst {
		t.Errorf("a nil index resolved %s to %s, %s, %v", dst, addr, id, ok)
	}
}

// TestResolveConcurrent runs under -race: picks from many goroutines are
// spread evenly.
func TestResolveConcurrent(t *testing.T) {
	x := testIndex(t)
	dst := netip.MustParseAddrPort("198.19.0.1:80")
	var mu sync.Mutex
	count := map[netip.AddrPort]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			local := map[netip.AddrPort]int{}
			for range 300 {
				addr, _, _ := x.Resolve(dst)
				local[addr]++
			}
			mu.Lock()
			for k, v := range local {
				count[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	for addr, n := range count {
		if n != 800 {
			t.Errorf("%s picked %d times of 2400, want 800", addr, n)
		}
	}
}

func TestResolveAllocatesNothing(t *testing.T) {
	x := testIndex(t)
	svc, pod := netip.MustParseAddrPort("198.19.0.1:80"), netip.MustParseAddrPort("198.18.0.10:8080")
	if n := testing.AllocsPerRun(1000, func() { x.Resolve(svc); x.Resolve(pod) }); n != 0 {
		t.Errorf("Resolve allocates %.1f times per call", n)
	}
}

// bigIndex is a mesh of n pods behind n/10 Services of 10 endpoints.
func bigIndex(b *testing.B, n int) *Index {
	var c Content
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		c.Pods = append(c.Pods, Pod{IPs: []netip.Addr{ip}, Identity: fmt.Sprintf("spiffe://cluster.local/ns/ns%d/sa/sa%d", i%50, i), BypassPorts: []uint16{15000}})
	}
	for s := range n / 10 {
		svc := Service{Name: fmt.Sprintf("ns/svc%d", s), IPs: []netip.Addr{netip.AddrFrom4([4]byte{172, 16, byte(s >> 8), byte(s)})}}
		sp := ServicePort{Port: 80}
		for e := range 10 {
			sp.Endpoints = append(sp.Endpoints, netip.AddrPortFrom(c.Pods[s*10+e].IPs[0], 8080))
		}
		svc.Ports = []ServicePort{sp}
		c.Services = append(c.Services, svc)
	}
	s, err := NewSnapshot(Version{Hash: HashContent(nil), Generated: testTime}, c)
	if err != nil {
		b.Fatal(err)
	}
	return NewIndex(s)
}

func BenchmarkResolve(b *testing.B) {
	x := bigIndex(b, 10000)
	svc := netip.MustParseAddrPort("172.16.3.7:80")
	pod := netip.MustParseAddrPort("10.0.20.1:8080")
	b.Run("service", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x.Resolve(svc)
		}
	})
	b.Run("pod", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x.Resolve(pod)
		}
	})
	b.Run("service-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				x.Resolve(svc)
			}
		})
	})
}

// BenchmarkDecodeSnapshot is the proxy's cost of one snapshot of 10000
// pods and 1000 Services: parse, validate, index.
func BenchmarkDecodeSnapshot(b *testing.B) {
	var c Content
	for i := range 10000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		c.Pods = append(c.Pods, Pod{IPs: []netip.Addr{ip}, Identity: fmt.Sprintf("spiffe://cluster.local/ns/ns%d/sa/sa%d", i%50, i), BypassPorts: []uint16{15000}})
	}
	l := []byte(line(b, c))
	b.SetBytes(int64(len(l)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := NewDecoder(bytes.NewReader(l), 0).Next()
		if err != nil {
			b.Fatal(err)
		}
		s, err := DecodeSnapshot(m)
		if err != nil {
			b.Fatal(err)
		}
		NewIndex(s)
	}
}

// TestResolveServiceByFamily: a dual-stack Service's IPv4 cluster IP leads
// to IPv4 endpoints and its IPv6 one to IPv6 endpoints, as kube-proxy
// routes them.
func TestResolveServiceByFamily(t *testing.T) {
	c := Content{
		Pods: []Pod{{IPs: []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("fd00::1")}, Identity: "spiffe://cluster.local/ns/a/sa/b"}},
		Services: []Service{{Name: "a/s", IPs: []netip.Addr{netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("fd01::1")},
			Ports: []ServicePort{{Port: 80, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:8080"), netip.MustParseAddrPort("[fd00::1]:8080")}}}}},
	}
	s, err := NewSnapshot(Version{}, c)
	if err != nil {
		t.Fatal(err)
	}
	x := NewIndex(s)
	for dst, want := range map[string]string{"198.19.0.1:80": "198.18.0.1:8080", "[fd01::1]:80": "[fd00::1]:8080"} {
		for range 3 {
			if addr, id, ok := x.Resolve(netip.MustParseAddrPort(dst)); addr.String() != want || !ok || id.String() != "spiffe://cluster.local/ns/a/sa/b" {
				t.Errorf("Resolve(%s) = %s %s %v, want %s", dst, addr, id, ok, want)
			}
		}
	}
}

// TestInMesh: meshed pods (any port) and Services whose every endpoint is
// one are in the mesh; a Service with another endpoint is not (it could
// point anywhere), nor any other address; and asking moves no round-robin
// counter.
func TestInMesh(t *testing.T) {
	s, err := NewSnapshot(Version{}, testContent())
	if err != nil {
		t.Fatal(err)
	}
	x := NewIndex(s)
	for dst, want := range map[string]bool{
		"198.18.0.10:8080":       true,  // a meshed pod
		"198.18.0.10:15000":      true,  // its skipped port: still a mesh pod
		"[::ffff:198.18.0.11]:1": true,  // mapped
		"198.19.0.1:9090":        true,  // a Service port whose endpoints are all meshed pods
		"198.19.0.1:80":          false, // a Service port with an endpoint outside the mesh
		"198.19.0.1:81":          false, // not one of its ports
		"198.18.0.99:8080":       false, // an unmeshed endpoint's own address
		"203.0.113.1:443":        false, // outside
	} {
		if got := x.InMesh(netip.MustParseAddrPort(dst)); got != want {
			t.Errorf("InMesh(%s) = %v, want %v", dst, got, want)
		}
	}
	first, _, _ := x.Resolve(netip.MustParseAddrPort("198.19.0.1:80"))
	for range 5 {
		x.InMesh(netip.MustParseAddrPort("198.19.0.1:80"))
	}
	second, _, _ := x.Resolve(netip.MustParseAddrPort("198.19.0.1:80"))
	if first == second {
		t.Errorf("Resolve gave %s twice in a row: InMesh moved the round robin", first)
	}
}
