package dataplane

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
)

// The nginx x2 TLS path: the plain client -> nginx on its localhost ->
// (TLS 1.3, client certificate, pooled) -> nginx in the plain server pod
// -> the app on localhost, as mesh-proxy x2 mTLS but with nginx's OpenSSL.
const (
	nginxTLSHop1Port = 8003
	nginxTLSHop2Port = 8004
	// nginxTLSServerName is the DNS name in hop2's certificate: nginx
	// checks an upstream's certificate against a host name and cannot be
	// told to check a SPIFFE URI instead, so hop2's leaf carries both.
	nginxTLSServerName = "bps.nginx.test"
)

// nginxTLSFiles are the PEM files of the nginx TLS path, all from one mesh
// CA: hop1's client certificate (the chain a proxy holds), hop2's server
// certificate, and the anchor both trust.
type nginxTLSFiles struct {
	dir                           string
	anchor, clientCert, clientKey string
	serverCert, serverKey         string
	clientID, serverID            identity.ID
	clientTLS                     *tls.Certificate
	anchorPool                    *x509.CertPool
}

// newNginxTLSFiles writes the certificates of the nginx TLS path: hop1's is
// a mesh leaf as Issuer.Sign makes it; hop2's is the same kind of leaf
// (ECDSA P-256, the issuer's lifetime and usages, a SPIFFE URI) with
// nginxTLSServerName added, signed by the same issuer.
func newNginxTLSFiles(b testing.TB, ca *identitytest.CA) nginxTLSFiles {
	b.Helper()
	id := func(sa string) identity.ID {
		id, err := identity.NewID(identity.DefaultTrustDomain, meshNamespace, sa)
		if err != nil {
			b.Fatal(err)
		}
		return id
	}
	f := nginxTLSFiles{dir: b.TempDir(), clientID: id("nginx-hop1"), serverID: id("nginx-hop2")}
	write := func(name string, blocks ...*pem.Block) string {
		var data []byte
		for _, blk := range blocks {
			data = append(data, pem.EncodeToMemory(blk)...)
		}
		path := filepath.Join(f.dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
		return path
	}
	certs := func(chain [][]byte) []*pem.Block {
		var blocks []*pem.Block
		for _, der := range chain {
			blocks = append(blocks, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
		return blocks
	}
	keyBlock := func(key any) *pem.Block {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			b.Fatal(err)
		}
		return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}

	f.anchor = write("anchor.pem", &pem.Block{Type: "CERTIFICATE", Bytes: ca.Anchor.Certificate().Raw})
	f.anchorPool = x509.NewCertPool()
	f.anchorPool.AddCert(ca.Anchor.Certificate())

	f.clientTLS = ca.Leaf(b, f.clientID, ca.Now, 0)
	f.clientCert = write("hop1.pem", certs(f.clientTLS.Certificate)...)
	f.clientKey = write("hop1.key", keyBlock(f.clientTLS.PrivateKey))

	// hop2: a mesh leaf, re-signed with the DNS name added.
	mesh := ca.Leaf(b, f.serverID, ca.Now, 0)
	crt, key, _, err := ca.Issuer.SecretData()
	if err != nil {
		b.Fatal(err)
	}
	issuer, err := tls.X509KeyPair(crt, key)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := *mesh.Leaf
	tmpl.DNSNames = []string{nginxTLSServerName}
	tmpl.SubjectKeyId, tmpl.AuthorityKeyId = nil, nil
	tmpl.SerialNumber = new(big.Int).Add(mesh.Leaf.SerialNumber, big.NewInt(1))
	serverKey, err := identity.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca.Issuer.Certificate(), &serverKey.PublicKey, issuer.PrivateKey)
	if err != nil {
		b.Fatal(err)
	}
	f.serverCert = write("hop2.pem", certs(append([][]byte{der}, mesh.Certificate[1:]...))...)
	f.serverKey = write("hop2.key", keyBlock(serverKey))
	return f
}

// startNginxTLSHop1 is hop1 of the nginx TLS path: plain HTTP in, TLS 1.3
// with hop1's client certificate out, the server verified against the
// anchor (chain and name), connections kept (upstream keepalive) and no
// session resumption, as mesh-proxy pools its mutual TLS connections and
// does full handshakes (identity.ServerConfig).
func startNginxTLSHop1(b *testing.B, ns string, f nginxTLSFiles, upstream string) proc {
	b.Helper()
	return runNginx(b, ns, nginxSite{
		listen:   fmt.Sprintf("listen %d;", nginxTLSHop1Port),
		upstream: upstream,
		scheme:   "https",
		proxy: fmt.Sprintf(`proxy_ssl_certificate %s;
			proxy_ssl_certificate_key %s;
			proxy_ssl_trusted_certificate %s;
			proxy_ssl_verify on;
			proxy_ssl_verify_depth 2;
			proxy_ssl_name %s;
			proxy_ssl_protocols TLSv1.3;
			proxy_ssl_session_reuse off;`, f.clientCert, f.clientKey, f.anchor, nginxTLSServerName),
	})
}

// nginxHop2LogFormat is what hop2 logs of each request, read by
// readNginxTLSLog: the proof that the hop was TLS with a verified client
// certificate, and the connection that carried it.
const nginxHop2LogFormat = `'$ssl_protocol $ssl_client_verify $ssl_session_reused $connection $connection_requests $ssl_curve'`

// startNginxTLSHop2 is hop2 of the nginx TLS path: TLS 1.3 in, a client
// certificate required and verified against the anchor, no session
// resumption (tickets or cache); plain HTTP to the app. Its access log
// goes to logPath (on tmpfs: a write there costs what a pipe write does).
func startNginxTLSHop2(b *testing.B, ns string, f nginxTLSFiles, upstream, logPath string) proc {
	b.Helper()
	return runNginx(b, ns, nginxSite{
		listen: fmt.Sprintf(`listen %d ssl;
		ssl_certificate %s;
		ssl_certificate_key %s;
		ssl_client_certificate %s;
		ssl_verify_client on;
		ssl_verify_depth 2;
		ssl_protocols TLSv1.3;
		ssl_session_tickets off;
		ssl_session_cache off;`, nginxTLSHop2Port, f.serverCert, f.serverKey, f.anchor),
		upstream: upstream,
		scheme:   "http",
		log:      logPath + " hop2",
		http:     "log_format hop2 " + nginxHop2LogFormat + ";",
	})
}

// nginxTLSLog is what hop2's access log says so far.
type nginxTLSLog struct {
	requests int
	// conns are the distinct connections that carried them: with
	// session resumption off, one full handshake each.
	conns int
	// notMutual counts requests not over TLS 1.3 with a verified client
	// certificate, or over a resumed session; first is the first such
	// line.
	notMutual int
	first     string
	curves    map[string]int
}

func readNginxTLSLog(b testing.TB, path string) nginxTLSLog {
	b.Helper()
	file, err := os.Open(path)
	if err != nil {
		b.Fatalf("nginx hop2's access log: %v", err)
	}
	defer file.Close()
	l := nginxTLSLog{curves: map[string]int{}}
	conns := map[string]bool{}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		l.requests++
		if len(f) != 6 || f[0] != "TLSv1.3" || f[1] != "SUCCESS" || f[2] != "." {
			if l.notMutual == 0 {
				l.first = sc.Text()
			}
			l.notMutual++
			continue
		}
		if !conns[f[3]] {
			conns[f[3]] = true
			l.curves[f[5]]++
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatalf("nginx hop2's access log: %v", err)
	}
	l.conns = len(conns)
	return l
}

// tmpfsDir is a directory on /dev/shm, removed at the end of the test.
func tmpfsDir(b testing.TB) string {
	b.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "mp-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}
