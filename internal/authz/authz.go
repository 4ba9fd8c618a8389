// Package authz is Vigil's identity and authorization domain: who is
// calling (verified tokens, API keys, mTLS peers) and what they may do
// (CEL policies, object- and function-level rules, step-up, consent).
//
// The root package holds the types every part shares; the parts live in
// sub-packages:
//
//	token     verifies JWTs (JWKS file, URL, OIDC discovery), API keys and
//	          mTLS peer identities, and yields a Principal
//	policy    compiles and evaluates CEL policies (allow_if, deny_if,
//	          step_up_if), relationship tuples, and `vigil policy test`
//	behavior  per-identity baselines, anomaly scores, enumeration detection
//	consent   consent grants: the control-plane store and the data plane's
//	          cache, kept in step over the bus
//
// The stages internal/stage/identity and internal/stage/authz put them in
// the request pipeline.
package authz

import "time"

// Sources of a Principal.
const (
	SourceJWT    = "jwt"
	SourceAPIKey = "api_key"
	SourceMTLS   = "mtls"
)

// Principal is a verified caller. It is immutable once built: a cached
// Principal is shared by every request that presents the same token.
type Principal struct {
	// Source is how the caller was identified (SourceJWT, SourceAPIKey,
	// SourceMTLS).
	Source string
	// Issuer is the token's iss (JWT), the key's name (API key) or the
	// trust domain (mTLS).
	Issuer string
	// Subject is sub (JWT), the key's subject (API key) or the SPIFFE ID
	// (mTLS).
	Subject string
	// ClientID is client_id, else azp, when the token has one.
	ClientID string
	// Scopes are the scope (space-separated) or scp claim's values.
	Scopes []string
	// Roles are the roles claim's values (a list or a space-separated
	// string), when present.
	Roles []string
	// ACR, AMR and AuthTime are the authentication context (RFC 9470).
	ACR      string
	AMR      []string
	AuthTime time.Time
	// Expiry is exp; zero when the credential does not expire.
	Expiry time.Time
	// TokenID is "sha256:" and the first 16 hex digits of the SHA-256 of
	// the credential: events carry it, never the credential.
	TokenID string
	// Claims are every claim of the token as JSON decodes them (string,
	// float64, bool, []any, map[string]any), for policies (`token.*`).
	// For API keys and mTLS peers it holds sub, scope and roles.
	Claims map[string]any
}

// PrincipalKey is the key under which the identity stage stashes the
// request's *Principal on the transaction (pipeline.Txn.Stash) for the
// stages after it.
type PrincipalKey struct{}
