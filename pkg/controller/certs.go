package controller

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"

	certutil "k8s.io/client-go/util/cert"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// Keys of the TLS Secret besides the standard tls.crt and tls.key: the CA
// that signs the serving certificate, and its key, so that every replica and
// every restart issues from the same CA and the caBundle stays valid.
const (
	SecretCAKey    = "ca.crt"
	SecretCAKeyKey = "ca.key"
)

// Default lifetimes. The serving certificate is renewed once a third of its
// life is left (four months before expiry), the CA likewise; both far ahead
// of `meshctl check`'s expiry warning.
const (
	DefaultCertValidity = 365 * 24 * time.Hour
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
)

// Certs provisions the webhook's serving certificate in a Secret of the
// control-plane namespace. The Secret holds the CA too: ca.crt is the CA
// bundle the webhook configuration must trust (the current CA first, then a
// previous one still valid, so that a CA rotation never leaves a replica
// serving a certificate the caBundle does not trust).
type Certs struct {
	// Client reads and writes the Secret.
	Client kubernetes.Interface
	// Namespace and SecretName locate the Secret.
	Namespace, SecretName string
	// MeshName labels a created Secret as the mesh's.
	MeshName string
	// DNSNames are the serving certificate's names: the webhook Service's
	// (service, service.namespace, service.namespace.svc) and any other.
	DNSNames []string
	// IPs are extra IP SANs (tests reach the webhook on 127.0.0.1).
	IPs []net.IP
	// Validity and CAValidity are the lifetimes of new certificates; zero
	// means the defaults.
	Validity, CAValidity time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// ServiceDNSNames are the names the API server may use for a Service.
func ServiceDNSNames(service, namespace string) []string {
	return []string{service, service + "." + namespace, service + "." + namespace + ".svc", service + "." + namespace + ".svc.cluster.local"}
}

// Bundle is the provisioned material.
type Bundle struct {
	// Certificate is the serving certificate with its key.
	Certificate tls.Certificate
	// Leaf is the parsed serving certificate.
	Leaf *x509.Certificate
	// CABundle is the PEM the webhook configuration must trust.
	CABundle []byte
}

func (c *Certs) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Certs) ref() string { return "secret " + c.Namespace + "/" + c.SecretName }

// Ensure returns the serving certificate from the Secret, creating the Secret
// or renewing what is missing, invalid or due (a third of its life left).
// Concurrent replicas race through optimistic concurrency: a loser re-reads
// and uses the winner's certificate.
func (c *Certs) Ensure(ctx context.Context) (*Bundle, error) {
	return c.ensure(ctx, false)
}

// Load returns the serving certificate from the Secret without writing it:
// what a replica that does not lead serves. A certificate due for renewal
// is still served while it is valid, as the leader renews it; a Secret that
// is missing, or holds nothing valid, is an error until the leader has
// repaired it.
func (c *Certs) Load(ctx context.Context) (*Bundle, error) {
	sec, err := c.Client.CoreV1().Secrets(c.Namespace).Get(ctx, c.SecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s: not created yet (the leader creates it)", c.ref())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.ref(), err)
	}
	_, _, cas, err := parseCA(sec.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.ref(), err)
	}
	b, err := c.verifyServing(sec.Data, cas, c.now(), false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.ref(), err)
	}
	return b, nil
}

// Rotate issues a new serving certificate from the Secret's CA now, whatever
// its expiry, and stores it.
func (c *Certs) Rotate(ctx context.Context) (*Bundle, error) {
	return c.ensure(ctx, true)
}

func (c *Certs) ensure(ctx context.Context, force bool) (*Bundle, error) {
	api := c.Client.CoreV1().Secrets(c.Namespace)
	for attempt := 0; ; attempt++ {
		sec, err := api.Get(ctx, c.SecretName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			sec = nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", c.ref(), err)
		}
		var data map[string][]byte
		if sec != nil {
			data = sec.Data
		}
		b, newData, err := c.reconcile(data, force)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.ref(), err)
		}
		if newData == nil {
			return b, nil
		}
		if sec == nil {
			sec = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: c.SecretName, Namespace: c.Namespace, Labels: ownerLabels(c.MeshName)},
				Type:       corev1.SecretTypeTLS,
				Data:       newData,
			}
			_, err = api.Create(ctx, sec, metav1.CreateOptions{})
		} else {
			sec = sec.DeepCopy()
			sec.Data = newData
			_, err = api.Update(ctx, sec, metav1.UpdateOptions{})
		}
		switch {
		case err == nil:
			return b, nil
		case (apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err)) && attempt < 5:
			force = false // another replica wrote first: take its certificate
			continue
		}
		return nil, fmt.Errorf("%s: storing the certificate: %w", c.ref(), err)
	}
}

