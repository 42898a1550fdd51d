package identity

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Issuer is the mesh CA as the controller runs it: an intermediate
// certificate and its key, the intermediates between it and the anchors,
// and the anchors themselves. It signs workload certificates and nothing
// else. It is immutable; a renewed issuer is a new Issuer, swapped in by
// the caller.
type Issuer struct {
	cert *x509.Certificate
	key  crypto.Signer
	// chain is what a leaf is sent with: the issuer, then any
	// intermediates up to (not including) an anchor, DER.
	chain   [][]byte
	anchors []*x509.Certificate
	// notBefore and notAfter bound the verified chain, issuer to anchor:
	// the latest NotBefore and the earliest NotAfter of its certificates.
	// A leaf is only valid while all of them are, so Sign issues only
	// inside them and never past notAfter.
	notBefore, notAfter time.Time
}

// Secret keys of the kubernetes.io/tls shape LoadIssuer reads, as
// cert-manager writes them; they name the field at fault in errors.
const (
	fieldTLSCrt = "tls.crt"
	fieldTLSKey = "tls.key"
	fieldCACrt  = "ca.crt"
)

// LoadIssuer reads an issuer from the data of a kubernetes.io/tls Secret,
// as cert-manager writes it or as SecretData returns it: tlsCrt holds the
// issuer's certificate, then any intermediates; tlsKey its private key;
// caCrt the trust anchor(s). It checks, as of now, everything that would
// otherwise surface as proxies failing to get or to trust certificates,
// and says which field to fix: the key matches the certificate, the
// certificate is a CA with keyCertSign, valid now, chains to an anchor of
// ca.crt exactly as proxies will verify its leaves, and is not itself an
// anchor nor a root (the root key must stay out of the running
// controller).
func LoadIssuer(tlsCrt, tlsKey, caCrt []byte, now time.Time) (*Issuer, error) {
	certs, err := parseCertificatesPEM(fieldTLSCrt, tlsCrt)
	if err != nil {
		return nil, refuseErr(ReasonIssuerMalformed, err, "put the issuer certificate, then its intermediates, in %s", fieldTLSCrt)
	}
	key, err := parseKeyPEM(fieldTLSKey, tlsKey)
	if err != nil {
		return nil, refuseErr(ReasonIssuerMalformed, err, "put the issuer's private key in %s", fieldTLSKey)
	}
	anchors, err := parseCertificatesPEM(fieldCACrt, caCrt)
	if err != nil {
		return nil, refuseErr(ReasonIssuerMalformed, err, "put the trust anchor certificate(s) in %s", fieldCACrt)
	}
	cert := certs[0]
	name := describeCert(cert)
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, refuse(ReasonIssuerKeyMismatch, "%s is not the key of %s's first certificate (%s): put the matching pair in the Secret", fieldTLSKey, fieldTLSCrt, name)
	}
	if err := checkSigningCert(fieldTLSCrt, cert); err != nil {
		return nil, err
	}
	if now.Before(cert.NotBefore) || !now.Before(cert.NotAfter) {
		return nil, refuse(ReasonIssuerExpired, "%s (%s) is valid from %s to %s, not at %s: renew the issuer",
			fieldTLSCrt, name, cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if isOneOf(cert, anchors) {
		return nil, refuse(ReasonIssuerIsAnchor, "%s (%s) is also in %s: sign an intermediate with the anchor and give the controller that intermediate's key, not the anchor's", fieldTLSCrt, name, fieldCACrt)
	}
	// The bytes are not enough: the anchor's key can come under another
	// certificate (the root re-issued with its key, "an intermediate" the
	// anchor signed for its own key, or one signed for it by an
	// intermediate), and a certificate signed with its own key is a root,
	// or the key of its signer, whatever ca.crt says.
	if cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil {
		return nil, refuse(ReasonIssuerIsAnchor, "%s (%s) is signed with its own key, as only a root is: keep that key out of the controller, and give it an intermediate with a key of its own", fieldTLSCrt, name)
	}
	pub, _ := key.Public().(interface{ Equal(crypto.PublicKey) bool }) // it is the certificate's key, checked above
	for _, others := range []struct {
		field string
		certs []*x509.Certificate
	}{{fieldCACrt, anchors}, {fieldTLSCrt + " (after the first certificate)", certs[1:]}} {
		for _, c := range others.certs {
			if pub.Equal(c.PublicKey) {
				return nil, refuse(ReasonIssuerIsAnchor, "%s (%s) has the key of %s in %s: sign an intermediate with a key of its own and give the controller that intermediate's key, not the anchor's", fieldTLSCrt, name, describeCert(c), others.field)
			}
		}
	}
	roots := x509.NewCertPool()
	for _, a := range anchors {
		roots.AddCert(a)
	}
	inter := x509.NewCertPool()
	chain := [][]byte{cert.Raw}
	for _, c := range certs[1:] {
		if isOneOf(c, anchors) {
			continue // an anchor in tls.crt: the bundle carries it, not the chain
		}
		inter.AddCert(c)
		chain = append(chain, c.Raw)
	}
	_, err = cert.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		// A CA certificate has no business restricting extended key
		// usages; accept whatever it says and leave EKUs to the leaves.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		var invalid x509.CertificateInvalidError
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
			return nil, refuseErr(ReasonIssuerExpired, err, "a certificate between %s (%s) and the anchors of %s is not valid now: renew it", fieldTLSCrt, name, fieldCACrt)
		}
		return nil, refuseErr(ReasonIssuerUntrusted, err, "%s (%s) does not chain to any anchor in %s: put the anchor that signed it in %s, and any intermediates after the issuer in %s", fieldTLSCrt, name, fieldCACrt, fieldCACrt, fieldTLSCrt)
	}
	is := &Issuer{cert: cert, key: key, chain: chain, anchors: anchors}
	verified, err := is.probe(&Bundle{trustDomain: probeTrustDomain, anchors: anchors, pool: roots}, now)
	if err != nil {
		return nil, err
	}
	is.notBefore, is.notAfter = validity(verified)
	return is, nil
}

