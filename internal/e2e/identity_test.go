package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
)

// issuer is a test token issuer: an RSA and an EC key, a JWKS for them,
// and compact JWS built by hand so that every header an attacker could
// send can be sent.
type issuer struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	iss string
}

var b64 = base64.RawURLEncoding

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{rsa: rk, ec: ek, iss: "https://id.shop.local"}
}

func bigB64(b *big.Int, size int) string {
	buf := make([]byte, size)
	return b64.EncodeToString(b.FillBytes(buf))
}

func (is *issuer) rsaJWK() map[string]any {
	return map[string]any{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
		"n": b64.EncodeToString(is.rsa.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(is.rsa.E)).Bytes())}
}

func ecJWK(k *ecdsa.PrivateKey, kid string) map[string]any {
	return map[string]any{"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
		"x": bigB64(k.X, 32), "y": bigB64(k.Y, 32)}
}

func (is *issuer) jwks() []byte {
	b, _ := json.Marshal(map[string]any{"keys": []any{is.rsaJWK(), ecJWK(is.ec, "ec-1")}})
	return b
}

// claims returns a valid claim set for sub, changed by edits.
func (is *issuer) claims(sub string, edits map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": is.iss, "aud": "shop", "sub": sub, "azp": "web",
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix(), "scope": "cart orders"}
	for k, v := range edits {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// signRaw signs header.payload given as raw JSON texts.
func signRaw(t testing.TB, headerJSON, payloadJSON string, alg string, key any) string {
	t.Helper()
	in := b64.EncodeToString([]byte(headerJSON)) + "." + b64.EncodeToString([]byte(payloadJSON))
	sum := sha256.Sum256([]byte(in))
	var sig []byte
	switch alg {
	case "RS256":
		s, err := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = s
	case "ES256":
		k := key.(*ecdsa.PrivateKey)
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case "HS256":
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(in))
		sig = m.Sum(nil)
	case "":
	default:
		t.Fatalf("alg %s", alg)
	}
	return in + "." + b64.EncodeToString(sig)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// token signs claims with the issuer's RSA (RS256) or EC (ES256) key under
// header fields hdr (alg and kid filled in when absent).
func (is *issuer) token(t testing.TB, alg string, claims map[string]any, hdr map[string]any) string {
	h := map[string]any{"alg": alg, "typ": "JWT"}
	var key any = is.rsa
	h["kid"] = "rsa-1"
	if alg == "ES256" {
		key, h["kid"] = is.ec, "ec-1"
	}
	for k, v := range hdr {
		if v == nil {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	return signRaw(t, mustJSON(h), mustJSON(claims), alg, key)
}

// identityGateway starts a gateway with the identity and policy
// configuration, the JWKS in a file, in front of up.
func identityGateway(t *testing.T, is *issuer, up string, extra string) *gw {
	t.Helper()
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwks, is.jwks(), 0o600); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, fmt.Sprintf(`mode: enforce
listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
data_dir: {{DIR}}/data
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
identity:
  jwt:
    - issuer: https://id.shop.local
      jwks_file: %s
      audiences: [shop]
      algorithms: [ES256, RS256]
routes:
  - name: shop
    match: {host: "*", path_prefix: /}
    upstream: %s
    identity: required
policies:
  - name: own-user-record
    match: {endpoint: "GET /users/{id}"}
    deny_if: 'path.id != token.sub && !("admin" in token.roles)'
  - name: admin-only
    match: {path_prefix: /admin/}
    allow_if: '"admin" in token.roles'
  - name: large-orders
    match: {endpoint: "POST /order/add/{id}"}
    step_up_if: 'body.total > 1000.0 && !("mfa" in token.amr)'
    step_up: {acr_values: "urn:shop:mfa", max_age: 300}
%s`, jwks, up, extra), server.Options{})
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// TestTokenAttacks: every token of the attack suite is refused with 401
// and never reaches the upstream; a valid token passes and the event names
// who called by a hash of the token, never the token.
func TestTokenAttacks(t *testing.T) {
	is := newIssuer(t)
	up := newOWASPUpstream(t, nil)
	// The attacker's own key and key server: jku/x5u must never be fetched.
	evil, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var evilHits atomic.Int64
	evilSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{ecJWK(evil, "ec-1")}})
	}))
	defer evilSrv.Close()
	g := identityGateway(t, is, up.URL, "")

	valid := is.claims("user-17", nil)
	rsaPub, _ := x509.MarshalPKIXPublicKey(&is.rsa.PublicKey)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	rsaJWKBytes, _ := json.Marshal(is.rsaJWK())
	goodRS := is.token(t, "RS256", valid, nil)
	parts := strings.Split(goodRS, ".")

	t.Run("valid tokens pass", func(t *testing.T) {
		for _, tok := range []string{goodRS, is.token(t, "ES256", valid, nil)} {
			before := up.total()
			r := g.send(g.URL, owaspReq{method: "GET", target: "/products", header: bearer(tok)})
			if r.status != http.StatusOK || up.total() != before+1 {
				t.Fatalf("valid token: status %d (%s), findings %+v", r.status, r.body, r.ev.Findings)
			}
			id := r.ev.Identity
			if id == nil || id.Sub != "user-17" || id.ClientID != "web" || !strings.HasPrefix(id.TokenID, "sha256:") ||
				strings.Join(id.Scopes, " ") != "cart orders" {
				t.Fatalf("event identity %+v", id)
			}
			raw, _ := json.Marshal(r.ev)
			if strings.Contains(string(raw), tok) || strings.Contains(string(raw), strings.Split(tok, ".")[2]) {
				t.Fatal("the event holds the token")
			}
		}
	})

	none := func(alg string) string {
		return b64.EncodeToString([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." + b64.EncodeToString([]byte(mustJSON(valid))) + "."
	}
	big := is.claims("user-17", map[string]any{"pad": strings.Repeat("A", 16<<10)})
	attacks := []struct {
		name, token string
	}{
		{"alg none", none("none")},
		{"alg None", none("None")},
		{"alg NONE", none("NONE")},
		{"alg nOnE", none("nOnE")},
		{"alg none without trailing dot", strings.TrimSuffix(none("none"), ".")},
		{"alg none with the real signature", strings.TrimSuffix(none("none"), ".") + "." + parts[2]},
		{"HS256 with the RSA public key PEM", signRaw(t, `{"alg":"HS256","typ":"JWT","kid":"rsa-1"}`, mustJSON(valid), "HS256", rsaPEM)},
		{"HS256 with the RSA JWK", signRaw(t, `{"alg":"HS256","typ":"JWT","kid":"rsa-1"}`, mustJSON(valid), "HS256", rsaJWKBytes)},
		{"HS256 without kid", signRaw(t, `{"alg":"HS256","typ":"JWT"}`, mustJSON(valid), "HS256", rsaPEM)},
		{"RS256 header on the EC key", signRaw(t, `{"alg":"RS256","kid":"ec-1"}`, mustJSON(valid), "ES256", is.ec)},
		{"expired", is.token(t, "RS256", is.claims("user-17", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), nil)},
		{"not yet valid", is.token(t, "RS256", is.claims("user-17", map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), nil)},
		{"issued in the future", is.token(t, "RS256", is.claims("user-17", map[string]any{"iat": time.Now().Add(time.Hour).Unix()}), nil)},
		{"no exp", is.token(t, "RS256", is.claims("user-17", map[string]any{"exp": nil}), nil)},
		{"wrong issuer", is.token(t, "RS256", is.claims("user-17", map[string]any{"iss": "https://evil.example"}), nil)},
		{"wrong audience", is.token(t, "RS256", is.claims("user-17", map[string]any{"aud": "billing"}), nil)},
		{"unknown kid", is.token(t, "RS256", valid, map[string]any{"kid": "rsa-9"})},
		{"kid path traversal", is.token(t, "RS256", valid, map[string]any{"kid": "../../../../dev/null"})},
		{"jku pointing elsewhere", signRaw(t, mustJSON(map[string]any{"alg": "ES256", "kid": "ec-1", "jku": evilSrv.URL + "/jwks.json"}), mustJSON(valid), "ES256", evil)},
		{"x5u pointing elsewhere", signRaw(t, mustJSON(map[string]any{"alg": "ES256", "kid": "ec-1", "x5u": evilSrv.URL + "/cert.pem"}), mustJSON(valid), "ES256", evil)},
		{"embedded jwk", signRaw(t, mustJSON(map[string]any{"alg": "ES256", "jwk": ecJWK(evil, "ec-1")}), mustJSON(valid), "ES256", evil)},
		{"jku on a validly signed token", is.token(t, "ES256", valid, map[string]any{"jku": evilSrv.URL + "/jwks.json"})},
		{"signed by another key", signRaw(t, `{"alg":"ES256","kid":"ec-1"}`, mustJSON(valid), "ES256", evil)},
		{"stripped signature", parts[0] + "." + parts[1] + "."},
		{"stripped signature and dot", parts[0] + "." + parts[1]},
		{"payload swapped", parts[0] + "." + b64.EncodeToString([]byte(mustJSON(is.claims("admin", nil)))) + "." + parts[2]},
		{"bad base64 header", "e!J@." + parts[1] + "." + parts[2]},
		{"bad base64 payload", parts[0] + ".eyJ*." + parts[2]},
		{"bad base64 signature", parts[0] + "." + parts[1] + ".%%%"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2]},
		{"oversized token", is.token(t, "RS256", big, nil)},
		{"duplicate alg member", signRaw(t, `{"alg":"RS256","kid":"rsa-1","alg":"none"}`, mustJSON(valid), "RS256", is.rsa)},
		{"unknown crit", is.token(t, "RS256", valid, map[string]any{"crit": []string{"exp"}, "exp": 1})},
		{"b64 false", is.token(t, "RS256", valid, map[string]any{"b64": false, "crit": []string{"b64"}})},
		{"JWE", parts[0] + ".a.b.c.d"},
		{"not JSON", b64.EncodeToString([]byte("hello")) + "." + parts[1] + "." + parts[2]},
		{"garbage", "not-a-token"},
		{"empty bearer", ""},
	}
	for _, tc := range attacks {
		t.Run(tc.name, func(t *testing.T) {
			before := up.total()
			hdr := bearer(tc.token)
			r := g.send(g.URL, owaspReq{method: "GET", target: "/products", header: hdr})
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401 (%s)", r.status, r.body)
			}
			if up.total() != before {
				t.Fatal("the upstream saw the request")
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
			if r.ev.Decision != event.DecisionBlock {
				t.Errorf("decision %q", r.ev.Decision)
			}
			if _, ok := findingOf(r.ev, "identity", ""); !ok {
				t.Errorf("no identity finding: %+v", r.ev.Findings)
			}
			if r.ev.Identity != nil {
				t.Errorf("a refused token left an identity: %+v", r.ev.Identity)
			}
		})
	}
	if n := evilHits.Load(); n != 0 {
		t.Errorf("the attacker's key server was fetched %d times", n)
	}
	t.Run("no credential on a required route", func(t *testing.T) {
		before := up.total()
		r := g.send(g.URL, owaspReq{method: "GET", target: "/products"})
		if r.status != http.StatusUnauthorized || up.total() != before {
			t.Fatalf("status %d, upstream %d→%d", r.status, before, up.total())
		}
	})
}

