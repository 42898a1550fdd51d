// Package integration_test runs the channel server against a real API
// server, as a user holding exactly the RBAC rules the package doc asks
// the chart to grant, and mesh-proxy's client against it over real TLS
// with certificates of a real mesh CA; and attacks the server with callers
// that hold no valid mesh certificate. It lives apart from package channel
// so that the unit tests start no API server.
package integration_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/channel"
	ctrlchannel "github.com/meshctl/meshctl/pkg/controller/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	proxychannel "github.com/meshctl/meshctl/pkg/proxy/channel"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// env is the API server shared by this package's tests.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// rbacRules are the rules the package doc asks the chart to grant.
var rbacRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods", "services", "namespaces"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
}

// fixture is a mesh: a CA, an enrolled namespace, and a channel server
// running as a user with rbacRules, served on loopback over the proxy API
// port's TLS.
type fixture struct {
	ca      *identitytest.CA
	mesh    string
	ns      string
	kube    kubernetes.Interface
	server  *ctrlchannel.Server
	addr    string
	metrics *prometheus.Registry
	// stop ends the server's Run.
	stop func()
}

type fixtureOptions struct {
	// serverNow is the server's clock for certificates; nil is time.Now.
	serverNow func() time.Time
	// tweak edits the server's options.
	tweak func(*ctrlchannel.Options)
	// kube is the server's client; nil is a client as a user with
	// rbacRules.
	kube kubernetes.Interface
	// sendBuffer, when set, is the socket send buffer of the server's
	// connections.
	sendBuffer int
}

func start(t testing.TB, fo fixtureOptions) *fixture {
	t.Helper()
	now := time.Now()
	f := &fixture{ca: identitytest.NewCA(t, now.Add(-3*time.Hour)), mesh: testenv.UniqueName("mesh"), kube: env.Clients.Kube, metrics: prometheus.NewRegistry()}
	f.ns = env.Namespace(t, map[string]string{meshconfig.LabelMonitoredBy: f.mesh})
	kube := fo.kube
	if kube == nil {
		cfg, _ := env.User(t, rbacRules...)
		var err error
		if kube, err = kubernetes.NewForConfig(cfg); err != nil {
			t.Fatal(err)
		}
	}
	controllerCert := issue(t, f.ca, "mesh-system", "mesh-controller", now.Add(-time.Minute), 24*time.Hour)
	o := ctrlchannel.Options{
		Kube: kube, MeshName: f.mesh, TrustDomain: identity.DefaultTrustDomain,
		Sources: identity.Sources{Bundle: func() *identity.Bundle { return f.ca.Bundle }, Now: fo.serverNow},
		Metrics: ctrlchannel.NewMetrics(f.metrics),
		// A short debounce: the tests wait for propagation.
		Debounce: 10 * time.Millisecond,
	}
	if fo.tweak != nil {
		fo.tweak(&o)
	}
	srv, err := ctrlchannel.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.server = srv
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	if fo.sendBuffer > 0 {
		ln = smallBufferListener{ln.(*net.TCPListener), fo.sendBuffer}
	}
	src := identity.Sources{Certificate: func() *tls.Certificate { return controllerCert }, Bundle: func() *identity.Bundle { return f.ca.Bundle }}
	hs := &http.Server{Handler: srv.Handler(), TLSConfig: identity.APIServerConfig(src), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- hs.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		cancel()
		_ = hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serving: %v", err)
		}
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-srv.Ready():
	case err := <-ran:
		t.Fatalf("the server stopped before its first snapshot: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no first snapshot after 60s: did the informers sync?")
	}
	return f
}

// issue is a certificate for ns/sa from ca, valid from notBefore for
// lifetime.
func issue(t testing.TB, ca *identitytest.CA, ns, sa string, notBefore time.Time, lifetime time.Duration) *tls.Certificate {
	t.Helper()
	id, err := identity.NewID(identity.DefaultTrustDomain, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return ca.Leaf(t, id, notBefore, lifetime)
}

// client is mesh-proxy's client with cert, running until the test ends.
func (f *fixture) client(t testing.TB, cert *tls.Certificate, onSnapshot func(*channel.Snapshot)) *proxychannel.Client {
	t.Helper()
	ctrl, err := meshconfig.ControllerID(identity.DefaultTrustDomain, "mesh-system")
	if err != nil {
		t.Fatal(err)
	}
	c, err := proxychannel.New(proxychannel.Options{
		Address: f.addr, ControllerID: ctrl,
		Sources:    identity.Sources{Certificate: func() *tls.Certificate { return cert }, Bundle: func() *identity.Bundle { return f.ca.Bundle }},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		OnSnapshot: onSnapshot,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("client Run: %v", err)
		}
	})
	return c
}

