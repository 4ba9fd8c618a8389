package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/store"
)

// consentT0 is the reference time of the consent cases: nanoseconds set, in
// a zone other than UTC, so a round trip that drops either shows.
var consentT0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func ptr(t time.Time) *time.Time { return &t }

// utc is g as the store hands it back: every time in UTC.
func utc(g consent.Grant) consent.Grant {
	g.CreatedAt = g.CreatedAt.UTC()
	for _, p := range []**time.Time{&g.ExpiresAt, &g.RevokedAt} {
		if *p != nil {
			*p = ptr((*p).UTC())
		}
	}
	return g
}

func grantString(g consent.Grant) string {
	f := func(t *time.Time) string {
		if t == nil {
			return "nil"
		}
		return t.Format(time.RFC3339Nano) + " " + t.Location().String()
	}
	return fmt.Sprintf("{%s %q %q %q %q created %s expires %s revoked %s}", g.ID, g.Subject, g.Grantee, g.Scope, g.Resource,
		f(&g.CreatedAt), f(g.ExpiresAt), f(g.RevokedAt))
}

// sameGrant reports whether got is want as stored: equal fields, times
// equal to the nanosecond and in UTC.
func sameGrant(got, want consent.Grant) bool {
	want = utc(want)
	utcOnly := func(t *time.Time) bool { return t == nil || t.Location() == time.UTC }
	return reflect.DeepEqual(got, want) && utcOnly(&got.CreatedAt) && utcOnly(got.ExpiresAt) && utcOnly(got.RevokedAt)
}

func mustInsertConsent(t *testing.T, s store.Store, gs ...consent.Grant) {
	t.Helper()
	for _, g := range gs {
		if err := s.InsertConsent(ctxT(t), g); err != nil {
			t.Fatalf("InsertConsent(%s): %v", grantString(g), err)
		}
	}
}

// listConsentIDs pages through every grant matching f and returns their
// ids in the order received.
func listConsentIDs(t *testing.T, s store.Store, f store.ConsentFilter) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("consent paging does not end")
		}
		p, err := s.ListConsents(ctxT(t), f)
		if err != nil {
			t.Fatalf("ListConsents(%+v): %v", f, err)
		}
		if f.Limit > 0 && len(p.Items) > f.Limit {
			t.Fatalf("ListConsents(limit %d) returned %d items", f.Limit, len(p.Items))
		}
		for _, g := range p.Items {
			ids = append(ids, g.ID)
		}
		if p.NextCursor == "" {
			return ids
		}
		if len(p.Items) == 0 {
			t.Fatal("empty consent page with a next cursor")
		}
		f.Cursor = p.NextCursor
	}
}

func testConsents(t *testing.T, newDB NewDB) {
	t.Run("RoundTrip", func(t *testing.T) { testConsentRoundTrip(t, newDB) })
	t.Run("InsertErrors", func(t *testing.T) { testConsentInsertErrors(t, newDB) })
	t.Run("Revoke", func(t *testing.T) { testConsentRevoke(t, newDB) })
	t.Run("ConcurrentReplicas", func(t *testing.T) { testConsentConcurrent(t, newDB) })
	t.Run("ListFilters", func(t *testing.T) { testConsentListFilters(t, newDB) })
	t.Run("ListActiveAt", func(t *testing.T) { testConsentActiveAt(t, newDB) })
	t.Run("Paging", func(t *testing.T) { testConsentPaging(t, newDB) })
	t.Run("BadCursor", func(t *testing.T) { testConsentBadCursor(t, newDB) })
}

