package identity

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"
)

// TestGeneratedPKI: what meshctl install makes is what the X509-SVID
// standard and our own lifetimes ask for.
func TestGeneratedPKI(t *testing.T) {
	p := newPKI(t, "cluster.local")
	a, is := p.anchor.Certificate(), p.issuer.Certificate()
	if !a.IsCA || a.KeyUsage&x509.KeyUsageCertSign == 0 || !is.IsCA || is.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Error("anchor and issuer must be CAs with keyCertSign")
	}
	if !is.MaxPathLenZero || is.MaxPathLen != 0 {
		t.Error("the issuer may sign leaves only: path length 0")
	}
	if got := a.NotAfter.Sub(epoch()); got != DefaultAnchorLifetime {
		t.Errorf("anchor lives %s, want %s", got, DefaultAnchorLifetime)
	}
	if got := is.NotAfter.Sub(epoch()); got != DefaultIssuerLifetime {
		t.Errorf("issuer lives %s, want %s", got, DefaultIssuerLifetime)
	}
	if err := is.CheckSignatureFrom(a); err != nil {
		t.Errorf("issuer not signed by the anchor: %v", err)
	}
	// An issuer never outlives its anchor.
	short, err := GenerateAnchor("cluster.local", 30*24*time.Hour, epoch())
	if err != nil {
		t.Fatal(err)
	}
	is2, err := GenerateIssuer(short, 0, epoch())
	if err != nil {
		t.Fatal(err)
	}
	if !is2.Certificate().NotAfter.Equal(short.Certificate().NotAfter) {
		t.Errorf("issuer NotAfter %s past the anchor's %s", is2.Certificate().NotAfter, short.Certificate().NotAfter)
	}
	if _, err := GenerateAnchor("Cluster.Local", 0, epoch()); err == nil {
		t.Error("GenerateAnchor accepted an invalid trust domain")
	}
}

// TestLoadIssuerRoundTrip: SecretData is what LoadIssuer reads, and the
// loaded issuer signs certificates the bundle verifies.
func TestLoadIssuerRoundTrip(t *testing.T) {
	p := newPKI(t, "cluster.local")
	crt, key, ca, err := p.issuer.SecretData()
	if err != nil {
		t.Fatal(err)
	}
	is, err := LoadIssuer(crt, key, ca, epoch())
	if err != nil {
		t.Fatal(err)
	}
	p.issuer = is
	id := mustID(t, "cluster.local", "a", "b")
	chain, _ := p.leaf(t, id, epoch())
	if got, err := Verify(chain, p.bundle, epoch()); err != nil || got != id {
		t.Errorf("Verify = %v, %v", got, err)
	}
}

// TestLoadIssuerCertManagerShape: cert-manager's tls.crt may hold the
// issuer, then intermediates (and sometimes the root); ca.crt the root.
// The chain sent with leaves is the issuer and intermediates, no root.
func TestLoadIssuerCertManagerShape(t *testing.T) {
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
			NotBefore: epoch().Add(-time.Hour), NotAfter: epoch().Add(30 * 24 * time.Hour)}
	}
	// A root of the user's own, with no path length limit, unlike
	// GenerateAnchor's.
	rootKey, interKey, issKey := mustKey(t), mustKey(t), mustKey(t)
	root := makeCert(t, ca("root"), nil, rootKey, rootKey.Public())
	inter := makeCert(t, ca("intermediate"), root, rootKey, interKey.Public())
	iss := makeCert(t, ca("issuer"), inter, interKey, issKey.Public())
	keyPEM, _ := encodeKeyPEM(issKey)
	rootPEM := encodeCertificatesPEM(root.Raw)
	is, err := LoadIssuer(encodeCertificatesPEM(iss.Raw, inter.Raw, root.Raw), keyPEM, rootPEM, epoch())
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := NewBundle("cluster.local", rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{issuer: is, bundle: bundle}
	if len(is.chain) != 2 {
		t.Fatalf("chain of %d, want issuer and intermediate (the anchor travels in the bundle)", len(is.chain))
	}
	id := mustID(t, "cluster.local", "a", "b")
	chain, _ := p.leaf(t, id, epoch())
	if got, err := Verify(chain, p.bundle, epoch()); err != nil || got != id {
		t.Errorf("Verify through an intermediate = %v, %v", got, err)
	}

	// Under GenerateAnchor's root (path length 1) the same chain is one
	// CA too deep: the issuer verifies, its leaves would not.
	anchor := newPKI(t, "cluster.local").anchor
	inter = makeCert(t, ca("intermediate"), anchor.cert, anchor.key, interKey.Public())
	iss = makeCert(t, ca("issuer"), inter, interKey, issKey.Public())
	_, err = LoadIssuer(encodeCertificatesPEM(iss.Raw, inter.Raw), keyPEM, anchor.CertificatePEM(), epoch())
	wantReason(t, err, ReasonIssuerUntrusted)
}