// meshedPod creates a pod as the injector writes it (identity on, the
// MeshConfig's inbound exclusion list 9090, skip annotated), as
// ServiceAccount sa, and gives it ip as the kubelet would.
func (f *fixture) meshedPod(t testing.TB, name, sa, skip, ip string) *corev1.Pod {
	t.Helper()
	mesh, err := proxyconfig.New(meshconfig.MeshConfigSpec{Traffic: meshconfig.TrafficSpec{InboundPortExclusionList: []int32{9090}}})
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{}
	if skip != "" {
		ann[proxyconfig.AnnotationSkipInboundPorts] = skip
	}
	c, err := mesh.ForWorkload("pod/"+name, ann)
	if err != nil {
		t.Fatal(err)
	}
	proxy := c.NativeSidecarContainer()
	run := c.Run()
	ctrl, _ := meshconfig.ControllerID(identity.DefaultTrustDomain, "mesh-system")
	run.Identity = &wire.Identity{ControllerAddress: meshconfig.ControllerAddress("mesh-system"), ControllerID: ctrl}
	proxy.Args = run.Args()
	ann[meshconfig.AnnotationInjected] = "{}"
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns, Annotations: ann},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			// No ServiceAccount object exists; the pod need not mount its
			// token for this test.
			AutomountServiceAccountToken: ptr.To(false),
			InitContainers:               []corev1.Container{c.InitContainer(), proxy},
			Containers:                   []corev1.Container{{Name: "app", Image: "app:1"}},
		},
	}
	return f.createPod(t, p, ip)
}

func (f *fixture) createPod(t testing.TB, p *corev1.Pod, ip string) *corev1.Pod {
	t.Helper()
	ctx := testenv.Context(t)
	p, err := f.kube.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", p.Namespace, p.Name, err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	if p, err = f.kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the IP of pod %s/%s: %v", p.Namespace, p.Name, err)
	}
	return p
}

