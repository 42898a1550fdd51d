package proxy

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// TestMetricsNameTheWorkload: a proxy names the workload its flags give
// and its pod's namespace in its metrics; a pod that is its own workload
// is named after itself; a proxy injected before the flags existed names
// its namespace only.
func TestMetricsNameTheWorkload(t *testing.T) {
	pod := wire.Pod{Name: "bookstore-v1-7d9f8-x2x9q", Namespace: "bookstore", IP: "127.0.0.1", ServiceAccount: "bookstore"}
	for _, tc := range []struct {
		name     string
		workload *wire.Workload
		want     string
	}{
		{"deployment", &wire.Workload{Kind: wire.KindDeployment, Name: "bookstore-v1"}, `workload_kind="deployment",workload_name="bookstore-v1",workload_namespace="bookstore"} 1`},
		{"bare pod", &wire.Workload{Kind: wire.KindPod}, `workload_kind="pod",workload_name="bookstore-v1-7d9f8-x2x9q",workload_namespace="bookstore"} 1`},
		{"injected before", nil, `tls="false",workload_namespace="bookstore"} 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := httpApp(t)
			r := run()
			r.Workload = tc.workload
			p := startProxyOptions(t, Options{Run: r, Pod: pod}, app)
			resp, err := http.Get("http://" + p.addr(wire.InboundPort) + "/")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			waitForMetrics(t, "http://"+p.addr(wire.AdminPort)+"/metrics", telemetry.MetricRequestsTotal+`{direction="inbound",method="GET"`, tc.want)
		})
	}
}

// httpApp is an app on loopback that answers every request 200.
func httpApp(t *testing.T) netip.AddrPort {
	t.Helper()
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}
