package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"
)

func csrFor(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func uriOf(id ID) *url.URL { return id.url() }

// TestSignIssuesExactlyTheWorkloadCertificate: what a good request gets.
func TestSignIssuesExactlyTheWorkloadCertificate(t *testing.T) {
	p := newPKI(t, "cluster.local")
	want := mustID(t, "cluster.local", "bookstore", "bookstore")
	key := mustKey(t)
	// The subject asks for a lot; it must be ignored, never copied.
	csr := csrFor(t, key, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		URIs:    []*url.URL{uriOf(want)},
	})
	now := epoch().Add(time.Hour)
	chain, err := p.issuer.Sign(csr, want, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 {
		t.Fatalf("chain of %d certificates, want leaf and issuer", len(chain))
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.Subject.Names) != 0 {
		t.Errorf("subject %q copied from the request", leaf.Subject)
	}
	if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Error("leaf key is not the request's")
	}
	if leaf.IsCA || !leaf.BasicConstraintsValid {
		t.Errorf("IsCA=%v BasicConstraintsValid=%v; want an explicit non-CA", leaf.IsCA, leaf.BasicConstraintsValid)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("key usage %#x, want digitalSignature only", leaf.KeyUsage)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("extended key usage %v", leaf.ExtKeyUsage)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want.String() || len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0 {
		t.Errorf("SANs: URIs %v DNS %v IP %v email %v; want only %s", leaf.URIs, leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses, want)
	}
	if !leaf.NotBefore.Equal(now.Add(-Backdate)) || !leaf.NotAfter.Equal(now.Add(DefaultLeafLifetime)) {
		t.Errorf("valid %s to %s, want %s to %s", leaf.NotBefore, leaf.NotAfter, now.Add(-Backdate), now.Add(DefaultLeafLifetime))
	}
	if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %x is not a positive 128-bit number", leaf.SerialNumber)
	}
	again, err := p.issuer.Sign(csr, want, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if again2, _ := x509.ParseCertificate(again[0]); again2.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("two certificates with one serial")
	}
	got, err := Verify(chain, p.bundle, now)
	if err != nil || got != want {
		t.Errorf("Verify = %v, %v; want %s", got, err, want)
	}
}

