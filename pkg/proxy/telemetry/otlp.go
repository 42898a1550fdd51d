package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// otlpHTTP exports spans as OTLP/HTTP with protobuf bodies (the OTLP
// specification's default), for the SDK's batch span processor.
//
// It stands in for the upstream otlptracehttp exporter only because of
// what that one links: its configuration and the generated collector
// package import gRPC and grpc-gateway (65 packages), which cost every
// meshed pod some 3 MB of resident memory at start, tracing on or off.
// For the same reason the request is encoded by hand (otlpwire.go) rather
// than with the upstream generated types: those link the protobuf runtime's
// registry and reflection, whose package init alone costs another 2 MB.
type otlpHTTP struct {
	url    string
	client *http.Client
}

// exportTimeout bounds one export; the batch processor retries nothing,
// so a slow collector costs at most this per batch.
const exportTimeout = 10 * time.Second

func newOTLPHTTP(url string) *otlpHTTP {
	return &otlpHTTP{url: url, client: &http.Client{Timeout: exportTimeout}}
}

// ExportSpans sends spans to the collector in one request. Errors name
// the collector's URL, for the log line that reports them.
func (e *otlpHTTP) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	fail := func(err error) error {
		return fmt.Errorf("exporting %d spans to collector %s: %w", len(spans), e.url, err)
	}
	body := marshalSpans(spans)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := e.client.Do(req)
	if err != nil {
		// A *url.Error would name the URL a second time.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fail(fmt.Errorf("collector answered %s", resp.Status))
	}
	return nil
}

// Shutdown has nothing to release: the HTTP client's idle connections
// close with the process.
func (e *otlpHTTP) Shutdown(context.Context) error { return nil }
