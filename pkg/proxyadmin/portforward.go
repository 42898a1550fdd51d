// Package proxyadmin is how meshctl reads a meshed pod's proxy: its admin
// port, reached through the API server with a port-forward, as `kubectl
// port-forward` does. It needs only the pods/portforward permission, works
// wherever kubectl does (no route from this machine to pod IPs, nor from
// the API server to them), and the admin port is never intercepted, so
// what answers is the proxy itself.
package proxyadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// MaxResponseBytes bounds what Get reads from a proxy.
const MaxResponseBytes = 4 << 20

// Client reads proxies' admin ports.
type Client struct {
	// Config and Kube reach the API server.
	Config *rest.Config
	Kube   kubernetes.Interface
	// Timeout bounds one Get, port-forward included; 30 s when zero.
	Timeout time.Duration
}

// Get returns the body of GET path on the admin port of pod's proxy. An
// answer other than 200 is an error naming the pod, the path and the
// status.
func (c *Client) Get(ctx context.Context, namespace, pod, path string) ([]byte, error) {
	return c.Do(ctx, namespace, pod, http.MethodGet, path, nil)
}

// Do is Get with another method, and body, when not nil, sent as JSON.
func (c *Client) Do(ctx context.Context, namespace, pod, method, path string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	f, err := c.Open(ctx, namespace, pod)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Do(ctx, method, path, body)
}

func (c *Client) timeout() time.Duration {
	if c.Timeout == 0 {
		return 30 * time.Second
	}
	return c.Timeout
}

// Forward is a port-forward to the admin port of one pod's proxy, open
// until Close, so that reading a proxy several times costs one
// port-forward. Each request over it is a connection of its own.
type Forward struct {
	name   string // the pod, for errors
	url    string // http://127.0.0.1:<local port>
	stop   chan struct{}
	done   chan error
	errOut *syncbuf.Buffer
}

// Open starts a port-forward to the admin port of pod's proxy through the
// API server and waits until it listens; ctx bounds the wait, not the
// forward, which lasts until Close. A refusal names the RBAC permission.
func (c *Client) Open(ctx context.Context, namespace, pod string) (*Forward, error) {
	name := fmt.Sprintf("pod %q in namespace %q", pod, namespace)
	d, err := c.dialer(namespace, pod)
	if err != nil {
		return nil, fmt.Errorf("%s: port-forward: %w", name, err)
	}
	dialer := &recordingDialer{Dialer: d}
	f := &Forward{name: name, stop: make(chan struct{}), done: make(chan error, 1), errOut: &syncbuf.Buffer{}}
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(wire.AdminPort)}, f.stop, ready, io.Discard, f.errOut)
	if err != nil {
		return nil, fmt.Errorf("%s: port-forward: %w", name, err)
	}
	go func() { f.done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-f.done:
		f.done <- err // for Close
		f.Close()
		if dialer.err != nil {
			// The forwarder keeps only the text of the API server's answer.
			err = kube.ExplainForbidden(dialer.err, "create", "pods/portforward", namespace)
		}
		return nil, fmt.Errorf("%s: port-forward to the proxy's admin port %d: %w%s", name, wire.AdminPort, err, detail(f.errOut))
	case <-ctx.Done():
		f.Close()
		return nil, fmt.Errorf("%s: port-forward to the proxy's admin port %d: %w", name, wire.AdminPort, ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		f.Close()
		return nil, fmt.Errorf("%s: port-forward: no local port (%v)", name, err)
	}
	f.url = "http://127.0.0.1:" + strconv.Itoa(int(ports[0].Local))
	return f, nil
}

// Close stops the port-forward and waits for it to end.
func (f *Forward) Close() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	err := <-f.done
	f.done <- err
}

// Get returns the body of GET path, as Client.Get does.
func (f *Forward) Get(ctx context.Context, path string) ([]byte, error) {
	return f.Do(ctx, http.MethodGet, path, nil)
}

// Do is Get with another method, and body, when not nil, sent as JSON.
func (f *Forward) Do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	name := f.name
	var reqBody io.Reader
	if body != nil {
		reqBody = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.url+path, reqBody)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s on the proxy's admin port: %w%s", name, method, path, err, detail(f.errOut))
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", name, method, path, err)
	}
	if len(answer) > MaxResponseBytes {
		return nil, fmt.Errorf("%s: %s %s: the answer is over %d bytes", name, method, path, MaxResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &AnswerError{Name: name, Method: method, Path: path, Code: resp.StatusCode, Status: resp.Status, Body: strings.TrimSpace(string(answer))}
	}
	return answer, nil
}

// Status is what pod's proxy reports on wire.StatusPath.
func (c *Client) Status(ctx context.Context, namespace, pod string) (admin.Status, error) {
	var st admin.Status
	body, err := c.Get(ctx, namespace, pod, wire.StatusPath)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("pod %q in namespace %q: the proxy's %s is not what this meshctl reads: %w", pod, namespace, wire.StatusPath, err)
	}
	return st, nil
}

// dialer is kubectl's: port-forward over WebSockets, falling back to SPDY
// for API servers older than 1.31 or proxies that refuse the upgrade.
func (c *Client) dialer(namespace, pod string) (httpstream.Dialer, error) {
	u := c.Kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(c.Config)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, c.Config)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialer(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}

// AnswerError is an answer of the proxy other than 200.
type AnswerError struct {
	// Name names the pod.
	Name, Method, Path string
	// Code and Status are the answer's status; Body its text, trimmed.
	Code         int
	Status, Body string
}

func (e *AnswerError) Error() string {
	return fmt.Sprintf("%s: %s %s: %s: %s", e.Name, e.Method, e.Path, e.Status, e.Body)
}

// recordingDialer keeps the error of the port-forward's upgrade, which
// the forwarder itself reduces to text, so that a refusal by RBAC can be
// told apart.
type recordingDialer struct {
	httpstream.Dialer
	err error
}

func (d *recordingDialer) Dial(protocols ...string) (httpstream.Connection, string, error) {
	conn, protocol, err := d.Dialer.Dial(protocols...)
	d.err = err
	return conn, protocol, err
}

// detail is what the port-forward wrote to its error stream, as a suffix.
func detail(b *syncbuf.Buffer) string {
	if s := strings.TrimSpace(b.String()); s != "" {
		return " (" + s + ")"
	}
	return ""
}

// ErrNotMeshed says a pod runs no proxy.
var ErrNotMeshed = errors.New("the pod runs no mesh-proxy")
