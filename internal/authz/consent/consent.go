// Package consent holds consent grants: a data subject (the owner of the
// records, e.g. a customer) lets a grantee (the OAuth client or workload
// acting on them) use one scope on the resources a path pattern names,
// until an expiry or a revocation.
//
// The control plane keeps grants in its store and puts each active one on
// the bus (key Key(id)); every data plane follows them into a Cache, which
// answers the policy function consent(subject, scope) without a network
// call. A revocation deletes the key, and each watching data plane drops
// the grant within milliseconds.
package consent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Grant is one consent.
type Grant struct {
	ID string `json:"id"`
	// Subject is whose data it is (token sub of the owner, a path id).
	Subject string `json:"subject"`
	// Grantee is who may use it: the client id (azp/client_id) of the
	// token, else its subject, or a workload's SPIFFE ID.
	Grantee string `json:"grantee"`
	// Scope is what for ("orders:read"); "*" is every scope.
	Scope string `json:"scope"`
	// Resource is a path pattern the request path must match: segments
	// compared with path.Match (so * and ? stay inside a segment), a "**"
	// segment matching any number of segments; "" or "**" is any path.
	Resource  string     `json:"resource"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Limits on a grant's fields: consent ids and scopes are short; a
// resource is a path pattern.
const (
	MaxFieldLen    = 512
	MaxResourceLen = 2048
)

// KeyPrefix starts the bus key of every grant.
const KeyPrefix = "consent."

// Key is the bus key of the grant with this id.
func Key(id string) string { return KeyPrefix + id }

// NewID returns a grant id that sorts by creation time: "cs_", 16 hex
// digits of unix nanoseconds, 8 random hex digits (grants made one after
// another list in that order; the random part keeps replicas apart).
func NewID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("cs_%016x%s", now.UnixNano(), hex.EncodeToString(b[:]))
}

// ValidID reports whether id can be a grant id (and a bus key token).
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Validate checks a grant before it is stored: the fields a user sends,
// each named in the error.
func (g *Grant) Validate() error {
	var errs []error
	field := func(name, v string, max int, required bool) {
		switch {
		case required && strings.TrimSpace(v) == "":
			errs = append(errs, fmt.Errorf("%s: required", name))
		case len(v) > max:
			errs = append(errs, fmt.Errorf("%s: %d bytes, over the %d limit", name, len(v), max))
		case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			errs = append(errs, fmt.Errorf("%s: control characters or invalid UTF-8", name))
		}
	}
	field("subject", g.Subject, MaxFieldLen, true)
	field("grantee", g.Grantee, MaxFieldLen, true)
	field("scope", g.Scope, MaxFieldLen, true)
	field("resource", g.Resource, MaxResourceLen, false)
	if g.Resource != "" {
		if !strings.HasPrefix(g.Resource, "/") && g.Resource != "**" {
			errs = append(errs, errors.New(`resource: a path pattern starting with "/" (or "**" for any)`))
		} else if err := checkPattern(g.Resource); err != nil {
			errs = append(errs, fmt.Errorf("resource: %w", err))
		}
	}
	if g.ID != "" && !ValidID(g.ID) {
		errs = append(errs, errors.New("id: letters, digits, _ and - only, at most 64"))
	}
	if g.ExpiresAt != nil && !g.CreatedAt.IsZero() && !g.ExpiresAt.After(g.CreatedAt) {
		errs = append(errs, errors.New("expires_at: must be in the future"))
	}
	return errors.Join(errs...)
}

// maxDoubleStar bounds the "**" segments of a pattern (matching is
// polynomial in the path length with their count as the exponent).
const maxDoubleStar = 3

func checkPattern(p string) error {
	stars := 0
	for _, seg := range strings.Split(p, "/") {
		if seg == "**" {
			if stars++; stars > maxDoubleStar {
				return fmt.Errorf("at most %d ** segments", maxDoubleStar)
			}
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("segment %q: %w", seg, err)
		}
	}
	return nil
}

// ActiveAt reports whether the grant holds at t: created, not expired, not
// revoked.
func (g *Grant) ActiveAt(t time.Time) bool {
	if g.RevokedAt != nil && !g.RevokedAt.After(t) {
		return false
	}
	if g.ExpiresAt != nil && !g.ExpiresAt.After(t) {
		return false
	}
	return g.CreatedAt.IsZero() || !g.CreatedAt.After(t)
}

// Covers reports whether the grant's scope and resource pattern cover
// scope on resource (a request path).
func (g *Grant) Covers(scope, resource string) bool {
	return (g.Scope == scope || g.Scope == "*") && MatchResource(g.Resource, resource)
}

// MatchResource matches a request path against a grant's resource
// pattern. A pattern that does not compile matches nothing.
func MatchResource(pattern, resource string) bool {
	if pattern == "" || pattern == "**" {
		return true
	}
	return matchSegs(strings.Split(pattern, "/"), strings.Split(resource, "/"))
}

func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(segs); i++ {
				if matchSegs(rest, segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], segs[0]); err != nil || !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}
