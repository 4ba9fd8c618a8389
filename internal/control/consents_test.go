package control

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/store"
)

func embeddedBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Embedded, t.TempDir(), bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func busKeys(t *testing.T, b *bus.Bus) []string {
	t.Helper()
	keys, err := b.ConfigKeys(context.Background(), consent.KeyPrefix)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// TestGrantAndRevokeDistribute: a grant is on the bus as the data planes
// read it; a revocation takes it off; invalid grants are the caller's.
func TestGrantAndRevokeDistribute(t *testing.T) {
	ctx := context.Background()
	b := embeddedBus(t)
	p := newPlane(t, Options{Store: newStore(t), Bus: b})

	g, err := p.GrantConsent(ctx, consent.Grant{Subject: "u1", Grantee: "app", Scope: "orders:read", Resource: "/orders/**"})
	if err != nil {
		t.Fatal(err)
	}
	// What a data plane watching the bus holds.
	c := consent.NewCache()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = b.WatchPrefix(wctx, consent.KeyPrefix, c) }()
	for deadline := time.Now().Add(5 * time.Second); !c.Granted("u1", "app", "orders:read", "/orders/9", time.Now()); {
		if time.Now().After(deadline) {
			t.Fatalf("a watcher of the bus did not receive the grant (keys %v, invalid %d)", busKeys(t, b), c.Invalid())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := p.RevokeConsent(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if keys := busKeys(t, b); len(keys) != 0 {
		t.Fatalf("revoked grant still on the bus: %v", keys)
	}
	if _, err := p.RevokeConsent(ctx, "cs_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	past := time.Now().Add(-time.Minute)
	for _, bad := range []consent.Grant{
		{Grantee: "app", Scope: "s"},
		{Subject: "u1", Grantee: "app", Scope: "s", ExpiresAt: &past},
		{Subject: "u1", Grantee: "app", Scope: "s", Resource: "/a/[/b"},
	} {
		_, err := p.GrantConsent(ctx, bad)
		var ce *ConsentError
		if !errors.As(err, &ce) || !ce.InvalidConfig() {
			t.Errorf("grant %+v: %v, want a ConsentError", bad, err)
		}
	}
	if page, _ := p.ListConsents(ctx, store.ConsentFilter{}); len(page.Items) != 1 {
		t.Fatalf("grants stored: %d, want 1 (the invalid ones refused)", len(page.Items))
	}
}

// TestReconcileConsents: the bus ends up holding exactly the active
// grants, whatever an outage left behind.
func TestReconcileConsents(t *testing.T) {
	ctx := context.Background()
	b := embeddedBus(t)
	st := newStore(t)
	p := newPlane(t, Options{Store: st, Bus: b})
	now := time.Now().UTC()
	soon := now.Add(time.Hour)
	gone := now.Add(-time.Minute)
	grant := func(id string, expires *time.Time) consent.Grant {
		g := consent.Grant{ID: id, Subject: "u1", Grantee: "app", Scope: "s", CreatedAt: now.Add(-time.Hour), ExpiresAt: expires}
		if err := st.InsertConsent(ctx, g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	put := func(g consent.Grant) {
		v, _ := json.Marshal(g)
		if _, err := b.PutConfig(ctx, consent.Key(g.ID), v); err != nil {
			t.Fatal(err)
		}
	}
	missed := grant("cs_missed", &soon) // stored while the bus was down
	kept := grant("cs_kept", nil)
	put(kept)
	revoked := grant("cs_revoked", nil) // revoked while the bus was down
	put(revoked)
	if _, err := st.RevokeConsent(ctx, revoked.ID, now); err != nil {
		t.Fatal(err)
	}
	expired := grant("cs_expired", &gone)
	put(expired)
	put(consent.Grant{ID: "cs_stray", Subject: "x", Grantee: "y", Scope: "z"}) // not in the store

	p.reconcileConsents(ctx)
	want := []string{consent.Key(kept.ID), consent.Key(missed.ID)}
	slices.Sort(want)
	if got := busKeys(t, b); !slices.Equal(got, want) {
		t.Fatalf("bus keys %v, want %v", got, want)
	}
}
