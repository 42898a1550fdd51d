package dataplane

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// tlsCounts are the requests a TLS hop's server side carried and the full
// handshakes it made: requests/handshakes is how well the connections
// between the two hops are reused.
type tlsCounts struct{ requests, handshakes, failed int }

func (c tlsCounts) sub(d tlsCounts) tlsCounts {
	return tlsCounts{c.requests - d.requests, c.handshakes - d.handshakes, c.failed - d.failed}
}

func (c tlsCounts) add(d tlsCounts) tlsCounts {
	return tlsCounts{c.requests + d.requests, c.handshakes + d.handshakes, c.failed + d.failed}
}

func (c tlsCounts) String() string {
	if c.handshakes == 0 {
		return fmt.Sprintf("%d/0", c.requests)
	}
	return fmt.Sprintf("%d/%d=%.0f", c.requests, c.handshakes, float64(c.requests)/float64(c.handshakes))
}

// meshTLSCounts reads the server proxy's inbound counters: requests that
// came over mutual TLS, and inbound handshakes (ok, and failed).
func meshTLSCounts(b testing.TB, admin *http.Client) tlsCounts {
	b.Helper()
	resp, err := admin.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", wire.AdminPort))
	if err != nil {
		b.Fatalf("the mTLS server proxy's metrics: %v", err)
	}
	defer resp.Body.Close()
	var c tlsCounts
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		switch {
		case strings.HasPrefix(series, telemetry.MetricRequestsTotal+"{") &&
			strings.Contains(series, `direction="inbound"`) && strings.Contains(series, `tls="true"`):
			c.requests += int(v)
		case strings.HasPrefix(series, telemetry.MetricHandshakes+"{") && strings.Contains(series, `direction="inbound"`):
			if strings.Contains(series, `result="ok"`) {
				c.handshakes += int(v)
			} else {
				c.failed += int(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatalf("the mTLS server proxy's metrics: %v", err)
	}
	return c
}

// nginxTLSCounts reads hop2's access log: with session resumption off
// (and checked: a resumed session is not counted as mutual), every
// connection is one full handshake.
func nginxTLSCounts(b testing.TB, logPath string) tlsCounts {
	l := readNginxTLSLog(b, logPath)
	return tlsCounts{requests: l.requests - l.notMutual, handshakes: l.conns, failed: l.notMutual}
}

// handshakeTarget is a TLS server side whose handshake cost is measured:
// where to dial it from, its address, the client's configuration, and the
// process that does the server's work.
type handshakeTarget struct {
	name   string
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	addr   string
	config *tls.Config
	server proc
}

type handshakeResult struct {
	name          string
	n             int
	certRequested int // handshakes in which the server asked for the client's certificate
	curve         tls.CurveID
	p50, p99      time.Duration
	serverCPU     time.Duration // per handshake
}

// measureHandshakes makes n new connections to t one after the other,
// each a full TLS 1.3 handshake with the client's certificate and then a
// close, and reports the latency the client sees (TCP connect included)
// and the CPU the server's process spent per handshake.
func measureHandshakes(b testing.TB, t handshakeTarget, n int) handshakeResult {
	b.Helper()
	r := handshakeResult{name: t.name, n: n}
	cfg := t.config.Clone()
	getCert := cfg.GetClientCertificate
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		r.certRequested++
		return getCert(cri)
	}
	var lat []time.Duration
	u0, s0 := t.server.cpuSplit()
	for range n {
		start := time.Now()
		c, err := t.dial(context.Background(), "tcp", t.addr)
		if err != nil {
			b.Fatalf("%s: %v", t.name, err)
		}
		tc := tls.Client(c, cfg)
		if err := tc.Handshake(); err != nil {
			b.Fatalf("%s: handshake: %v", t.name, err)
		}
		lat = append(lat, time.Since(start))
		r.curve = tc.ConnectionState().CurveID
		tc.Close()
	}
	// The server reads the client's last flight (its certificate and
	// Finished) after the client's handshake has returned.
	time.Sleep(200 * time.Millisecond)
	u1, s1 := t.server.cpuSplit()
	slices.Sort(lat)
	r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	r.serverCPU = (u1 - u0 + s1 - s0) / time.Duration(n)
	return r
}

// handshakeTargets are mesh-proxy's inbound side, as a peer proxy reaches
// it (dialled from the unmeshed controller pod, with a mesh certificate
// and identity.ClientConfig), and nginx hop2 as nginx hop1 reaches it
// (the same kind of certificate, chain and name verified).
func handshakeTargets(b testing.TB, ca *identitytest.CA, ctlNS string, meshServer proc, files nginxTLSFiles, plainClientNS string, nginxHop2 proc) []handshakeTarget {
	b.Helper()
	id := func(sa string) identity.ID {
		id, err := identity.NewID(identity.DefaultTrustDomain, meshNamespace, sa)
		if err != nil {
			b.Fatal(err)
		}
		return id
	}
	peer := ca.Leaf(b, id("bmtc"), ca.Now, 0)
	mesh := identity.ClientConfig(ca.Sources(peer), identity.ExpectPeer(id("bmts")))
	nginx := &tls.Config{
		MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
		RootCAs: files.anchorPool, ServerName: nginxTLSServerName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return files.clientTLS, nil },
	}
	return []handshakeTarget{
		{"mesh-proxy (identity.ServerConfig)", dialer(b, ctlNS), fmt.Sprintf("%s:%d", benchMTLSServer, benchAppPort), mesh, meshServer},
		{"nginx hop2 (ssl_verify_client on)", dialer(b, plainClientNS), fmt.Sprintf("%s:%d", benchPlainServer, nginxTLSHop2Port), nginx, nginxHop2},
	}
}

func formatHandshakes(results []handshakeResult) string {
	var out strings.Builder
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "server\thandshakes\tclient cert asked\tgroup\tp50 (TCP+TLS)\tp99\tserver CPU/handshake\t\n")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", r.name, r.n, r.certRequested, r.curve, us(r.p50), us(r.p99), us(r.serverCPU))
	}
	tw.Flush()
	return out.String()
}
