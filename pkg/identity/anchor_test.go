package identity

import (
	"strings"
	"testing"
	"time"
)

// TestLoadAnchor: an anchor read back from its Secret signs issuers that
// chain to it, and what could not is refused with the field named.
func TestLoadAnchor(t *testing.T) {
	p := newPKI(t, "cluster.local")
	other := newPKI(t, "cluster.local")
	certPEM := p.anchor.CertificatePEM()
	keyPEM, err := p.anchor.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := other.anchor.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	issuerCrt, issuerKey, _, err := p.issuer.SecretData()
	if err != nil {
		t.Fatal(err)
	}

	a, err := LoadAnchor("cluster.local", certPEM, keyPEM, epoch())
	if err != nil {
		t.Fatal(err)
	}
	is, err := GenerateIssuer(a, 0, epoch())
	if err != nil {
		t.Fatal(err)
	}
	if err := is.Certificate().CheckSignatureFrom(p.anchor.Certificate()); err != nil {
		t.Errorf("the issuer of a loaded anchor does not chain to it: %v", err)
	}

	for _, c := range []struct {
		name      string
		td        string
		cert, key []byte
		now       time.Time
		want      string
	}{
		{"another anchor's key", "cluster.local", certPEM, otherKey, epoch(), "tls.key is not the key of tls.crt"},
		{"an issuer, not a root", "cluster.local", issuerCrt, issuerKey, epoch(), "not a self-signed root"},
		{"two anchors", "cluster.local", append(append([]byte{}, certPEM...), other.anchor.CertificatePEM()...), keyPEM, epoch(), "tls.crt: 2 certificates"},
		{"expired", "cluster.local", certPEM, keyPEM, epoch().Add(DefaultAnchorLifetime + time.Hour), "expired"},
		{"no key", "cluster.local", certPEM, nil, epoch(), "tls.key: no PEM block"},
		{"no certificate", "cluster.local", nil, keyPEM, epoch(), "tls.crt"},
		{"bad trust domain", "Not A Domain", certPEM, keyPEM, epoch(), "trust domain"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadAnchor(c.td, c.cert, c.key, c.now)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	p := newPKI(t, "cluster.local")
	fp := FingerprintOf(p.anchor.Certificate())
	if len(fp) != 64 || strings.ToLower(fp) != fp {
		t.Errorf("fingerprint %q: want 64 lower-case hex digits", fp)
	}
	if fp == FingerprintOf(p.issuer.Certificate()) {
		t.Error("two certificates share a fingerprint")
	}
}