// service creates a Service with port 80 (name http) to target 8080, and
// its EndpointSlice of ips, as the EndpointSlice controller would.
func (f *fixture) service(t testing.TB, name string, ips ...string) (*corev1.Service, *discoveryv1.EndpointSlice) {
	t.Helper()
	ctx := testenv.Context(t)
	svc, err := f.kube.CoreV1().Services(f.ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating Service %s/%s: %v", f.ns, name, err)
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, ip := range ips {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	if es, err = f.kube.DiscoveryV1().EndpointSlices(f.ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating EndpointSlice %s/%s: %v", f.ns, es.Name, err)
	}
	return svc, es
}

// eventually waits for cond, failing the test after a generous while.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func resolve(c *proxychannel.Client, dst string) (string, string, bool) {
	addr, id, ok := c.Index().Resolve(netip.MustParseAddrPort(dst))
	return addr.String(), id.String(), ok
}

// TestPropagation: pods and Services created, changed and deleted in the
// API server reach the proxy's index.
func TestPropagation(t *testing.T) {
	f := start(t, fixtureOptions{})
	proxyCert := issue(t, f.ca, f.ns, "client", time.Now().Add(-time.Minute), time.Hour)
	c := f.client(t, proxyCert, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}

	web := f.meshedPod(t, "web", "web", "8081", "198.18.0.10")
	f.createPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: f.ns},
		Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}, "198.18.0.11")
	svc, es := f.service(t, "web", "198.18.0.10", "198.18.0.11")
	cluster := netip.AddrPortFrom(netip.MustParseAddr(svc.Spec.ClusterIP), 80).String()
	webID := "spiffe://cluster.local/ns/" + f.ns + "/sa/web"

	eventually(t, "the meshed pod in the proxy's index", func() bool {
		_, id, ok := resolve(c, "198.18.0.10:8080")
		return ok && id == webID
	})
	for dst, want := range map[string]string{
		"198.18.0.10:8081":  "", // annotated skip port
		"198.18.0.10:9090":  "", // the MeshConfig's exclusion
		"198.18.0.10:15000": "", // the admin port
	} {
		if addr, id, ok := resolve(c, dst); !ok || id != want || addr != dst {
			t.Errorf("Resolve(%s) = %s %q %v, want itself in plain text", dst, addr, id, ok)
		}
	}
	if _, _, ok := resolve(c, "198.18.0.11:8080"); ok {
		t.Error("the unmeshed pod is known to the mesh")
	}
	eventually(t, "the Service in the proxy's index", func() bool { _, _, ok := resolve(c, cluster); return ok })
	seen := map[string]string{}
	for range 4 {
		addr, id, _ := resolve(c, cluster)
		seen[addr] = id
	}
	if len(seen) != 2 || seen["198.18.0.10:8080"] != webID || seen["198.18.0.11:8080"] != "" {
		t.Errorf("the Service resolved to %v, want 198.18.0.10:8080 as %s and 198.18.0.11:8080 in plain text", seen, webID)
	}

	// An endpoint turns unready: the Service leads only to the other.
	es.Endpoints[1].Conditions.Ready = ptr.To(false)
	if _, err := f.kube.DiscoveryV1().EndpointSlices(f.ns).Update(testenv.Context(t), es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the unready endpoint to leave the index", func() bool {
		for range 3 {
			if addr, _, _ := resolve(c, cluster); addr != "198.18.0.10:8080" {
				return false
			}
		}
		return true
	})

	// The meshed pod goes: its IP is no longer meshed.
	if err := f.kube.CoreV1().Pods(f.ns).Delete(testenv.Context(t), web.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted pod to leave the index", func() bool { _, _, ok := resolve(c, "198.18.0.10:8080"); return !ok })

	st := c.Status()
	if !st.Connected || st.Version != f.server.Version() {
		t.Errorf("client status %+v, server version %s", st, f.server.Version())
	}
	if got := metric(t, f.metrics, "meshctl_controller_channel_proxies"); got != 1 {
		t.Errorf("connected proxies: %v, want 1", got)
	}
}

