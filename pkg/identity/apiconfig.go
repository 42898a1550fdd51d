package identity

import (
	"crypto/tls"
	"fmt"
)

// This file owns TLS on the controller's proxy API port, where proxies ask
// for certificates and hold the channel open: HTTP/1.1 over TLS 1.3, the
// controller proving its identity with a mesh certificate like any
// workload's. Unlike proxy-to-proxy TLS, a client certificate is optional
// at the handshake: a proxy asking for its first certificate has none, and
// one whose certificate has expired or chains to a retired anchor must
// still be able to ask for a new one with its token. Handlers that need
// the caller's identity (the channel) call VerifyAPIPeer.

// APIALPN is the application protocol of the proxy API port.
const APIALPN = "http/1.1"

// APIServerConfig is the controller's TLS configuration on the proxy API
// port: TLS 1.3, its own certificate from src, and the client's
// certificate requested but not required nor verified at the handshake
// (VerifyAPIPeer does that, per request).
func APIServerConfig(src Sources) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		MaxVersion:     tls.VersionTLS13,
		NextProtos:     []string{APIALPN},
		Time:           src.Now,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return src.certificate() },
		ClientAuth:     tls.RequestClientCert,
		// As for proxies (ServerConfig): an identity is never carried over
		// from an earlier handshake.
		SessionTicketsDisabled: true,
	}
}

// VerifyAPIPeer authenticates the client of a request on the proxy API
// port from its connection state (http.Request.TLS): the chain it
// presented, verified against bundle at the current time of src, as Verify
// does. No certificate is a refusal with ReasonNoPeerCertificate.
func VerifyAPIPeer(cs *tls.ConnectionState, src Sources) (ID, error) {
	if cs == nil {
		return ID{}, refuse(ReasonNoPeerCertificate, "the connection is not TLS")
	}
	var bundle *Bundle
	if src.Bundle != nil {
		bundle = src.Bundle()
	}
	return verifyCerts(cs.PeerCertificates, bundle, src.now())
}

// APIClientConfig is a proxy's TLS configuration towards the controller:
// TLS 1.3, the controller's chain verified against src's bundle and its
// identity exactly want, and the proxy's own certificate presented while
// it is valid (none before the first is issued, or once it has expired).
func APIClientConfig(src Sources, want ID) *tls.Config {
	expect := ExpectPeer(want)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		MaxVersion: tls.VersionTLS13,
		NextProtos: []string{APIALPN},
		Time:       src.Now,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if src.Certificate != nil {
				if c := src.Certificate(); c != nil && c.Leaf != nil && src.now().Before(c.Leaf.NotAfter) {
					return c, nil
				}
			}
			// An empty certificate sends none.
			return &tls.Certificate{}, nil
		},
		// Replaced, not skipped, as in ClientConfig: VerifyConnection
		// verifies the chain against the bundle of the moment.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			var bundle *Bundle
			if src.Bundle != nil {
				bundle = src.Bundle()
			}
			id, err := verifyCerts(cs.PeerCertificates, bundle, src.now())
			if err != nil {
				return fmt.Errorf("controller: %w", err)
			}
			if err := expect(id); err != nil {
				return fmt.Errorf("controller: %w", err)
			}
			return nil
		},
	}
}
