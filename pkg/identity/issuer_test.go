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

	// The anchor's key under other certificates: the root re-issued with
	// its key (cert-manager's rotationPolicy: Never), an "intermediate"
	// the anchor signed for its own key, and an issuer sharing the key of
	// the intermediate that signed it.
	anchorPEMKey := p.anchor.key
	reissued := makeCert(t, &x509.Certificate{Subject: p.anchor.cert.Subject, IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: epoch().Add(-time.Minute), NotAfter: epoch().Add(time.Hour)}, nil, anchorPEMKey, anchorPEMKey.Public())
	anchorKeyed := makeCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "issuer"}, IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: epoch().Add(-time.Minute), NotAfter: epoch().Add(time.Hour)}, p.anchor.cert, anchorPEMKey, anchorPEMKey.Public())
	rootKey, midKey := mustKey(t), mustKey(t)
	caTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
			NotBefore: epoch().Add(-time.Hour), NotAfter: epoch().Add(24 * time.Hour)}
	}
	rootKeyPEM, _ := encodeKeyPEM(rootKey)
	root := makeCert(t, caTmpl("root"), nil, rootKey, rootKey.Public())
	mid := makeCert(t, caTmpl("intermediate"), root, rootKey, midKey.Public())
	rootKeyed := makeCert(t, caTmpl("issuer"), mid, midKey, rootKey.Public())
	otherMidKey := mustKey(t)
	otherMidKeyPEM, _ := encodeKeyPEM(otherMidKey)
	otherMid := makeCert(t, caTmpl("another intermediate"), root, rootKey, otherMidKey.Public())
	otherMidKeyed := makeCert(t, caTmpl("issuer"), mid, midKey, otherMidKey.Public())

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
		{"the anchor re-issued with its key", encodeCertificatesPEM(reissued.Raw), anchorKey, ca, epoch(), ReasonIssuerIsAnchor, "tls.crt", "signed with its own key"},
		{"an intermediate the anchor signed for its own key", encodeCertificatesPEM(anchorKeyed.Raw), anchorKey, ca, epoch(), ReasonIssuerIsAnchor, "tls.crt", "signed with its own key"},
		{"the anchor's key certified by an intermediate", encodeCertificatesPEM(rootKeyed.Raw, mid.Raw), rootKeyPEM, encodeCertificatesPEM(root.Raw), epoch(), ReasonIssuerIsAnchor, "in ca.crt", "has the key of"},
		{"the key of another intermediate of tls.crt", encodeCertificatesPEM(otherMidKeyed.Raw, mid.Raw, otherMid.Raw), otherMidKeyPEM, encodeCertificatesPEM(root.Raw), epoch(), ReasonIssuerIsAnchor, "in tls.crt (after the first certificate)", "has the key of"},
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

// TestLoadIssuerAcceptsOnlyWhatProxiesAccept: a chain every proxy would
// refuse (Verify holds each signing certificate to the X509-SVID rules,
// which crypto/x509 does not) is refused at load, not after every leaf the
// controller signs has been refused.
func TestLoadIssuerAcceptsOnlyWhatProxiesAccept(t *testing.T) {
	for _, c := range []struct {
		name           string
		root, inter    func(*x509.Certificate)
		reason, detail Reason
	}{
		{"intermediate limited to serverAuth", nil, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }, ReasonIssuerUntrusted, ReasonIssuerExtKeyUsage},
		{"intermediate without keyUsage", nil, func(c *x509.Certificate) { c.KeyUsage = 0 }, ReasonIssuerUntrusted, ReasonIssuerNoKeyCertSign},
		{"anchor without keyUsage", func(c *x509.Certificate) { c.KeyUsage = 0 }, nil, ReasonIssuerUntrusted, ReasonIssuerNoKeyCertSign},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca := func(cn string, f func(*x509.Certificate)) *x509.Certificate {
				tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
					NotBefore: epoch().Add(-time.Hour), NotAfter: epoch().Add(30 * 24 * time.Hour)}
				if f != nil {
					f(tmpl)
				}
				return tmpl
			}
			rootKey, interKey, issKey := mustKey(t), mustKey(t), mustKey(t)
			root := makeCert(t, ca("root", c.root), nil, rootKey, rootKey.Public())
			inter := makeCert(t, ca("intermediate", c.inter), root, rootKey, interKey.Public())
			iss := makeCert(t, ca("issuer", nil), inter, interKey, issKey.Public())
			keyPEM, _ := encodeKeyPEM(issKey)
			is, err := LoadIssuer(encodeCertificatesPEM(iss.Raw, inter.Raw), keyPEM, encodeCertificatesPEM(root.Raw), epoch())
			if is != nil {
				t.Error("an issuer was returned")
			}
			wantReason(t, err, c.reason)
			wantReason(t, err, c.detail)
		})
	}
}

