package identity

import (
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net/url"
	"testing"
	"time"
)

// forged signs tmpl with p's issuer directly, bypassing Sign's rules: the
// certificates a compromised or misconfigured CA might make, which Verify
// must refuse on its own.
func (p *testPKI) forged(t testing.TB, tmpl *x509.Certificate) ([][]byte, *ecdsa.PrivateKey) {
	t.Helper()
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = epoch().Add(-time.Hour), epoch().Add(time.Hour)
	}
	key := mustKey(t)
	leaf := makeCert(t, tmpl, p.issuer.cert, p.issuer.key, key.Public())
	return append([][]byte{leaf.Raw}, p.issuer.chain...), key
}

// forgedChain is forged without the key.
func (p *testPKI) forgedChain(t testing.TB, tmpl *x509.Certificate) [][]byte {
	t.Helper()
	chain, _ := p.forged(t, tmpl)
	return chain
}

// workloadTemplate is what Sign would issue for uris.
func workloadTemplate(uris ...*url.URL) *x509.Certificate {
	return &x509.Certificate{
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:                  uris,
	}
}

// TestVerifyRefusesAttacks: each peer chain is one way of being the wrong
// peer, refused with its own reason.
func TestVerifyRefusesAttacks(t *testing.T) {
	p := newPKI(t, "cluster.local")
	id := mustID(t, "cluster.local", "bookstore", "bookstore")
	good, _ := p.leaf(t, id, epoch())
	if got, err := Verify(good, p.bundle, epoch()); err != nil || got != id {
		t.Fatalf("a good chain: %v, %v", got, err)
	}

	stranger := newPKI(t, "cluster.local") // another mesh, same trust domain name
	strangerChain, _ := stranger.leaf(t, id, epoch())

	// An issuer that expired while its leaf still claims to be valid: only
	// a CA that ignores its own expiry makes one, so build it by hand.
	shortIssuer, err := GenerateIssuer(p.anchor, time.Hour, epoch())
	if err != nil {
		t.Fatal(err)
	}
	late := epoch().Add(2 * time.Hour)
	expiredIssuer := &testPKI{issuer: shortIssuer}
	lateLeaf := workloadTemplate(id.url())
	lateLeaf.NotBefore, lateLeaf.NotAfter = epoch(), epoch().Add(24*time.Hour)
	expiredIssuerChain := expiredIssuer.forgedChain(t, lateLeaf)

	// The CA bit alone, with a leaf's key usage: crypto/x509 accepts such a
	// leaf, so only checkLeaf stands between it and a peer identity.
	caLeaf := workloadTemplate(id.url())
	caLeaf.IsCA = true
	certSignLeaf := workloadTemplate(id.url())
	certSignLeaf.KeyUsage |= x509.KeyUsageCertSign
	serverOnly := workloadTemplate(id.url())
	serverOnly.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientOnly := workloadTemplate(id.url())
	clientOnly.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	noDigitalSignature := workloadTemplate(id.url())
	noDigitalSignature.KeyUsage = x509.KeyUsageKeyEncipherment
	crlSignLeaf := workloadTemplate(id.url())
	crlSignLeaf.KeyUsage |= x509.KeyUsageCRLSign
	other := mustID(t, "cluster.local", "kube-system", "admin")
	// The URI as a constructed [6]: crypto/x509 skips it, so its URIs are
	// empty and no URI name constraint of the chain ever sees the name.
	constructed := workloadTemplate()
	constructed.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: constructedURISAN(t, other.String())}}

	for _, c := range []struct {
		name   string
		chain  [][]byte
		now    time.Time
		reason Reason
	}{
		{"leaf past NotAfter", good, epoch().Add(DefaultLeafLifetime + time.Second), ReasonLeafExpired},
		{"leaf before NotBefore", good, epoch().Add(-Backdate - time.Second), ReasonLeafNotYetValid},
		{"chain to an anchor not in the bundle", strangerChain, epoch(), ReasonUntrusted},
		{"leaf without its issuer", good[:1], epoch(), ReasonUntrusted},
		{"issuer expired, leaf not", expiredIssuerChain, late, ReasonUntrusted},
		{"another trust domain", p.forgedChain(t, workloadTemplate(mustID(t, "evil.example", "bookstore", "bookstore").url())), epoch(), ReasonTrustDomain},
		{"leaf is a CA", p.forgedChain(t, caLeaf), epoch(), ReasonLeafIsCA},
		{"leaf with keyCertSign", p.forgedChain(t, certSignLeaf), epoch(), ReasonLeafKeyUsage},
		{"leaf without clientAuth", p.forgedChain(t, serverOnly), epoch(), ReasonLeafKeyUsage},
		{"leaf without serverAuth", p.forgedChain(t, clientOnly), epoch(), ReasonLeafKeyUsage},
		{"leaf without digitalSignature", p.forgedChain(t, noDigitalSignature), epoch(), ReasonLeafKeyUsage},
		{"leaf with cRLSign", p.forgedChain(t, crlSignLeaf), epoch(), ReasonLeafKeyUsage},
		{"no URI SAN", p.forgedChain(t, workloadTemplate()), epoch(), ReasonLeafURICount},
		{"two URI SANs", p.forgedChain(t, workloadTemplate(id.url(), other.url())), epoch(), ReasonLeafURICount},
		{"URI SAN not a workload ID", p.forgedChain(t, workloadTemplate(&url.URL{Scheme: "spiffe", Host: "cluster.local", Path: "/admin"})), epoch(), ReasonLeafID},
		{"URI SAN encoded as a constructed [6]", p.forgedChain(t, constructed), epoch(), ReasonPeerMalformed},
		{"no certificate", nil, epoch(), ReasonNoPeerCertificate},
		{"not DER", [][]byte{[]byte("hello")}, epoch(), ReasonPeerMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Verify(c.chain, p.bundle, c.now)
			if !got.IsZero() {
				t.Errorf("identity %s returned", got)
			}
			wantReason(t, err, c.reason)
		})
	}
	_, err = Verify(good, nil, epoch())
	wantReason(t, err, ReasonNoBundle)
}

