package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testNow is the clock every test judges tokens by.
var testNow = time.Unix(1_800_000_000, 0)

// signer is a test key able to sign and to publish itself as a JWK.
type signer struct {
	kid string
	alg string
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
	ed  ed25519.PrivateKey
	oct []byte
}

var (
	keysOnce sync.Once
	testKeys struct {
		ec1, ec2, rsa1, ed1, attacker, hs1 *signer
	}
)

// keys returns the test keys, generated once per test binary.
func keys() *struct{ ec1, ec2, rsa1, ed1, attacker, hs1 *signer } {
	keysOnce.Do(func() {
		ec := func(kid string) *signer {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			return &signer{kid: kid, alg: "ES256", ec: k}
		}
		testKeys.ec1 = ec("ec1")
		testKeys.ec2 = ec("ec2")
		testKeys.attacker = ec("attacker")
		r, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKeys.rsa1 = &signer{kid: "rsa1", alg: "RS256", rsa: r}
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		testKeys.ed1 = &signer{kid: "ed1", alg: "EdDSA", ed: ed}
		testKeys.hs1 = &signer{kid: "hs1", alg: "HS256", oct: []byte("0123456789abcdef0123456789abcdef")}
	})
	return &testKeys
}

func (s *signer) sign(input string) []byte {
	switch {
	case s.ec != nil:
		h := sha256.Sum256([]byte(input))
		r, ss, err := ecdsa.Sign(rand.Reader, s.ec, h[:])
		if err != nil {
			panic(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		return sig
	case s.rsa != nil:
		h := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPKCS1v15(rand.Reader, s.rsa, crypto.SHA256, h[:])
		if err != nil {
			panic(err)
		}
		return sig
	case s.ed != nil:
		return ed25519.Sign(s.ed, []byte(input))
	}
	return hmacSign(s.oct, input)
}

func hmacSign(secret []byte, input string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return m.Sum(nil)
}

// jwk is the public JWK of s (with its kid, and alg when withAlg).
func (s *signer) jwk(withAlg bool) map[string]any {
	m := map[string]any{"kid": s.kid, "use": "sig"}
	if withAlg {
		m["alg"] = s.alg
	}
	switch {
	case s.ec != nil:
		m["kty"], m["crv"] = "EC", "P-256"
		m["x"] = b64.EncodeToString(s.ec.X.FillBytes(make([]byte, 32)))
		m["y"] = b64.EncodeToString(s.ec.Y.FillBytes(make([]byte, 32)))
	case s.rsa != nil:
		m["kty"] = "RSA"
		m["n"] = b64.EncodeToString(s.rsa.N.Bytes())
		m["e"] = b64.EncodeToString(big.NewInt(int64(s.rsa.E)).Bytes())
	case s.ed != nil:
		m["kty"], m["crv"] = "OKP", "Ed25519"
		m["x"] = b64.EncodeToString(s.ed.Public().(ed25519.PublicKey))
	default:
		m["kty"] = "oct"
		m["k"] = b64.EncodeToString(s.oct)
	}
	return m
}

func jwksJSON(withAlg bool, ss ...*signer) []byte {
	var keys []any
	for _, s := range ss {
		keys = append(keys, s.jwk(withAlg))
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

func writeJWKS(t testing.TB, withAlg bool, ss ...*signer) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, jwksJSON(withAlg, ss...), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// compactToken signs header and payload (JSON text, used verbatim).
func compactToken(s *signer, header, payload string) string {
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	return in + "." + b64.EncodeToString(s.sign(in))
}

// claims is a valid claim set for issuer iss at testNow, with extra
// members merged in (a nil value deletes a member).
func claims(iss string, extra map[string]any) string {
	m := map[string]any{
		"iss": iss, "sub": "alice", "aud": "shop",
		"exp": testNow.Add(time.Hour).Unix(), "iat": testNow.Add(-time.Minute).Unix(),
		"azp": "web-app", "scope": "orders:read orders:write",
		"roles": []string{"customer"},
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// tok is a valid token of s for iss, with extra claims.
func tok(s *signer, iss string, extra map[string]any) string {
	return compactToken(s, fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"JWT"}`, s.alg, s.kid), claims(iss, extra))
}

const (
	issMain  = "https://id.test"
	issEC    = "https://ec.test"
	issMixed = "https://mixed.test"
)

// fileVerifier is a Verifier over three file issuers:
//
//	id.test     ES256, RS256, PS256, EdDSA; keys ec1, rsa1, ed1 (no JWK alg)
//	ec.test     ES256, RS256; key ec2 only
//	mixed.test  RS256, PS256, HS256; keys rsa1 (JWK alg RS256) and hs1
func fileVerifier(t testing.TB, mod func(*Options)) *Verifier {
	t.Helper()
	k := keys()
	o := Options{
		Issuers: []IssuerConfig{
			{Issuer: issMain, JWKSFile: writeJWKS(t, false, k.ec1, k.rsa1, k.ed1), Audiences: []string{"shop", "admin"},
				Algorithms: []string{"ES256", "RS256", "PS256", "EdDSA"}},
			{Issuer: issEC, JWKSFile: writeJWKS(t, false, k.ec2), Algorithms: []string{"ES256", "RS256"}},
			{Issuer: issMixed, JWKSFile: writeJWKS(t, true, k.rsa1, k.hs1), Algorithms: []string{"RS256", "PS256", "HS256"}},
		},
		Now: func() time.Time { return testNow },
	}
	if mod != nil {
		mod(&o)
	}
	v, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
