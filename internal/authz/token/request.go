package token

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/authz"
)

// apiKey is a configured API key, its Principal built once.
type apiKey struct {
	header string // canonical header name
	hash   [32]byte
	p      *authz.Principal
}

func (v *Verifier) addAPIKeys(keys []APIKey) error {
	seen := map[[32]byte]bool{}
	for i, k := range keys {
		where := fmt.Sprintf("token: identity.api_keys[%d] (%s)", i, k.Name)
		if k.Name == "" {
			return fmt.Errorf("token: identity.api_keys[%d]: name is required", i)
		}
		hx, ok := strings.CutPrefix(strings.ToLower(k.Hash), "sha256:")
		b, err := hex.DecodeString(hx)
		if !ok || err != nil || len(b) != sha256.Size {
			return fmt.Errorf("%s: hash must be \"sha256:\" and 64 hex digits (printf %%s KEY | sha256sum)", where)
		}
		var h [32]byte
		copy(h[:], b)
		if seen[h] {
			return fmt.Errorf("%s: the same key hash is configured twice", where)
		}
		seen[h] = true
		header := http.CanonicalHeaderKey(k.Header)
		if header == "" {
			header = "X-Api-Key"
		}
		if header == "Authorization" {
			return fmt.Errorf("%s: header Authorization is read for Bearer tokens; use another header", where)
		}
		sub := k.Subject
		if sub == "" {
			sub = k.Name
		}
		roles := make([]any, len(k.Roles))
		for i, r := range k.Roles {
			roles[i] = r
		}
		p := &authz.Principal{
			Source:  authz.SourceAPIKey,
			Issuer:  k.Name,
			Subject: sub,
			Scopes:  slices.Clone(k.Scopes),
			Roles:   slices.Clone(k.Roles),
			// sha256(key) is configured, so the TokenID is its prefix.
			TokenID: tokenID(&h),
			Claims:  map[string]any{"sub": sub, "scope": strings.Join(k.Scopes, " "), "roles": roles},
		}
		v.apiKeys = append(v.apiKeys, apiKey{header: header, hash: h, p: p})
		if !slices.Contains(v.apiKeyHeaders, header) {
			v.apiKeyHeaders = append(v.apiKeyHeaders, header)
		}
	}
	return nil
}

// FromRequest identifies the caller of r. It reads, in this order and
// stopping at the first present: Authorization: Bearer (scheme
// case-insensitive; read only when JWT issuers are configured; other
// schemes are left to the upstream), the configured API-key headers, and
// the SPIFFE ID of a verified client certificate (when trust domains are
// configured). It returns (nil, nil) when r carries none of these and
// (nil, err) when it carries a bad one; a request with two Authorization
// headers or two values of an API-key header is refused as ambiguous.
func (v *Verifier) FromRequest(ctx context.Context, r *http.Request) (*authz.Principal, error) {
	if len(v.issuers) > 0 {
		if vals := r.Header.Values("Authorization"); len(vals) > 0 {
			if len(vals) > 1 {
				return nil, fail(ErrMalformed, "multiple_authorization", "more than one Authorization header")
			}
			if tok, ok := bearer(vals[0]); ok {
				if tok == "" {
					return nil, fail(ErrMalformed, "malformed", "empty Bearer token")
				}
				return v.Verify(ctx, tok)
			}
		}
	}
	for _, name := range v.apiKeyHeaders {
		vals := r.Header.Values(name)
		switch len(vals) {
		case 0:
			continue
		case 1:
			return v.apiKey(name, vals[0])
		}
		return nil, fail(ErrMalformed, "multiple_api_keys", "more than one "+name+" header")
	}
	if len(v.trustDomains) > 0 && r.TLS != nil {
		return v.peer(r)
	}
	return nil, nil
}

// bearer reads an RFC 6750 Bearer credential.
func bearer(h string) (string, bool) {
	const scheme = "bearer"
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	rest := h[len(scheme):]
	if rest != "" && rest[0] != ' ' {
		return "", false // "Bearerx": another scheme
	}
	return strings.Trim(rest, " "), true
}

// apiKey matches a presented key against every configured hash in
// constant time (no early exit on a match).
func (v *Verifier) apiKey(header, presented string) (*authz.Principal, error) {
	if len(presented) > v.maxAPIKeyLen() {
		return nil, fail(ErrTooLarge, "too_large", "API key longer than accepted")
	}
	h := sha256.Sum256([]byte(presented))
	var found *authz.Principal
	for i := range v.apiKeys {
		k := &v.apiKeys[i]
		if subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1 && k.header == header {
			found = k.p
		}
	}
	if found == nil {
		e := fail(ErrAPIKey, "unknown_api_key", "the "+header+" value is not a configured key")
		e.TokenID = tokenID(&h)
		return nil, e
	}
	return found, nil
}

func (v *Verifier) maxAPIKeyLen() int {
	if v.maxLen > 0 {
		return v.maxLen
	}
	return 8192
}

// peer reads the SPIFFE ID of the verified client certificate. Only
// certificates the TLS server verified count (r.TLS.VerifiedChains):
// one merely presented is not an identity.
func (v *Verifier) peer(r *http.Request) (*authz.Principal, error) {
	if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return nil, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	if len(leaf.URIs) > 1 {
		// X509-SVID §5.2: an SVID has exactly one URI SAN.
		return nil, fail(ErrPeer, "not_an_svid", "the client certificate has several URI SANs; an X509-SVID has exactly one")
	}
	spiffe := 0
	for _, u := range leaf.URIs {
		if u.Scheme != "spiffe" {
			continue
		}
		spiffe++
		if u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || !validTrustDomain(u.Host) {
			continue
		}
		if !v.trustDomains[u.Host] {
			continue
		}
		id := u.String()
		return &authz.Principal{
			Source:  authz.SourceMTLS,
			Issuer:  u.Host,
			Subject: id,
			TokenID: TokenID(string(leaf.Raw)),
			Claims:  map[string]any{"sub": id, "scope": "", "roles": []any{}},
		}, nil
	}
	if spiffe > 0 {
		return nil, fail(ErrPeer, "untrusted_trust_domain", "the client certificate's SPIFFE ID is not in an accepted trust domain")
	}
	return nil, nil
}

// validTrustDomain reports whether s is a SPIFFE trust domain name.
func validTrustDomain(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