func testConsentRoundTrip(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	tests := []struct {
		name string
		g    consent.Grant
	}{
		{"every field", consent.Grant{ID: consent.NewID(consentT0), Subject: "alice", Grantee: "spiffe://shop/ns/prod/sa/billing",
			Scope: "orders:read", Resource: "/users/alice/orders/**", CreatedAt: consentT0,
			ExpiresAt: ptr(consentT0.Add(90*24*time.Hour + 1)), RevokedAt: ptr(consentT0.Add(time.Hour + 7))}},
		{"never expires, not revoked", consent.Grant{ID: consent.NewID(consentT0.Add(time.Millisecond)), Subject: "bob",
			Grantee: "web", Scope: "*", CreatedAt: consentT0.Add(time.Millisecond + 1)}},
		{"unicode and an exotic resource", consent.Grant{ID: "cs_handmade-ID_01", Subject: "zoë@example.com",
			Grantee: "client-ä", Scope: "profile:write", Resource: "/p/*/x?/**", CreatedAt: time.Unix(0, 1).UTC(),
			ExpiresAt: ptr(time.Unix(1<<33, 999999999).In(time.FixedZone("X", -7*3600)))}},
	}
	for _, tc := range tests {
		mustInsertConsent(t, s, tc.g)
		got, err := s.GetConsent(ctxT(t), tc.g.ID)
		if err != nil {
			t.Fatalf("%s: GetConsent: %v", tc.name, err)
		}
		if !sameGrant(got, tc.g) {
			t.Errorf("%s: grant changed in the store:\n got %s\nwant %s", tc.name, grantString(got), grantString(utc(tc.g)))
		}
	}
	// Listing returns the same grants as Get.
	p, err := s.ListConsents(ctxT(t), store.ConsentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != len(tests) || p.NextCursor != "" {
		t.Fatalf("ListConsents: %d grants, cursor %q; want %d, no cursor", len(p.Items), p.NextCursor, len(tests))
	}
	for _, got := range p.Items {
		i := slices.IndexFunc(tests, func(tc struct {
			name string
			g    consent.Grant
		}) bool {
			return tc.g.ID == got.ID
		})
		if i < 0 || !sameGrant(got, tests[i].g) {
			t.Errorf("ListConsents returned %s, not as inserted", grantString(got))
		}
	}
	for _, id := range []string{consent.NewID(consentT0), "", "no such/id", "bad\x00id", "\xff"} {
		if _, err := s.GetConsent(ctxT(t), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetConsent(%q) error = %v, want ErrNotFound", id, err)
		}
	}
}

func testConsentInsertErrors(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	orig := consent.Grant{ID: consent.NewID(consentT0), Subject: "alice", Grantee: "web", Scope: "orders:read", CreatedAt: consentT0}
	mustInsertConsent(t, s, orig)
	// A second insert under the same id is a conflict and changes nothing.
	again := orig
	again.Subject, again.Scope, again.ExpiresAt = "mallory", "*", ptr(consentT0.Add(time.Hour))
	if err := s.InsertConsent(ctxT(t), again); !errors.Is(err, store.ErrConflict) {
		t.Errorf("InsertConsent(same id) error = %v, want ErrConflict", err)
	}
	if got, err := s.GetConsent(ctxT(t), orig.ID); err != nil || !sameGrant(got, orig) {
		t.Errorf("after a conflicting insert: GetConsent = %s, %v; want the original %s", grantString(got), err, grantString(utc(orig)))
	}

	valid := func(mod func(*consent.Grant)) consent.Grant {
		g := consent.Grant{ID: consent.NewID(consentT0.Add(time.Second)), Subject: "bob", Grantee: "web", Scope: "orders:read", CreatedAt: consentT0}
		mod(&g)
		return g
	}
	bad := []struct {
		name string
		g    consent.Grant
	}{
		{"empty id", valid(func(g *consent.Grant) { g.ID = "" })},
		{"id with a space", valid(func(g *consent.Grant) { g.ID = "cs 1" })},
		{"id with a dot (a bus key separator)", valid(func(g *consent.Grant) { g.ID = "cs.1" })},
		{"id with a slash", valid(func(g *consent.Grant) { g.ID = "../cs" })},
		{"id with non-ASCII", valid(func(g *consent.Grant) { g.ID = "cs_ü" })},
		{"id of 65 bytes", valid(func(g *consent.Grant) { g.ID = strings.Repeat("a", 65) })},
		{"no created_at", valid(func(g *consent.Grant) { g.CreatedAt = time.Time{} })},
		{"expires_at past 2262", valid(func(g *consent.Grant) { g.ExpiresAt = ptr(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) })},
		{"NUL in the subject", valid(func(g *consent.Grant) { g.Subject = "bob\x00" })},
		{"invalid UTF-8 in the resource", valid(func(g *consent.Grant) { g.Resource = "/\xff" })},
	}
	for _, tc := range bad {
		if err := s.InsertConsent(ctxT(t), tc.g); err == nil {
			t.Errorf("InsertConsent(%s) accepted %s", tc.name, grantString(tc.g))
		} else if errors.Is(err, store.ErrConflict) {
			t.Errorf("InsertConsent(%s) error = %v, not a conflict", tc.name, err)
		}
	}
	if got := listConsentIDs(t, s, store.ConsentFilter{}); !slices.Equal(got, []string{orig.ID}) {
		t.Errorf("rejected inserts left grants behind: %v", got)
	}
	// 64 bytes is the longest id.
	long := valid(func(g *consent.Grant) { g.ID = strings.Repeat("Z", 64) })
	mustInsertConsent(t, s, long)
}

func testConsentRevoke(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	g := consent.Grant{ID: consent.NewID(consentT0), Subject: "alice", Grantee: "web", Scope: "orders:read",
		Resource: "/orders/**", CreatedAt: consentT0, ExpiresAt: ptr(consentT0.Add(24 * time.Hour))}
	other := consent.Grant{ID: consent.NewID(consentT0.Add(time.Millisecond)), Subject: "alice", Grantee: "web", Scope: "orders:write", CreatedAt: consentT0}
	mustInsertConsent(t, s, g, other)
	first := consentT0.Add(time.Hour + 123)
	steps := []struct {
		name string
		at   time.Time
	}{
		{"revoke", first},
		{"again later: the first time stays", first.Add(time.Hour)},
		{"again earlier: the first time stays", first.Add(-time.Minute)},
	}
	want := g
	want.RevokedAt = &first
	for _, st := range steps {
		got, err := s.RevokeConsent(ctxT(t), g.ID, st.at)
		if err != nil {
			t.Fatalf("%s: RevokeConsent: %v", st.name, err)
		}
		if !sameGrant(got, want) {
			t.Errorf("%s: RevokeConsent returned\n %s\nwant %s", st.name, grantString(got), grantString(utc(want)))
		}
		if got, err := s.GetConsent(ctxT(t), g.ID); err != nil || !sameGrant(got, want) {
			t.Errorf("%s: GetConsent = %s, %v; want %s", st.name, grantString(got), err, grantString(utc(want)))
		}
	}
	if got, err := s.GetConsent(ctxT(t), other.ID); err != nil || got.RevokedAt != nil {
		t.Errorf("revoking one grant touched another: %s, %v", grantString(got), err)
	}
	for _, id := range []string{consent.NewID(consentT0), "", "bad\x00id"} {
		if _, err := s.RevokeConsent(ctxT(t), id, first); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeConsent(%q) error = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := s.RevokeConsent(ctxT(t), other.ID, time.Time{}); err == nil {
		t.Error("RevokeConsent accepted a zero time")
	}
	if got, err := s.GetConsent(ctxT(t), other.ID); err != nil || got.RevokedAt != nil {
		t.Errorf("a rejected revocation was stored: %s, %v", grantString(got), err)
	}
}

// testConsentConcurrent plays two control-plane replicas racing on one
// grant: exactly one insert wins, and every revocation reports the same,
// first, revocation time.
func testConsentConcurrent(t *testing.T, newDB NewDB) {
	dsn, dir := newDB(t)
	replicas := []store.Store{open(t, dsn, dir), open(t, dsn, dir)}
	g := consent.Grant{ID: consent.NewID(consentT0), Subject: "alice", Grantee: "web", Scope: "orders:read", CreatedAt: consentT0}
	const workers = 6
	var (
		wg       sync.WaitGroup
		inserted = make([]error, workers)
		revoked  = make([]consent.Grant, workers)
		revErr   = make([]error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inserted[w] = replicas[w%2].InsertConsent(ctxT(t), g)
		}()
	}
	wg.Wait()
	wins := 0
	for w, err := range inserted {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("insert %d: %v, want nil or ErrConflict", w, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent inserts of one id succeeded, want exactly 1", wins, workers)
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			revoked[w], revErr[w] = replicas[w%2].RevokeConsent(ctxT(t), g.ID, consentT0.Add(time.Duration(w+1)*time.Minute))
		}()
	}
	wg.Wait()
	for w := range workers {
		if revErr[w] != nil {
			t.Fatalf("revoke %d: %v", w, revErr[w])
		}
		if revoked[w].RevokedAt == nil || !revoked[w].RevokedAt.Equal(*revoked[0].RevokedAt) {
			t.Errorf("concurrent revocations disagree: %s vs %s", grantString(revoked[w]), grantString(revoked[0]))
		}
	}
	for i, r := range replicas {
		if got, err := r.GetConsent(ctxT(t), g.ID); err != nil || !reflect.DeepEqual(got, revoked[0]) {
			t.Errorf("replica %d: GetConsent = %s, %v; want %s", i, grantString(got), err, grantString(revoked[0]))
		}
	}
}

func testConsentListFilters(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	subjects := []string{"alice", "bob", "carol"}
	grantees := []string{"web", "spiffe://shop/sa/billing"}
	scopes := []string{"orders:read", "orders:write", "*", "profile:read"}
	var all []consent.Grant
	for i := range 30 {
		g := consent.Grant{
			// Inserted out of id order, listed in id order.
			ID:        consent.NewID(consentT0.Add(time.Duration((i*7)%30) * time.Millisecond)),
			Subject:   subjects[i%len(subjects)],
			Grantee:   grantees[i/3%len(grantees)],
			Scope:     scopes[i%len(scopes)],
			Resource:  "/users/" + subjects[i%len(subjects)] + "/**",
			CreatedAt: consentT0.Add(time.Duration(i) * time.Second),
		}
		all = append(all, g)
	}
	mustInsertConsent(t, s, all...)
	// Prefixes and case do not match; only exact values do.
	mustInsertConsent(t, s, consent.Grant{ID: consent.NewID(consentT0.Add(-time.Hour)), Subject: "Alice", Grantee: "webapp",
		Scope: "orders", CreatedAt: consentT0})
	want := func(keep func(consent.Grant) bool) []string {
		var ids []string
		for _, g := range all {
			if keep(g) {
				ids = append(ids, g.ID)
			}
		}
		slices.Sort(ids)
		return ids
	}
	tests := []struct {
		name string
		f    store.ConsentFilter
		want []string
	}{
		{"subject", store.ConsentFilter{Subject: "alice"}, want(func(g consent.Grant) bool { return g.Subject == "alice" })},
		{"grantee", store.ConsentFilter{Grantee: "spiffe://shop/sa/billing"},
			want(func(g consent.Grant) bool { return g.Grantee == "spiffe://shop/sa/billing" })},
		{"scope", store.ConsentFilter{Scope: "orders:read"}, want(func(g consent.Grant) bool { return g.Scope == "orders:read" })},
		{"scope * is a value, not a wildcard", store.ConsentFilter{Scope: "*"}, want(func(g consent.Grant) bool { return g.Scope == "*" })},
		{"subject and grantee", store.ConsentFilter{Subject: "bob", Grantee: "web"},
			want(func(g consent.Grant) bool { return g.Subject == "bob" && g.Grantee == "web" })},
		{"all three", store.ConsentFilter{Subject: "carol", Grantee: "spiffe://shop/sa/billing", Scope: "orders:write"},
			want(func(g consent.Grant) bool {
				return g.Subject == "carol" && g.Grantee == "spiffe://shop/sa/billing" && g.Scope == "orders:write"
			})},
		{"no match", store.ConsentFilter{Subject: "dave"}, nil},
		{"no match: NUL", store.ConsentFilter{Subject: "alice\x00"}, nil},
		{"no match: invalid UTF-8", store.ConsentFilter{Grantee: "\xff"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) == 0 && !strings.HasPrefix(tc.name, "no match") {
				t.Fatal("test data selects nothing")
			}
			for _, lim := range []int{0, 2} {
				f := tc.f
				f.Limit = lim
				if got := listConsentIDs(t, s, f); !slices.Equal(got, tc.want) {
					t.Errorf("limit %d:\n got %v\nwant %v", lim, got, tc.want)
				}
			}
		})
	}
}

func testConsentActiveAt(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	at := consentT0
	tests := []struct {
		name      string
		g         consent.Grant
		revokedAt *time.Time // revoked through RevokeConsent
		active    bool       // at consentT0
	}{
		{name: "never expires", active: true},
		{name: "expires later", g: consent.Grant{ExpiresAt: ptr(at.Add(time.Nanosecond))}, active: true},
		{name: "expired", g: consent.Grant{ExpiresAt: ptr(at.Add(-time.Nanosecond))}},
		// consent.Grant.ActiveAt: a grant is expired at its ExpiresAt.
		{name: "expires exactly then", g: consent.Grant{ExpiresAt: ptr(at)}},
		{name: "revoked before", revokedAt: ptr(at.Add(-time.Minute))},
		{name: "revoked exactly then", revokedAt: ptr(at)},
		{name: "revoked later (still held then)", revokedAt: ptr(at.Add(time.Minute)), active: true},
		{name: "inserted revoked", g: consent.Grant{RevokedAt: ptr(at.Add(-time.Second)), ExpiresAt: ptr(at.Add(time.Hour))}},
		{name: "expires later, revoked before", g: consent.Grant{ExpiresAt: ptr(at.Add(time.Hour))}, revokedAt: ptr(at.Add(-time.Second))},
		{name: "created exactly then", g: consent.Grant{CreatedAt: at}, active: true},
		{name: "created later", g: consent.Grant{CreatedAt: at.Add(time.Nanosecond)}},
	}
	byID := map[string]string{}
	for i := range tests {
		tc := &tests[i]
		tc.g.ID = consent.NewID(at.Add(time.Duration(i) * time.Millisecond))
		tc.g.Subject, tc.g.Grantee, tc.g.Scope = []string{"alice", "bob"}[i%2], "web", "orders:read"
		if tc.g.CreatedAt.IsZero() {
			tc.g.CreatedAt = at.Add(-24 * time.Hour)
		}
		mustInsertConsent(t, s, tc.g)
		if tc.revokedAt != nil {
			if _, err := s.RevokeConsent(ctxT(t), tc.g.ID, *tc.revokedAt); err != nil {
				t.Fatalf("%s: RevokeConsent: %v", tc.name, err)
			}
			tc.g.RevokedAt = tc.revokedAt
		}
		// The table says what consent.Grant.ActiveAt decides; the store must agree.
		if got := tc.g.ActiveAt(at); got != tc.active {
			t.Fatalf("%s: consent.Grant.ActiveAt = %v, the table says %v", tc.name, got, tc.active)
		}
		byID[tc.g.ID] = tc.name
	}
	names := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = byID[id]
		}
		return out
	}
	// At consentT0 exactly as the table says; at other times as
	// consent.Grant.ActiveAt decides for the stored grants.
	for _, when := range []time.Time{at, at.Add(-time.Nanosecond), at.Add(-30 * time.Second), at.Add(30 * time.Minute),
		at.Add(2 * time.Hour), at.Add(-48 * time.Hour), time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)} {
		for _, subject := range []string{"", "alice"} {
			var want []string
			for _, tc := range tests {
				stored, err := s.GetConsent(ctxT(t), tc.g.ID)
				if err != nil {
					t.Fatal(err)
				}
				if stored.ActiveAt(when) && (subject == "" || stored.Subject == subject) {
					want = append(want, tc.g.ID)
				}
			}
			slices.Sort(want)
			for _, lim := range []int{0, 2} {
				got := listConsentIDs(t, s, store.ConsentFilter{ActiveAt: when, Subject: subject, Limit: lim})
				if !slices.Equal(got, want) {
					t.Errorf("ActiveAt %s, subject %q, limit %d:\n got %q\nwant %q", when.Format(time.RFC3339Nano), subject, lim, names(got), names(want))
				}
			}
		}
	}
	// Without ActiveAt nothing is left out.
	if got := listConsentIDs(t, s, store.ConsentFilter{}); len(got) != len(tests) {
		t.Errorf("no ActiveAt: listed %d grants, want all %d", len(got), len(tests))
	}
}

