package integration_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/internal/apicount"
	"github.com/meshctl/meshctl/internal/proxytest"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	proxychannel "github.com/meshctl/meshctl/pkg/proxy/channel"
	"github.com/meshctl/meshctl/pkg/proxy/credentials"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/statcli"
)

// The fleet of the benchmark: the 50 namespaces and 1,000 meshed
// pods, as 5 deployments of 4 pods in each namespace.
const (
	benchNamespaces  = 50
	benchDeployments = 5
	benchReplicas    = 4
)

// expositions are the texts of a web proxy's /metrics as it counts
// webTraffic before each scrape, made once for all the proxies of ns.
func expositions(ns string) func(scrape int) []byte {
	m := telemetry.NewMetrics()
	var mu sync.Mutex
	var texts [][]byte
	return func(scrape int) []byte {
		mu.Lock()
		defer mu.Unlock()
		for len(texts) < scrape {
			webTraffic(ns)(m, len(texts)+1)
			var b bytes.Buffer
			m.WriteTo(&b)
			texts = append(texts, b.Bytes())
		}
		return texts[scrape-1]
	}
}

// BenchmarkFleet1000 measures `meshctl stat deploy -A` (with the default
// 10 s window and the real clock) and `meshctl proxy status -A` against
// 1,000 meshed pods in 50 namespaces, through the real API server and
// real port-forwards to 1,000 proxies' admin ports (the real admin
// handler and metrics, each counting a web's traffic). ns/op is the wall
// time of one invocation; api-requests/op the API requests other than
// port-forwards, port-forwards/op those the kubelet served.
//
//	go test -run '^$' -bench BenchmarkFleet1000 -benchtime 1x ./pkg/statcli/integration
func BenchmarkFleet1000(b *testing.B) {
	c := newCluster(b)
	start := time.Now()
	now := time.Now()
	status := func() any {
		return admin.Status{
			Identity: &credentials.Status{ID: "spiffe://cluster.local/ns/shop/sa/web", Certificate: &credentials.CertificateStatus{NotAfter: now.Add(24 * time.Hour)}},
			Channel:  &proxychannel.Status{Connected: true, Version: channel.Version{Hash: "sha256:4e07408562bedb8b"}},
		}
	}
	for range benchNamespaces {
		ns := env.Namespace(b, nil)
		text := expositions(ns)
		for d := range benchDeployments {
			admins := make([]string, benchReplicas)
			for i := range admins {
				admins[i] = proxytest.StartAdmin(b, proxytest.Options{Text: text, Status: status}).Addr
			}
			c.deployment(ns, fmt.Sprintf("app-%d", d), fmt.Sprintf("app-%d", d), admins...)
		}
	}
	b.Logf("%d namespaces, %d meshed pods set up in %s", benchNamespaces, benchNamespaces*benchDeployments*benchReplicas, time.Since(start).Round(time.Second))
	var n apicount.Counter
	clients := n.Clients(b, env.Config)

	measure := func(b *testing.B, run func() error) {
		n.Reset()
		before := c.kubelet.Forwards()
		for b.Loop() {
			if err := run(); err != nil {
				b.Fatal(err)
			}
		}
		requests := 0
		for k, v := range n.Reset() {
			if !strings.HasSuffix(k, "pods/portforward") {
				requests += v
			}
		}
		forwards := 0
		for pod, k := range c.kubelet.Forwards() {
			forwards += k - before[pod]
		}
		b.ReportMetric(float64(requests)/float64(b.N), "api-requests/op")
		b.ReportMetric(float64(forwards)/float64(b.N), "port-forwards/op")
	}
	b.Run("stat deploy -A", func(b *testing.B) {
		measure(b, func() error {
			var out, errOut bytes.Buffer
			o := &statcli.Options{Kind: statcli.KindDeployment, AllNamespaces: true, Window: statcli.DefaultWindow, Output: cli.FormatJSON,
				Clients: kube.Static(clients), IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}}
			if err := o.Run(testenv.Context(b)); err != nil {
				return err
			}
			if strings.Contains(errOut.String(), "Warning") {
				return fmt.Errorf("proxies not read:\n%s", errOut.String())
			}
			return nil
		})
	})
	b.Run("proxy status -A", func(b *testing.B) {
		measure(b, func() error {
			var out, errOut bytes.Buffer
			o := &proxyadmin.StatusOptions{AllNamespaces: true, MeshName: meshconfig.DefaultMeshName, MeshNamespace: meshconfig.DefaultMeshNamespace,
				Output: cli.FormatJSON, Clients: kube.Static(clients), IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}}
			if err := o.Run(testenv.Context(b)); err != nil {
				return err
			}
			if got := strings.Count(out.String(), `"connected": true`); got < benchNamespaces*benchDeployments*benchReplicas {
				return fmt.Errorf("%d proxies read", got)
			}
			return nil
		})
	})
}
