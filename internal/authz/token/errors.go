package token

import (
	"errors"
	"strings"
)

// Kinds of refusal. Every error Verify and FromRequest return wraps one of
// them in an *Error, so errors.Is(err, ErrExpired) tells a stage what went
// wrong and (*Error).Reason gives the short text it may show the client.
var (
	// ErrMalformed: not a compact JWS (parts, base64url, JSON, types).
	ErrMalformed = errors.New("malformed token")
	// ErrTooLarge: longer than the configured maximum, refused unparsed.
	ErrTooLarge = errors.New("token too large")
	// ErrSignature: the signature is missing or does not verify.
	ErrSignature = errors.New("bad signature")
	// ErrAlgorithm: alg is none, not in the issuer's allow-list, or does
	// not fit the key.
	ErrAlgorithm = errors.New("algorithm not accepted")
	// ErrHeader: a header Vigil refuses (crit, b64, jku, x5u, jwk, an
	// unexpected typ or cty, duplicate members).
	ErrHeader = errors.New("header not accepted")
	// ErrUnknownKey: no key of the issuer's set fits the token (unknown
	// kid, no keys fetched yet).
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrIssuer: iss missing or not a configured issuer.
	ErrIssuer = errors.New("issuer not trusted")
	// ErrAudience: aud does not name one of the issuer's audiences.
	ErrAudience = errors.New("audience not accepted")
	// ErrExpired: exp (plus leeway) has passed, or exp is missing.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: nbf or iat lies in the future beyond the leeway.
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrAPIKey: an API-key header carries a key that is not configured.
	ErrAPIKey = errors.New("unknown API key")
	// ErrPeer: the client certificate's SPIFFE ID is not accepted.
	ErrPeer = errors.New("peer identity not accepted")
)

// Error is a refused credential. It never holds the credential itself:
// TokenID is its hash.
type Error struct {
	// Kind is one of the Err* values above.
	Kind error
	// Reason is a short snake_case phrase, safe for a WWW-Authenticate
	// error_description and a rule id ("expired", "unknown_kid", ...).
	Reason string
	// Detail says more for logs (never the token).
	Detail string
	// Issuer is the issuer the token named, when one was selected.
	Issuer string
	// TokenID is TokenID(credential), when the credential was read.
	TokenID string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("token: ")
	b.WriteString(e.Kind.Error())
	if e.Reason != "" {
		b.WriteString(" (")
		b.WriteString(e.Reason)
		b.WriteString(")")
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Issuer != "" {
		b.WriteString(" [iss ")
		b.WriteString(e.Issuer)
		b.WriteString("]")
	}
	if e.TokenID != "" {
		b.WriteString(" [")
		b.WriteString(e.TokenID)
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, reason, detail string) *Error {
	return &Error{Kind: kind, Reason: reason, Detail: detail}
}
