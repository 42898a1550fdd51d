package identity

import (
	"crypto/x509"
	"fmt"
)

// Bundle is what a proxy trusts: the mesh's trust domain and its trust
// anchors. It may hold several anchors at once, so that an anchor can be
// rotated with overlap: add the new one, move issuers and leaves over,
// then drop the old one, with no restart (the proxy swaps in a new Bundle).
//
// A Bundle is immutable once built, so one may be shared by every
// connection and replaced atomically (an atomic.Pointer[Bundle]'s Load
// method is a BundleSource).
type Bundle struct {
	trustDomain string
	anchors     []*x509.Certificate
	pool        *x509.CertPool
}

// NewBundle builds the bundle for trustDomain from PEM certificates, the
// anchors. Each must be a CA certificate with keyCertSign; their validity
// is checked at each use, not here, so a bundle that still lists an
// expired anchor keeps working through the others.
func NewBundle(trustDomain string, anchorsPEM []byte) (*Bundle, error) {
	if err := validateTrustDomain(trustDomain); err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	anchors, err := parseCertificatesPEM("trust bundle", anchorsPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for i, a := range anchors {
		if err := checkSigningCert(fmt.Sprintf("trust bundle anchor %d", i+1), a); err != nil {
			return nil, err
		}
		pool.AddCert(a)
	}
	return &Bundle{trustDomain: trustDomain, anchors: anchors, pool: pool}, nil
}

// TrustDomain is the trust domain every peer's ID must be in.
func (b *Bundle) TrustDomain() string { return b.trustDomain }

// Anchors are the bundle's anchors, in the order given. The slice is a
// copy; the certificates are shared and must not be modified.
func (b *Bundle) Anchors() []*x509.Certificate {
	return append([]*x509.Certificate(nil), b.anchors...)
}
