package identity

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"
)

// LoadAnchor reads back a trust anchor that GenerateAnchor made, from its
// certificate and key PEM (the anchor Secret's tls.crt and tls.key), so that
// a rotation can sign a new issuer with it. It refuses what could not sign a
// usable issuer: not exactly one certificate, not a self-signed CA allowed
// to sign certificates, a key that is not the certificate's, or an anchor
// that has expired by now.
func LoadAnchor(trustDomain string, certPEM, keyPEM []byte, now time.Time) (*Anchor, error) {
	if err := validateTrustDomain(trustDomain); err != nil {
		return nil, err
	}
	certs, err := parseCertificatesPEM("tls.crt", certPEM)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("tls.crt: %d certificates, want the anchor's alone", len(certs))
	}
	cert := certs[0]
	if err := checkSigningCert("tls.crt", cert); err != nil {
		return nil, err
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, fmt.Errorf("tls.crt: not a self-signed root (%s): %w", describeCert(cert), err)
	}
	if !now.Before(cert.NotAfter) {
		return nil, refuse(ReasonIssuerExpired, "the trust anchor %s expired at %s", describeCert(cert), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := parseKeyPEM("tls.key", keyPEM)
	if err != nil {
		return nil, err
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("tls.key is not the key of tls.crt (%s)", describeCert(cert))
	}
	return &Anchor{trustDomain: trustDomain, cert: cert, key: key}, nil
}

// Fingerprint is the SHA-256 of a certificate's DER, in lower-case hex: how
// the proxies' status, the controller channel and `meshctl` name a
// certificate, so that a rotation can tell which issuer and anchors each
// proxy holds.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// FingerprintOf is Fingerprint of c's DER.
func FingerprintOf(c *x509.Certificate) string { return Fingerprint(c.Raw) }
