package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/url"
)

// This file owns the certificate request, both ends of it: how a proxy
// makes one (NewKey, NewCSR) and what the issuer accepts (checkCSR). The
// request carries one thing the issuer uses, the public key; everything
// else in it is checked so that a proxy asking for more than its identity
// is refused loudly rather than quietly given less.

// NewKey makes a workload's ECDSA P-256 private key. It lives in memory
// only: the proxy never writes it to disk nor sends it anywhere.
func NewKey() (*ecdsa.PrivateKey, error) {
	// Since Go 1.26 the random source argument is ignored (a secure one is
	// always used), hence no reader parameter here.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating an ECDSA P-256 key: %w", err)
	}
	return key, nil
}

// NewCSR makes the DER certificate request a proxy sends for id: signed by
// key, with id as its only SAN and nothing else asked for (no subject, no
// extension but the subjectAltName), which is all Issuer.Sign accepts.
func NewCSR(key *ecdsa.PrivateKey, id ID) ([]byte, error) {
	if id.IsZero() {
		return nil, refuse(ReasonInvalidID, "no identity to request a certificate for")
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{id.url()}}, key)
	if err != nil {
		return nil, fmt.Errorf("certificate request for %s: %w", id, err)
	}
	return der, nil
}

// Object identifiers of the extensions a request may name, as strings so
// that they are constants.
const (
	oidSubjectAltName   = "2.5.29.17"
	oidBasicConstraints = "2.5.29.19"
)

// GeneralName tags (RFC 5280, 4.2.1.6), context-specific in the SAN.
const (
	sanOtherName = 0
	sanEmail     = 1
	sanDNS       = 2
	sanURI       = 6
	sanIP        = 7
)

// checkCSR parses and checks a request for want, and returns its public
// key, the only thing the issued certificate takes from it. The request
// must be signed by that key, the key must be ECDSA P-256, and it must ask
// for exactly one name, the URI want, and no other extension.
//
// The SAN is read from the raw extension rather than from the parsed
// x509.CertificateRequest: crypto/x509 turns URI SANs into url.URL values,
// whose String() may differ from the bytes (an empty fragment is dropped,
// for one), and a request must name want byte for byte.
func checkCSR(der []byte, want ID) (*ecdsa.PublicKey, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, refuseErr(ReasonCSRMalformed, err, "for %s", want)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, refuseErr(ReasonCSRSignature, err, "for %s", want)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, refuse(ReasonCSRKey, "for %s: got %s", want, describeKey(csr.PublicKey))
	}
	exts, err := csrExtensions(csr.RawTBSCertificateRequest)
	if err != nil {
		return nil, refuseErr(ReasonCSRExtension, err, "for %s", want)
	}
	var san []byte
	for _, ext := range exts {
		switch oid := ext.Id.String(); {
		case oid == oidBasicConstraints:
			return nil, refuse(ReasonCSRCA, "for %s", want)
		case oid != oidSubjectAltName:
			return nil, refuse(ReasonCSRExtension, "for %s: extension %s", want, ext.Id)
		case san != nil:
			// crypto/x509 refuses a request with a duplicate extension
			// before we get here, so this does not fire today; it stays
			// because exts is our own parse and must not lean on that.
			return nil, refuse(ReasonCSRExtension, "for %s: two subjectAltName extensions", want)
		}
		san = ext.Value
	}
	uris, err := sanURIs(san)
	if err != nil {
		return nil, err
	}
	if len(uris) != 1 {
		return nil, refuse(ReasonCSRURICount, "for %s: %d URI SANs", want, len(uris))
	}
	if uris[0] != want.String() {
		return nil, refuse(ReasonCSRIdentity, "the request names %q, the caller is %s", uris[0], want)
	}
	return pub, nil
}

// oidExtensionRequest is PKCS #9's extensionRequest attribute.
var oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}

