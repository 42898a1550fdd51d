package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/meshctl/meshctl/pkg/proxy/meshtls"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// BenchmarkInboundHTTP measures one proxy hop (inbound pipeline: trace
// context, propagation record, metrics, access log, forward) over loopback
// with 1 KB bodies both ways, one keep-alive connection.
func BenchmarkInboundHTTP(b *testing.B) {
	reply := bytes.Repeat([]byte("x"), 1024)
	app := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(reply)
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go app.Serve(ln)
	defer app.Close()
	p := startProxyB(b, nil, ln.Addr().(*net.TCPAddr).AddrPort())
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	url := "http://" + p.addr(wire.InboundPort) + "/"
	body := make([]byte, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Post(url, "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkTwoProxiesHTTP measures a request through both proxies of a
// call between two pods (app -> outbound of A -> inbound of B -> app),
// 1 KB bodies both ways on one keep-alive connection, in plain text and
// over mutual TLS between the proxies: the cost of mesh TLS once its
// connection is pooled.
func BenchmarkTwoProxiesHTTP(b *testing.B) {
	reply := bytes.Repeat([]byte("x"), 1024)
	app := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(reply)
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go app.Serve(ln)
	defer app.Close()
	appAddr := ln.Addr().(*net.TCPAddr).AddrPort()
	req := []byte("POST /books HTTP/1.1\r\nHost: books\r\nContent-Length: 1024\r\n\r\n" + string(bytes.Repeat([]byte("y"), 1024)))

	for _, mtls := range []bool{false, true} {
		name := "plain"
		if mtls {
			name = "mtls"
		}
		b.Run(name, func(b *testing.B) {
			var a *proxy
			if mtls {
				m := newTestMesh(b)
				pb := m.server(b, run(), appAddr)
				a = m.client(b, pb, m.idB)
			} else {
				pb := startProxyWith(b, run(), appAddr, nil)
				a = startProxyWith(b, run(), netip.MustParseAddrPort(pb.addr(wire.InboundPort)), nil)
			}
			c, err := net.Dial("tcp", a.addr(wire.OutboundPort))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			roundTrip := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != 1024 {
					b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
				}
			}
			roundTrip() // the connections between the proxies are made
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				roundTrip()
			}
		})
	}
}

// BenchmarkMeshTLSHandshake is the cost of one new connection between
// proxies: TCP connect and a full TLS 1.3 handshake with both
// certificates verified against the bundle (no session resumption, see
// identity.ServerConfig), client and server on loopback.
func BenchmarkMeshTLSHandshake(b *testing.B) {
	m := newTestMesh(b)
	srv := meshtls.NewServer(meshtls.Server{Sources: m.ca.Sources(m.ca.Leaf(b, m.idB, m.now, 0))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if tc, _, err := srv.Handshake(c); err == nil {
					tc.Write([]byte{1})
					tc.Close()
				}
			}()
		}
	}()
	d := &meshtls.Dialer{Sources: m.ca.Sources(m.ca.Leaf(b, m.idA, m.now, 0)),
		Resolver: resolver{serviceAddr(): {Addr: netip.MustParseAddrPort(ln.Addr().String()), ID: m.idB}}}
	var one [1]byte
	b.ReportAllocs()
	for b.Loop() {
		c, err := d.DialContext(context.Background(), "tcp", serviceAddr().String())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, one[:]); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
