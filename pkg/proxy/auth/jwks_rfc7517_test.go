package auth

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
)

// The examples of RFC 7517's appendices, typed from the RFC into
// testdata/rfc7517 (line breaks inside values removed, as the RFC says they
// are for display only). The values below are typed again, from the RFC,
// and decoded here without the reader's helpers.
const (
	// A.1 and A.2: the EC key (kid "1") and the RSA key (kid "2011-04-29").
	rfcECX  = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
	rfcECY  = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
	rfcRSAN = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	// B: the RSA key (kid "1b94c") of the x5c example.
	rfcX5CN = "vrjOfz9Ccdgx5nQudyhdoR17V-IubWMeOZCwX_jj0hgAsz2J_pqYW08PLbK_PdiVGKPrqzmDIsLI7sA25VEnHU1uCLNwBuUiCO11_-7dYbsr4iJmG0Qu2j8DsVyT1azpJC_NG84Ty5KKthuCaPod7iI7w0LK9orSMhBEwwZDCxTWq4aYWAchc8t-emd9qOvWtVMDC2BXksRngh6X5bUYLy6AyHKvj-nUy1wgzjYQDwHMTplCoLtU-o-8SNnZ1tmRoGE9uJkBLdh5gFENabWnU5m1ZqZPdwS-qo-meMvVfJb6jJVWRpl2SUtCnYG2C32qvbWbjZ_jBPD5eunqsIo1vQ"
	// e of every RSA example: AQAB.
	rfcRSAE = 65537
)

// TestRFC7517A1PublicKeys: the RSA key parses to exactly its n and e. The
// EC key says "use":"enc", and ParseJWKS skips keys not meant for
// signatures; once that member is removed, it parses to exactly its x and
// y on P-256.
func TestRFC7517A1PublicKeys(t *testing.T) {
	doc := rfcDocument(t, "a1-public-keys.json")
	ks, err := ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.Keys) != 1 {
		t.Fatalf("%d keys, want only the RSA key (the EC key is for encryption): %+v", len(ks.Keys), ks.Keys)
	}
	assertRFCRSAKey(t, ks.Keys[0], "2011-04-29", rfcRSAN)

	ks, err = ParseJWKS(editKeys(t, doc, func(k map[string]any) { delete(k, "use") }))
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.Keys) != 2 {
		t.Fatalf("without use, %d keys, want 2: %+v", len(ks.Keys), ks.Keys)
	}
	assertRFCECKey(t, ks.Keys[0])
	assertRFCRSAKey(t, ks.Keys[1], "2011-04-29", rfcRSAN)
}

// TestRFC7517A2PrivateKeysYieldTheirPublicParts: ParseJWKS reads only the
// public members, so the private examples yield the same keys as the
// public ones (public key types, never private ones), and garbage in every
// private member changes nothing.
func TestRFC7517A2PrivateKeysYieldTheirPublicParts(t *testing.T) {
	doc := rfcDocument(t, "a2-private-keys.json")
	assertRFCPrivateKeyConsistent(t, doc)
	private := []string{"d", "p", "q", "dp", "dq", "qi"}
	for name, doc := range map[string][]byte{
		"as in the RFC": doc,
		"private members garbled": editKeys(t, doc, func(k map[string]any) {
			for _, m := range private {
				if _, ok := k[m]; ok {
					k[m] = "!not base64url!"
				}
			}
		}),
	} {
		t.Run(name, func(t *testing.T) {
			ks, err := ParseJWKS(doc)
			if err != nil {
				t.Fatal(err)
			}
			if len(ks.Keys) != 1 {
				t.Fatalf("%d keys, want only the RSA key (the EC key is for encryption)", len(ks.Keys))
			}
			assertRFCRSAKey(t, ks.Keys[0], "2011-04-29", rfcRSAN)
			ks, err = ParseJWKS(editKeys(t, doc, func(k map[string]any) { delete(k, "use") }))
			if err != nil || len(ks.Keys) != 2 {
				t.Fatalf("without use: %v, %+v; want both keys", err, ks)
			}
			assertRFCECKey(t, ks.Keys[0])
		})
	}
}

// TestRFC7517A3SymmetricKeysAreSkipped: "oct" keys are skipped, not
// errors; a set of nothing else has no usable key.
func TestRFC7517A3SymmetricKeysAreSkipped(t *testing.T) {
	doc := rfcDocument(t, "a3-symmetric-keys.json")
	_, err := ParseJWKS(doc)
	if err == nil || !strings.Contains(err.Error(), "no usable") ||
		!strings.Contains(err.Error(), `keys[0] (kid ""): key type "oct"`) ||
		!strings.Contains(err.Error(), `keys[1] (kid "HMAC key used in JWS spec Appendix A.1 example"): key type "oct"`) {
		t.Fatalf("error %v; want no usable key, naming both oct keys", err)
	}
	var a3, a1 struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(doc, &a3) != nil || json.Unmarshal(rfcDocument(t, "a1-public-keys.json"), &a1) != nil {
		t.Fatal("testdata is not JSON")
	}
	mixed, _ := json.Marshal(map[string]any{"keys": append(a3.Keys, a1.Keys...)})
	ks, err := ParseJWKS(mixed)
	if err != nil || len(ks.Keys) != 1 {
		t.Fatalf("A.3's keys with A.1's: %v, %+v; want the RSA key alone", err, ks)
	}
	assertRFCRSAKey(t, ks.Keys[0], "2011-04-29", rfcRSAN)
}