// TestAuthorizationPolicies: BOLA (own record), BFLA (admin functions) and
// step-up (RFC 9470 challenge, then satisfied by an MFA token) through a
// real listener, with the configuration.
func TestAuthorizationPolicies(t *testing.T) {
	is := newIssuer(t)
	up := newOWASPUpstream(t, nil)
	g := identityGateway(t, is, up.URL, "")
	user := is.token(t, "ES256", is.claims("user-17", nil), nil)
	admin := is.token(t, "ES256", is.claims("ops-1", map[string]any{"roles": []string{"admin"}}), nil)
	now := time.Now().Unix()
	mfa := is.token(t, "ES256", is.claims("user-17", map[string]any{"amr": []string{"pwd", "mfa"}, "acr": "urn:shop:mfa", "auth_time": now - 30}), nil)

	for _, tc := range []struct {
		name         string
		method, path string
		tok, body    string
		status       int
		rule         string
	}{
		{"own record", "GET", "/users/user-17", user, "", 200, ""},
		{"another user's record (BOLA)", "GET", "/users/user-18", user, "", 403, "own-user-record"},
		{"admin reads any record", "GET", "/users/user-18", admin, "", 200, ""},
		{"admin function as a user (BFLA)", "GET", "/admin/users", user, "", 403, "admin-only"},
		{"admin function as an admin", "GET", "/admin/users", admin, "", 200, ""},
		{"admin function, other method (BFLA)", "DELETE", "/admin/users/3", user, "", 403, "admin-only"},
		{"small order", "POST", "/order/add/5", user, `{"total": 20.5}`, 200, ""},
		{"large order asks for step-up", "POST", "/order/add/5", user, `{"total": 1500.0}`, 401, "large-orders"},
		{"large order with MFA", "POST", "/order/add/5", mfa, `{"total": 1500.0}`, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.total()
			r := g.send(g.URL, owaspReq{method: tc.method, target: tc.path, header: bearer(tc.tok), body: tc.body})
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%s) findings %+v", r.status, tc.status, r.body, r.ev.Findings)
			}
			if tc.status == 200 {
				if up.total() != before+1 {
					t.Fatal("not proxied")
				}
				return
			}
			if up.total() != before {
				t.Fatal("the upstream saw a refused request")
			}
			f, ok := findingOf(r.ev, "authz", "")
			if !ok || f.RuleID != tc.rule {
				t.Fatalf("finding %+v, want rule %s", r.ev.Findings, tc.rule)
			}
			if tc.status == 401 {
				if r.ev.Decision != event.DecisionStepUp {
					t.Errorf("decision %q, want step_up", r.ev.Decision)
				}
				wa := r.header.Get("WWW-Authenticate")
				for _, want := range []string{`error="insufficient_user_authentication"`, `acr_values="urn:shop:mfa"`, `max_age="300"`} {
					if !strings.Contains(wa, want) {
						t.Errorf("WWW-Authenticate %q lacks %s", wa, want)
					}
				}
			}
		})
	}
	// The acr of the challenge satisfies it only within max_age.
	for _, tc := range []struct {
		name     string
		authTime int64
		status   int
	}{{"acr with a recent auth_time", now - 60, 200}, {"acr with an hour-old auth_time", now - 3600, 401}} {
		t.Run(tc.name, func(t *testing.T) {
			tok := is.token(t, "ES256", is.claims("user-17", map[string]any{"amr": []string{"pwd"}, "acr": "urn:shop:mfa", "auth_time": tc.authTime}), nil)
			r := g.send(g.URL, owaspReq{method: "POST", target: "/order/add/5", header: bearer(tok), body: `{"total": 1500.0}`})
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (max_age 300)", r.status, tc.status)
			}
		})
	}
}

