// Package issuance is the wire contract between mesh-proxy and
// mesh-controller for certificate issuance: the path, the content types and
// the header of one HTTP exchange, and the client the proxy uses.
//
// The exchange is
//
//	POST <controller>/v1/certificates
//	Authorization: Bearer <projected ServiceAccount token, audience meshctl.io/identity>
//	Content-Type: application/pkcs10
//
//	<the certificate request, DER, at most MaxCSRBytes>
//
// and, on success, 200 with Content-Type application/pem-certificate-chain:
// the leaf first, then the intermediates up to (not including) the trust
// anchor, PEM. Any other status carries a short text/plain reason.
//
// The server side is pkg/controller/signer. This package links only the
// standard library (deps_test.go holds that), because mesh-proxy imports it
// and must stay free of Kubernetes client libraries.
package issuance

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The wire constants, shared by both sides.
const (
	// Path is the one path the signer serves.
	Path = "/v1/certificates"
	// ContentTypeCSR is the request body's type: a DER PKCS #10 request
	// (RFC 5967).
	ContentTypeCSR = "application/pkcs10"
	// ContentTypeChain is the successful response's type: PEM
	// certificates, leaf first (RFC 8555 section 9.1).
	ContentTypeChain = "application/pem-certificate-chain"
	// HeaderAuthorization carries the caller's token as "Bearer <token>".
	HeaderAuthorization = "Authorization"
	// BearerPrefix starts the Authorization header's value.
	BearerPrefix = "Bearer "
	// Audience is the audience of the token the proxy presents: the mesh's
	// own, so that a token minted for the mesh is useless against the API
	// server and a token for the API server is useless here. The injected
	// pod spec projects a token with exactly this audience.
	Audience = "meshctl.io/identity"
	// MaxCSRBytes bounds the request body. A P-256 request with one URI
	// SAN is about 300 bytes.
	MaxCSRBytes = 16 << 10
	// MaxChainBytes bounds the response body the client reads.
	MaxChainBytes = 64 << 10
)

// StatusError is a response other than 200: the status and the server's
// short reason.
type StatusError struct {
	// Code is the HTTP status.
	Code int
	// Message is the response body, trimmed, at most 256 bytes.
	Message string
}

// Error says the status and the reason.
func (e *StatusError) Error() string {
	return fmt.Sprintf("certificate request refused: %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Temporary reports whether asking again later may succeed: the signer
// could not check the token or has no issuer loaded (503), or another
// server-side failure (5xx) or throttling (429). A refusal of the caller
// (401) or of the request (400, 403, 413, 415) needs something to change
// first, such as a fresh token.
func (e *StatusError) Temporary() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests
}

// Request sends csrDER to the signer at baseURL (scheme, host and port; Path
// is appended) with token, and returns the issued chain, leaf first, DER.
// client is the caller's, configured to trust the controller's serving
// certificate; nil is http.DefaultClient. A response other than 200 is a
// *StatusError; a 200 whose body is not a PEM certificate chain is an
// error too.
func Request(ctx context.Context, client *http.Client, baseURL, token string, csrDER []byte) ([][]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	if token == "" {
		return nil, errors.New("certificate request: no token")
	}
	if len(csrDER) > MaxCSRBytes {
		return nil, fmt.Errorf("certificate request: %d bytes, the most is %d", len(csrDER), MaxCSRBytes)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+Path, bytes.NewReader(csrDER))
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	req.Header.Set(HeaderAuthorization, BearerPrefix+token)
	req.Header.Set("Content-Type", ContentTypeCSR)
	req.Header.Set("Accept", ContentTypeChain)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxChainBytes+1))
	if err != nil {
		return nil, fmt.Errorf("certificate request: reading the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 256 {
			msg = msg[:256]
		}
		return nil, &StatusError{Code: resp.StatusCode, Message: msg}
	}
	if len(body) > MaxChainBytes {
		return nil, fmt.Errorf("certificate request: the response is over %d bytes", MaxChainBytes)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ContentTypeChain {
		return nil, fmt.Errorf("certificate request: the response is %q, not %s", ct, ContentTypeChain)
	}
	return ParseChain(body)
}

// ParseChain parses a PEM certificate chain: one or more CERTIFICATE blocks
// and nothing else but whitespace. It does not parse the certificates
// themselves; identity.Verify does that.
func ParseChain(data []byte) ([][]byte, error) {
	var chain [][]byte
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
			return nil, fmt.Errorf("certificate chain: a %q block, want only CERTIFICATE blocks", block.Type)
		}
		chain = append(chain, block.Bytes)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("certificate chain: data that is not PEM")
	}
	if len(chain) == 0 {
		return nil, errors.New("certificate chain: no certificate")
	}
	return chain, nil
}

// EncodeChain is the response body for chain (DER, leaf first): PEM
// CERTIFICATE blocks in order.
func EncodeChain(chain [][]byte) []byte {
	var b bytes.Buffer
	for _, der := range chain {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return b.Bytes()
}
