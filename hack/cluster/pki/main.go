// Command pki writes the local cluster's certificate authority, the API
// server's serving certificate, the service-account key pair, and one client
// certificate and kubeconfig per component, into one directory. Files that
// already exist are kept, so running it again is harmless and the cluster's
// identity survives a restart.
//
//	pki -dir DIR -server https://198.18.255.1:16443 -san 198.18.255.1 -san kubernetes ...
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// client is one identity that talks to the API server with a certificate.
type client struct {
	file   string // base name of its kubeconfig (DIR/<file>.kubeconfig)
	user   string
	groups []string
}

// clients are the cluster's components: the default RBAC policy grants the
// component names their permissions; admin gets everything through its group.
// The kubelet's identity names the node, so the node authorizer admits it.
func clients(node string) []client {
	return []client{
		{file: "admin", user: "meshctl-admin", groups: []string{"system:masters"}},
		{file: "kube-controller-manager", user: "system:kube-controller-manager"},
		{file: "kube-scheduler", user: "system:kube-scheduler"},
		{file: "kube-proxy", user: "system:kube-proxy"},
		{file: "apiserver-kubelet-client", user: "kube-apiserver-kubelet-client", groups: []string{"system:masters"}},
		{file: "kubelet", user: "system:node:" + node, groups: []string{"system:nodes"}},
	}
}

type sans []string

func (s *sans) String() string     { return fmt.Sprint(*s) }
func (s *sans) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var (
		dir, server, node string
		serverSANs        sans
	)
	flag.StringVar(&dir, "dir", "", "directory for the files")
	flag.StringVar(&server, "server", "", "API server URL the kubeconfigs name")
	flag.StringVar(&node, "node", "", "node name; its kubelet gets the identity system:node:<node>")
	flag.Var(&serverSANs, "san", "IP or DNS name of the API server certificate (repeatable)")
	flag.Parse()
	if dir == "" || server == "" || node == "" || len(serverSANs) == 0 {
		fmt.Fprintln(os.Stderr, "pki: -dir, -server, -node and -san are required")
		os.Exit(2)
	}
	if err := run(dir, server, node, serverSANs); err != nil {
		fmt.Fprintln(os.Stderr, "pki:", err)
		os.Exit(1)
	}
}

func run(dir, server, node string, serverSANs []string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, caKey, err := loadOrCreateCA(dir)
	if err != nil {
		return err
	}
	if err := ensureCert(dir, "apiserver", ca, caKey, pkix.Name{CommonName: "kube-apiserver"}, serverSANs, x509.ExtKeyUsageServerAuth); err != nil {
		return err
	}
	if err := ensureKey(filepath.Join(dir, "sa")); err != nil {
		return err
	}
	for _, c := range clients(node) {
		name := pkix.Name{CommonName: c.user, Organization: c.groups}
		if err := ensureCert(dir, c.file, ca, caKey, name, nil, x509.ExtKeyUsageClientAuth); err != nil {
			return err
		}
		if err := writeKubeconfig(dir, c.file, server); err != nil {
			return err
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	crtPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if !exists(crtPath) || !exists(keyPath) {
		key, keyPEM, err := newKey()
		if err != nil {
			return nil, nil, err
		}
		now := time.Now()
		tmpl := &x509.Certificate{
			SerialNumber:          serial(),
			Subject:               pkix.Name{CommonName: "meshctl-local-cluster-ca"},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.AddDate(10, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, nil, err
		}
		if err := writeFile(keyPath, keyPEM); err != nil {
			return nil, nil, err
		}
		if err := writeFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
			return nil, nil, err
		}
	}
	crt, err := readCert(crtPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, nil, fmt.Errorf("%s: no PEM block", keyPath)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	ecKey, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an ECDSA key", keyPath)
	}
	return crt, ecKey, nil
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	crt, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return crt, nil
}

// ensureCert writes DIR/<base>.crt and .key signed by the CA, unless both exist.
func ensureCert(dir, base string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, subject pkix.Name, altNames []string, usage x509.ExtKeyUsage) error {
	crtPath, keyPath := filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	if exists(crtPath) && exists(keyPath) {
		return nil
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	for _, n := range altNames {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("%s: %w", base, err)
	}
	if err := writeFile(keyPath, keyPEM); err != nil {
		return err
	}
	return writeFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// ensureKey writes the service-account signing key BASE.key and BASE.pub.
func ensureKey(base string) error {
	if exists(base+".key") && exists(base+".pub") {
		return nil
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writeFile(base+".key", keyPEM); err != nil {
		return err
	}
	return writeFile(base+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
}

// writeKubeconfig writes DIR/<base>.kubeconfig with the certificate embedded,
// so that the file alone is enough to reach the cluster.
func writeKubeconfig(dir, base, server string) error {
	read := func(name string) (string, error) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		return base64.StdEncoding.EncodeToString(data), err
	}
	ca, err1 := read("ca.crt")
	crt, err2 := read(base + ".crt")
	key, err3 := read(base + ".key")
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	const tmpl = `apiVersion: v1
kind: Config
clusters:
- name: meshctl-local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: meshctl-local
  context:
    cluster: meshctl-local
    user: %s
current-context: meshctl-local
`
	return writeFile(filepath.Join(dir, base+".kubeconfig"), fmt.Appendf(nil, tmpl, server, ca, base, crt, key, base))
}

// writeFile writes atomically, so a crash never leaves half a key behind.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, fs.FileMode(0o600)); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
