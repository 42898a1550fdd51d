package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"

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
