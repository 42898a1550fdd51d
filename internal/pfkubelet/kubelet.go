// Package pfkubelet is a stand-in for the part of a kubelet that the API
// server's pods/portforward subresource reaches, for tests against the
// real API server of internal/testenv, which has no kubelet: the SPDY
// port-forward protocol (portforward.k8s.io) on
// /portForward/<namespace>/<pod>, which a real kubelet serves by entering
// the pod's network namespace and dialling localhost. This one dials the
// loopback address its Route gives for the pod and port, so the process
// there (a real mesh-proxy, or a test's HTTP server) sees a loopback peer,
// as a proxy in a pod does. It counts what it serves, so tests can hold a
// command to the port-forwards it may open.
package pfkubelet

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"

	"github.com/meshctl/meshctl/internal/testenv"
)

// Route gives the local address that a pod's port is forwarded to; false
// refuses the stream, as a kubelet does for a port nothing listens on.
type Route func(namespace, pod, port string) (addr string, ok bool)

// Ports routes every pod's port as ports maps it (the pod's port -> the
// local address).
func Ports(ports map[string]string) Route {
	return func(_, _, port string) (string, bool) {
		addr, ok := ports[port]
		return addr, ok
	}
}

// Kubelet is a running stand-in kubelet.
type Kubelet struct {
	route Route
	srv   *httptest.Server

	mu       sync.Mutex
	forwards map[string]int // port-forward sessions by namespace/pod
	streams  atomic.Int64   // data streams relayed: one per connection to the pod
}

// Start starts a kubelet serving route until the test ends.
func Start(t testing.TB, route Route) *Kubelet {
	t.Helper()
	k := &Kubelet{route: route, forwards: map[string]int{}}
	// The API server does not verify kubelets' serving certificates unless
	// told to (--kubelet-certificate-authority), which envtest does not.
	k.srv = httptest.NewTLSServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.srv.Close)
	return k
}

// Node registers the kubelet with env's API server as a node of its own,
// which pods are then bound to (spec.nodeName), and returns its name.
func (k *Kubelet) Node(t testing.TB, env *testenv.Env) string {
	t.Helper()
	ctx := testenv.Context(t)
	name := testenv.UniqueName("node")
	nodes := env.Clients.Kube.CoreV1().Nodes()
	node, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating node %s: %v", name, err)
	}
	t.Cleanup(func() { _ = nodes.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(k.srv.URL, "https://"))
	p, _ := strconv.Atoi(port)
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(p)
	if _, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node %s: status: %v", name, err)
	}
	return name
}

// Forwards is how many port-forward sessions the kubelet has served for
// each pod, by namespace/pod, since it started.
func (k *Kubelet) Forwards() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]int, len(k.forwards))
	for p, n := range k.forwards {
		out[p] = n
	}
	return out
}

// Streams is how many connections to pods the kubelet has relayed.
func (k *Kubelet) Streams() int64 { return k.streams.Load() }

func (k *Kubelet) serve(w http.ResponseWriter, req *http.Request) {
	rest, ok := strings.CutPrefix(req.URL.Path, "/portForward/")
	ns, pod, _ := strings.Cut(rest, "/")
	if !ok || ns == "" || pod == "" {
		http.NotFound(w, req)
		return
	}
	// The API server may append the pod's UID.
	pod, _, _ = strings.Cut(pod, "/")
	if _, err := httpstream.Handshake(req, w, []string{"portforward.k8s.io"}); err != nil {
		return // Handshake answered
	}
	streams := make(chan httpstream.Stream, 8)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, req, func(s httpstream.Stream, _ <-chan struct{}) error {
		streams <- s
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	k.mu.Lock()
	k.forwards[ns+"/"+pod]++
	k.mu.Unlock()
	conn.SetIdleTimeout(time.Minute)
	// Each forwarded connection is a pair of streams with one request
	// ID: errors, then data. The client reads the error stream to its end,
	// so it is closed once the data has been relayed.
	var mu sync.Mutex
	errStreams := map[string]httpstream.Stream{}
	for {
		select {
		case <-conn.CloseChan():
			return
		case s := <-streams:
			id := s.Headers().Get("requestID")
			switch s.Headers().Get("streamType") {
			case "error":
				mu.Lock()
				errStreams[id] = s
				mu.Unlock()
			case "data":
				k.streams.Add(1)
				go func() {
					k.relay(ns, pod, s)
					mu.Lock()
					e := errStreams[id]
					delete(errStreams, id)
					mu.Unlock()
					if e != nil {
						e.Close()
					}
				}()
			default:
				s.Reset()
			}
		}
	}
}

// relay copies between the data stream and the local address of its port.
func (k *Kubelet) relay(ns, pod string, s httpstream.Stream) {
	defer s.Close()
	addr, ok := k.route(ns, pod, s.Headers().Get("port"))
	if !ok {
		s.Reset()
		return
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		s.Reset()
		return
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(c, s)
		c.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(s, c)
	<-done
}