// metric is the sum of the values of the metric family name.
func metric(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestRefusesCallersWithoutAValidMeshCertificate: a caller with no client
// certificate, one from an anchor outside the bundle, an expired one, or
// one of another trust domain gets 401 or 403 and not a byte of the
// snapshot; a valid one gets the stream.
func TestRefusesCallersWithoutAValidMeshCertificate(t *testing.T) {
	f := start(t, fixtureOptions{})
	f.meshedPod(t, "secret", "secret", "", "198.18.0.20")
	eventually(t, "the pod in the server's snapshot", func() bool { return strings.Contains(string(firstContent(t, f)), "198.18.0.20") })
	now := time.Now()
	foreign := identitytest.NewCA(t, now.Add(-time.Hour))
	otherTD, err := identity.GenerateAnchor("other.example", identity.DefaultAnchorLifetime, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer, err := identity.GenerateIssuer(otherTD, identity.DefaultIssuerLifetime, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	otherTDCert := func() *tls.Certificate {
		key, _ := identity.NewKey()
		id, _ := identity.NewID("other.example", f.ns, "web")
		csr, _ := identity.NewCSR(key, id)
		chain, err := otherIssuer.Sign(csr, id, time.Hour, now.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		c, _ := identity.TLSCertificate(chain, key)
		return c
	}()
	for name, tc := range map[string]struct {
		cert *tls.Certificate
		code int
	}{
		"no certificate":       {nil, http.StatusUnauthorized},
		"foreign anchor":       {issue(t, foreign, f.ns, "web", now.Add(-time.Minute), time.Hour), http.StatusForbidden},
		"expired":              {issue(t, f.ca, f.ns, "web", now.Add(-2*time.Hour), time.Hour), http.StatusForbidden},
		"not yet valid":        {issue(t, f.ca, f.ns, "web", now.Add(time.Hour), time.Hour), http.StatusForbidden},
		"another trust domain": {otherTDCert, http.StatusForbidden},
		"valid":                {issue(t, f.ca, f.ns, "web", now.Add(-time.Minute), time.Hour), http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			// A raw client that presents exactly cert, expired or not.
			cfg := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{identity.APIALPN}, InsecureSkipVerify: true,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					if tc.cert == nil {
						return &tls.Certificate{}, nil
					}
					return tc.cert, nil
				}}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+f.addr+channel.Path, nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
			if tc.code == http.StatusOK {
				m, err := channel.NewDecoder(resp.Body, 0).Next()
				if err != nil || !strings.Contains(string(m.Content), "198.18.0.20") {
					t.Fatalf("the valid caller got %v, %v; want the snapshot", m.Type, err)
				}
				return
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if strings.Contains(string(body), "198.18.0.20") || strings.Contains(string(body), "pods") {
				t.Errorf("the refusal carries the snapshot: %q", body)
			}
		})
	}

	// mesh-proxy's own client with an expired certificate presents none
	// (it would renew by token first) and is refused.
	c := f.client(t, issue(t, f.ca, f.ns, "web", now.Add(-2*time.Hour), time.Hour), nil)
	eventually(t, "a refusal", func() bool { return strings.Contains(c.Status().LastError, "401") })
	if c.Snapshot() != nil {
		t.Error("the proxy with an expired certificate took a snapshot")
	}
	if got := metric(t, f.metrics, "meshctl_controller_channel_proxies"); got != 0 {
		t.Errorf("connected proxies: %v, want 0 (the valid raw client has gone)", got)
	}
}

// TestStreamEndsWhenTheCallerCertificateExpires: a stream does not outlive
// the certificate it was opened with.
func TestStreamEndsWhenTheCallerCertificateExpires(t *testing.T) {
	var notAfter atomic.Int64 // the caller's certificate's, Unix nanoseconds
	f := start(t, fixtureOptions{
		// Once the caller's certificate is known, the server's clock is a
		// moment before it expires: it is valid, for a little longer.
		serverNow: func() time.Time {
			if n := notAfter.Load(); n != 0 {
				return time.Unix(0, n).Add(-100 * time.Millisecond)
			}
			return time.Now()
		},
		tweak: func(o *ctrlchannel.Options) { o.MaxStreamAge, o.HeartbeatInterval = time.Hour, time.Hour },
	})
	cert := issue(t, f.ca, f.ns, "web", time.Now().Add(-time.Minute), time.Hour)
	notAfter.Store(cert.Leaf.NotAfter.UnixNano())
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{identity.APIALPN}, InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+f.addr+channel.Path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	d := channel.NewDecoder(resp.Body, 0)
	if m, err := d.Next(); err != nil || m.Type != channel.TypeSnapshot {
		t.Fatalf("first message %v, %v", m.Type, err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("after the snapshot: %v; want the stream to end (io.EOF) as the certificate expires", err)
	}
}

// TestReplicasAgree: two replicas watching the same cluster publish the
// same version, so a proxy moving between them sees no change.
func TestReplicasAgree(t *testing.T) {
	a := start(t, fixtureOptions{})
	a.meshedPod(t, "web", "web", "", "198.18.0.30")
	a.service(t, "web", "198.18.0.30")
	// The second replica of the same mesh, with a CA of its own (only the
	// cluster state matters), as admin.
	b := start(t, fixtureOptions{kube: env.Clients.Kube, tweak: func(o *ctrlchannel.Options) { o.MeshName = a.mesh }})
	eventually(t, "both replicas to publish the same version", func() bool {
		va, vb := a.server.Version(), b.server.Version()
		return va.Hash == vb.Hash && strings.Contains(string(firstContent(t, a)), "198.18.0.30")
	})
}

// firstContent is the content of the first snapshot f's server sends to
// a valid caller.
func firstContent(t testing.TB, f *fixture) []byte {
	t.Helper()
	cert := issue(t, f.ca, f.ns, "probe", time.Now().Add(-time.Minute), time.Hour)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{identity.APIALPN}, InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+f.addr+channel.Path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, err := channel.NewDecoder(resp.Body, 0).Next()
	if err != nil {
		t.Fatal(err)
	}
	return m.Content
}

// TestHandlerAnswers: before its first snapshot the server answers a valid
// caller 503 (the proxy retries); another method or path is refused.
func TestHandlerAnswers(t *testing.T) {
	ca := identitytest.NewCA(t, time.Now().Add(-time.Hour))
	srv, err := ctrlchannel.New(ctrlchannel.Options{
		Kube: env.Clients.Kube, MeshName: "mesh", TrustDomain: identity.DefaultTrustDomain,
		Sources: identity.Sources{Bundle: func() *identity.Bundle { return ca.Bundle }},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Not Run: no snapshot.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctrlCert := issue(t, ca, "mesh-system", "mesh-controller", time.Now().Add(-time.Minute), time.Hour)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		TLSConfig: identity.APIServerConfig(identity.Sources{Certificate: func() *tls.Certificate { return ctrlCert }, Bundle: func() *identity.Bundle { return ca.Bundle }})}
	go func() { _ = hs.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = hs.Close() })
	cert := issue(t, ca, "shop", "web", time.Now().Add(-time.Minute), time.Hour)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{identity.APIALPN}, InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, channel.Path, http.StatusServiceUnavailable},
		{http.MethodPost, channel.Path, http.StatusMethodNotAllowed},
		{http.MethodGet, "/v1/other", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tc.method, "https://"+ln.Addr().String()+tc.path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.code)
		}
		if tc.code == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
}

// TestStreamsEndWhenTheServerStops: a replica that stops ends its streams
// (its HTTP server's graceful shutdown would otherwise wait on them) and
// its proxies go elsewhere.
func TestStreamsEndWhenTheServerStops(t *testing.T) {
	f := start(t, fixtureOptions{tweak: func(o *ctrlchannel.Options) { o.HeartbeatInterval = time.Hour }})
	cert := issue(t, f.ca, f.ns, "web", time.Now().Add(-time.Minute), time.Hour)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{identity.APIALPN}, InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+f.addr+channel.Path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	d := channel.NewDecoder(resp.Body, 0)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	f.stop()
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("after the server stopped: %v; want the stream to end (io.EOF)", err)
	}
}

