package consent

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMatchResource(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"", "/anything", true},
		{"**", "/a/b/c", true},
		{"/users/42/orders", "/users/42/orders", true},
		{"/users/42/orders", "/users/42/orders/7", false},
		{"/users/42/orders", "/users/43/orders", false},
		{"/users/*/orders", "/users/42/orders", true},
		{"/users/*/orders", "/users/42/x/orders", false}, // * stays in a segment
		{"/users/42/**", "/users/42", true},
		{"/users/42/**", "/users/42/orders/7", true},
		{"/users/42/**", "/users/420/orders", false},
		{"/**/orders", "/users/42/orders", true},
		{"/**/orders", "/users/42/orders/x", false},
		{"/files/report-?.pdf", "/files/report-1.pdf", true},
		{"/files/[", "/files/[", false}, // a bad pattern matches nothing
	}
	for _, tc := range tests {
		if got := MatchResource(tc.pattern, tc.path); got != tc.want {
			t.Errorf("MatchResource(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	now := time.Now()
	past := now.Add(-time.Hour)
	ok := Grant{Subject: "u1", Grantee: "app", Scope: "orders:read", Resource: "/users/u1/**", CreatedAt: now}
	tests := []struct {
		name    string
		edit    func(g *Grant)
		wantErr string
	}{
		{"valid", func(*Grant) {}, ""},
		{"any resource", func(g *Grant) { g.Resource = "" }, ""},
		{"no subject", func(g *Grant) { g.Subject = " " }, "subject: required"},
		{"no grantee", func(g *Grant) { g.Grantee = "" }, "grantee: required"},
		{"no scope", func(g *Grant) { g.Scope = "" }, "scope: required"},
		{"relative resource", func(g *Grant) { g.Resource = "users/*" }, "resource: a path pattern"},
		{"bad glob", func(g *Grant) { g.Resource = "/users/[" }, "resource: segment"},
		{"too many **", func(g *Grant) { g.Resource = "/**/**/**/**" }, "at most 3"},
		{"control char", func(g *Grant) { g.Scope = "a\nb" }, "scope: control characters"},
		{"long subject", func(g *Grant) { g.Subject = strings.Repeat("x", MaxFieldLen+1) }, "subject: 513 bytes"},
		{"expired at birth", func(g *Grant) { g.ExpiresAt = &past }, "expires_at: must be in the future"},
		{"bad id", func(g *Grant) { g.ID = "a.b" }, "id: letters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := ok
			tc.edit(&g)
			err := g.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func put(t *testing.T, c *Cache, g Grant) {
	t.Helper()
	v, _ := json.Marshal(g)
	if err := c.Put(Key(g.ID), v); err != nil {
		t.Fatal(err)
	}
}

func TestCacheGranted(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)
	c := NewCache()
	put(t, c, Grant{ID: "g1", Subject: "alice", Grantee: "budget-app", Scope: "orders:read", Resource: "/users/alice/orders/**", CreatedAt: now.Add(-time.Minute), ExpiresAt: &later})
	put(t, c, Grant{ID: "g2", Subject: "bob", Grantee: "budget-app", Scope: "*", CreatedAt: now.Add(-time.Minute)})
	tests := []struct {
		name                              string
		subject, grantee, scope, resource string
		at                                time.Time
		want                              bool
	}{
		{"granted", "alice", "budget-app", "orders:read", "/users/alice/orders/7", now, true},
		{"other scope", "alice", "budget-app", "orders:write", "/users/alice/orders/7", now, false},
		{"other grantee", "alice", "ads-app", "orders:read", "/users/alice/orders/7", now, false},
		{"other subject", "carol", "budget-app", "orders:read", "/users/alice/orders/7", now, false},
		{"outside resource", "alice", "budget-app", "orders:read", "/users/alice/profile", now, false},
		{"expired", "alice", "budget-app", "orders:read", "/users/alice/orders/7", later, false},
		{"before creation", "alice", "budget-app", "orders:read", "/users/alice/orders/7", now.Add(-time.Hour), false},
		{"wildcard scope", "bob", "budget-app", "anything", "/x", now, true},
	}
	for _, tc := range tests {
		if got := c.Granted(tc.subject, tc.grantee, tc.scope, tc.resource, tc.at); got != tc.want {
			t.Errorf("%s: Granted = %v, want %v", tc.name, got, tc.want)
		}
	}

	// A revoked value and a delete both remove the grant.
	revoked := now
	put(t, c, Grant{ID: "g1", Subject: "alice", Grantee: "budget-app", Scope: "orders:read", CreatedAt: now.Add(-time.Minute), RevokedAt: &revoked})
	if c.Granted("alice", "budget-app", "orders:read", "/users/alice/orders/7", now) {
		t.Error("a revoked grant still answers")
	}
	c.Delete(Key("g2"))
	if c.Granted("bob", "budget-app", "x", "/x", now) || c.Len() != 0 {
		t.Errorf("deleted grant still held (len %d)", c.Len())
	}
	// A value whose id is not its key's is refused and counted.
	v, _ := json.Marshal(Grant{ID: "other", Subject: "a", Grantee: "b", Scope: "c"})
	if err := c.Put(Key("g3"), v); err == nil || c.Invalid() != 1 {
		t.Errorf("mismatched id accepted (err %v, invalid %d)", err, c.Invalid())
	}
	if err := c.Put(Key("g4"), []byte("{")); err == nil || c.Invalid() != 2 {
		t.Errorf("bad JSON accepted (err %v)", err)
	}
}

// TestCacheResync: after a reconnect the bus delivers the current grants
// again; a grant deleted while the data plane was away must go, however
// it got into the cache (initial delivery or a live change).
func TestCacheResync(t *testing.T) {
	c := NewCache()
	g := func(id string) Grant { return Grant{ID: id, Subject: "s", Grantee: id, Scope: "x"} }
	c.Begin()
	put(t, c, g("initial-kept"))
	put(t, c, g("initial-gone"))
	c.Synced()
	put(t, c, g("live-kept"))
	put(t, c, g("live-gone"))
	// reconnect: only the kept ones are delivered again
	c.Begin()
	put(t, c, g("initial-kept"))
	put(t, c, g("live-kept"))
	c.Synced()
	var ids []string
	for _, x := range c.Grants() {
		ids = append(ids, x.ID)
	}
	if got := strings.Join(ids, ","); got != "initial-kept,live-kept" {
		t.Fatalf("after resync: %s", got)
	}
}

func TestCacheSaveLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "consent.json")
	c := NewCache()
	put(t, c, Grant{ID: "g1", Subject: "alice", Grantee: "app", Scope: "read"})
	if err := c.Save(file); err != nil {
		t.Fatal(err)
	}
	d := NewCache()
	if err := d.Load(file); err != nil {
		t.Fatal(err)
	}
	if !d.Granted("alice", "app", "read", "/x", time.Now()) {
		t.Fatal("loaded cache lost the grant")
	}
	if err := NewCache().Load(filepath.Join(t.TempDir(), "missing.json")); err != nil {
		t.Fatalf("missing file: %v", err)
	}
}

func FuzzMatchResource(f *testing.F) {
	for _, s := range [][2]string{{"/users/*/orders", "/users/1/orders"}, {"/**/x/**", "/a/x/b"}, {"[", "/"}, {"/a/**", "/a"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		g := Grant{Subject: "s", Grantee: "g", Scope: "x", Resource: pattern}
		if g.Validate() != nil {
			return
		}
		if len(path) > 4096 {
			return
		}
		got := MatchResource(pattern, path) // must not panic or run away
		// A pattern without wildcards matches its own text and nothing
		// else; every path is under "**", and a literal path under itself.
		if pattern != "" && !strings.ContainsAny(pattern, `*?[\`) && got != (pattern == path) {
			t.Fatalf("literal %q vs %q: %v", pattern, path, got)
		}
		if !MatchResource("**", path) {
			t.Fatalf("** does not match %q", path)
		}
		if strings.HasPrefix(path, "/") && !strings.ContainsAny(path, `*?[\`) && !MatchResource(path, path) {
			t.Fatalf("%q does not match itself", path)
		}
	})
}