// TestEnumerationBlocked: one identity walking many distinct order ids of
// one endpoint is stopped; a user rereading their own orders is not.
func TestEnumerationBlocked(t *testing.T) {
	is := newIssuer(t)
	up := newOWASPUpstream(t, nil)
	g := identityGateway(t, is, up.URL, "")
	walker := is.token(t, "ES256", is.claims("user-66", nil), nil)
	reader := is.token(t, "ES256", is.claims("user-67", nil), nil)
	for i := 0; i < 40; i++ {
		r := g.send(g.URL, owaspReq{method: "GET", target: fmt.Sprintf("/orders/%d", 1+i%3), header: bearer(reader)})
		if r.status != 200 {
			t.Fatalf("rereading own orders: %d %+v", r.status, r.ev.Findings)
		}
	}
	blockedAt := 0
	for i := 1; i <= 80; i++ {
		r := g.send(g.URL, owaspReq{method: "GET", target: fmt.Sprintf("/orders/%d", 1000+i), header: bearer(walker)})
		if r.status == http.StatusForbidden {
			if _, ok := findingOf(r.ev, "authz", "enumeration"); !ok {
				t.Fatalf("403 without an enumeration finding: %+v", r.ev.Findings)
			}
			blockedAt = i
			break
		}
	}
	if blockedAt == 0 || blockedAt > 51 {
		t.Fatalf("the walk was blocked at request %d, want by the 50th distinct id", blockedAt)
	}
}
