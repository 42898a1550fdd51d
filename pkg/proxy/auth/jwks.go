package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// Key is one verification key of a JWKS.
type Key struct {
	// ID is the kid; tokens name their key with it.
	ID string
	// Alg is the algorithm the key is for: RS256 or ES256.
	Alg string
	// Public is an *rsa.PublicKey or an *ecdsa.PublicKey on P-256.
	Public crypto.PublicKey
}

// KeySet is a parsed JSON Web Key Set (RFC 7517), reduced to the keys the
// proxy accepts: RSA keys for RS256 and P-256 EC keys for ES256, meant for
// signatures. Other keys (encryption keys, other curves, symmetric keys)
// are skipped, not errors, so one JWKS can serve several kinds of clients.
// Of a key only kty, kid, use, alg and the public members (n, e; crv, x, y)
// are read: a private key yields its public part, its private members
// never read, and certificate members (x5c, x5t, x5u) are neither read nor
// checked. The tests hold this to RFC 7517's example keys.
type KeySet struct {
	Keys []Key
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// MinRSABits rejects RSA keys too short to trust.
const MinRSABits = 2048

// ParseJWKS parses a JWKS document. It fails when the document is not a
// JWKS or when none of its keys is usable.
func ParseJWKS(data []byte) (*KeySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	ks := &KeySet{}
	var skipped []error
	for i, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			skipped = append(skipped, fmt.Errorf("keys[%d]: %w", i, err))
			continue
		}
		key, err := k.parse()
		if err != nil {
			skipped = append(skipped, fmt.Errorf("keys[%d] (kid %q): %w", i, k.Kid, err))
			continue
		}
		ks.Keys = append(ks.Keys, key)
	}
	if len(ks.Keys) == 0 {
		return nil, fmt.Errorf("no usable RS256 or ES256 signing key in the JWKS (%d keys): %w", len(doc.Keys), errors.Join(skipped...))
	}
	return ks, nil
}

func (k jwk) parse() (Key, error) {
	if k.Use != "" && k.Use != "sig" {
		return Key{}, fmt.Errorf("use %q is not sig", k.Use)
	}
	switch k.Kty {
	case "RSA":
		if k.Alg != "" && k.Alg != "RS256" {
			return Key{}, fmt.Errorf("alg %q is not accepted", k.Alg)
		}
		n, err := b64int(k.N)
		if err != nil {
			return Key{}, fmt.Errorf("n: %w", err)
		}
		e, err := b64int(k.E)
		if err != nil {
			return Key{}, fmt.Errorf("e: %w", err)
		}
		if n.BitLen() < MinRSABits {
			return Key{}, fmt.Errorf("RSA key of %d bits is shorter than %d", n.BitLen(), MinRSABits)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return Key{}, errors.New("bad RSA exponent")
		}
		return Key{ID: k.Kid, Alg: "RS256", Public: &rsa.PublicKey{N: n, E: int(e.Int64())}}, nil
	case "EC":
		if k.Crv != "P-256" {
			return Key{}, fmt.Errorf("curve %q is not P-256", k.Crv)
		}
		if k.Alg != "" && k.Alg != "ES256" {
			return Key{}, fmt.Errorf("alg %q is not accepted", k.Alg)
		}
		x, err := b64fixed(k.X, 32)
		if err != nil {
			return Key{}, fmt.Errorf("x: %w", err)
		}
		y, err := b64fixed(k.Y, 32)
		if err != nil {
			return Key{}, fmt.Errorf("y: %w", err)
		}
		// ecdh's parser checks that the point is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return Key{}, err
		}
		return Key{ID: k.Kid, Alg: "ES256", Public: pub}, nil
	default:
		return Key{}, fmt.Errorf("key type %q is not RSA or EC", k.Kty)
	}
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("not base64url")
	}
	return new(big.Int).SetBytes(b), nil
}

func b64fixed(s string, n int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("not %d bytes of base64url", n)
	}
	return b, nil
}

// lookup finds the key for a token's kid and alg. Without a kid, the only
// key of that alg is used; several make the token ambiguous.
func (ks *KeySet) lookup(kid, alg string) (crypto.PublicKey, error) {
	var found []Key
	for _, k := range ks.Keys {
		if k.Alg == alg && (kid == "" || k.ID == kid) {
			found = append(found, k)
		}
	}
	switch {
	case len(found) == 0:
		return nil, errUnknownKey
	case len(found) > 1 && kid == "":
		return nil, errors.New("token names no key (kid) and several keys match")
	}
	return found[0].Public, nil
}

var errUnknownKey = errors.New("no key in the JWKS matches the token's kid and alg")