// probeTrustDomain is the trust domain of LoadIssuer's throwaway leaf.
const probeTrustDomain = "probe.invalid"

// probe signs a throwaway leaf and verifies it to the anchors the way every
// proxy verifies a peer (verifyChain: crypto/x509's chain building, then
// the X509-SVID rules for the leaf and for every signing certificate),
// which is the one sure way to know the issuer's leaves will be trusted: a
// path length constraint above the issuer, or a name or key-usage
// restriction, can let the issuer itself verify and still invalidate
// everything it signs. It returns the signing certificates of the chain it
// verified, issuer first and anchor last.
func (is *Issuer) probe(bundle *Bundle, now time.Time) ([]*x509.Certificate, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	tmpl := leafTemplate(&url.URL{Scheme: "spiffe", Host: probeTrustDomain, Path: "/ns/probe/sa/probe"}, now, time.Minute, is.cert.NotBefore, is.cert.NotAfter)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.cert, key.Public(), is.key)
	if err != nil {
		return nil, refuseErr(ReasonIssuerMalformed, err, "%s (%s) cannot sign with %s", fieldTLSCrt, describeCert(is.cert), fieldTLSKey)
	}
	var certs []*x509.Certificate
	for _, b := range append([][]byte{der}, is.chain...) {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, refuseErr(ReasonIssuerMalformed, err, "%s (%s) signs certificates that do not parse", fieldTLSCrt, describeCert(is.cert))
		}
		certs = append(certs, c)
	}
	_, verified, err := verifyChain(certs, bundle, now)
	if err != nil {
		return nil, refuseErr(ReasonIssuerUntrusted, err, "a certificate signed by %s (%s) would not verify at the proxies against the anchors in %s: check the path length, key usage and extended key usage of every certificate of the chain", fieldTLSCrt, describeCert(is.cert), fieldCACrt)
	}
	return verified[1:], nil
}

// validity is the time every one of certs is valid in: the latest
// NotBefore and the earliest NotAfter.
func validity(certs []*x509.Certificate) (notBefore, notAfter time.Time) {
	for i, c := range certs {
		if i == 0 || c.NotBefore.After(notBefore) {
			notBefore = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	return notBefore, notAfter
}

// isOneOf reports whether c is byte for byte one of certs.
func isOneOf(c *x509.Certificate, certs []*x509.Certificate) bool {
	for _, x := range certs {
		if bytes.Equal(x.Raw, c.Raw) {
			return true
		}
	}
	return false
}

// checkSigningCert holds a CA certificate to the X509-SVID standard's rules
// for signing certificates (CA basic constraints, keyCertSign), and to
// ours: if it restricts extended key usages, it allows both serverAuth and
// clientAuth. crypto/x509 takes the usages a chain is verified for as
// any-of, so a CA limited to serverAuth would otherwise pass for leaves
// used as clients too.
func checkSigningCert(field string, cert *x509.Certificate) error {
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return refuse(ReasonIssuerNotCA, "%s (%s) has no CA basic constraints: issue it as a CA (cert-manager: isCA: true)", field, describeCert(cert))
	}
	if cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return refuse(ReasonIssuerNoKeyCertSign, "%s (%s): add the \"cert sign\" usage", field, describeCert(cert))
	}
	eku := cert.ExtKeyUsage
	if len(eku) > 0 && !slices.Contains(eku, x509.ExtKeyUsageAny) &&
		(!slices.Contains(eku, x509.ExtKeyUsageServerAuth) || !slices.Contains(eku, x509.ExtKeyUsageClientAuth)) {
		return refuse(ReasonIssuerExtKeyUsage, "%s (%s): allow both \"server auth\" and \"client auth\", or drop its extended key usages", field, describeCert(cert))
	}
	return nil
}

