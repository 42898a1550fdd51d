package identity

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// PEM block types the package reads and writes.
const (
	pemCertificate = "CERTIFICATE"
	pemPKCS8Key    = "PRIVATE KEY"
	pemSEC1Key     = "EC PRIVATE KEY"
	pemPKCS1Key    = "RSA PRIVATE KEY"
)

// parseCertificatesPEM reads every CERTIFICATE block of data, in order.
// field names the Secret key or file in errors. Blocks of other types are
// an error rather than skipped: a key pasted into ca.crt is a mistake the
// user should hear about.
func parseCertificatesPEM(field string, data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemCertificate {
			return nil, fmt.Errorf("%s: PEM block %d is %q, want %q", field, n, block.Type, pemCertificate)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", field, n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no %s PEM block", field, pemCertificate)
	}
	return certs, nil
}

// parseKeyPEM reads the one private key of data: PKCS #8, SEC 1 (EC) or
// PKCS #1 (RSA), the shapes cert-manager and openssl write.
func parseKeyPEM(field string, data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", field)
	}
	var key any
	var err error
	switch block.Type {
	case pemPKCS8Key:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case pemSEC1Key:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case pemPKCS1Key:
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: PEM block is %q, want %q, %q or %q", field, block.Type, pemPKCS8Key, pemSEC1Key, pemPKCS1Key)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: a %T cannot sign", field, key)
	}
	return signer, nil
}

// encodeCertificatesPEM writes DER certificates as PEM, in order.
func encodeCertificatesPEM(ders ...[]byte) []byte {
	var out []byte
	for _, der := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})...)
	}
	return out
}

// encodeKeyPEM writes a private key as PKCS #8 PEM.
func encodeKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPKCS8Key, Bytes: der}), nil
}