// TestSignCapsLifetimeAtIssuer: a leaf never outlives its issuer, so a
// chain never holds a leaf the issuer's expiry invalidates early.
func TestSignCapsLifetimeAtIssuer(t *testing.T) {
	p := newPKI(t, "cluster.local")
	want := mustID(t, "cluster.local", "a", "b")
	now := p.issuer.cert.NotAfter.Add(-time.Hour)
	key := mustKey(t)
	csr, _ := NewCSR(key, want)
	chain, err := p.issuer.Sign(csr, want, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	if !leaf.NotAfter.Equal(p.issuer.cert.NotAfter) {
		t.Errorf("NotAfter %s, want the issuer's %s", leaf.NotAfter, p.issuer.cert.NotAfter)
	}
	_, err = p.issuer.Sign(csr, want, 0, p.issuer.cert.NotAfter.Add(time.Second))
	wantReason(t, err, ReasonIssuerExpired)
	_, err = p.issuer.Sign(csr, want, -time.Hour, epoch())
	wantReason(t, err, ReasonLifetime)
}

// TestSignLifetimeCeiling: no caller gets a leaf longer than
// MaxLeafLifetime, however long the issuer lives.
func TestSignLifetimeCeiling(t *testing.T) {
	p := newPKI(t, "cluster.local")
	want := mustID(t, "cluster.local", "a", "b")
	csr, _ := NewCSR(mustKey(t), want)
	chain, err := p.issuer.Sign(csr, want, MaxLeafLifetime, epoch())
	if err != nil {
		t.Fatal(err)
	}
	if leaf, _ := x509.ParseCertificate(chain[0]); !leaf.NotAfter.Equal(epoch().Add(MaxLeafLifetime)) {
		t.Errorf("NotAfter %s, want %s", leaf.NotAfter, epoch().Add(MaxLeafLifetime))
	}
	for _, lifetime := range []time.Duration{MaxLeafLifetime + time.Nanosecond, 365 * 24 * time.Hour} {
		chain, err := p.issuer.Sign(csr, want, lifetime, epoch())
		if chain != nil {
			t.Errorf("lifetime %s: signed", lifetime)
		}
		wantReason(t, err, ReasonLifetime)
	}
}

// TestSignBeforeIssuerValid: before the issuer's NotBefore Sign refuses,
// and just after it the leaf's backdated NotBefore is clamped to it, so no
// leaf claims a time its issuer did not.
func TestSignBeforeIssuerValid(t *testing.T) {
	p := newPKI(t, "cluster.local")
	want := mustID(t, "cluster.local", "a", "b")
	csr, _ := NewCSR(mustKey(t), want)
	start := p.issuer.cert.NotBefore
	chain, err := p.issuer.Sign(csr, want, 0, start.Add(-time.Second))
	if chain != nil {
		t.Error("signed before the issuer's NotBefore")
	}
	wantReason(t, err, ReasonIssuerExpired)
	chain, err = p.issuer.Sign(csr, want, 0, start.Add(Backdate/2))
	if err != nil {
		t.Fatal(err)
	}
	if leaf, _ := x509.ParseCertificate(chain[0]); !leaf.NotBefore.Equal(start) {
		t.Errorf("leaf NotBefore %s, want the issuer's %s", leaf.NotBefore, start)
	}
}

// TestSignChainIsACopy: the chain Sign returns is the caller's; writing
// to it does not change the issuer, its certificate nor later chains.
func TestSignChainIsACopy(t *testing.T) {
	for name, load := range map[string]bool{"generated": false, "loaded": true} {
		t.Run(name, func(t *testing.T) {
			p := newPKI(t, "cluster.local")
			if load {
				crt, key, ca, err := p.issuer.SecretData()
				if err != nil {
					t.Fatal(err)
				}
				if p.issuer, err = LoadIssuer(crt, key, ca, epoch()); err != nil {
					t.Fatal(err)
				}
			}
			want := mustID(t, "cluster.local", "a", "b")
			orig := slices.Clone(p.issuer.cert.Raw)
			csr, _ := NewCSR(mustKey(t), want)
			chain, err := p.issuer.Sign(csr, want, 0, epoch())
			if err != nil {
				t.Fatal(err)
			}
			for i := range chain[1] {
				chain[1][i] ^= 0xff
			}
			if !slices.Equal(p.issuer.cert.Raw, orig) || !slices.Equal(p.issuer.chain[0], orig) {
				t.Fatal("writing to Sign's chain changed the issuer")
			}
			again, _ := p.issuer.Sign(csr, want, 0, epoch())
			if _, err := Verify(again, p.bundle, epoch()); err != nil {
				t.Errorf("the next chain: %v", err)
			}
		})
	}
}

// extension builds a raw extension for ExtraExtensions.
func extension(t testing.TB, oid asn1.ObjectIdentifier, value any) pkix.Extension {
	t.Helper()
	b, err := asn1.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oid, Value: b}
}