// reconcile decides from the Secret's data what to serve; newData is nil
// when the data is good as it is.
func (c *Certs) reconcile(data map[string][]byte, force bool) (*Bundle, map[string][]byte, error) {
	now := c.now()
	ca, caKey, cas, caErr := parseCA(data)
	if caErr != nil || due(ca, now) {
		// A new CA. The old one stays in the bundle while it is valid, and a
		// serving certificate it signed is kept until its own renewal: the
		// API server learns the new CA from the caBundle first, long before
		// any replica serves a certificate only the new CA verifies. A CA
		// that does not parse has nothing to keep.
		var err error
		ca, caKey, err = c.newCA(now)
		if err != nil {
			return nil, nil, err
		}
		cas = append([]*x509.Certificate{ca}, slices.DeleteFunc(cas, func(x *x509.Certificate) bool { return !now.Before(x.NotAfter) })...)
		if b, err := c.parseServing(data, cas, now); err == nil && caErr == nil && !force {
			newData, err := encodeSecret(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey], cas, caKey)
			if err != nil {
				return nil, nil, err
			}
			b.CABundle = newData[SecretCAKey]
			return b, newData, nil
		}
		force = true
	}
	if !force {
		if b, err := c.parseServing(data, cas, now); err == nil {
			return b, nil, nil
		}
	}
	certPEM, keyPEM, err := c.newServing(ca, caKey, now)
	if err != nil {
		return nil, nil, err
	}
	newData, err := encodeSecret(certPEM, keyPEM, cas, caKey)
	if err != nil {
		return nil, nil, err
	}
	b, err := c.parseServing(newData, cas, now)
	if err != nil {
		return nil, nil, fmt.Errorf("the certificate just issued does not verify: %w", err)
	}
	return b, newData, nil
}

// encodeSecret is the Secret's data: the serving certificate and key, the CA
// bundle (signing CA first) and the signing CA's key.
func encodeSecret(certPEM, keyPEM []byte, cas []*x509.Certificate, caKey *ecdsa.PrivateKey) (map[string][]byte, error) {
	caKeyDER, err := x509.MarshalECPrivateKey(caKey)
	if err != nil {
		return nil, err
	}
	var bundle bytes.Buffer
	for _, x := range cas {
		_ = pem.Encode(&bundle, &pem.Block{Type: "CERTIFICATE", Bytes: x.Raw})
	}
	return map[string][]byte{
		corev1.TLSCertKey:       certPEM,
		corev1.TLSPrivateKeyKey: keyPEM,
		SecretCAKey:             bundle.Bytes(),
		SecretCAKeyKey:          pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: caKeyDER}),
	}, nil
}

// due reports whether a certificate has less than a third of its life left.
func due(x *x509.Certificate, now time.Time) bool {
	life := x.NotAfter.Sub(x.NotBefore)
	return x.NotAfter.Sub(now) < life/3
}

// parseCA reads the CA (the first certificate of ca.crt) with its key, and
// every certificate of ca.crt.
func parseCA(data map[string][]byte) (*x509.Certificate, *ecdsa.PrivateKey, []*x509.Certificate, error) {
	cas, err := certutil.ParseCertsPEM(data[SecretCAKey])
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", SecretCAKey, err)
	}
	block, _ := pem.Decode(data[SecretCAKeyKey])
	if block == nil {
		return nil, nil, cas, fmt.Errorf("%s: no PEM key", SecretCAKeyKey)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, cas, fmt.Errorf("%s: %w", SecretCAKeyKey, err)
	}
	if !cas[0].IsCA || !key.PublicKey.Equal(cas[0].PublicKey) {
		return nil, nil, cas, fmt.Errorf("%s does not match the first certificate of %s", SecretCAKeyKey, SecretCAKey)
	}
	return cas[0], key, cas, nil
}

// parseServing accepts the stored serving certificate when it verifies
// against the CAs for every name it must carry and is not due.
func (c *Certs) parseServing(data map[string][]byte, cas []*x509.Certificate, now time.Time) (*Bundle, error) {
	return c.verifyServing(data, cas, now, true)
}

// verifyServing accepts the stored serving certificate when it verifies
// against the CAs for every name it must carry, and, with notDue, is not
// due for renewal.
func (c *Certs) verifyServing(data map[string][]byte, cas []*x509.Certificate, now time.Time, notDue bool) (*Bundle, error) {
	cert, err := tls.X509KeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, err
	}
	leaf := cert.Leaf
	if notDue && due(leaf, now) {
		return nil, errors.New("due for renewal")
	}
	roots := x509.NewCertPool()
	for _, x := range cas {
		roots.AddCert(x)
	}
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, name := range c.DNSNames {
		opts.DNSName = name
		if _, err := leaf.Verify(opts); err != nil {
			return nil, err
		}
	}
	for _, ip := range c.IPs {
		opts.DNSName = ip.String()
		if _, err := leaf.Verify(opts); err != nil {
			return nil, err
		}
	}
	return &Bundle{Certificate: cert, Leaf: leaf, CABundle: data[SecretCAKey]}, nil
}

// newKey returns a fresh P-256 key and a random 127-bit serial number for
// the certificate it will sign or be named in.
func newKey() (*ecdsa.PrivateKey, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	return key, sn, nil
}

func (c *Certs) newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, sn, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	validity := c.CAValidity
	if validity == 0 {
		validity = DefaultCAValidity
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "meshctl " + c.MeshName + " webhook CA", Organization: []string{meshconfig.PartOfValue}},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between replicas and the API server
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func (c *Certs) newServing(ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, sn, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	validity := c.Validity
	if validity == 0 {
		validity = DefaultCertValidity
	}
	cn := c.SecretName
	if len(c.DNSNames) > 0 {
		cn = c.DNSNames[0]
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     c.DNSNames,
		IPAddresses:  c.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
