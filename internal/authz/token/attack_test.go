package token

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func enc(s string) string { return b64.EncodeToString([]byte(s)) }

// TestAttacks feeds the attack suite to a Verifier and checks each token
// is refused for the right reason.
func TestAttacks(t *testing.T) {
	k := keys()
	// The attacker's own JWKS, served where jku/x5u point: it must never
	// be fetched.
	var attackerHits atomic.Int64
	attackerSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attackerHits.Add(1)
		_, _ = w.Write(jwksJSON(false, k.attacker))
	}))
	defer attackerSrv.Close()

	v := fileVerifier(t, nil)
	valid := tok(k.ec1, issMain, nil)
	parts := strings.Split(valid, ".")
	h64, p64, s64 := parts[0], parts[1], parts[2]
	payload := claims(issMain, nil)
	es := `{"alg":"ES256","kid":"ec1"}`

	// none: every spelling, with and without the trailing dot.
	none := func(alg string, dot bool) string {
		s := enc(`{"alg":"`+alg+`","kid":"ec1"}`) + "." + enc(payload)
		if dot {
			s += "."
		}
		return s
	}
	// HS256 with the RSA public key as the HMAC secret (key confusion).
	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa1.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	jwkBytes, _ := json.Marshal(k.rsa1.jwk(true))
	hsWith := func(secret []byte, iss, kid string) string {
		hdr := `{"alg":"HS256"}`
		if kid != "" {
			hdr = `{"alg":"HS256","kid":"` + kid + `"}`
		}
		in := enc(hdr) + "." + enc(claims(iss, nil))
		return in + "." + b64.EncodeToString(hmacSign(secret, in))
	}
	attackerJWK, _ := json.Marshal(k.attacker.jwk(false))
	otherSig := strings.Split(tok(k.ec1, issMain, map[string]any{"sub": "mallory"}), ".")[2]
	big := enc(es) + "." + enc(claims(issMain, map[string]any{"pad": strings.Repeat("x", 9000)})) + "." + s64

	cases := []struct {
		name   string
		token  string
		want   error
		reason string
	}{
		{"alg none", none("none", true), ErrAlgorithm, "alg_none"},
		{"alg None", none("None", true), ErrAlgorithm, "alg_none"},
		{"alg NONE", none("NONE", true), ErrAlgorithm, "alg_none"},
		{"alg nOnE", none("nOnE", true), ErrAlgorithm, "alg_none"},
		{"alg none no dot", none("none", false), ErrSignature, "missing_signature"},
		{"alg NONE no dot", none("NONE", false), ErrSignature, "missing_signature"},
		{"alg none with a signature", none("none", true) + s64, ErrAlgorithm, "alg_none"},
		{"HS256 signed with the RSA public key PEM", hsWith(pubPEM, issMain, "rsa1"), ErrAlgorithm, "alg_not_allowed"},
		{"HS256 signed with the RSA JWK bytes", hsWith(jwkBytes, issMain, "rsa1"), ErrAlgorithm, "alg_not_allowed"},
		{"HS256 with the RSA PEM, HS256 allowed, kid of the RSA key", hsWith(pubPEM, issMixed, "rsa1"), ErrAlgorithm, "alg_key_mismatch"},
		{"HS256 with the RSA JWK, HS256 allowed, kid of the RSA key", hsWith(jwkBytes, issMixed, "rsa1"), ErrAlgorithm, "alg_key_mismatch"},
		{"HS256 with the RSA PEM, HS256 allowed, no kid", hsWith(pubPEM, issMixed, ""), ErrSignature, "bad_signature"},
		{"RS256 against an EC key set, kid of the EC key", compactToken(k.rsa1, `{"alg":"RS256","kid":"ec2"}`, claims(issEC, nil)), ErrAlgorithm, "alg_key_mismatch"},
		{"RS256 against an EC key set, no kid", compactToken(k.rsa1, `{"alg":"RS256"}`, claims(issEC, nil)), ErrAlgorithm, "alg_key_mismatch"},
		{"PS256 with a key whose JWK alg is RS256", compactToken(k.rsa1, `{"alg":"PS256","kid":"rsa1"}`, claims(issMixed, nil)), ErrAlgorithm, "alg_key_mismatch"},
		{"alg not in the allow-list (ES384)", compactToken(k.ec1, `{"alg":"ES384","kid":"ec1"}`, payload), ErrAlgorithm, "alg_not_allowed"},
		{"expired beyond leeway", tok(k.ec1, issMain, map[string]any{"exp": testNow.Add(-31 * time.Second).Unix()}), ErrExpired, "expired"},
		{"nbf in the future", tok(k.ec1, issMain, map[string]any{"nbf": testNow.Add(time.Minute).Unix()}), ErrNotYetValid, "not_yet_valid"},
		{"iat in the future", tok(k.ec1, issMain, map[string]any{"iat": testNow.Add(time.Minute).Unix()}), ErrNotYetValid, "issued_in_future"},
		{"wrong iss", tok(k.ec1, "https://evil.test", nil), ErrIssuer, "unknown_issuer"},
		{"iss missing", tok(k.ec1, issMain, map[string]any{"iss": nil}), ErrIssuer, "missing_iss"},
		{"iss of another configured issuer", tok(k.ec1, issEC, nil), ErrUnknownKey, "unknown_kid"},
		{"wrong aud", tok(k.ec1, issMain, map[string]any{"aud": "billing"}), ErrAudience, "wrong_audience"},
		{"wrong aud list", tok(k.ec1, issMain, map[string]any{"aud": []string{"billing", "hr"}}), ErrAudience, "wrong_audience"},
		{"aud missing", tok(k.ec1, issMain, map[string]any{"aud": nil}), ErrAudience, "missing_aud"},
		{"missing exp", tok(k.ec1, issMain, map[string]any{"exp": nil}), ErrExpired, "missing_exp"},
		{"exp as a string", tok(k.ec1, issMain, map[string]any{"exp": fmt.Sprint(testNow.Add(time.Hour).Unix())}), ErrMalformed, "bad_claim"},
		{"unknown kid", compactToken(k.ec1, `{"alg":"ES256","kid":"nope"}`, payload), ErrUnknownKey, "unknown_kid"},
		{"kid path traversal", compactToken(k.ec1, `{"alg":"ES256","kid":"../../etc/passwd"}`, payload), ErrUnknownKey, "unknown_kid"},
		{"kid not a string", compactToken(k.ec1, `{"alg":"ES256","kid":1}`, payload), ErrMalformed, "bad_kid"},
		{"no kid, attacker-signed, one key fits", compactToken(k.attacker, `{"alg":"ES256"}`, claims(issMain, nil)), ErrSignature, "bad_signature"},
		{"jku to the attacker's JWKS", compactToken(k.attacker, `{"alg":"ES256","kid":"attacker","jku":"`+attackerSrv.URL+`"}`, payload), ErrHeader, "jku"},
		{"jku with a legitimate kid", compactToken(k.attacker, `{"alg":"ES256","kid":"ec1","jku":"`+attackerSrv.URL+`"}`, payload), ErrHeader, "jku"},
		{"x5u to the attacker", compactToken(k.attacker, `{"alg":"ES256","kid":"attacker","x5u":"`+attackerSrv.URL+`/cert.pem"}`, payload), ErrHeader, "x5u"},
		{"embedded jwk of the attacker", compactToken(k.attacker, `{"alg":"ES256","jwk":`+string(attackerJWK)+`}`, payload), ErrHeader, "jwk"},
		{"signed by the attacker under a legitimate kid", compactToken(k.attacker, es, payload), ErrSignature, "bad_signature"},
		{"stripped signature, trailing dot", h64 + "." + p64 + ".", ErrSignature, "missing_signature"},
		{"stripped signature, two parts", h64 + "." + p64, ErrSignature, "missing_signature"},
		{"bad base64 in the header", "e!" + h64[2:] + "." + p64 + "." + s64, ErrMalformed, "bad_base64"},
		{"bad base64 in the payload", h64 + "." + p64[:5] + "*" + p64[6:] + "." + s64, ErrMalformed, "bad_base64"},
		{"bad base64 in the signature", h64 + "." + p64 + "." + s64[:5] + "+" + s64[6:], ErrMalformed, "bad_base64"},
		{"padding '=' on the signature", valid + "==", ErrMalformed, "bad_base64"},
		{"padding '=' on the header", enc(`{"alg":"ES256", "kid":"ec1"}`) + "=." + p64 + "." + s64, ErrMalformed, "bad_base64"},
		{"non-canonical base64 in the signature", h64 + "." + p64 + "." + flipLastBits(s64), ErrMalformed, "bad_base64"},
		{"whitespace in the token", h64 + ".\n" + p64 + "." + s64, ErrMalformed, "bad_base64"},
		{"oversized", big, ErrTooLarge, "too_large"},
		{"duplicate alg member", compactToken(k.ec1, `{"alg":"HS256","kid":"ec1","alg":"ES256"}`, payload), ErrHeader, "duplicate_member"},
		{"duplicate alg, escaped spelling", compactToken(k.ec1, `{"alg":"ES256","kid":"ec1","\u0061lg":"ES256"}`, payload), ErrHeader, "duplicate_member"},
		{"duplicate exp claim", compactToken(k.ec1, es, strings.Replace(payload, `"exp":`, `"exp":1,"exp":`, 1)), ErrHeader, "duplicate_member"},
		{"crit [exp]", compactToken(k.ec1, `{"alg":"ES256","kid":"ec1","crit":["exp"]}`, payload), ErrHeader, "crit"},
		{"crit empty list", compactToken(k.ec1, `{"alg":"ES256","kid":"ec1","crit":[]}`, payload), ErrHeader, "crit"},
		{"JWS JSON serialization", `{"protected":"` + h64 + `","payload":"` + p64 + `","signature":"` + s64 + `"}`, ErrMalformed, "malformed"},
		{"crit unknown extension", compactToken(k.ec1, `{"alg":"ES256","kid":"ec1","crit":["x-vigil"],"x-vigil":1}`, payload), ErrHeader, "crit"},
		{"b64 false", b64false(k.ec1, `{"alg":"ES256","kid":"ec1","b64":false,"crit":["b64"]}`, `{"sub":"alice"}`), ErrHeader, "crit"},
		{"b64 false without crit", b64false(k.ec1, `{"alg":"ES256","kid":"ec1","b64":false}`, `{"sub":"alice"}`), ErrHeader, "b64"},
		{"JWE (5 parts)", enc(`{"alg":"RSA-OAEP-256","enc":"A256GCM"}`) + ".a.b.c.d", ErrMalformed, "encrypted_token"},
		{"JWE header in 3 parts", compactToken(k.ec1, `{"alg":"ES256","kid":"ec1","enc":"A256GCM"}`, payload), ErrMalformed, "encrypted_token"},
		{"header JSON not an object", enc(`["alg","ES256"]`) + "." + p64 + "." + s64, ErrMalformed, "bad_json"},
		{"payload JSON not an object", compactToken(k.ec1, es, `"alice"`), ErrMalformed, "bad_json"},
		{"header with trailing data", enc(es+`{}`) + "." + p64 + "." + s64, ErrMalformed, "bad_json"},
		{"header not UTF-8", enc("{\"alg\":\"ES256\",\"kid\":\"ec1\xff\"}") + "." + p64 + "." + s64, ErrMalformed, "bad_json"},
		{"nested too deeply", compactToken(k.ec1, es, `{"a":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`), ErrMalformed, "bad_json"},
		{"garbage", "garbage", ErrMalformed, "malformed"},
		{"garbage with dots", "a.b.c", ErrMalformed, "bad_base64"},
		{"empty parts", "..", ErrMalformed, "malformed"},
		{"too many parts", valid + ".x", ErrMalformed, "malformed"},
		{"empty", "", ErrMalformed, "malformed"},
		{"nested JWT (cty)", compactToken(k.ec1, `{"alg":"ES256","kid":"ec1","cty":"JWT"}`, payload), ErrHeader, "cty"},
		{"unexpected typ", compactToken(k.ec1, `{"alg":"ES256","kid":"ec1","typ":"logout+jwt"}`, payload), ErrHeader, "typ"},
		{"signature of another token", h64 + "." + p64 + "." + otherSig, ErrSignature, "bad_signature"},
		{"payload swapped under a valid signature", h64 + "." + enc(claims(issMain, map[string]any{"roles": []string{"admin"}})) + "." + s64, ErrSignature, "bad_signature"},
		{"ES256 signature truncated", h64 + "." + p64 + "." + b64.EncodeToString(mustDecode(s64)[:63]), ErrSignature, "bad_signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), c.token)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if p != nil {
				t.Errorf("a Principal came with the error")
			}
			if !errors.Is(err, c.want) {
				t.Errorf("error %v, want kind %v", err, c.want)
			}
			var te *Error
			if !errors.As(err, &te) || te.Reason != c.reason {
				t.Errorf("reason %q, want %q (%v)", te.Reason, c.reason, err)
			}
			if len(c.token) > 20 && strings.Contains(err.Error(), c.token[len(c.token)-20:]) {
				t.Errorf("the error contains the token: %v", err)
			}
		})
	}
	if n := attackerHits.Load(); n != 0 {
		t.Errorf("the attacker's server got %d requests, want 0", n)
	}
}

