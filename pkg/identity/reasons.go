package identity

import (
	"fmt"

	"github.com/meshctl/meshctl/internal/refusal"
)

// Reason is why the package refused a request, a certificate or a peer: a
// closed set of constants, so that callers (metrics labels, events, the
// controller's reply to a proxy) switch on the reason rather than parse
// messages. Every error the package returns for a refusal wraps one, so
// errors.Is(err, ReasonCSRDNSSAN) works through any %w wrapping.
type Reason int

// The reasons. Their order is not part of the contract; their names are.
const (
	// ReasonInvalidID: a string or parts that are not a mesh workload
	// SPIFFE ID.
	ReasonInvalidID Reason = iota + 1

	// Certificate requests (Issuer.Sign).

	// ReasonCSRMalformed: the bytes are not a DER PKCS #10 request.
	ReasonCSRMalformed
	// ReasonCSRSignature: the request is not signed by the key it carries.
	ReasonCSRSignature
	// ReasonCSRKey: the public key is not ECDSA P-256.
	ReasonCSRKey
	// ReasonCSRDNSSAN: the request asks for a DNS name.
	ReasonCSRDNSSAN
	// ReasonCSRIPSAN: the request asks for an IP address.
	ReasonCSRIPSAN
	// ReasonCSREmailSAN: the request asks for an email address.
	ReasonCSREmailSAN
	// ReasonCSROtherSAN: the request asks for another kind of name
	// (otherName, directoryName, registeredID, ...).
	ReasonCSROtherSAN
	// ReasonCSRURICount: the request has no URI SAN or several.
	ReasonCSRURICount
	// ReasonCSRIdentity: the URI SAN is not the identity the caller proved.
	ReasonCSRIdentity
	// ReasonCSRCA: the request asks for basicConstraints (a CA).
	ReasonCSRCA
	// ReasonCSRExtension: the request asks for an extension other than its
	// one subjectAltName.
	ReasonCSRExtension
	// ReasonLifetime: the requested lifetime is negative, or above
	// MaxLeafLifetime for a leaf.
	ReasonLifetime

	// Issuer material (LoadIssuer, GenerateIssuer, Sign).

	// ReasonIssuerMalformed: a field of the issuer Secret does not parse.
	ReasonIssuerMalformed
	// ReasonIssuerKeyMismatch: tls.key is not the key of tls.crt's first
	// certificate.
	ReasonIssuerKeyMismatch
	// ReasonIssuerNotCA: the issuer certificate is not a CA.
	ReasonIssuerNotCA
	// ReasonIssuerNoKeyCertSign: the issuer certificate's key usage lacks
	// keyCertSign.
	ReasonIssuerNoKeyCertSign
	// ReasonIssuerExtKeyUsage: a signing certificate restricts extended
	// key usages and leaves out serverAuth or clientAuth, which every mesh
	// leaf needs.
	ReasonIssuerExtKeyUsage
	// ReasonIssuerExpired: the issuer certificate is past NotAfter or
	// before NotBefore.
	ReasonIssuerExpired
	// ReasonIssuerUntrusted: no chain from the issuer to an anchor of
	// ca.crt.
	ReasonIssuerUntrusted
	// ReasonIssuerIsAnchor: the issuer is itself a trust anchor, so the
	// root key would sit in the running controller.
	ReasonIssuerIsAnchor

	// Peers (Verify and the TLS configurations).

	// ReasonNoPeerCertificate: the peer presented no certificate.
	ReasonNoPeerCertificate
	// ReasonPeerMalformed: a certificate of the peer's chain does not parse.
	ReasonPeerMalformed
	// ReasonLeafExpired: the peer's certificate is past NotAfter.
	ReasonLeafExpired
	// ReasonLeafNotYetValid: the peer's certificate is before NotBefore.
	ReasonLeafNotYetValid
	// ReasonLeafIsCA: the peer's certificate is a CA certificate.
	ReasonLeafIsCA
	// ReasonLeafKeyUsage: the peer's certificate lacks digitalSignature, has
	// keyCertSign or cRLSign, or lacks serverAuth or clientAuth.
	ReasonLeafKeyUsage
	// ReasonLeafURICount: the peer's certificate has no URI SAN or several.
	ReasonLeafURICount
	// ReasonLeafID: the peer's URI SAN is not a mesh workload SPIFFE ID.
	ReasonLeafID
	// ReasonTrustDomain: the peer's ID is in another trust domain than the
	// bundle's.
	ReasonTrustDomain
	// ReasonUntrusted: no valid chain from the peer's certificate to an
	// anchor of the bundle at this time.
	ReasonUntrusted
	// ReasonNoBundle: no trust bundle is loaded yet.
	ReasonNoBundle
	// ReasonNoCertificate: no certificate of our own is loaded yet.
	ReasonNoCertificate
	// ReasonALPN: the connection did not negotiate the mesh protocol.
	ReasonALPN
	// ReasonPeerIdentity: the peer is a valid mesh workload, but not the
	// one expected.
	ReasonPeerIdentity
)

