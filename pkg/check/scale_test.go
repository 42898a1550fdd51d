package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
)

// countingTransport counts the requests that reach the API server.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// countingClients are clients rate-limited as meshctl check's, whose
// requests are counted in n.
func countingClients(t testing.TB, n *atomic.Int64) *kube.Clients {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = ClientQPS, ClientBurst
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, n: n} }
	c, err := kube.NewClientsForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scaleMesh is an installed mesh with enrolled namespaces full of meshed pods.
type scaleMesh struct {
	*mesh
	namespaces []string
	pods       int
}

func newScaleMesh(t testing.TB, namespaces int) *scaleMesh {
	t.Helper()
	m := newMesh(t)
	m.install(t)
	s := &scaleMesh{mesh: m}
	for range namespaces {
		s.namespaces = append(s.namespaces, m.enrol(t))
	}
	return s
}

// grow adds healthy meshed pods, spread over the namespaces, until there are
// total.
func (s *scaleMesh) grow(t testing.TB, total int) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := s.pods; i < total; i++ {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ns := s.namespaces[i%len(s.namespaces)]
			s.createPod(t, ns, podSpec{name: fmt.Sprintf("app-%04d", i), injected: true, owner: "app-5f7c9"})
		})
	}
	wg.Wait()
	s.pods = total
}

// measure runs `meshctl check -o json` as the command does and returns the
// number of API requests it made and how long it took.
func (s *scaleMesh) measure(t testing.TB) (int64, time.Duration) {
	t.Helper()
	var n atomic.Int64
	clients := countingClients(t, &n)
	var out, errOut bytes.Buffer
	o := &Options{
		Output: cli.FormatJSON, MeshName: s.name, MeshNamespace: s.ns,
		Clients: func() (*kube.Clients, error) { return clients, nil },
	}
	o.Out, o.ErrOut = &out, &errOut
	start := time.Now()
	err := o.Run(context.Background())
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("check failed: %v\n%s", err, out.String())
	}
	var doc jsonReport
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || !doc.Success {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	return n.Load(), elapsed
}

// The number of API requests of `meshctl check` depends on the number of
// enrolled namespaces, never on the number of pods: pods are listed, never
// read one by one.
func TestRequestsDoNotGrowWithPods(t *testing.T) {
	s := newScaleMesh(t, 50)
	s.grow(t, 100)
	small, smallTime := s.measure(t)
	s.grow(t, 1000)
	large, largeTime := s.measure(t)
	t.Logf("meshctl check, 50 enrolled namespaces: 100 pods: %d requests in %s; 1000 pods: %d requests in %s",
		small, smallTime.Round(time.Millisecond), large, largeTime.Round(time.Millisecond))
	if large != small {
		t.Errorf("requests grew with the pods: %d for 100 pods, %d for 1000", small, large)
	}
	// One list of the enrolled namespaces and one of each one's pods, plus
	// a fixed number for the control plane.
	if small > 50+1+40 {
		t.Errorf("%d requests for 50 namespaces", small)
	}
}

// BenchmarkCheck measures `meshctl check` on 50 enrolled namespaces and 1000
// pods, reporting the API requests of one run.
func BenchmarkCheck(b *testing.B) {
	s := newScaleMesh(b, 50)
	s.grow(b, 1000)
	var requests int64
	for b.Loop() {
		requests, _ = s.measure(b)
	}
	b.ReportMetric(float64(requests), "requests/op")
}

// The preflight asks one SelfSubjectAccessReview per permission the chart
// needs, and a fixed number of other requests: it does not depend on what
// the cluster holds.
func TestPreInstallRequests(t *testing.T) {
	m := newMesh(t)
	perms, err := m.env.installPermissions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	clients := countingClients(t, &n)
	var out bytes.Buffer
	o := &Options{
		Pre: true, Output: cli.FormatJSON, MeshName: m.name, MeshNamespace: m.ns,
		Clients: func() (*kube.Clients, error) { return clients, nil },
	}
	o.Out, o.ErrOut = &out, &bytes.Buffer{}
	start := time.Now()
	if err := o.Run(context.Background()); err != nil {
		t.Fatalf("check --pre: %v\n%s", err, out.String())
	}
	elapsed := time.Since(start)
	t.Logf("meshctl check --pre: %d requests (%d access reviews) in %s", n.Load(), len(perms), elapsed.Round(time.Millisecond))
	// Besides the reviews: the version, the namespace, discovery for the
	// kinds, dry runs of the cluster-scoped objects and the reads of the
	// pre-install checks.
	if extra := n.Load() - int64(len(perms)); extra < 0 || extra > 40 {
		t.Errorf("%d requests besides %d access reviews", extra, len(perms))
	}
}