func mustDecode(s string) []byte {
	b, err := b64.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// flipLastBits changes the unused low bits of the last base64url digit:
// the same bytes, another spelling.
func flipLastBits(s string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alpha, s[len(s)-1])
	return s[:len(s)-1] + string(alpha[i^1])
}

// b64false builds an RFC 7797 unencoded-payload JWS.
func b64false(s *signer, header, payload string) string {
	in := enc(header) + "." + payload
	return in + "." + b64.EncodeToString(s.sign(in))
}

// TestValid checks the tokens that must pass and the Principal they yield.
func TestValid(t *testing.T) {
	k := keys()
	v := fileVerifier(t, nil)
	authTime := testNow.Add(-5 * time.Minute).Unix()
	cases := []struct {
		name       string
		token      string
		wantIss    string
		wantScopes []string
		wantClient string
	}{
		{"ES256", tok(k.ec1, issMain, map[string]any{"acr": "urn:mfa", "amr": []string{"pwd", "otp"}, "auth_time": authTime}), issMain, []string{"orders:read", "orders:write"}, "web-app"},
		{"RS256", tok(k.rsa1, issMain, map[string]any{"scope": nil, "scp": []string{"a", "b"}, "client_id": "cli", "acr": "urn:mfa", "amr": []string{"pwd", "otp"}, "auth_time": authTime}), issMain, []string{"a", "b"}, "cli"},
		{"EdDSA", tok(k.ed1, issMain, map[string]any{"acr": "urn:mfa", "amr": []string{"pwd", "otp"}, "auth_time": authTime}), issMain, []string{"orders:read", "orders:write"}, "web-app"},
		{"HS256 with the shared secret", tok(k.hs1, issMixed, map[string]any{"acr": "urn:mfa", "amr": []string{"pwd", "otp"}, "auth_time": authTime}), issMixed, []string{"orders:read", "orders:write"}, "web-app"},
		{"expired within leeway", tok(k.ec1, issMain, map[string]any{"exp": testNow.Add(-10 * time.Second).Unix(), "acr": "urn:mfa", "amr": []string{"pwd", "otp"}, "auth_time": authTime}), issMain, []string{"orders:read", "orders:write"}, "web-app"},
		{"aud list with one accepted", tok(k.ec1, issMain, map[string]any{"aud": []string{"billing", "admin"}, "acr": "urn:mfa", "amr": []string{"pwd", "otp"}, "auth_time": authTime}), issMain, []string{"orders:read", "orders:write"}, "web-app"},
		{"no kid, one key fits (EdDSA)", compactToken(k.ed1, `{"alg":"EdDSA"}`, claims(issMain, map[string]any{"acr": "urn:mfa", "amr": []string{"pwd", "otp"}, "auth_time": authTime})), issMain, []string{"orders:read", "orders:write"}, "web-app"},
		{"typ at+jwt", compactToken(k.ec1, `{"alg":"ES256","kid":"ec1","typ":"at+jwt"}`, claims(issMain, map[string]any{"acr": "urn:mfa", "amr": []string{"pwd", "otp"}, "auth_time": authTime})), issMain, []string{"orders:read", "orders:write"}, "web-app"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), c.token)
			if err != nil {
				t.Fatal(err)
			}
			if p.Source != "jwt" || p.Issuer != c.wantIss || p.Subject != "alice" || p.ClientID != c.wantClient {
				t.Errorf("principal %+v", p)
			}
			if !slices.Equal(p.Scopes, c.wantScopes) || !slices.Equal(p.Roles, []string{"customer"}) {
				t.Errorf("scopes %v roles %v", p.Scopes, p.Roles)
			}
			if p.ACR != "urn:mfa" || !slices.Equal(p.AMR, []string{"pwd", "otp"}) || p.AuthTime.Unix() != authTime {
				t.Errorf("acr %q amr %v auth_time %v", p.ACR, p.AMR, p.AuthTime)
			}
			if p.TokenID != TokenID(c.token) || !strings.HasPrefix(p.TokenID, "sha256:") || len(p.TokenID) != 7+16 {
				t.Errorf("token id %q", p.TokenID)
			}
			if p.Expiry.IsZero() || p.Claims["sub"] != "alice" {
				t.Errorf("expiry %v claims %v", p.Expiry, p.Claims)
			}
			// The second time comes from the cache, the same Principal
			// (unless exp has passed: such tokens are never cached).
			p2, err := v.Verify(context.Background(), c.token)
			if err != nil || (p2 != p) == p.Expiry.After(testNow) {
				t.Errorf("cached verify: %v, same principal %v", err, p2 == p)
			}
		})
	}
}