func testConsentPaging(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	gs := make([]consent.Grant, 5)
	want := make([]string, len(gs))
	for i := range gs {
		c := consentT0.Add(time.Duration(i) * time.Millisecond)
		gs[i] = consent.Grant{ID: consent.NewID(c), Subject: "alice", Grantee: "web", Scope: "orders:read", CreatedAt: c}
		want[i] = gs[i].ID
	}
	// Stored newest first, so storage order is not id order.
	for i := len(gs) - 1; i >= 0; i-- {
		mustInsertConsent(t, s, gs[i])
	}
	f := store.ConsentFilter{Limit: 2}
	var got []string
	var sizes []int
	for len(sizes) < 10 {
		p, err := s.ListConsents(ctxT(t), f)
		if err != nil {
			t.Fatalf("ListConsents(%+v): %v", f, err)
		}
		sizes = append(sizes, len(p.Items))
		for _, g := range p.Items {
			got = append(got, g.ID)
		}
		if p.NextCursor == "" {
			break
		}
		f.Cursor = p.NextCursor
	}
	if !slices.Equal(sizes, []int{2, 2, 1}) {
		t.Errorf("limit 2 over 5 grants: page sizes %v, want [2 2 1]", sizes)
	}
	if !slices.Equal(got, want) {
		t.Errorf("limit 2 over 5 grants:\n got %v\nwant %v (all, in id order, once)", got, want)
	}
	for _, lim := range []int{1, 3, 4, 5, 6, store.MaxLimit, store.MaxLimit * 5, 0, -1} {
		if got := listConsentIDs(t, s, store.ConsentFilter{Limit: lim}); !slices.Equal(got, want) {
			t.Errorf("limit %d: got %v, want %v", lim, got, want)
		}
	}
	// A page that ends exactly at the last grant has no next cursor.
	if p, err := s.ListConsents(ctxT(t), store.ConsentFilter{Limit: 5}); err != nil || len(p.Items) != 5 || p.NextCursor != "" {
		t.Errorf("limit 5 over 5 grants: %d items, cursor %q, %v; want 5 and no cursor", len(p.Items), p.NextCursor, err)
	}
	// Grants created after a page was read show up on later pages.
	p, err := s.ListConsents(ctxT(t), store.ConsentFilter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	late := consent.Grant{ID: consent.NewID(consentT0.Add(time.Second)), Subject: "alice", Grantee: "web", Scope: "orders:read", CreatedAt: consentT0.Add(time.Second)}
	mustInsertConsent(t, s, late)
	rest := listConsentIDs(t, s, store.ConsentFilter{Limit: 2, Cursor: p.NextCursor})
	if w := append(slices.Clone(want[2:]), late.ID); !slices.Equal(rest, w) {
		t.Errorf("paging on after an insert: got %v, want %v", rest, w)
	}
}

func testConsentBadCursor(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	for i := range 3 {
		c := consentT0.Add(time.Duration(i) * time.Millisecond)
		mustInsertConsent(t, s, consent.Grant{ID: consent.NewID(c), Subject: "alice", Grantee: "web", Scope: "orders:read", CreatedAt: c})
	}
	mustInsert(t, s, Events("cbc", 3, time.Now()))
	if err := s.UpsertEndpoints(ctxT(t), []store.Endpoint{{Host: "a", Method: "GET", Path: "/a"}, {Host: "b", Method: "GET", Path: "/b"}}); err != nil {
		t.Fatal(err)
	}
	csPage, err := s.ListConsents(ctxT(t), store.ConsentFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	evPage, err := s.ListEvents(ctxT(t), store.EventFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	epPage, err := s.ListEndpoints(ctxT(t), store.EndpointFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if csPage.NextCursor == "" || evPage.NextCursor == "" || epPage.NextCursor == "" {
		t.Fatal("expected next cursors")
	}
	for _, c := range []string{"garbage!", "e30", "W10", "WyJjczEiLDFd" /* ["cs1",1] */, evPage.NextCursor, epPage.NextCursor,
		csPage.NextCursor[:len(csPage.NextCursor)-2], strings.Repeat("A", 5000)} {
		if _, err := s.ListConsents(ctxT(t), store.ConsentFilter{Cursor: c}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ListConsents(cursor %q) error = %v, want ErrBadCursor", c, err)
		}
	}
	// And a consent cursor is no good to the other lists.
	if _, err := s.ListEvents(ctxT(t), store.EventFilter{Cursor: csPage.NextCursor}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("ListEvents(consent cursor) error = %v, want ErrBadCursor", err)
	}
	if _, err := s.ListEndpoints(ctxT(t), store.EndpointFilter{Cursor: csPage.NextCursor}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("ListEndpoints(consent cursor) error = %v, want ErrBadCursor", err)
	}
}
