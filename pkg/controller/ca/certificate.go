package ca

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
)

// certificate is the controller's own certificate on the proxy API port,
// with what it was issued from, so that a change of either is a renewal.
type certificate struct {
	cert    *tls.Certificate
	issuer  *identity.Issuer
	bundle  *identity.Bundle
	renewAt time.Time
}

// issueCertificate signs a certificate for id with is, with a fresh key
// that lives only in memory, and verifies it against bundle exactly as a
// proxy will (identity.Verify): an issuer whose leaves do not verify
// against the bundle is refused here, before any proxy is given one.
func issueCertificate(is *identity.Issuer, bundle *identity.Bundle, id identity.ID, lifetime time.Duration, now time.Time) (*certificate, error) {
	key, err := identity.NewKey()
	if err != nil {
		return nil, err
	}
	csr, err := identity.NewCSR(key, id)
	if err != nil {
		return nil, err
	}
	chain, err := is.Sign(csr, id, lifetime, now)
	if err != nil {
		return nil, fmt.Errorf("signing the controller's certificate for %s: %w", id, err)
	}
	got, err := identity.Verify(chain, bundle, now)
	if err != nil {
		return nil, fmt.Errorf("a certificate it signs does not verify against the trust bundle: %w", err)
	}
	if got != id {
		return nil, fmt.Errorf("a certificate it signs for %s verifies as %s", id, got)
	}
	cert, err := identity.TLSCertificate(chain, key)
	if err != nil {
		return nil, err
	}
	return &certificate{cert: cert, issuer: is, bundle: bundle, renewAt: RenewAt(cert.Leaf)}, nil
}

// RenewAt is when a certificate is renewed: at two thirds of its life, as
// proxies renew theirs, which leaves a third of it to retry in.
func RenewAt(leaf *x509.Certificate) time.Time {
	return leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3)
}
