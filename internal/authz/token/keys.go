package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"strings"
)

// algInfo is what an algorithm needs of its key.
type algInfo struct {
	kty  string // RSA, EC, OKP, oct
	crv  string // EC and OKP curve
	hash crypto.Hash
	pss  bool
}

// algorithms are the JWS algorithms Vigil verifies (RFC 7518, RFC 8037).
var algorithms = map[string]algInfo{
	"RS256": {kty: "RSA", hash: crypto.SHA256},
	"RS384": {kty: "RSA", hash: crypto.SHA384},
	"RS512": {kty: "RSA", hash: crypto.SHA512},
	"PS256": {kty: "RSA", hash: crypto.SHA256, pss: true},
	"PS384": {kty: "RSA", hash: crypto.SHA384, pss: true},
	"PS512": {kty: "RSA", hash: crypto.SHA512, pss: true},
	"ES256": {kty: "EC", crv: "P-256", hash: crypto.SHA256},
	"ES384": {kty: "EC", crv: "P-384", hash: crypto.SHA384},
	"ES512": {kty: "EC", crv: "P-521", hash: crypto.SHA512},
	"EdDSA": {kty: "OKP", crv: "Ed25519"},
	"HS256": {kty: "oct", hash: crypto.SHA256},
	"HS384": {kty: "oct", hash: crypto.SHA384},
	"HS512": {kty: "oct", hash: crypto.SHA512},
}

// minRSABits is the smallest RSA modulus a key set may hold.
const minRSABits = 2048

// key is one verification key of an issuer's set.
type key struct {
	kid string
	kty string
	crv string
	alg string // the JWK's alg: when set, the only algorithm it verifies
	id  string // kty and a hash of the key material, to see keys go away
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
	ed  ed25519.PublicKey
	oct []byte
}

// fits reports whether k may verify a token signed with alg: the key
// type and curve must be the algorithm's, and a key that names its alg
// verifies that one only (RFC 7517 §4.4). An RSA key is never an HMAC
// secret, so HS256 "signed with the public key" never verifies.
func (k *key) fits(alg string) bool {
	a, ok := algorithms[alg]
	if !ok || a.kty != k.kty || a.crv != k.crv {
		return false
	}
	return k.alg == "" || k.alg == alg
}

// verify checks sig over input with alg; the caller has checked fits.
func (k *key) verify(alg, input string, sig []byte) bool {
	a := algorithms[alg]
	switch k.kty {
	case "OKP":
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, []byte(input), sig)
	case "oct":
		m := hmac.New(hasher(a.hash), k.oct)
		m.Write([]byte(input))
		return hmac.Equal(m.Sum(nil), sig)
	}
	h := a.hash.New()
	h.Write([]byte(input))
	sum := h.Sum(nil)
	switch k.kty {
	case "RSA":
		if a.pss {
			return rsa.VerifyPSS(k.rsa, a.hash, sum, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return rsa.VerifyPKCS1v15(k.rsa, a.hash, sum, sig) == nil
	case "EC":
		// JWS ECDSA signatures are R || S, each the curve's size
		// (RFC 7518 §3.4), never DER.
		n := (k.ec.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return false
		}
		r := new(big.Int).SetBytes(sig[:n])
		s := new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(k.ec, sum, r, s)
	}
	return false
}

func hasher(h crypto.Hash) func() hash.Hash {
	switch h {
	case crypto.SHA384:
		return sha512.New384
	case crypto.SHA512:
		return sha512.New
	}
	return sha256.New
}

// keySet is an issuer's keys at one moment; it is never modified once
// published.
type keySet struct {
	keys  []*key
	byKid map[string][]*key
}

func (s *keySet) ids() map[string]bool {
	m := make(map[string]bool, len(s.keys))
	for _, k := range s.keys {
		m[k.id] = true
	}
	return m
}

// jwkJSON is a JWK's members Vigil reads.
type jwkJSON struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	K      string   `json:"k"`
	D      string   `json:"d"`
}

// parseJWKS reads a JWK Set. Keys that cannot verify signatures (use
// enc, key_ops without verify, unsupported types, weak RSA) are skipped
// and reported in skipped; symmetric (oct) keys are kept only when
// allowOct. An error means the document is not a JWK Set at all.
func parseJWKS(b []byte, allowOct bool) (set *keySet, skipped []string, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New("not a JWK Set: no \"keys\" member")
	}
	set = &keySet{byKid: map[string][]*key{}}
	for i, raw := range doc.Keys {
		var j jwkJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		k, err := parseJWK(&j, allowOct)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, j.Kid, err))
			continue
		}
		set.keys = append(set.keys, k)
		if k.kid != "" {
			set.byKid[k.kid] = append(set.byKid[k.kid], k)
		}
	}
	return set, skipped, nil
}

func parseJWK(j *jwkJSON, allowOct bool) (*key, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", j.Use)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return nil, errors.New("key_ops does not include verify")
	}
	if j.Alg != "" {
		if _, ok := algorithms[j.Alg]; !ok {
			return nil, fmt.Errorf("alg %q is not supported", j.Alg)
		}
	}
	k := &key{kid: j.Kid, kty: j.Kty, alg: j.Alg}
	var material []byte
	switch j.Kty {
	case "RSA":
		n, err1 := keyBytes(j.N)
		e, err2 := keyBytes(j.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("RSA key: bad n or e")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: at least %d required", pub.N.BitLen(), minRSABits)
		}
		if pub.E < 3 || pub.E%2 == 0 {
			return nil, errors.New("RSA key: bad public exponent")
		}
		k.rsa = pub
		material = append(n, e...)
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("EC curve %q is not supported", j.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err1 := keyBytes(j.X)
		y, err2 := keyBytes(j.Y)
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("EC key: bad x or y")
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("EC key: %v", err)
		}
		k.ec, k.crv = pub, j.Crv
		material = point
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("OKP curve %q is not supported", j.Crv)
		}
		x, err := keyBytes(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("Ed25519 key: bad x")
		}
		k.ed, k.crv = ed25519.PublicKey(x), j.Crv
		material = x
	case "oct":
		if !allowOct {
			return nil, errors.New("symmetric key in a set without HS* algorithms")
		}
		b, err := keyBytes(j.K)
		if err != nil || len(b) < 32 {
			return nil, errors.New("oct key: at least 256 bits required")
		}
		k.oct = b
		material = b
	default:
		return nil, fmt.Errorf("kty %q is not supported", j.Kty)
	}
	if j.D != "" && j.Kty != "oct" {
		return nil, errors.New("the key set holds a private key: publish public keys only")
	}
	if j.Alg != "" && !k.fits(j.Alg) {
		return nil, fmt.Errorf("alg %q does not fit a %s key", j.Alg, j.Kty)
	}
	sum := sha256.Sum256(material)
	k.id = j.Kty + ":" + j.Crv + ":" + hex.EncodeToString(sum[:])
	return k, nil
}

// keyBytes decodes a JWK member. Key material comes from the trusted key
// source, so padding, which some publishers add, is tolerated here.
func keyBytes(s string) ([]byte, error) {
	return b64.DecodeString(strings.TrimRight(s, "="))
}
