package proxyadmin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
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
	openCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f, err := c.Open(openCtx, namespace, pod)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url+path, nil)
	if err != nil {
		f.Close()
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: timeout}}
	resp, err := client.Do(req)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: GET %s on the proxy's admin port: %w%s", f.name, path, err, detail(f.errOut))
	}
	if resp.StatusCode != http.StatusOK {
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		f.Close()
		return nil, &AnswerError{Name: f.name, Method: http.MethodGet, Path: path, Code: resp.StatusCode, Status: resp.Status, Body: strings.TrimSpace(string(answer))}
	}
	return &stream{ReadCloser: resp.Body, f: f}, nil
}

// stream is a streaming answer's body; closing it ends the port-forward.
// Close may be called more than once, and from another goroutine than
// the reader's (to end a read that waits).
type stream struct {
	io.ReadCloser
	f    *Forward
	once sync.Once
	err  error
}

func (s *stream) Close() error {
	s.once.Do(func() {
		s.err = s.ReadCloser.Close()
		s.f.Close()
	})
	return s.err
}