// smallBufferListener accepts connections with a small send buffer, so a
// peer that stops reading blocks the server's writes soon.
type smallBufferListener struct {
	*net.TCPListener
	size int
}

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	if err := c.SetWriteBuffer(l.size); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// TestProxyThatStopsReadingIsDropped: a proxy that holds its connection
// open but no longer reads (hung, or gone behind a live connection) is
// dropped once a write blocks for WriteTimeout, rather than holding a
// goroutine and its buffers forever.
func TestProxyThatStopsReadingIsDropped(t *testing.T) {
	f := start(t, fixtureOptions{sendBuffer: 4096, tweak: func(o *ctrlchannel.Options) {
		o.WriteTimeout, o.HeartbeatInterval = 200*time.Millisecond, time.Hour
	}})
	cert := issue(t, f.ca, f.ns, "web", time.Now().Add(-time.Minute), time.Hour)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{identity.APIALPN}, InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, DialContext: dialer.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+f.addr+channel.Path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	eventually(t, "the stream to count as connected", func() bool { return metric(t, f.metrics, "meshctl_controller_channel_proxies") == 1 })
	// The proxy reads no more. Snapshots of some 20 KB each follow,
	// until the buffers are full and a write blocks.
	var ips []string
	for i := range 600 {
		ips = append(ips, netip.AddrFrom4([4]byte{198, 18, 4 + byte(i/250), byte(i%250 + 1)}).String())
	}
	_, es := f.service(t, "big", ips...)
	eventually(t, "the server to drop the proxy that stopped reading", func() bool {
		es.Endpoints = es.Endpoints[1:]
		var err error
		if es, err = f.kube.DiscoveryV1().EndpointSlices(f.ns).Update(testenv.Context(t), es, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		return metric(t, f.metrics, "meshctl_controller_channel_proxies") == 0
	})
	if n := metric(t, f.metrics, "meshctl_controller_channel_sends_total"); n < 2 {
		t.Errorf("%v sends counted", n)
	}
}
