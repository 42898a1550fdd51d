// Command jwtgen makes the test key and tokens of the books example's JWT
// authentication: an EC P-256 key pair, its public JWKS for the MeshConfig,
// and ES256 tokens signed with it, the kind the mesh's sidecar accepts.
//
//	go run ./examples/apps/jwtgen -dir DIR [-issuer URL] [-audience books] [-subject demo-reader] [-ttl 24h] [-rotate]
//
// It creates DIR (mode 0700) and writes:
//
//	key.pem        the private key, PKCS #8 PEM, mode 0600
//	jwks.json      the public key as a JWKS, with its kid (RFC 7638 thumbprint)
//	token          a valid JWT: iss, aud, sub, iat, nbf, exp; kid in the header
//	token-bad      the same claims and kid signed by another key, thrown away
//	token-expired  a token that expired an hour ago
//
// An existing key.pem is reused, so the JWKS a running mesh holds stays
// valid and only the tokens are new; -rotate makes a new key. The private
// key never needs to leave DIR: the mesh only ever gets jwks.json.
// examples/books/jwt.sh wraps it.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The files jwtgen writes in its directory.
const (
	KeyFile          = "key.pem"
	JWKSFile         = "jwks.json"
	TokenFile        = "token"
	BadTokenFile     = "token-bad"
	ExpiredTokenFile = "token-expired"
)

// Defaults of the flags: what examples/books/jwt.sh and the MeshConfig
// settings it prints use.
const (
	DefaultIssuer   = "https://issuer.books.example"
	DefaultAudience = "books"
	DefaultSubject  = "demo-reader"
	DefaultTTL      = 24 * time.Hour
)

// options are the command line.
type options struct {
	dir      string
	issuer   string
	audience string
	subject  string
	ttl      time.Duration
	rotate   bool
}

func main() {
	logger := log.New(os.Stderr, "jwtgen: ", 0)
	o, err := parseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		logger.Print(err)
		os.Exit(2)
	}
	if err := generate(o, time.Now(), logger); err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("jwtgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "dir", "", "directory to write the key and tokens in (required)")
	fs.StringVar(&o.issuer, "issuer", DefaultIssuer, "iss claim; the MeshConfig's auth.jwt.issuer")
	fs.StringVar(&o.audience, "audience", DefaultAudience, "aud claim; one of the MeshConfig's auth.jwt.audiences")
	fs.StringVar(&o.subject, "subject", DefaultSubject, "sub claim: who the token speaks for")
	fs.DurationVar(&o.ttl, "ttl", DefaultTTL, "how long the token is valid")
	fs.BoolVar(&o.rotate, "rotate", false, "make a new key even if DIR has one")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args())
	case o.dir == "":
		return o, errors.New("-dir is required: where to write the key and tokens")
	case o.issuer == "":
		return o, errors.New("-issuer must not be empty: the mesh requires an issuer")
	case o.ttl <= 0:
		return o, fmt.Errorf("-ttl %s: want a positive duration such as 24h", o.ttl)
	}
	return o, nil
}

// generate writes the files of the package comment into o.dir.
func generate(o options, now time.Time, logger *log.Logger) error {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	key, reused, err := loadOrCreateKey(filepath.Join(o.dir, KeyFile), o.rotate)
	if err != nil {
		return err
	}
	kid, jwks, err := publicJWKS(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(o.dir, JWKSFile), append(jwks, '\n'), 0o644); err != nil {
		return err
	}
	// Another key, thrown away once it has signed: its token names the real
	// key's kid, so the proxy finds a key and the signature fails.
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	valid := claims(o, now.Add(-time.Minute), now.Add(o.ttl))
	expired := claims(o, now.Add(-2*time.Hour), now.Add(-time.Hour))
	for _, t := range []struct {
		file   string
		claims jwt.RegisteredClaims
		key    *ecdsa.PrivateKey
	}{
		{TokenFile, valid, key},
		{BadTokenFile, valid, other},
		{ExpiredTokenFile, expired, key},
	} {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, t.claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(t.key)
		if err != nil {
			return fmt.Errorf("signing %s: %w", t.file, err)
		}
		// Tokens are credentials: owner-only, like the key.
		if err := writeFile(filepath.Join(o.dir, t.file), []byte(s+"\n"), 0o600); err != nil {
			return err
		}
	}
	how := "new key"
	if reused {
		how = "reused key"
	}
	logger.Printf("%s (kid %s) in %s; tokens for sub %q, aud %q, iss %q, valid until %s",
		how, kid, o.dir, o.subject, o.audience, o.issuer, valid.ExpiresAt.UTC().Format(time.RFC3339))
	return nil
}

// claims are a token's claims, valid from iat (and nbf) until exp.
func claims(o options, iat, exp time.Time) jwt.RegisteredClaims {
	c := jwt.RegisteredClaims{
		Issuer:    o.issuer,
		Subject:   o.subject,
		IssuedAt:  jwt.NewNumericDate(iat),
		NotBefore: jwt.NewNumericDate(iat),
		ExpiresAt: jwt.NewNumericDate(exp),
	}
	if o.audience != "" {
		c.Audience = jwt.ClaimStrings{o.audience}
	}
	return c
}

// loadOrCreateKey reads the P-256 key at path, or makes and writes one when
// there is none or rotate is set. It reports whether the key was reused.
func loadOrCreateKey(path string, rotate bool) (*ecdsa.PrivateKey, bool, error) {
	if !rotate {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			key, err := parseKey(b)
			if err != nil {
				return nil, false, fmt.Errorf("%s: %w (remove it or pass -rotate to make a new key)", path, err)
			}
			return key, true, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, false, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, err
	}
	if err := writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, false, err
	}
	return key, false, nil
}

func parseKey(pemBytes []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PKCS #8 PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("not an EC P-256 key")
	}
	return key, nil
}

// jwk is a public EC key as a JSON Web Key (RFC 7517, RFC 7518 §6.2).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// publicJWKS returns the key's kid and a one-key JWKS, compact JSON so that
// it can be passed on a command line.
func publicJWKS(pub *ecdsa.PublicKey) (string, []byte, error) {
	point, err := pub.Bytes() // 0x04 || X || Y, 32 bytes each on P-256
	if err != nil {
		return "", nil, err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	x, y := b64(point[1:33]), b64(point[33:65])
	// The RFC 7638 thumbprint: the SHA-256 of the required members, in
	// lexical order, without spaces. It names the key, whoever computes it.
	thumb := sha256.Sum256(fmt.Appendf(nil, `{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, x, y))
	kid := b64(thumb[:])
	doc, err := json.Marshal(map[string][]jwk{"keys": {{Kty: "EC", Crv: "P-256", X: x, Y: y, Use: "sig", Alg: "ES256", Kid: kid}}})
	return kid, doc, err
}

// writeFile replaces path atomically, so a reader never sees half a key.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