// TestBundleRotation: while the bundle holds both anchors, leaves from
// either verify; once the old anchor is dropped, its leaves do not.
func TestBundleRotation(t *testing.T) {
	old, next := newPKI(t, "cluster.local"), newPKI(t, "cluster.local")
	id := mustID(t, "cluster.local", "bookstore", "bookstore")
	oldLeaf, _ := old.leaf(t, id, epoch())
	newLeaf, _ := next.leaf(t, id, epoch())

	both, err := NewBundle("cluster.local", append(next.anchor.CertificatePEM(), old.anchor.CertificatePEM()...))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(both.Anchors()); n != 2 {
		t.Fatalf("%d anchors, want 2", n)
	}
	for name, chain := range map[string][][]byte{"old": oldLeaf, "new": newLeaf} {
		if got, err := Verify(chain, both, epoch()); err != nil || got != id {
			t.Errorf("%s leaf during the overlap: %v, %v", name, got, err)
		}
	}
	_, err = Verify(oldLeaf, next.bundle, epoch())
	wantReason(t, err, ReasonUntrusted)
	if _, err := Verify(newLeaf, next.bundle, epoch()); err != nil {
		t.Errorf("new leaf after the old anchor is gone: %v", err)
	}
}

func TestNewBundleRefuses(t *testing.T) {
	p := newPKI(t, "cluster.local")
	leaf, _ := p.leaf(t, mustID(t, "cluster.local", "a", "b"), epoch())
	for name, c := range map[string]struct {
		td  string
		pem []byte
	}{
		"no anchors":         {"cluster.local", nil},
		"a leaf as anchor":   {"cluster.local", encodeCertificatesPEM(leaf[0])},
		"a key as anchor":    {"cluster.local", must(p.anchor.KeyPEM())},
		"bad trust domain":   {"Cluster.Local", p.anchor.CertificatePEM()},
		"empty trust domain": {"", p.anchor.CertificatePEM()},
	} {
		if b, err := NewBundle(c.td, c.pem); err == nil {
			t.Errorf("%s: bundle %v accepted", name, b)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLeafIDAgreesWithX509: the URI leafID reads from the raw extension
// must be the one URI crypto/x509 read, the name the chain's name
// constraints were checked against; a certificate where the two differ
// names no identity.
func TestLeafIDAgreesWithX509(t *testing.T) {
	id := mustID(t, "cluster.local", "bookstore", "bookstore")
	other := mustID(t, "cluster.local", "kube-system", "admin")
	san := mustMarshal(t, asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true,
		Bytes: mustMarshal(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(id.String())})})
	cert := func(uris ...*url.URL) *x509.Certificate {
		return &x509.Certificate{URIs: uris, Extensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: san}}}
	}
	if got, err := leafID(cert(id.url())); err != nil || got != id {
		t.Fatalf("agreeing readings: %v, %v", got, err)
	}
	for name, c := range map[string]*x509.Certificate{
		"crypto/x509 read no URI":   cert(),
		"crypto/x509 read another":  cert(other.url()),
		"crypto/x509 read two URIs": cert(id.url(), other.url()),
	} {
		got, err := leafID(c)
		if !got.IsZero() {
			t.Errorf("%s: identity %s returned", name, got)
		}
		if !errors.Is(err, ReasonLeafID) {
			t.Errorf("%s: error %v, want %q", name, err, ReasonLeafID.Error())
		}
	}
}

