package ui

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
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

// FuzzInventoryQuery: the inventory's query parser never panics, what it
// accepts is a valid store filter, and the links it builds (values) parse
// back to the same query, so paging and sorting keep the filter.
func FuzzInventoryQuery(f *testing.F) {
	for _, seed := range []string{"", "q=items&status=shadow", "sort=hits&dir=desc&page=3", "method=post&sensitive=email",
		"sort=color", "page=0", "page=-1", "q=%25_%5C", "host=%00", "dir=up", "q=" + strings.Repeat("a", 300), "status=zombie&sort=last_seen"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseInvQuery(v)
		if err != nil {
			var pe *pageError
			if !errors.As(err, &pe) || pe.status != 400 {
				t.Fatalf("%q: error %v is not a 400 page", raw, err)
			}
			return
		}
		fl := q.filter()
		if !store.ValidInventorySort(fl.Sort) || fl.Offset < 0 || fl.Limit != inventoryPerPage {
			t.Fatalf("%q: filter %+v", raw, fl)
		}
		back, err := parseInvQuery(q.values())
		if err != nil || back != q {
			t.Fatalf("%q: %+v links to %q, which parses to %+v (%v)", raw, q, q.values().Encode(), back, err)
		}
	})
}
