// Package token verifies the credentials a request carries — JWTs from
// any number of issuers, API keys, mTLS peers' SPIFFE IDs — and yields an
// authz.Principal.
//
// JWTs are checked by Vigil itself before any signature is computed:
// strict compact form (three parts of canonical base64url, JSON objects
// without duplicate members), alg never none and always in the issuer's
// allow-list and fitting the key, no crit, b64, jku, x5u or jwk header.
// Keys come only from the issuer's key set (a JWKS file, a JWKS URL, or
// OIDC discovery), refreshed in the background; a kid the set lacks
// triggers a rate-limited refresh, and the old keys stay in use while the
// issuer is unreachable. Verified tokens are cached by their SHA-256
// until exp, so the hot path is a hash and a map lookup.
// See docs/identity-tokens.md.
package token

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/authz"
)

// IssuerConfig is one trusted token issuer (identity.jwt[]).
type IssuerConfig struct {
	// Issuer is the exact iss tokens carry.
	Issuer string
	// One key source: JWKSFile (a JWK Set on disk, re-read every
	// Refresh), JWKSURL, or Discovery (the URL of the OpenID configuration
	// document, or "true" for Issuer + "/.well-known/openid-configuration";
	// the document's issuer must equal Issuer).
	JWKSFile  string
	JWKSURL   string
	Discovery string
	// Audiences: a token's aud must name one of them; empty = not checked.
	Audiences []string
	// Algorithms is the allow-list (required): RS256, RS384, RS512,
	// PS256, PS384, PS512, ES256, ES384, ES512, EdDSA; HS256, HS384,
	// HS512 only with JWKSFile (a shared secret is never fetched).
	Algorithms []string
	// Leeway is the clock skew allowed on exp, nbf and iat (default 30s).
	Leeway time.Duration
	// Refresh is the key set's refresh interval (default: the JWKS
	// response's Cache-Control max-age within [1m, 24h], else 5m).
	Refresh time.Duration
	// MinRefresh spaces the refreshes an unknown kid triggers (default
	// 10s).
	MinRefresh time.Duration
	// ClientIDClaims name the claims read as the client id, first found
	// wins (default client_id, azp).
	ClientIDClaims []string
	// RolesClaim names the roles claim (default roles).
	RolesClaim string
	// MaxTokenBytes refuses longer tokens before parsing (default 8192).
	MaxTokenBytes int
	// ExpOptional accepts tokens without exp (they are never cached).
	// Default: exp is required.
	ExpOptional bool
}

// APIKey is a key presented in a header; only its SHA-256 is configured.
type APIKey struct {
	// Name identifies the key (Principal.Issuer).
	Name string
	// Header carries the key (default X-API-Key).
	Header string
	// Hash is "sha256:" and the hex SHA-256 of the key.
	Hash string
	// Subject is Principal.Subject (default Name).
	Subject string
	Scopes  []string
	Roles   []string
}

// Options configure a Verifier.
type Options struct {
	Issuers []IssuerConfig
	APIKeys []APIKey
	// TrustDomains are the SPIFFE trust domains accepted from verified
	// client certificates; empty = mTLS is not an identity source.
	TrustDomains []string
	// CacheSize bounds the verified-token cache (default 10000).
	CacheSize int
	// HTTPClient fetches key sets and discovery documents (default: a
	// client with a 10s timeout).
	HTTPClient *http.Client
	// Logger receives key-refresh events (default: discarded).
	Logger *slog.Logger
	// Now is the clock tokens are judged by (default time.Now).
	Now func() time.Time
}

