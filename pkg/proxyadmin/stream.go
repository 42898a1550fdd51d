package proxyadmin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/portforward"

	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Stream opens GET path on the admin port of pod's proxy and returns the
// body as it arrives, for an endpoint that streams (wire.TapPath). The
// port-forward lasts until the body is closed or ctx ends. Timeout bounds
// the opening (port-forward and answer head), not the stream. An answer
// other than 200 is an *AnswerError, as Get's.
func (c *Client) Stream(ctx context.Context, namespace, pod, path string) (io.ReadCloser, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	name := fmt.Sprintf("pod %q in namespace %q", pod, namespace)
	d, err := c.dialer(namespace, pod)
	if err != nil {
		return nil, fmt.Errorf("%s: port-forward: %w", name, err)
	}
	dialer := &recordingDialer{Dialer: d}
	stop, ready := make(chan struct{}), make(chan struct{})
	var errOut syncbuf.Buffer
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(wire.AdminPort)}, stop, ready, io.Discard, &errOut)
	if err != nil {
		return nil, fmt.Errorf("%s: port-forward: %w", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	s := &stream{stop: stop, done: done}
	opened := false
	defer func() {
		if !opened {
			s.Close()
		}
	}()
	openCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case <-ready:
	case err := <-done:
		done <- err // for Close
		if dialer.err != nil {
			err = kube.ExplainForbidden(dialer.err, "create", "pods/portforward", namespace)
		}
		return nil, fmt.Errorf("%s: port-forward to the proxy's admin port %d: %w%s", name, wire.AdminPort, err, detail(&errOut))
	case <-openCtx.Done():
		return nil, fmt.Errorf("%s: port-forward to the proxy's admin port %d: %w", name, wire.AdminPort, openCtx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		return nil, fmt.Errorf("%s: port-forward: no local port (%v)", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(int(ports[0].Local))+path, nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: timeout}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: GET %s on the proxy's admin port: %w%s", name, path, err, detail(&errOut))
	}
	if resp.StatusCode != http.StatusOK {
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return nil, &AnswerError{Name: name, Method: http.MethodGet, Path: path, Code: resp.StatusCode, Status: resp.Status, Body: strings.TrimSpace(string(answer))}
	}
	s.ReadCloser, opened = resp.Body, true
	return s, nil
}

// stream is a streaming answer's body; closing it ends the port-forward.
// Close may be called more than once, and from another goroutine than
// the reader's (to end a read that waits).
type stream struct {
	io.ReadCloser
	stop chan struct{}
	done chan error
	once sync.Once
	err  error
}

func (s *stream) Close() error {
	s.once.Do(func() {
		if s.ReadCloser != nil {
			s.err = s.ReadCloser.Close()
		}
		close(s.stop)
		<-s.done
	})
	return s.err
}
