package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// Default lifetimes of the mesh's certificates. The anchor outlives many
// issuers, so the issuer can be rotated (yearly) without touching the
// bundle every proxy trusts; leaves are short so that a leaked proxy key is
// worth a day at most and nothing needs revoking.
const (
	DefaultAnchorLifetime = 10 * 365 * 24 * time.Hour
	DefaultIssuerLifetime = 365 * 24 * time.Hour
	DefaultLeafLifetime   = 24 * time.Hour
)

// MaxLeafLifetime is the longest lifetime Issuer.Sign grants. Leaves are
// never revoked, so a leaf's lifetime is how long a stolen proxy key stays
// a mesh identity; a week covers a controller outage of days (proxies
// renew well before expiry) while keeping that window short.
const MaxLeafLifetime = 7 * 24 * time.Hour

// Backdate is how far before "now" a new certificate's NotBefore is set, so
// that a peer whose clock is a little behind the signer's still accepts it.
const Backdate = time.Minute

// Anchor is a trust anchor (root CA) with its key. Only `meshctl install`
// and rotation hold it: the running controller signs with an Issuer and
// never needs the anchor's key, so the two live in separate Secrets.
type Anchor struct {
	trustDomain string
	cert        *x509.Certificate
	key         crypto.Signer
}

// GenerateAnchor makes a self-signed ECDSA P-256 root CA for trustDomain,
// valid from now (backdated by Backdate) for lifetime (zero means
// DefaultAnchorLifetime). It may sign issuers only, never leaves directly
// (path length 1).
func GenerateAnchor(trustDomain string, lifetime time.Duration, now time.Time) (*Anchor, error) {
	if err := validateTrustDomain(trustDomain); err != nil {
		return nil, err
	}
	if lifetime == 0 {
		lifetime = DefaultAnchorLifetime
	}
	tmpl, key, err := newCATemplate("meshctl trust anchor "+trustDomain, lifetime, now, time.Time{})
	if err != nil {
		return nil, err
	}
	tmpl.MaxPathLen = 1
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("signing the trust anchor: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the trust anchor just made: %w", err)
	}
	return &Anchor{trustDomain: trustDomain, cert: cert, key: key}, nil
}

// Certificate is the anchor's certificate.
func (a *Anchor) Certificate() *x509.Certificate { return a.cert }

// CertificatePEM is the anchor's certificate as PEM: what goes into ca.crt
// and the proxies' trust bundle.
func (a *Anchor) CertificatePEM() []byte { return encodeCertificatesPEM(a.cert.Raw) }

// KeyPEM is the anchor's private key as PKCS #8 PEM, for the Secret that
// keeps it away from the controller.
func (a *Anchor) KeyPEM() ([]byte, error) { return encodeKeyPEM(a.key) }

// GenerateIssuer makes an ECDSA P-256 intermediate CA signed by anchor,
// valid from now for lifetime (zero means DefaultIssuerLifetime), never
// past the anchor's own NotAfter. It may sign leaves only (path length 0).
func GenerateIssuer(anchor *Anchor, lifetime time.Duration, now time.Time) (*Issuer, error) {
	if lifetime == 0 {
		lifetime = DefaultIssuerLifetime
	}
	if !now.Before(anchor.cert.NotAfter) {
		return nil, refuse(ReasonIssuerExpired, "the trust anchor expired at %s", anchor.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	tmpl, key, err := newCATemplate("meshctl issuer "+anchor.trustDomain, lifetime, now, anchor.cert.NotAfter)
	if err != nil {
		return nil, err
	}
	tmpl.MaxPathLenZero = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, anchor.cert, key.Public(), anchor.key)
	if err != nil {
		return nil, fmt.Errorf("signing the issuer with the trust anchor: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the issuer just made: %w", err)
	}
	notBefore, notAfter := validity([]*x509.Certificate{cert, anchor.cert})
	return &Issuer{cert: cert, key: key, chain: [][]byte{der}, anchors: []*x509.Certificate{anchor.cert}, notBefore: notBefore, notAfter: notAfter}, nil
}

// newCATemplate is what the anchor and the issuer share: a fresh P-256 key,
// a random serial, CA basic constraints and keyCertSign (the X509-SVID
// standard's requirements for signing certificates), NotBefore backdated
// and NotAfter at now+lifetime or notAfterCap if that is earlier (zero
// means no cap).
func newCATemplate(commonName string, lifetime time.Duration, now, notAfterCap time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	if lifetime < 0 {
		return nil, nil, refuse(ReasonLifetime, "%s", lifetime)
	}
	key, err := NewKey()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(lifetime)
	if !notAfterCap.IsZero() && notAfterCap.Before(notAfter) {
		notAfter = notAfterCap
	}
	return &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{Organization: []string{"meshctl"}, CommonName: commonName},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, key, nil
}

// newSerial is a random positive 128-bit serial number: unpredictable, so
// that no one can steer the bytes a CA signs, and unique without any
// shared counter between controller replicas.
func newSerial() *big.Int {
	var b [16]byte
	for {
		rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
		if n := new(big.Int).SetBytes(b[:]); n.Sign() > 0 {
			return n
		}
	}
}