// Certificate is the issuer's certificate. Its NotAfter is not when the
// issuer stops being useful: see ChainNotAfter.
func (is *Issuer) Certificate() *x509.Certificate { return is.cert }

// ChainNotAfter is when the issuer stops issuing: the earliest NotAfter of
// the chain it was verified through, the issuer, its intermediates and the
// anchor. After it every leaf fails verification whichever certificate
// expired, so it, not the issuer certificate's own NotAfter, is what
// expiry warnings and renewal should use.
func (is *Issuer) ChainNotAfter() time.Time { return is.notAfter }

// SecretData is the issuer in the kubernetes.io/tls Secret shape LoadIssuer
// reads: tls.crt (the issuer, then intermediates), tls.key (PKCS #8) and
// ca.crt (the anchors).
func (is *Issuer) SecretData() (tlsCrt, tlsKey, caCrt []byte, err error) {
	tlsKey, err = encodeKeyPEM(is.key)
	if err != nil {
		return nil, nil, nil, err
	}
	anchors := make([][]byte, len(is.anchors))
	for i, a := range is.anchors {
		anchors[i] = a.Raw
	}
	return encodeCertificatesPEM(is.chain...), tlsKey, encodeCertificatesPEM(anchors...), nil
}

// Sign issues the workload certificate for want from csrDER. The caller
// has authenticated the requester and derived want from that (STYLE 25):
// nothing in the request is trusted but its public key. The request must
// name exactly want and ask for nothing else (see checkCSR); its subject
// is ignored and never copied.
//
// The certificate is valid from now-Backdate (not before any certificate
// of the issuer's chain) to now+lifetime (zero means DefaultLeafLifetime,
// at most MaxLeafLifetime), never past ChainNotAfter; it is no CA, has digitalSignature, serverAuth and clientAuth
// (a proxy is both), want as its only SAN and a random 128-bit serial.
// Sign returns the chain to send: the leaf, then the issuer and its
// intermediates (the anchors travel in the bundle, not here), DER.
func (is *Issuer) Sign(csrDER []byte, want ID, lifetime time.Duration, now time.Time) ([][]byte, error) {
	if want.IsZero() {
		return nil, refuse(ReasonInvalidID, "no identity to sign for")
	}
	if lifetime < 0 || lifetime > MaxLeafLifetime {
		return nil, refuse(ReasonLifetime, "%s for %s, the most is %s", lifetime, want, MaxLeafLifetime)
	}
	if lifetime == 0 {
		lifetime = DefaultLeafLifetime
	}
	if now.Before(is.notBefore) || !now.Before(is.notAfter) {
		return nil, refuse(ReasonIssuerExpired, "the issuer (%s) and its chain to the anchor are valid from %s to %s, not at %s: renew the certificate that bounds it",
			describeCert(is.cert), is.notBefore.UTC().Format(time.RFC3339), is.notAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	pub, err := checkCSR(csrDER, want)
	if err != nil {
		return nil, err
	}
	tmpl := leafTemplate(want.url(), now, lifetime, is.notBefore, is.notAfter)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.cert, pub, is.key)
	if err != nil {
		return nil, fmt.Errorf("signing the certificate for %s: %w", want, err)
	}
	// The chain is the caller's to keep or change: copies, not the
	// issuer's own slices.
	chain := [][]byte{der}
	for _, c := range is.chain {
		chain = append(chain, bytes.Clone(c))
	}
	return chain, nil
}

// leafTemplate is every workload certificate: valid from now-Backdate
// (not before floor) to now+lifetime (not past ceiling), no CA,
// digitalSignature, serverAuth and clientAuth, uri its only SAN, a random
// serial, no subject.
func leafTemplate(uri *url.URL, now time.Time, lifetime time.Duration, floor, ceiling time.Time) *x509.Certificate {
	notBefore := now.Add(-Backdate)
	if notBefore.Before(floor) {
		notBefore = floor
	}
	notAfter := now.Add(lifetime)
	if notAfter.After(ceiling) {
		notAfter = ceiling
	}
	return &x509.Certificate{
		SerialNumber:          newSerial(),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true, // and IsCA false: an explicit "not a CA"
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:                  []*url.URL{uri},
	}
}

// describeCert names a certificate in messages: its subject and serial.
func describeCert(c *x509.Certificate) string {
	return fmt.Sprintf("subject %q, serial %x", c.Subject.String(), c.SerialNumber)
}
