// Package bearer checks "Authorization: Bearer TOKEN" on admin routes: the
// REST API and the data plane's profiler share it.
package bearer

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Token is an expected bearer token, kept as a digest so the comparison
// takes the same time whatever the presented token's length.
type Token struct {
	sum [32]byte
	set bool
}

// New returns the check for token; an empty token admits nobody.
func New(token string) Token {
	return Token{sum: sha256.Sum256([]byte(token)), set: token != ""}
}

// Valid reports whether r carries the token. The scheme is
// case-insensitive (RFC 7235); the digests are compared in constant time.
func (t Token) Valid(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	if !t.set || len(auth) <= 7 || !strings.EqualFold(auth[:7], "bearer ") {
		return false
	}
	got := sha256.Sum256([]byte(auth[7:]))
	return subtle.ConstantTimeCompare(got[:], t.sum[:]) == 1
}

// Challenge sets the WWW-Authenticate header of a 401 answer.
func Challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
}

// Require serves h only to requests that carry the token; others get a
// JSON 401.
func (t Token) Require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.Valid(r) {
			Challenge(w)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"a valid bearer token is required"}}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