// TestVerifyHoldsSignersToX509SVID: crypto/x509 ignores key usage above
// the leaf and takes extended key usages as any-of, so a chain through an
// intermediate without keyUsage, or limited to serverAuth, verifies there;
// only checkSigners refuses it.
func TestVerifyHoldsSignersToX509SVID(t *testing.T) {
	id := mustID(t, "cluster.local", "bookstore", "bookstore")
	for _, c := range []struct {
		name   string
		inter  func(*x509.Certificate)
		reason Reason
	}{
		{"intermediate limited to serverAuth", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }, ReasonIssuerExtKeyUsage},
		{"intermediate without keyUsage", func(c *x509.Certificate) { c.KeyUsage = 0 }, ReasonIssuerNoKeyCertSign},
	} {
		t.Run(c.name, func(t *testing.T) {
			rootKey, interKey := mustKey(t), mustKey(t)
			ca := func(cn string) *x509.Certificate {
				return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
					NotBefore: epoch().Add(-time.Hour), NotAfter: epoch().Add(time.Hour)}
			}
			root := makeCert(t, ca("root"), nil, rootKey, rootKey.Public())
			tmpl := ca("intermediate")
			c.inter(tmpl)
			inter := makeCert(t, tmpl, root, rootKey, interKey.Public())
			leafTmpl := workloadTemplate(id.url())
			leafTmpl.NotBefore, leafTmpl.NotAfter = epoch().Add(-time.Hour), epoch().Add(time.Hour)
			leaf := makeCert(t, leafTmpl, inter, interKey, mustKey(t).Public())
			bundle, err := NewBundle("cluster.local", encodeCertificatesPEM(root.Raw))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: bundle.pool, Intermediates: poolOf(inter), CurrentTime: epoch(),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Fatalf("control: crypto/x509 refuses the chain itself: %v", err)
			}
			got, err := Verify([][]byte{leaf.Raw, inter.Raw}, bundle, epoch())
			if !got.IsZero() {
				t.Errorf("identity %s returned", got)
			}
			wantReason(t, err, ReasonUntrusted)
			wantReason(t, err, c.reason)
		})
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