// TestSignRefusesAttacks: each request asks for more than, or other than,
// the caller's identity, and must be refused with its own reason.
func TestSignRefusesAttacks(t *testing.T) {
	p := newPKI(t, "cluster.local")
	want := mustID(t, "cluster.local", "bookstore", "bookstore")
	key := mustKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	type bc struct {
		IsCA       bool `asn1:"optional"`
		MaxPathLen int  `asn1:"optional,default:-1"`
	}
	otherNameSAN := asn1.RawValue{Tag: asn1.TagSequence, Class: asn1.ClassUniversal, IsCompound: true,
		Bytes: append(mustMarshal(t, asn1.RawValue{Tag: 6, Class: asn1.ClassContextSpecific, Bytes: []byte(want.String())}),
			mustMarshal(t, asn1.RawValue{Tag: 0, Class: asn1.ClassContextSpecific, IsCompound: true, Bytes: mustMarshal(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3})})...)}
	good := func() *x509.CertificateRequest { return &x509.CertificateRequest{URIs: []*url.URL{uriOf(want)}} }
	with := func(f func(*x509.CertificateRequest)) *x509.CertificateRequest { r := good(); f(r); return r }
	// Extensions written as extensionRequest attribute values by hand,
	// for the requests crypto/x509 would not make.
	sanExt := []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: mustMarshal(t, asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true,
		Bytes: mustMarshal(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(want.String())})})}}
	bcExt := []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 29, 19}, Value: mustMarshal(t, struct{ IsCA bool }{true})}}
	extensionRequest := func(values ...[]pkix.AttributeTypeAndValue) pkix.AttributeTypeAndValueSET {
		return pkix.AttributeTypeAndValueSET{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}, Value: values}
	}
	if _, err := p.issuer.Sign(csrWithAttributes(t, key, []pkix.AttributeTypeAndValueSET{extensionRequest(sanExt)}), want, 0, epoch()); err != nil {
		t.Fatalf("control: one extensionRequest with the SAN alone: %v", err)
	}
	tampered := csrFor(t, key, good())
	tampered[len(tampered)-1] ^= 0x01 // the last byte of the signature

	for _, c := range []struct {
		name   string
		csr    []byte
		reason Reason
	}{
		{"extra DNS SAN", csrFor(t, key, with(func(r *x509.CertificateRequest) { r.DNSNames = []string{"bookstore.bookstore.svc"} })), ReasonCSRDNSSAN},
		{"IP SAN", csrFor(t, key, with(func(r *x509.CertificateRequest) { r.IPAddresses = []net.IP{net.IPv4(10, 0, 0, 1)} })), ReasonCSRIPSAN},
		{"email SAN", csrFor(t, key, with(func(r *x509.CertificateRequest) { r.EmailAddresses = []string{"root@example.com"} })), ReasonCSREmailSAN},
		{"otherName SAN", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			r.URIs = nil
			r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: mustMarshal(t, otherNameSAN)}}
		})), ReasonCSROtherSAN},
		{"two URI SANs", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			r.URIs = append(r.URIs, uriOf(mustID(t, "cluster.local", "kube-system", "admin")))
		})), ReasonCSRURICount},
		{"two URI SANs, the caller's second", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			r.URIs = []*url.URL{uriOf(mustID(t, "cluster.local", "kube-system", "admin")), uriOf(want)}
		})), ReasonCSRURICount},
		{"no SAN", csrFor(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: want.String()}}), ReasonCSRURICount},
		{"another service account", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			r.URIs = []*url.URL{uriOf(mustID(t, "cluster.local", "bookstore", "admin"))}
		})), ReasonCSRIdentity},
		{"another namespace", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			r.URIs = []*url.URL{uriOf(mustID(t, "cluster.local", "kube-system", "bookstore"))}
		})), ReasonCSRIdentity},
		{"another trust domain", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			r.URIs = []*url.URL{uriOf(mustID(t, "evil.example", "bookstore", "bookstore"))}
		})), ReasonCSRIdentity},
		{"the caller's ID with an empty fragment", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			r.URIs = nil
			r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: mustMarshal(t, asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true,
				Bytes: mustMarshal(t, asn1.RawValue{Tag: 6, Class: asn1.ClassContextSpecific, Bytes: []byte(want.String() + "#")})})}}
		})), ReasonCSRIdentity},
		{"the caller's ID as a constructed [6], which crypto/x509 skips", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			r.URIs = nil
			r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: constructedURISAN(t, want.String())}}
		})), ReasonCSRMalformed},
		{"basicConstraints CA=true hidden in a second extensionRequest value", csrWithAttributes(t, key, []pkix.AttributeTypeAndValueSET{
			extensionRequest(sanExt, bcExt), // crypto/x509 reads only the first value
		}), ReasonCSRExtension},
		{"two extensionRequest attributes", csrWithAttributes(t, key, []pkix.AttributeTypeAndValueSET{
			extensionRequest(sanExt), extensionRequest(bcExt),
		}), ReasonCSRExtension},
		{"another attribute (challengePassword)", csrWithAttributes(t, key, []pkix.AttributeTypeAndValueSET{
			extensionRequest(sanExt),
			{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}, Value: [][]pkix.AttributeTypeAndValue{{{Type: asn1.ObjectIdentifier{2, 5, 29, 19}, Value: bcExt[0].Value}}}},
		}), ReasonCSRExtension},
		{"two subjectAltName extensions", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			san := pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: mustMarshal(t, asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true,
				Bytes: mustMarshal(t, asn1.RawValue{Tag: 6, Class: asn1.ClassContextSpecific, Bytes: []byte(want.String())})})}
			r.URIs, r.ExtraExtensions = nil, []pkix.Extension{san, san}
		})), ReasonCSRMalformed}, // crypto/x509 refuses it before checkCSR's own check
		{"basicConstraints CA=true", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			r.ExtraExtensions = []pkix.Extension{extension(t, asn1.ObjectIdentifier{2, 5, 29, 19}, bc{IsCA: true, MaxPathLen: -1})}
		})), ReasonCSRCA},
		{"another extension (keyUsage)", csrFor(t, key, with(func(r *x509.CertificateRequest) {
			r.ExtraExtensions = []pkix.Extension{extension(t, asn1.ObjectIdentifier{2, 5, 29, 15}, asn1.BitString{Bytes: []byte{0x04}, BitLength: 6})}
		})), ReasonCSRExtension},
		{"RSA key", csrFor(t, rsaKey, good()), ReasonCSRKey},
		{"P-384 key", csrFor(t, p384, good()), ReasonCSRKey},
		{"tampered signature", tampered, ReasonCSRSignature},
		{"not DER", []byte("-----BEGIN CERTIFICATE REQUEST-----"), ReasonCSRMalformed},
		{"empty", nil, ReasonCSRMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			chain, err := p.issuer.Sign(c.csr, want, 0, epoch())
			if chain != nil {
				t.Errorf("signed: %d certificates returned", len(chain))
			}
			wantReason(t, err, c.reason)
		})
	}
}

