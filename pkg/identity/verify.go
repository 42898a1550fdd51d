package identity

import (
	"crypto/x509"
	"slices"
	"time"
)

// Verify authenticates a peer: chain is what it presented (its certificate
// first, then intermediates, DER), and the result is its one SPIFFE ID.
// The certificate must chain to an anchor of bundle with every certificate
// valid at now, be an X509-SVID leaf (not a CA; digitalSignature and
// neither keyCertSign nor cRLSign; exactly one URI SAN, a workload ID in
// the bundle's trust domain), and carry both serverAuth and clientAuth.
//
// Both extended key usages are required, whichever side is verifying:
// every mesh certificate is a proxy's, used as a client outbound and as a
// server inbound, and Issuer.Sign always sets both. A certificate with
// only one was not issued by the mesh for a workload (a CA shared with
// other uses, say) and is no mesh identity in either direction; requiring
// both keeps Verify one function for both ends, and unlike
// ExtKeyUsageAny it refuses certificates made for signing code or mail.
//
// Verify says who the peer is, not whether it may connect: that is the
// caller's Authorizer.
func Verify(chain [][]byte, bundle *Bundle, now time.Time) (ID, error) {
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return ID{}, refuseErr(ReasonPeerMalformed, err, "certificate %d of the peer's chain", i+1)
		}
		certs[i] = c
	}
	return verifyCerts(certs, bundle, now)
}

// verifyCerts is Verify on parsed certificates, as crypto/tls hands them
// to VerifyConnection.
func verifyCerts(certs []*x509.Certificate, bundle *Bundle, now time.Time) (ID, error) {
	id, _, err := verifyChain(certs, bundle, now)
	return id, err
}

// verifyChain is verifyCerts that also returns the verified chain it
// accepted, leaf first and anchor last. LoadIssuer's probe runs it too, so
// that the controller accepts exactly the chains proxies accept.
func verifyChain(certs []*x509.Certificate, bundle *Bundle, now time.Time) (ID, []*x509.Certificate, error) {
	if bundle == nil {
		return ID{}, nil, refuse(ReasonNoBundle, "cannot verify a peer")
	}
	if len(certs) == 0 {
		return ID{}, nil, refuse(ReasonNoPeerCertificate, "a mesh peer must present its certificate")
	}
	leaf := certs[0]
	id, err := checkLeaf(leaf, now)
	if err != nil {
		return ID{}, nil, err
	}
	if id.TrustDomain() != bundle.trustDomain {
		return ID{}, nil, refuse(ReasonTrustDomain, "peer %s, bundle %s", id, bundle.trustDomain)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         bundle.pool,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return ID{}, nil, refuseErr(ReasonUntrusted, err, "peer %s", id)
	}
	// crypto/x509 does not look at key usage above the leaf; the
	// X509-SVID standard requires keyCertSign of every signing
	// certificate. One chain that satisfies it is enough.
	var signErr error
	for _, ch := range chains {
		if signErr = checkSigners(ch[1:]); signErr == nil {
			return id, ch, nil
		}
	}
	return ID{}, nil, refuseErr(ReasonUntrusted, signErr, "peer %s", id)
}

// checkLeaf holds a peer's certificate to the X509-SVID rules for leaves
// and returns its ID.
func checkLeaf(leaf *x509.Certificate, now time.Time) (ID, error) {
	switch {
	case now.Before(leaf.NotBefore):
		return ID{}, refuse(ReasonLeafNotYetValid, "valid from %s, now %s", leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.After(leaf.NotAfter):
		return ID{}, refuse(ReasonLeafExpired, "expired at %s, now %s", leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case leaf.IsCA:
		return ID{}, refuse(ReasonLeafIsCA, "%s", describeCert(leaf))
	case leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 || leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0:
		return ID{}, refuse(ReasonLeafKeyUsage, "key usage %#x of %s", leaf.KeyUsage, describeCert(leaf))
	case !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth):
		return ID{}, refuse(ReasonLeafKeyUsage, "%s lacks serverAuth or clientAuth", describeCert(leaf))
	}
	return leafID(leaf)
}

// leafID is the ID in a certificate's one URI SAN, read from the raw
// extension (see parseSAN). Other kinds of SAN are left alone, as the
// X509-SVID standard allows.
//
// crypto/x509 must have read the same one URI: its reading is what name
// constraints were checked against while the chain was verified, so a name
// our parser finds and crypto/x509 does not (or reads otherwise) would be
// an identity no constraint ever saw.
func leafID(leaf *x509.Certificate) (ID, error) {
	var uris []string
	for _, ext := range leaf.Extensions {
		if ext.Id.String() != oidSubjectAltName {
			continue
		}
		names, err := parseSAN(ext.Value)
		if err != nil {
			return ID{}, refuseErr(ReasonPeerMalformed, err, "subjectAltName of %s", describeCert(leaf))
		}
		for _, n := range names {
			if n.Tag == sanURI {
				uris = append(uris, string(n.Bytes))
			}
		}
	}
	if len(uris) != 1 {
		return ID{}, refuse(ReasonLeafURICount, "%d URI SANs in %s", len(uris), describeCert(leaf))
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != uris[0] {
		return ID{}, refuse(ReasonLeafID, "URI SAN %q of %s is not what crypto/x509 reads (%v)", uris[0], describeCert(leaf), leaf.URIs)
	}
	id, err := ParseID(uris[0])
	if err != nil {
		return ID{}, refuseErr(ReasonLeafID, err, "%s", describeCert(leaf))
	}
	return id, nil
}

// checkSigners holds the signing certificates of a verified chain to the
// X509-SVID rules: CA with keyCertSign.
func checkSigners(signers []*x509.Certificate) error {
	for _, c := range signers {
		if err := checkSigningCert("signing certificate", c); err != nil {
			return err
		}
	}
	return nil
}