// TestRFC7517BX5CIsNotRead: ParseJWKS takes an RSA key from n and e and
// does not read x5c (nor check the chain): the key parses to n and e, which
// are the certificate's key, and a garbled x5c changes nothing.
func TestRFC7517BX5CIsNotRead(t *testing.T) {
	var key map[string]any
	if err := json.Unmarshal(rfcDocument(t, "b-x5c.json"), &key); err != nil {
		t.Fatal(err)
	}
	chain := key["x5c"].([]any)
	der, err := base64.StdEncoding.DecodeString(chain[0].(string))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || pub.N.Cmp(rfcInt(t, rfcX5CN)) != 0 || pub.E != rfcRSAE {
		t.Fatalf("the x5c certificate's key is not n and e: %v", cert.PublicKey)
	}
	for name, x5c := range map[string]any{"as in the RFC": chain, "garbled": []string{"!not a certificate!"}} {
		t.Run(name, func(t *testing.T) {
			key["x5c"] = x5c
			doc, _ := json.Marshal(map[string]any{"keys": []any{key}})
			ks, err := ParseJWKS(doc)
			if err != nil || len(ks.Keys) != 1 {
				t.Fatalf("%v, %+v; want one key", err, ks)
			}
			assertRFCRSAKey(t, ks.Keys[0], "1b94c", rfcX5CN)
		})
	}
}

func rfcDocument(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc7517/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rfcInt decodes a base64url value of the RFC as a big-endian integer.
func rfcInt(t *testing.T, s string) *big.Int {
	t.Helper()
	b, err := base64.URLEncoding.WithPadding(base64.NoPadding).Strict().DecodeString(s)
	if err != nil {
		t.Fatalf("%.20s...: %v", s, err)
	}
	return new(big.Int).SetBytes(b)
}

// editKeys applies edit to every key of a JWKS document.
func editKeys(t *testing.T, doc []byte, edit func(map[string]any)) []byte {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		edit(k)
	}
	out, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertRFCRSAKey(t *testing.T, k Key, kid, n string) {
	t.Helper()
	pub, ok := k.Public.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("key %q is a %T, want *rsa.PublicKey", k.ID, k.Public)
	}
	if k.ID != kid || k.Alg != "RS256" || pub.N.Cmp(rfcInt(t, n)) != 0 || pub.E != rfcRSAE {
		t.Fatalf("RSA key %q (%s): n %x, e %d; want %q, RS256, the RFC's n and e", k.ID, k.Alg, pub.N, pub.E, kid)
	}
}

func assertRFCECKey(t *testing.T, k Key) {
	t.Helper()
	pub, ok := k.Public.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("key %q is a %T, want *ecdsa.PublicKey", k.ID, k.Public)
	}
	point, err := pub.Bytes() // 0x04 || x || y
	want := append(append([]byte{4}, rfcInt(t, rfcECX).FillBytes(make([]byte, 32))...), rfcInt(t, rfcECY).FillBytes(make([]byte, 32))...)
	if k.ID != "1" || k.Alg != "ES256" || pub.Curve != elliptic.P256() || err != nil || !bytes.Equal(point, want) {
		t.Fatalf("EC key %q (%s) on %s: point %x (%v); want \"1\", ES256, P-256 and the RFC's x and y", k.ID, k.Alg, pub.Curve.Params().Name, point, err)
	}
}

// assertRFCPrivateKeyConsistent checks the private examples as typed: the
// RSA key's primes, CRT values and exponent belong to its n and e, and the
// EC key's d makes its x and y. A typo in the testdata fails here, so the
// other tests' "the private parts change nothing" is about the RFC's keys.
func assertRFCPrivateKeyConsistent(t *testing.T, doc []byte) {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("A.2 testdata: %v", err)
	}
	ec, r := set.Keys[0], set.Keys[1]
	d, err := base64.RawURLEncoding.DecodeString(ec["d"])
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := ecdh.P256().NewPrivateKey(d)
	if err != nil {
		t.Fatalf("A.2's EC d: %v", err)
	}
	point := ecPriv.PublicKey().Bytes() // 0x04 || x || y
	if new(big.Int).SetBytes(point[1:33]).Cmp(rfcInt(t, rfcECX)) != 0 || new(big.Int).SetBytes(point[33:]).Cmp(rfcInt(t, rfcECY)) != 0 {
		t.Error("A.2's EC d does not make A.1's x and y")
	}
	n, p, q := rfcInt(t, r["n"]), rfcInt(t, r["p"]), rfcInt(t, r["q"])
	priv := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: n, E: int(rfcInt(t, r["e"]).Int64())},
		D:         rfcInt(t, r["d"]),
		Primes:    []*big.Int{p, q},
	}
	if n.Cmp(rfcInt(t, rfcRSAN)) != 0 || priv.Validate() != nil {
		t.Errorf("A.2's RSA key is not A.1's n with valid private values: %v", priv.Validate())
	}
	one := big.NewInt(1)
	dp := new(big.Int).Mod(priv.D, new(big.Int).Sub(p, one))
	dq := new(big.Int).Mod(priv.D, new(big.Int).Sub(q, one))
	qi := new(big.Int).ModInverse(q, p)
	if dp.Cmp(rfcInt(t, r["dp"])) != 0 || dq.Cmp(rfcInt(t, r["dq"])) != 0 || qi.Cmp(rfcInt(t, r["qi"])) != 0 {
		t.Error("A.2's RSA dp, dq or qi do not follow from d, p and q")
	}
}