// csrWithAttributes is a request whose attributes are written by hand,
// the only way to make the hidden-extension requests crypto/x509 would not.
func csrWithAttributes(t testing.TB, key crypto.Signer, attrs []pkix.AttributeTypeAndValueSET) []byte {
	t.Helper()
	//lint:ignore SA1019 Attributes is deprecated for making requests, which is the point: these are requests no one should make.
	return csrFor(t, key, &x509.CertificateRequest{Attributes: attrs})
}

// constructedURISAN is a subjectAltName value holding uri as a
// constructed [6] (0xA6), an encoding DER forbids and crypto/x509 skips.
func constructedURISAN(t testing.TB, uri string) []byte {
	t.Helper()
	return mustMarshal(t, asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true,
		Bytes: append([]byte{0xA6, byte(len(uri))}, uri...)})
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzSignCSR: whatever the request bytes, Sign never panics, and whatever
// it signs names exactly want and only want, for the request's own key.
func FuzzSignCSR(f *testing.F) {
	p := newPKI(f, "cluster.local")
	want := mustID(f, "cluster.local", "bookstore", "bookstore")
	key := mustKey(f)
	good, _ := NewCSR(key, want)
	f.Add(good)
	f.Add(csrFor(f, key, &x509.CertificateRequest{URIs: []*url.URL{uriOf(want)}, DNSNames: []string{"x"}}))
	f.Add(csrFor(f, key, &x509.CertificateRequest{URIs: []*url.URL{uriOf(want), uriOf(want)}}))
	f.Add(csrFor(f, key, &x509.CertificateRequest{URIs: []*url.URL{uriOf(mustID(f, "cluster.local", "bookstore", "bookstorf"))}}))
	f.Fuzz(func(t *testing.T, csr []byte) {
		chain, err := p.issuer.Sign(csr, want, 0, epoch())
		if err != nil {
			if chain != nil {
				t.Fatal("certificates returned with an error")
			}
			return
		}
		leaf, err := x509.ParseCertificate(chain[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want.String() || len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0 || leaf.IsCA {
			t.Fatalf("signed %v %v %v %v CA=%v", leaf.URIs, leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses, leaf.IsCA)
		}
		req, err := x509.ParseCertificateRequest(csr)
		if err != nil || req.CheckSignature() != nil {
			t.Fatalf("signed a request that does not parse or verify: %v", err)
		}
		if len(req.URIs) != 1 || req.URIs[0].String() != want.String() || len(req.DNSNames)+len(req.IPAddresses)+len(req.EmailAddresses) != 0 {
			t.Fatalf("signed a request for %v %v %v %v", req.URIs, req.DNSNames, req.IPAddresses, req.EmailAddresses)
		}
		if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(req.PublicKey) {
			t.Fatal("leaf key is not the request's")
		}
	})
}

// BenchmarkSign: the controller's cost per proxy certificate (CSR checks
// and an ECDSA P-256 signature).
func BenchmarkSign(b *testing.B) {
	p := newPKI(b, "cluster.local")
	want := mustID(b, "cluster.local", "bookstore", "bookstore")
	csr, err := NewCSR(mustKey(b), want)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.issuer.Sign(csr, want, 0, epoch()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSignZeroIDRefused: a request whose URI SAN is empty matches the
// zero ID's empty spelling; Sign must refuse the zero ID outright rather
// than sign for it (or panic building its URI).
func TestSignZeroIDRefused(t *testing.T) {
	p := newPKI(t, "cluster.local")
	empty := csrFor(t, mustKey(t), &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17},
		Value: mustMarshal(t, asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true,
			Bytes: mustMarshal(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte{}})})}}})
	chain, err := p.issuer.Sign(empty, ID{}, 0, epoch())
	if chain != nil {
		t.Error("signed for the zero ID")
	}
	wantReason(t, err, ReasonInvalidID)
}
