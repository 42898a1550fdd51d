package identity

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// ALPN is the application protocol mesh proxies negotiate with each other.
// A connection that did not negotiate it is not a mesh connection and is
// refused, so a proxy never mistakes an app's own TLS on the same port for
// a peer proxy (nor the other way round), and the version leaves room for
// a successor protocol.
const ALPN = "meshctl/1"

// Authorizer decides whether the authenticated peer may be on the other end
// of this connection; nil error means yes. The TLS code only establishes
// who the peer is and never decides who may connect (STYLE 26): a client
// passes ExpectPeer(the identity the controller says the destination pod
// has); a server passes what policy allows, or a function that lets every
// mesh identity through and leaves the decision to the request's policy.
type Authorizer func(peer ID) error

// ExpectPeer is the client's Authorizer: the server must be exactly want. A
// valid certificate for another ServiceAccount is refused, so an endpoint
// IP reassigned to another workload, or a proxy answering for another, is
// caught at the handshake.
func ExpectPeer(want ID) Authorizer {
	return func(peer ID) error {
		if peer != want {
			return refuse(ReasonPeerIdentity, "got %s, want %s", peer, want)
		}
		return nil
	}
}

// Sources is where a mesh TLS configuration reads what changes while it is
// in use. Both are read at every handshake, so a renewed certificate or a
// rotated bundle takes effect on the next connection without rebuilding
// the configuration; an atomic.Pointer's Load method fits each. Until
// they return non-nil, every handshake fails: no mesh connection is made
// without identity and trust.
type Sources struct {
	// Certificate is the proxy's current certificate and key (see
	// TLSCertificate), or nil before the first one is issued.
	Certificate func() *tls.Certificate
	// Bundle is the current trust bundle, or nil before one is loaded.
	Bundle func() *Bundle
	// Now is the clock peers' certificates are checked against; nil means
	// time.Now.
	Now func() time.Time
}

func (s Sources) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// certificate is the current certificate, or a refusal before there is one.
func (s Sources) certificate() (*tls.Certificate, error) {
	var c *tls.Certificate
	if s.Certificate != nil {
		c = s.Certificate()
	}
	if c == nil {
		return nil, refuse(ReasonNoCertificate, "the proxy has no certificate of its own yet")
	}
	return c, nil
}

// ServerConfig is the inbound proxy's TLS configuration: TLS 1.3 only, the
// mesh ALPN, our certificate from src, a client certificate required and
// verified against src's bundle, then authorize. Use PeerID on the
// connection's state to learn who the verified client is.
func ServerConfig(src Sources, authorize Authorizer) *tls.Config {
	cfg := baseConfig(src, authorize)
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return src.certificate() }
	// RequireAnyClientCert: a client must present a certificate, which
	// crypto/tls leaves to VerifyConnection to verify, against the bundle
	// of the moment rather than a ClientCAs pool fixed in the config.
	cfg.ClientAuth = tls.RequireAnyClientCert
	// No session tickets: a resumed session would carry the peer identity
	// of an earlier handshake, made under an earlier bundle, and Go's
	// rules for re-checking it on resumption have changed between
	// releases. Connections between proxies are long-lived and pooled, so
	// a full handshake each is cheap enough; see BenchmarkHandshake.
	cfg.SessionTicketsDisabled = true
	return cfg
}

// ClientConfig is the outbound proxy's TLS configuration: TLS 1.3 only, the
// mesh ALPN, our certificate from src as client certificate, the server's
// chain verified against src's bundle, then authorize (ExpectPeer of the
// destination's identity). The configuration has no session cache, so
// every connection is a full handshake (see ServerConfig).
func ClientConfig(src Sources, authorize Authorizer) *tls.Config {
	cfg := baseConfig(src, authorize)
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return src.certificate() }
	// crypto/tls's own verification checks a host name against DNS SANs,
	// which mesh certificates do not have, and roots fixed in the config;
	// it is replaced, not skipped: VerifyConnection runs Verify on every
	// handshake and refuses on any error.
	cfg.InsecureSkipVerify = true
	return cfg
}

// baseConfig is what both ends share.
func baseConfig(src Sources, authorize Authorizer) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		MaxVersion:       tls.VersionTLS13,
		NextProtos:       []string{ALPN},
		Time:             src.Now,
		VerifyConnection: verifyConnection(src, authorize),
	}
}

// verifyConnection authenticates the peer of a finished handshake (the
// mesh ALPN, Verify against the current bundle) and then asks authorize.
// crypto/tls calls it on every handshake, client and server side.
func verifyConnection(src Sources, authorize Authorizer) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if cs.NegotiatedProtocol != ALPN {
			return refuse(ReasonALPN, "negotiated %q, want %q", cs.NegotiatedProtocol, ALPN)
		}
		var bundle *Bundle
		if src.Bundle != nil {
			bundle = src.Bundle()
		}
		id, err := verifyCerts(cs.PeerCertificates, bundle, src.now())
		if err != nil {
			return err
		}
		if authorize == nil {
			return refuse(ReasonPeerIdentity, "no authorizer for peer %s: refusing every peer", id)
		}
		if err := authorize(id); err != nil {
			return fmt.Errorf("peer %s not authorized: %w", id, err)
		}
		return nil
	}
}

// PeerID is the identity of the peer of a connection made with ServerConfig
// or ClientConfig, from its state after the handshake (which verified it).
// The inbound proxy passes it on to policy, the access log, the metrics'
// peer label and the trace span.
func PeerID(cs tls.ConnectionState) (ID, error) {
	if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return ID{}, refuse(ReasonNoPeerCertificate, "no verified peer on this connection")
	}
	return leafID(cs.PeerCertificates[0])
}

// TLSCertificate is the certificate a proxy presents: the chain Issuer.Sign
// returned (leaf first) with the proxy's key, its leaf parsed once here
// rather than at each handshake.
func TLSCertificate(chain [][]byte, key *ecdsa.PrivateKey) (*tls.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("TLS certificate: empty chain")
	}
	if key == nil {
		return nil, errors.New("TLS certificate: no key")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: leaf: %w", err)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("TLS certificate: the key is not the leaf's")
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}