// Verifier verifies credentials. It is safe for concurrent use.
type Verifier struct {
	issuers       map[string]*issuer
	maxLen        int // the largest MaxTokenBytes of any issuer
	cache         *tokenCache
	apiKeys       []apiKey
	apiKeyHeaders []string
	trustDomains  map[string]bool
	now           func() time.Time
	log           *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// initialFetchTimeout bounds how long New waits for the first fetch of URL
// key sources; those not answered by then keep being retried.
const initialFetchTimeout = 5 * time.Second

// New checks o, loads the key files, makes a first attempt at the URL key
// sources and starts their background refresh, which runs until ctx ends
// or Close is called. An unreachable URL source is not an error: its
// tokens are refused until its keys arrive.
func New(ctx context.Context, o Options) (*Verifier, error) {
	v := &Verifier{
		issuers:      map[string]*issuer{},
		trustDomains: map[string]bool{},
		now:          o.Now,
		log:          o.Logger,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	size := o.CacheSize
	if size <= 0 {
		size = 10000
	}
	v.cache = newTokenCache(size)
	for i, c := range o.Issuers {
		c, refreshSet, err := normalize(c)
		if err != nil {
			return nil, fmt.Errorf("token: identity.jwt[%d]: %w", i, err)
		}
		if v.issuers[c.Issuer] != nil {
			return nil, fmt.Errorf("token: identity.jwt[%d]: issuer %q is configured twice", i, c.Issuer)
		}
		v.issuers[c.Issuer] = newIssuer(c, refreshSet, client, v.log)
		v.maxLen = max(v.maxLen, c.MaxTokenBytes)
	}
	if err := v.addAPIKeys(o.APIKeys); err != nil {
		return nil, err
	}
	for i, td := range o.TrustDomains {
		if !validTrustDomain(td) {
			return nil, fmt.Errorf("token: identity.mtls.trust_domains[%d]: %q is not a SPIFFE trust domain (lower-case letters, digits, '.', '-', '_')", i, td)
		}
		v.trustDomains[td] = true
	}

	// Key files must load now: a broken file is a configuration error.
	for _, is := range v.issuers {
		if is.cfg.JWKSFile == "" {
			continue
		}
		b, err := readFileCapped(is.cfg.JWKSFile)
		if err == nil {
			err = is.install(b)
		}
		if err != nil {
			return nil, fmt.Errorf("token: issuer %q: jwks_file %s: %w", is.cfg.Issuer, is.cfg.JWKSFile, err)
		}
	}
	// URL sources: one attempt each, in parallel, bounded in time.
	type first struct {
		maxAge time.Duration
		err    error
	}
	results := make(map[*issuer]first, len(v.issuers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	fctx, fcancel := context.WithTimeout(ctx, initialFetchTimeout)
	for _, is := range v.issuers {
		if is.cfg.JWKSFile != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ma, err := is.refresh(fctx)
			mu.Lock()
			results[is] = first{ma, err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	fcancel()

	ctx, v.cancel = context.WithCancel(ctx)
	for _, is := range v.issuers {
		r := results[is]
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			is.run(ctx, r.maxAge, r.err)
		}()
	}
	return v, nil
}

// Close stops the background refreshes and waits for them.
func (v *Verifier) Close() error {
	v.once.Do(func() {
		v.cancel()
		v.wg.Wait()
	})
	return nil
}

func normalize(c IssuerConfig) (IssuerConfig, bool, error) {
	if c.Issuer == "" {
		return c, false, errors.New("issuer is required")
	}
	if c.Discovery == "true" {
		c.Discovery = strings.TrimSuffix(c.Issuer, "/") + "/.well-known/openid-configuration"
	}
	n := 0
	for _, s := range []string{c.JWKSFile, c.JWKSURL, c.Discovery} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return c, false, fmt.Errorf("issuer %q: exactly one of jwks_file, jwks_url, discovery is required", c.Issuer)
	}
	for name, u := range map[string]string{"jwks_url": c.JWKSURL, "discovery": c.Discovery} {
		if u == "" {
			continue
		}
		if err := checkHTTPURL(u); err != nil {
			return c, false, fmt.Errorf("issuer %q: %s: %v", c.Issuer, name, err)
		}
	}
	if len(c.Algorithms) == 0 {
		return c, false, fmt.Errorf("issuer %q: algorithms is required (e.g. [ES256, RS256])", c.Issuer)
	}
	for _, a := range c.Algorithms {
		info, ok := algorithms[a]
		switch {
		case strings.EqualFold(a, "none"):
			return c, false, fmt.Errorf("issuer %q: algorithm none is never accepted", c.Issuer)
		case !ok:
			return c, false, fmt.Errorf("issuer %q: algorithm %q is not supported (RS256..512, PS256..512, ES256, ES384, ES512, EdDSA, HS256..512)", c.Issuer, a)
		case info.kty == "oct" && c.JWKSFile == "":
			return c, false, fmt.Errorf("issuer %q: %s needs a shared secret, allowed with jwks_file only (a fetched key set holds public keys)", c.Issuer, a)
		}
	}
	if c.Leeway < 0 || c.Refresh < 0 || c.MinRefresh < 0 || c.MaxTokenBytes < 0 {
		return c, false, fmt.Errorf("issuer %q: leeway, refresh, min_refresh and max_token_bytes cannot be negative", c.Issuer)
	}
	if c.Leeway == 0 {
		c.Leeway = 30 * time.Second
	}
	refreshSet := c.Refresh != 0
	if !refreshSet {
		c.Refresh = 5 * time.Minute
	}
	if c.Refresh < time.Second {
		return c, false, fmt.Errorf("issuer %q: refresh %v is below 1s", c.Issuer, c.Refresh)
	}
	if c.MinRefresh == 0 {
		c.MinRefresh = 10 * time.Second
	}
	if len(c.ClientIDClaims) == 0 {
		c.ClientIDClaims = []string{"client_id", "azp"}
	}
	if c.RolesClaim == "" {
		c.RolesClaim = "roles"
	}
	if c.MaxTokenBytes == 0 {
		c.MaxTokenBytes = 8192
	}
	return c, refreshSet, nil
}

// TokenID is "sha256:" and the first 16 hex digits of the SHA-256 of raw:
// what events and logs carry instead of a credential.
func TokenID(raw string) string {
	h := sha256.Sum256([]byte(raw))
	return tokenID(&h)
}

func tokenID(h *[32]byte) string {
	return "sha256:" + hex.EncodeToString(h[:8])
}

// Verify verifies one JWT (compact JWS) and returns its Principal, shared
// with every other caller of the same token: do not modify it.
func (v *Verifier) Verify(ctx context.Context, raw string) (*authz.Principal, error) {
	if len(raw) > v.maxLen {
		return nil, fail(ErrTooLarge, "too_large", fmt.Sprintf("%d bytes, at most %d accepted", len(raw), v.maxLen))
	}
	if raw == "" {
		return nil, fail(ErrMalformed, "malformed", "empty token")
	}
	// The bytes are only read, never kept: hashing the string in place
	// keeps the hot path free of allocations.
	h := sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
	now := v.now()
	if e, ok := v.cache.get(&h, now.UnixNano()); ok && len(raw) <= e.maxLen {
		return e.p, nil
	}
	p, is, err := v.verify(ctx, raw, &h, now)
	if err != nil {
		err.TokenID = tokenID(&h)
		return nil, err
	}
	if !p.Expiry.IsZero() && now.Before(p.Expiry) {
		v.cache.put(&h, cacheEntry{p: p, exp: p.Expiry.UnixNano(), iss: is, epoch: is.epoch.Load(), maxLen: is.cfg.MaxTokenBytes})
	}
	return p, nil
}

// verify is the cold path: every check, then the signature.
func (v *Verifier) verify(ctx context.Context, raw string, h *[32]byte, now time.Time) (*authz.Principal, *issuer, *Error) {
	t, e := parseCompact(raw)
	if e != nil {
		return nil, nil, e
	}
	// The unverified iss only chooses the key set; the signature decides.
	issName, ok := t.claims["iss"].(string)
	if !ok || issName == "" {
		return nil, nil, fail(ErrIssuer, "missing_iss", "iss missing or not a string")
	}
	is := v.issuers[issName]
	if is == nil {
		return nil, nil, fail(ErrIssuer, "unknown_issuer", fmt.Sprintf("iss %.100q is not a configured issuer", issName))
	}
	withIss := func(e *Error) *Error { e.Issuer = issName; return e }
	if len(raw) > is.cfg.MaxTokenBytes {
		return nil, nil, withIss(fail(ErrTooLarge, "too_large", fmt.Sprintf("%d bytes, at most %d accepted", len(raw), is.cfg.MaxTokenBytes)))
	}
	if !is.allowed[t.alg] {
		return nil, nil, withIss(fail(ErrAlgorithm, "alg_not_allowed", fmt.Sprintf("alg %.20q is not in the issuer's allow-list", t.alg)))
	}
	keys, e := v.candidates(ctx, is, t)
	if e != nil {
		return nil, nil, withIss(e)
	}
	verified := false
	for _, k := range keys {
		if k.verify(t.alg, t.signingPart, t.sig) {
			verified = true
			break
		}
	}
	if !verified {
		return nil, nil, withIss(fail(ErrSignature, "bad_signature", "the signature does not verify"))
	}
	p, e := principal(is, t.claims, now)
	if e != nil {
		return nil, nil, withIss(e)
	}
	p.TokenID = tokenID(h)
	return p, is, nil
}

// candidates returns the keys of the issuer's set that may verify t. A kid
// is only ever a key of the set, never a path or a URL. A kid the set
// lacks asks for a refresh (at most one per MinRefresh) and waits for it
// briefly.
func (v *Verifier) candidates(ctx context.Context, is *issuer, t *jws) ([]*key, *Error) {
	set := is.keys.Load()
	if set == nil || (t.kid != "" && len(set.byKid[t.kid]) == 0) {
		if is.waitForKeys(ctx) {
			set = is.keys.Load()
		}
	}
	if set == nil {
		return nil, fail(ErrUnknownKey, "no_keys", "the issuer's keys have not been fetched yet")
	}
	var fit []*key
	if t.kid != "" {
		byKid := set.byKid[t.kid]
		if len(byKid) == 0 {
			return nil, fail(ErrUnknownKey, "unknown_kid", fmt.Sprintf("kid %.64q is not in the issuer's key set", t.kid))
		}
		for _, k := range byKid {
			if k.fits(t.alg) {
				fit = append(fit, k)
			}
		}
		if len(fit) == 0 {
			return nil, fail(ErrAlgorithm, "alg_key_mismatch", fmt.Sprintf("alg %s does not fit the key %.64q", t.alg, t.kid))
		}
		return fit, nil
	}
	for _, k := range set.keys {
		if k.fits(t.alg) {
			fit = append(fit, k)
		}
	}
	switch len(fit) {
	case 0:
		return nil, fail(ErrAlgorithm, "alg_key_mismatch", "no key of the issuer's set fits alg "+t.alg)
	case 1:
		return fit, nil
	}
	return nil, fail(ErrUnknownKey, "kid_required", "the token has no kid and several keys fit its alg")
}

// principal checks the time and audience claims and builds the Principal.
func principal(is *issuer, c map[string]any, now time.Time) (*authz.Principal, *Error) {
	leeway := is.cfg.Leeway
	exp, hasExp, e := numericDate(c, "exp")
	if e != nil {
		return nil, e
	}
	switch {
	case !hasExp && !is.cfg.ExpOptional:
		return nil, fail(ErrExpired, "missing_exp", "exp is required")
	case hasExp && now.After(exp.Add(leeway)):
		return nil, fail(ErrExpired, "expired", "expired at "+exp.UTC().Format(time.RFC3339))
	}
	nbf, hasNbf, e := numericDate(c, "nbf")
	if e != nil {
		return nil, e
	}
	if hasNbf && nbf.After(now.Add(leeway)) {
		return nil, fail(ErrNotYetValid, "not_yet_valid", "nbf is "+nbf.UTC().Format(time.RFC3339))
	}
	iat, hasIat, e := numericDate(c, "iat")
	if e != nil {
		return nil, e
	}
	if hasIat && iat.After(now.Add(leeway)) {
		return nil, fail(ErrNotYetValid, "issued_in_future", "iat is "+iat.UTC().Format(time.RFC3339))
	}
	aud, ok := stringList(c["aud"], false)
	if !ok {
		return nil, fail(ErrMalformed, "bad_claim", "aud is not a string or a list of strings")
	}
	if len(is.cfg.Audiences) > 0 {
		if c["aud"] == nil {
			return nil, fail(ErrAudience, "missing_aud", "aud is required")
		}
		match := false
		for _, a := range aud {
			for _, want := range is.cfg.Audiences {
				if a == want {
					match = true
				}
			}
		}
		if !match {
			return nil, fail(ErrAudience, "wrong_audience", "aud names none of the issuer's audiences")
		}
	}
	p, e := fromClaims(c, is.cfg.Issuer, is.cfg.ClientIDClaims, is.cfg.RolesClaim)
	if e != nil {
		return nil, e
	}
	if hasExp {
		p.Expiry = exp
	}
	return p, nil
}

// PrincipalFromClaims is the Principal a verified JWT with these claims
// (as encoding/json decodes them: float64 numbers, []any lists) yields,
// without any check of signature, issuer, time or audience: for tools
// that simulate a caller (`vigil policy test`). clientIDClaims and
// rolesClaim default as in IssuerConfig (client_id, azp; roles). Claims
// of the wrong type are refused as verification refuses them.
func PrincipalFromClaims(c map[string]any, clientIDClaims []string, rolesClaim string) (*authz.Principal, error) {
	if len(clientIDClaims) == 0 {
		clientIDClaims = []string{"client_id", "azp"}
	}
	if rolesClaim == "" {
		rolesClaim = "roles"
	}
	iss, _ := c["iss"].(string)
	p, e := fromClaims(c, iss, clientIDClaims, rolesClaim)
	if e != nil {
		return nil, e
	}
	exp, hasExp, e := numericDate(c, "exp")
	if e != nil {
		return nil, e
	}
	if hasExp {
		p.Expiry = exp
	}
	return p, nil
}

// fromClaims builds the Principal of a JWT's claims.
func fromClaims(c map[string]any, issuer string, clientIDClaims []string, rolesClaim string) (*authz.Principal, *Error) {
	p := &authz.Principal{Source: authz.SourceJWT, Issuer: issuer, Claims: c}
	for _, name := range []string{"sub", "acr"} {
		if v, ok := c[name]; ok {
			s, ok := v.(string)
			if !ok {
				return nil, fail(ErrMalformed, "bad_claim", name+" is not a string")
			}
			if name == "sub" {
				p.Subject = s
			} else {
				p.ACR = s
			}
		}
	}
	for _, name := range clientIDClaims {
		if s, ok := c[name].(string); ok && s != "" {
			p.ClientID = s
			break
		}
	}
	if v, ok := c["scope"]; ok {
		p.Scopes, _ = stringList(v, true)
	} else if v, ok := c["scp"]; ok {
		p.Scopes, _ = stringList(v, true)
	}
	p.Roles, _ = stringList(c[rolesClaim], true)
	p.AMR, _ = stringList(c["amr"], false)
	at, hasAt, e := numericDate(c, "auth_time")
	if e != nil {
		return nil, e
	}
	if hasAt {
		p.AuthTime = at
	}
	return p, nil
}

// numericDate reads a NumericDate claim (RFC 7519 §2: a JSON number of
// seconds; a string is refused).
func numericDate(c map[string]any, name string) (time.Time, bool, *Error) {
	v, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, false, fail(ErrMalformed, "bad_claim", name+" is not a NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// stringList reads a string or a list of strings; split splits a string
// at spaces (scope, roles). Absent is an empty list. Non-string list
// members make ok false.
func stringList(v any, split bool) ([]string, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		if split {
			return strings.Fields(v), true
		}
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return out, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}
