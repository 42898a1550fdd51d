package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	_ "github.com/meshctl/meshctl/internal/golden"
)

// epoch is the tests' "now": every certificate is made and checked against
// a fixed clock, so no test depends on the machine's.
func epoch() time.Time { return time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) }

// testPKI is a mesh CA as meshctl install makes it: anchor, issuer, and
// the bundle a proxy would trust.
type testPKI struct {
	anchor *Anchor
	issuer *Issuer
	bundle *Bundle
}

func newPKI(t testing.TB, trustDomain string) *testPKI {
	t.Helper()
	anchor, err := GenerateAnchor(trustDomain, 0, epoch())
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := GenerateIssuer(anchor, 0, epoch())
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := NewBundle(trustDomain, anchor.CertificatePEM())
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{anchor: anchor, issuer: issuer, bundle: bundle}
}

func mustID(t testing.TB, td, ns, sa string) ID {
	t.Helper()
	id, err := NewID(td, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// leaf issues a workload certificate for id at now the way a proxy gets
// one: its own key, a CSR, the issuer's signature.
func (p *testPKI) leaf(t testing.TB, id ID, now time.Time) ([][]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := NewCSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := p.issuer.Sign(csr, id, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	return chain, key
}

// makeCert signs tmpl for pub with parent's key; parent nil means
// self-signed. Tests use it to make the certificates the mesh's own code
// refuses to make.
func makeCert(t testing.TB, tmpl, parent *x509.Certificate, parentKey crypto.Signer, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = newSerial()
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// wantReason fails unless err is the refusal r.
func wantReason(t testing.TB, err error, r Reason) {
	t.Helper()
	if !errors.Is(err, r) {
		t.Fatalf("error = %v; want reason %q", err, r.Error())
	}
}