// Error is the reason's fixed text.
func (r Reason) Error() string {
	switch r {
	case ReasonInvalidID:
		return "invalid workload SPIFFE ID"
	case ReasonCSRMalformed:
		return "certificate request does not parse"
	case ReasonCSRSignature:
		return "certificate request signature does not verify"
	case ReasonCSRKey:
		return "certificate request key is not ECDSA P-256"
	case ReasonCSRDNSSAN:
		return "certificate request asks for a DNS name"
	case ReasonCSRIPSAN:
		return "certificate request asks for an IP address"
	case ReasonCSREmailSAN:
		return "certificate request asks for an email address"
	case ReasonCSROtherSAN:
		return "certificate request asks for a name that is not a URI"
	case ReasonCSRURICount:
		return "certificate request must hold exactly one URI SAN"
	case ReasonCSRIdentity:
		return "certificate request names another identity"
	case ReasonCSRCA:
		return "certificate request asks for basicConstraints"
	case ReasonCSRExtension:
		return "certificate request asks for an extension other than its subjectAltName"
	case ReasonLifetime:
		return "lifetime is negative or too long"
	case ReasonIssuerMalformed:
		return "issuer material does not parse"
	case ReasonIssuerKeyMismatch:
		return "issuer key does not match the issuer certificate"
	case ReasonIssuerNotCA:
		return "issuer certificate is not a CA"
	case ReasonIssuerNoKeyCertSign:
		return "issuer certificate lacks the keyCertSign key usage"
	case ReasonIssuerExtKeyUsage:
		return "issuer certificate's extended key usage excludes serverAuth or clientAuth"
	case ReasonIssuerExpired:
		return "issuer certificate is not valid at this time"
	case ReasonIssuerUntrusted:
		return "issuer certificate is not signed by any trust anchor"
	case ReasonIssuerIsAnchor:
		return "issuer certificate is a trust anchor"
	case ReasonNoPeerCertificate:
		return "peer presented no certificate"
	case ReasonPeerMalformed:
		return "peer certificate does not parse"
	case ReasonLeafExpired:
		return "peer certificate has expired"
	case ReasonLeafNotYetValid:
		return "peer certificate is not valid yet"
	case ReasonLeafIsCA:
		return "peer certificate is a CA"
	case ReasonLeafKeyUsage:
		return "peer certificate key usage is not a mesh workload's"
	case ReasonLeafURICount:
		return "peer certificate must hold exactly one URI SAN"
	case ReasonLeafID:
		return "peer certificate URI SAN is not a workload SPIFFE ID"
	case ReasonTrustDomain:
		return "peer is in another trust domain"
	case ReasonUntrusted:
		return "peer certificate does not chain to the trust bundle"
	case ReasonNoBundle:
		return "no trust bundle loaded yet"
	case ReasonNoCertificate:
		return "no certificate loaded yet"
	case ReasonALPN:
		return "mesh protocol not negotiated"
	case ReasonPeerIdentity:
		return "peer is not the expected identity"
	}
	return fmt.Sprintf("identity.Reason(%d)", int(r))
}

// refuse and refuseErr build a refusal.Error for r: the closed-set reason
// callers match with errors.Is, and the particulars of this case.
func refuse(r Reason, format string, args ...any) error { return refusal.New(r, format, args...) }

func refuseErr(r Reason, err error, format string, args ...any) error {
	return refusal.Wrap(r, err, format, args...)
}
