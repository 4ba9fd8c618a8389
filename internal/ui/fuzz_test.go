package ui

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseSession: the cookie parser never panics, and what it accepts
// is exactly the encoding of the session it returns (so no second spelling
// of a signed cookie is accepted).
func FuzzParseSession(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	a := newAuth(adminToken, readToken, func() time.Time { return now })
	good := a.encode(session{Role: RoleAdmin, Expires: now.Add(time.Hour), ID: strings.Repeat("0f", 16)})
	for _, seed := range []string{good, good + "=", strings.ToUpper(good), "admin.1.2.3", "", "....", "read-only.-1." + strings.Repeat("a", 32) + ".",
		a.encode(session{Role: RoleReadOnly, Expires: now.Add(time.Minute), ID: strings.Repeat("a1", 16)}),
		strings.Replace(good, "admin", "read-only", 1), "admin.01800003600." + strings.Repeat("0f", 16) + ".x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, err := a.parse(v)
		if err != nil {
			return
		}
		if a.encode(s) != v {
			t.Fatalf("accepted %q, which is not the encoding %q of %+v", v, a.encode(s), s)
		}
		if s.Role != RoleAdmin && s.Role != RoleReadOnly {
			t.Fatalf("accepted role %q", s.Role)
		}
		if !now.Before(s.Expires) {
			t.Fatalf("accepted an expired session %+v", s)
		}
	})
}