// TestCachedTokenExpires: a token verified (and cached) is refused once
// its exp and the leeway have passed, and a key dropped from the set
// takes its cached tokens with it.
func TestCachedTokenExpires(t *testing.T) {
	k := keys()
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	v := fileVerifier(t, func(o *Options) {
		o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	raw := tok(k.ec1, issMain, map[string]any{"exp": testNow.Add(time.Minute).Unix()})
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	now.Store(testNow.Add(59 * time.Second).UnixNano())
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("before exp: %v", err)
	}
	now.Store(testNow.Add(80 * time.Second).UnixNano()) // past exp, within the 30s leeway
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	now.Store(testNow.Add(91 * time.Second).UnixNano())
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrExpired) {
		t.Fatalf("after exp+leeway: %v, want ErrExpired", err)
	}
}

func TestKeyRemovalDropsCachedTokens(t *testing.T) {
	k := keys()
	v := fileVerifier(t, nil)
	raw := tok(k.ec1, issMain, nil)
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	is := v.issuers[issMain]
	if err := os.WriteFile(is.cfg.JWKSFile, jwksJSON(false, k.rsa1, k.ed1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := is.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("after ec1 was removed: %v, want ErrUnknownKey", err)
	}
}

func TestConfigErrors(t *testing.T) {
	file := writeJWKS(t, false, keys().ec1)
	cases := []struct {
		name string
		cfg  IssuerConfig
		want string
	}{
		{"no issuer", IssuerConfig{JWKSFile: file, Algorithms: []string{"ES256"}}, "issuer is required"},
		{"no source", IssuerConfig{Issuer: "i", Algorithms: []string{"ES256"}}, "exactly one of"},
		{"two sources", IssuerConfig{Issuer: "i", JWKSFile: file, JWKSURL: "https://x/jwks", Algorithms: []string{"ES256"}}, "exactly one of"},
		{"no algorithms", IssuerConfig{Issuer: "i", JWKSFile: file}, "algorithms is required"},
		{"none", IssuerConfig{Issuer: "i", JWKSFile: file, Algorithms: []string{"none"}}, "none is never accepted"},
		{"NONE", IssuerConfig{Issuer: "i", JWKSFile: file, Algorithms: []string{"NONE"}}, "none is never accepted"},
		{"HS256 from a URL", IssuerConfig{Issuer: "i", JWKSURL: "https://x/jwks", Algorithms: []string{"HS256"}}, "jwks_file only"},
		{"unknown alg", IssuerConfig{Issuer: "i", JWKSFile: file, Algorithms: []string{"ES256K"}}, "not supported"},
		{"file URL", IssuerConfig{Issuer: "i", JWKSURL: "file:///etc/passwd", Algorithms: []string{"ES256"}}, "not an http(s) URL"},
		{"missing file", IssuerConfig{Issuer: "i", JWKSFile: file + ".nope", Algorithms: []string{"ES256"}}, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(context.Background(), Options{Issuers: []IssuerConfig{c.cfg}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestJWKSParsing: keys that must not verify are left out of the set.
func TestJWKSParsing(t *testing.T) {
	k := keys()
	enc := k.ec2.jwk(false)
	enc["use"] = "enc"
	priv := k.ec1.jwk(false)
	priv["d"] = "AAAA"
	oct := k.hs1.jwk(false)
	weak := map[string]any{"kty": "RSA", "kid": "weak", "n": b64.EncodeToString(make([]byte, 128)), "e": "AQAB"}
	offCurve := k.ec1.jwk(false)
	offCurve["kid"] = "offcurve"
	offCurve["y"] = offCurve["x"]
	doc, _ := json.Marshal(map[string]any{"keys": []any{enc, priv, oct, weak, offCurve, k.ed1.jwk(true)}})
	set, skipped, err := parseJWKS(doc, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.keys) != 1 || set.keys[0].kid != "ed1" {
		t.Errorf("kept %d keys, want only ed1", len(set.keys))
	}
	if len(skipped) != 5 {
		t.Errorf("skipped %v, want 5", skipped)
	}
}