// TestIssuerChainValidity: an intermediate or anchor that expires before
// the issuer (cert-manager and bring-your-own chains) bounds what Sign
// issues, and ChainNotAfter says when, for expiry warnings.
func TestIssuerChainValidity(t *testing.T) {
	ca := func(cn string, notBefore, notAfter time.Time) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
			NotBefore: notBefore, NotAfter: notAfter}
	}
	long := epoch().Add(30 * 24 * time.Hour)
	for _, c := range []struct {
		name                        string
		root, inter, iss            [2]time.Time // NotBefore, NotAfter
		wantNotBefore, wantNotAfter time.Time
	}{
		{"anchor expires first",
			[2]time.Time{epoch().Add(-time.Hour), epoch().Add(2 * time.Hour)}, [2]time.Time{epoch().Add(-time.Hour), long}, [2]time.Time{epoch().Add(-time.Hour), long},
			epoch().Add(-time.Hour), epoch().Add(2 * time.Hour)},
		{"intermediate expires first, and became valid last",
			[2]time.Time{epoch().Add(-time.Hour), long}, [2]time.Time{epoch().Add(-30 * time.Second), epoch().Add(3 * time.Hour)}, [2]time.Time{epoch().Add(-time.Hour), long},
			epoch().Add(-30 * time.Second), epoch().Add(3 * time.Hour)},
	} {
		t.Run(c.name, func(t *testing.T) {
			rootKey, interKey, issKey := mustKey(t), mustKey(t), mustKey(t)
			root := makeCert(t, ca("root", c.root[0], c.root[1]), nil, rootKey, rootKey.Public())
			inter := makeCert(t, ca("intermediate", c.inter[0], c.inter[1]), root, rootKey, interKey.Public())
			iss := makeCert(t, ca("issuer", c.iss[0], c.iss[1]), inter, interKey, issKey.Public())
			keyPEM, _ := encodeKeyPEM(issKey)
			is, err := LoadIssuer(encodeCertificatesPEM(iss.Raw, inter.Raw), keyPEM, encodeCertificatesPEM(root.Raw), epoch())
			if err != nil {
				t.Fatal(err)
			}
			if got := is.ChainNotAfter(); !got.Equal(c.wantNotAfter) {
				t.Errorf("ChainNotAfter %s, want %s", got, c.wantNotAfter)
			}
			bundle, err := NewBundle("cluster.local", encodeCertificatesPEM(root.Raw))
			if err != nil {
				t.Fatal(err)
			}
			id := mustID(t, "cluster.local", "a", "b")
			csr, _ := NewCSR(mustKey(t), id)
			chain, err := is.Sign(csr, id, 0, epoch())
			if err != nil {
				t.Fatal(err)
			}
			leaf, _ := x509.ParseCertificate(chain[0])
			wantLeafNotBefore := epoch().Add(-Backdate)
			if wantLeafNotBefore.Before(c.wantNotBefore) {
				wantLeafNotBefore = c.wantNotBefore
			}
			if !leaf.NotBefore.Equal(wantLeafNotBefore) || !leaf.NotAfter.Equal(c.wantNotAfter) {
				t.Errorf("leaf valid %s to %s, want %s to %s (the chain's end)", leaf.NotBefore, leaf.NotAfter, wantLeafNotBefore, c.wantNotAfter)
			}
			if _, err := Verify(chain, bundle, c.wantNotAfter.Add(-time.Second)); err != nil {
				t.Errorf("leaf refused within the chain's validity: %v", err)
			}
			_, err = is.Sign(csr, id, 0, c.wantNotAfter)
			wantReason(t, err, ReasonIssuerExpired)
			_, err = is.Sign(csr, id, 0, c.wantNotBefore.Add(-time.Second))
			wantReason(t, err, ReasonIssuerExpired)
		})
	}
}
