// Package identitytest makes real certificates for the tests of identity's
// callers (the controller's signer, and later the proxy): a mesh CA with
// the package's default lifetimes, and certificate requests. pkg/identity's
// own tests cannot use it, because it imports that package.
package identitytest

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
)

// CA is a fresh anchor, an issuer it signed, and a bundle of the anchor,
// in identity.DefaultTrustDomain, all valid at Now.
type CA struct {
	Anchor *identity.Anchor
	Issuer *identity.Issuer
	Bundle *identity.Bundle
	Now    time.Time
}

// NewCA makes a CA valid from now on.
func NewCA(t testing.TB, now time.Time) *CA {
	t.Helper()
	a, err := identity.GenerateAnchor(identity.DefaultTrustDomain, identity.DefaultAnchorLifetime, now)
	if err != nil {
		t.Fatal(err)
	}
	is, err := identity.GenerateIssuer(a, identity.DefaultIssuerLifetime, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := identity.NewBundle(identity.DefaultTrustDomain, a.CertificatePEM())
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Anchor: a, Issuer: is, Bundle: b, Now: now}
}

// CSR is a certificate request for ns/sa in identity.DefaultTrustDomain,
// with a fresh key, as a proxy sends it.
func CSR(t testing.TB, ns, sa string) []byte {
	t.Helper()
	id, err := identity.NewID(identity.DefaultTrustDomain, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := identity.NewCSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Leaf issues the workload certificate of id, as a proxy holds it, signed
// at now for lifetime (zero means the default). Tests of expiry sign at a
// past or future now; id may be in another trust domain than the CA's, as
// the issuer signs what it is given.
func (ca *CA) Leaf(t testing.TB, id identity.ID, now time.Time, lifetime time.Duration) *tls.Certificate {
	t.Helper()
	key, err := identity.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := identity.NewCSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.Issuer.Sign(csr, id, lifetime, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.TLSCertificate(chain, key)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// Sources are what a proxy holding cert and trusting ca's bundle reads at
// each handshake.
func (ca *CA) Sources(cert *tls.Certificate) identity.Sources {
	return identity.Sources{
		Certificate: func() *tls.Certificate { return cert },
		Bundle:      func() *identity.Bundle { return ca.Bundle },
	}
}