// TestLoadIssuerRefuses: each broken Secret is refused with its reason, and
// the message names the field to fix.
func TestLoadIssuerRefuses(t *testing.T) {
	p := newPKI(t, "cluster.local")
	crt, key, ca, err := p.issuer.SecretData()
	if err != nil {
		t.Fatal(err)
	}
	other := newPKI(t, "cluster.local")
	otherCrt, otherKey, otherCA, _ := other.issuer.SecretData()
	anchorKey, _ := p.anchor.KeyPEM()

	issKey := mustKey(t)
	issKeyPEM, _ := encodeKeyPEM(issKey)
	signed := func(tmpl *x509.Certificate) []byte {
		tmpl.NotBefore, tmpl.NotAfter = epoch().Add(-time.Hour), epoch().Add(time.Hour)
		return encodeCertificatesPEM(makeCert(t, tmpl, p.anchor.cert, p.anchor.key, issKey.Public()).Raw)
	}
	notCA := signed(&x509.Certificate{Subject: pkix.Name{CommonName: "leaf"}, KeyUsage: x509.KeyUsageDigitalSignature})
	noCertSign := signed(&x509.Certificate{Subject: pkix.Name{CommonName: "crl only"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCRLSign})
	serverOnly := signed(&x509.Certificate{Subject: pkix.Name{CommonName: "server auth only"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})

	for _, c := range []struct {
		name          string
		crt, key, ca  []byte
		now           time.Time
		reason        Reason
		field, advice string
	}{
		{"expired issuer", crt, key, ca, p.issuer.cert.NotAfter.Add(time.Second), ReasonIssuerExpired, "tls.crt", "renew"},
		{"issuer not valid yet", crt, key, ca, epoch().Add(-time.Hour), ReasonIssuerExpired, "tls.crt", "renew"},
		{"key does not match cert", crt, otherKey, ca, epoch(), ReasonIssuerKeyMismatch, "tls.key", "matching pair"},
		{"issuer is not a CA", notCA, issKeyPEM, ca, epoch(), ReasonIssuerNotCA, "tls.crt", "isCA"},
		{"issuer lacks keyCertSign", noCertSign, issKeyPEM, ca, epoch(), ReasonIssuerNoKeyCertSign, "tls.crt", "cert sign"},
		{"issuer limited to serverAuth", serverOnly, issKeyPEM, ca, epoch(), ReasonIssuerExtKeyUsage, "tls.crt", "client auth"},
		{"issuer not signed by any anchor in ca.crt", crt, key, otherCA, epoch(), ReasonIssuerUntrusted, "ca.crt", "anchor that signed it"},
		{"another mesh's issuer", otherCrt, otherKey, ca, epoch(), ReasonIssuerUntrusted, "ca.crt", "anchor that signed it"},
		{"the anchor as issuer", p.anchor.CertificatePEM(), anchorKey, ca, epoch(), ReasonIssuerIsAnchor, "ca.crt", "intermediate"},
		{"empty tls.crt", nil, key, ca, epoch(), ReasonIssuerMalformed, "tls.crt", "issuer certificate"},
		{"key in tls.crt", key, key, ca, epoch(), ReasonIssuerMalformed, "tls.crt", "issuer certificate"},
		{"empty tls.key", crt, nil, ca, epoch(), ReasonIssuerMalformed, "tls.key", "private key"},
		{"empty ca.crt", crt, key, nil, epoch(), ReasonIssuerMalformed, "ca.crt", "trust anchor"},
	} {
		t.Run(c.name, func(t *testing.T) {
			is, err := LoadIssuer(c.crt, c.key, c.ca, c.now)
			if is != nil {
				t.Error("an issuer was returned")
			}
			wantReason(t, err, c.reason)
			if msg := err.Error(); !strings.Contains(msg, c.field) || !strings.Contains(msg, c.advice) {
				t.Errorf("message %q should name %s and say %q", msg, c.field, c.advice)
			}
		})
	}
}
