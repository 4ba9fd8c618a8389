// Command tokengen writes a JWKS with a fresh P-256 key and prints an
// ES256 token signed with it, for benchmarks and manual tests of the
// identity stage:
//
//	go run ./bench/tokengen -jwks /tmp/jwks.json -iss https://id.shop.local -aud shop -sub user-17 -roles admin
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	jwks := flag.String("jwks", "jwks.json", "where to write the key set")
	iss := flag.String("iss", "https://id.shop.local", "issuer")
	aud := flag.String("aud", "shop", "audience")
	sub := flag.String("sub", "user-17", "subject")
	roles := flag.String("roles", "", "comma-separated roles")
	ttl := flag.Duration("ttl", time.Hour, "token lifetime")
	flag.Parse()
	if err := run(*jwks, *iss, *aud, *sub, *roles, *ttl); err != nil {
		fmt.Fprintln(os.Stderr, "tokengen:", err)
		os.Exit(1)
	}
}

func run(jwksPath, iss, aud, sub, roles string, ttl time.Duration) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	enc := base64.RawURLEncoding
	pt := func(b []byte) string { return enc.EncodeToString(b) }
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		return err
	}
	raw := pub.Bytes() // 0x04 || X || Y
	set := map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "kid": "bench-1", "use": "sig", "alg": "ES256",
		"x": pt(raw[1:33]), "y": pt(raw[33:])}}}
	b, _ := json.Marshal(set)
	if err := os.WriteFile(jwksPath, b, 0o644); err != nil {
		return err
	}
	now := time.Now()
	claims := map[string]any{"iss": iss, "aud": aud, "sub": sub, "azp": "bench", "scope": "cart orders",
		"iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	if roles != "" {
		claims["roles"] = strings.Split(roles, ",")
	}
	h, _ := json.Marshal(map[string]any{"alg": "ES256", "typ": "JWT", "kid": "bench-1"})
	c, _ := json.Marshal(claims)
	in := pt(h) + "." + pt(c)
	sum := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		return err
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	fmt.Println(in + "." + pt(sig))
	return nil
}