// csrExtensions reads the extensions a request asks for from its raw
// CertificationRequestInfo (RFC 2986), rather than from crypto/x509's
// parse, which reads only the first value of the extensionRequest
// attribute and skips attributes it cannot parse: an extension hidden in a
// second value, or in an attribute it skipped, would be asked for and not
// seen. The request may hold no attribute, or exactly one extensionRequest
// with exactly one value; anything else is refused.
func csrExtensions(tbs []byte) ([]pkix.Extension, error) {
	var info asn1.RawValue
	if rest, err := asn1.Unmarshal(tbs, &info); err != nil || len(rest) > 0 || info.Tag != asn1.TagSequence || !info.IsCompound {
		return nil, fmt.Errorf("certificationRequestInfo is not one SEQUENCE")
	}
	// version, subject, subjectPKInfo, then attributes [0] IMPLICIT SET.
	var attrs asn1.RawValue
	b := info.Bytes
	for i := range 4 {
		var v asn1.RawValue
		var err error
		if b, err = asn1.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("certificationRequestInfo field %d: %w", i+1, err)
		}
		attrs = v
	}
	if len(b) > 0 || attrs.Class != asn1.ClassContextSpecific || attrs.Tag != 0 || !attrs.IsCompound {
		return nil, fmt.Errorf("certificationRequestInfo does not end with its attributes")
	}
	var exts []pkix.Extension
	seen := false
	for b := attrs.Bytes; len(b) > 0; {
		var attr struct {
			Type   asn1.ObjectIdentifier
			Values asn1.RawValue
		}
		var err error
		if b, err = asn1.Unmarshal(b, &attr); err != nil {
			return nil, fmt.Errorf("attribute: %w", err)
		}
		if !attr.Type.Equal(oidExtensionRequest) {
			return nil, fmt.Errorf("attribute %s: only extensionRequest is accepted", attr.Type)
		}
		if seen {
			return nil, fmt.Errorf("two extensionRequest attributes")
		}
		seen = true
		if attr.Values.Class != asn1.ClassUniversal || attr.Values.Tag != asn1.TagSet || !attr.Values.IsCompound {
			return nil, fmt.Errorf("extensionRequest values are not a SET")
		}
		rest, err := asn1.Unmarshal(attr.Values.Bytes, &exts)
		if err != nil {
			return nil, fmt.Errorf("extensionRequest: %w", err)
		}
		if len(rest) > 0 {
			return nil, fmt.Errorf("extensionRequest with more than one value")
		}
	}
	return exts, nil
}

// sanURIs reads a request's subjectAltName extension value and returns
// its URIs, refusing any other kind of name. A missing extension (nil) has
// none.
func sanURIs(value []byte) ([]string, error) {
	names, err := parseSAN(value)
	if err != nil {
		return nil, refuseErr(ReasonCSRMalformed, err, "subjectAltName")
	}
	var uris []string
	for _, name := range names {
		switch name.Tag {
		case sanURI:
			uris = append(uris, string(name.Bytes))
		case sanDNS:
			return nil, refuse(ReasonCSRDNSSAN, "%q", name.Bytes)
		case sanIP:
			return nil, refuse(ReasonCSRIPSAN, "% x", name.Bytes)
		case sanEmail:
			return nil, refuse(ReasonCSREmailSAN, "%q", name.Bytes)
		default:
			return nil, refuse(ReasonCSROtherSAN, "GeneralName tag %d", name.Tag)
		}
	}
	return uris, nil
}

// parseSAN splits a subjectAltName extension's value (RFC 5280, 4.2.1.6)
// into its GeneralNames, raw: the tag says the kind, the bytes are the
// name exactly as encoded. Requests and peer certificates both read their
// URI SAN this way, so that an identity is compared as the bytes that were
// signed, never as crypto/x509's url.URL reading of them (whose String()
// may differ: an empty fragment is dropped, for one).
func parseSAN(value []byte) ([]asn1.RawValue, error) {
	if value == nil {
		return nil, nil
	}
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(value, &seq)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, fmt.Errorf("not a SEQUENCE of GeneralName")
	}
	var names []asn1.RawValue
	for b := seq.Bytes; len(b) > 0; {
		var name asn1.RawValue
		if b, err = asn1.Unmarshal(b, &name); err != nil {
			return nil, err
		}
		if name.Class != asn1.ClassContextSpecific {
			return nil, fmt.Errorf("GeneralName of class %d", name.Class)
		}
		// rfc822Name, dNSName, uniformResourceIdentifier and iPAddress
		// are IA5String and OCTET STRING under IMPLICIT tags: always
		// primitive in DER. crypto/x509 skips a constructed one (0xA6 for
		// a URI), so neither its URIs nor its name-constraint checks see
		// it; reading it here would make it a name only we believe in.
		if name.IsCompound && isPrimitiveSAN(name.Tag) {
			return nil, fmt.Errorf("GeneralName tag %d encoded as constructed", name.Tag)
		}
		names = append(names, name)
	}
	return names, nil
}

// isPrimitiveSAN reports whether a GeneralName tag is one DER always
// encodes as primitive.
func isPrimitiveSAN(tag int) bool {
	return tag == sanEmail || tag == sanDNS || tag == sanURI || tag == sanIP
}

// describeKey names a public key's algorithm and size for a refusal.
func describeKey(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	default:
		return fmt.Sprintf("%T", pub)
	}
}
