package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"

	"github.com/meshctl/meshctl/internal/testenv"
)

// portForwardKubelet is the part of a kubelet that the API server's
// pods/portforward subresource reaches: the SPDY port-forward protocol
// (portforward.k8s.io) on /portForward/<namespace>/<pod>, which a real
// kubelet serves by entering the pod's network namespace and dialling
// localhost. This one dials the address ports maps the pod's port to, on
// this machine's loopback, so the process there sees a loopback peer as a
// proxy in a pod does. The test API server has no kubelet of its own;
// Node registers this one with it.
type portForwardKubelet struct {
	ports map[string]string // the pod's port -> the local address
	srv   *httptest.Server
}

func startPortForwardKubelet(t *testing.T, ports map[string]string) *portForwardKubelet {
	t.Helper()
	k := &portForwardKubelet{ports: ports}
	// The API server does not verify kubelets' serving certificates unless
	// told to (--kubelet-certificate-authority), which envtest does not.
	k.srv = httptest.NewTLSServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.srv.Close)
	return k
}

// Node registers the kubelet with the API server as a node of its own,
// which pods are then bound to.
func (k *portForwardKubelet) Node(t *testing.T) string {
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

func (k *portForwardKubelet) serve(w http.ResponseWriter, req *http.Request) {
	if !strings.HasPrefix(req.URL.Path, "/portForward/") {
		http.NotFound(w, req)
		return
	}
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
				go func() {
					k.relay(s)
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
func (k *portForwardKubelet) relay(s httpstream.Stream) {
	defer s.Close()
	addr, ok := k.ports[s.Headers().Get("port")]
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
