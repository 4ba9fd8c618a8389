package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// ConsentError is a grant GrantConsent rejected as the caller's fault (a
// field missing or malformed); the API answers 422 and names the field.
type ConsentError struct{ Err error }

func (e *ConsentError) Error() string { return e.Err.Error() }
func (e *ConsentError) Unwrap() error { return e.Err }

// InvalidConfig marks the error as the caller's (the API answers 422).
func (e *ConsentError) InvalidConfig() bool { return true }

// GrantConsent stores a new grant (its ID and creation time are set here),
// puts it on the bus for every data plane, and records a "consent" event.
// The grant is stored before it is distributed: should the bus be down,
// the next reconcile (at most a prune interval later) distributes it.
func (p *Plane) GrantConsent(ctx context.Context, g consent.Grant) (consent.Grant, error) {
	now := time.Now().UTC()
	g.ID, g.CreatedAt, g.RevokedAt = consent.NewID(now), now, nil
	if g.ExpiresAt != nil {
		t := g.ExpiresAt.UTC()
		if !t.After(now) {
			return consent.Grant{}, &ConsentError{Err: errors.New("expires_at: in the past")}
		}
		g.ExpiresAt = &t
	}
	if err := g.Validate(); err != nil {
		return consent.Grant{}, &ConsentError{Err: err}
	}
	if err := p.o.Store.InsertConsent(ctx, g); err != nil {
		return consent.Grant{}, err
	}
	p.recordConsent(ctx, "grant", g, now)
	if err := p.distribute(ctx, g); err != nil {
		p.log.Warn("consent grant stored, not yet distributed; retried on the next reconcile", "id", g.ID, "err", err)
	}
	return g, nil
}

// RevokeConsent marks a grant revoked, deletes it from the bus (each data
// plane drops it within milliseconds) and records a "consent" event.
// Revoking a revoked grant changes nothing and records nothing again.
func (p *Plane) RevokeConsent(ctx context.Context, id string) (consent.Grant, error) {
	if !consent.ValidID(id) {
		return consent.Grant{}, store.ErrNotFound
	}
	now := time.Now().UTC()
	g, err := p.o.Store.RevokeConsent(ctx, id, now)
	if err != nil {
		return consent.Grant{}, err
	}
	if g.RevokedAt != nil && g.RevokedAt.Equal(now) {
		p.recordConsent(ctx, "revoke", g, now)
	}
	if p.o.Bus != nil {
		if err := p.o.Bus.DeleteConfig(ctx, consent.Key(id)); err != nil {
			return g, fmt.Errorf("consent revoked in the store but not yet on the bus (retried on the next reconcile): %w", err)
		}
	}
	return g, nil
}

// GetConsent returns one grant, or store.ErrNotFound.
func (p *Plane) GetConsent(ctx context.Context, id string) (consent.Grant, error) {
	if !consent.ValidID(id) {
		return consent.Grant{}, store.ErrNotFound
	}
	return p.o.Store.GetConsent(ctx, id)
}

// ListConsents lists grants in creation order.
func (p *Plane) ListConsents(ctx context.Context, f store.ConsentFilter) (store.Page[consent.Grant], error) {
	return p.o.Store.ListConsents(ctx, f)
}

func (p *Plane) distribute(ctx context.Context, g consent.Grant) error {
	if p.o.Bus == nil {
		return nil
	}
	v, err := json.Marshal(g)
	if err != nil {
		return err
	}
	_, err = p.o.Bus.PutConfig(ctx, consent.Key(g.ID), v)
	return err
}

// recordConsent stores the event of a grant or revocation. Its txn_id is
// derived from the grant and the action, so a retry stores it once.
func (p *Plane) recordConsent(ctx context.Context, action string, g consent.Grant, at time.Time) {
	c := &event.Consent{Action: action, ID: g.ID, Subject: g.Subject, Grantee: g.Grantee, Scope: g.Scope, Resource: g.Resource}
	if g.ExpiresAt != nil {
		c.ExpiresAt = g.ExpiresAt.Format(time.RFC3339Nano)
	}
	ev := event.Event{Type: "consent", TxnID: "consent-" + g.ID + "-" + action, Time: at, Placement: "control",
		Decision: event.DecisionAllow, Consent: c}
	ev.Request.Method, ev.Request.Path = consentMethod[action], "/api/v1/consents"
	if _, err := p.o.Store.InsertEvents(ctx, []event.Event{ev}); err != nil {
		p.log.Warn("consent event not stored", "id", g.ID, "action", action, "err", err)
	}
	p.auditRecordOne(ctx, ev)
}

var consentMethod = map[string]string{"grant": "POST", "revoke": "DELETE"}

// reconcileConsents makes the bus hold exactly the active grants: those a
// bus outage kept from being put, and those expired or revoked while a
// delete could not be sent, are fixed here (at Run start and every prune
// interval). Data planes drop expired grants by themselves.
func (p *Plane) reconcileConsents(ctx context.Context) {
	if p.o.Bus == nil {
		return
	}
	now := time.Now()
	active := map[string]consent.Grant{}
	f := store.ConsentFilter{ActiveAt: now, Limit: store.MaxLimit}
	for {
		page, err := p.o.Store.ListConsents(ctx, f)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("consent reconcile: list failed", "err", err)
			}
			return
		}
		for _, g := range page.Items {
			active[consent.Key(g.ID)] = g
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	keys, err := p.o.Bus.ConfigKeys(ctx, consent.KeyPrefix)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("consent reconcile: bus unavailable", "err", err)
		}
		return
	}
	onBus := map[string]bool{}
	for _, k := range keys {
		onBus[k] = true
		if _, ok := active[k]; !ok {
			if err := p.o.Bus.DeleteConfig(ctx, k); err != nil {
				p.log.Warn("consent reconcile: delete failed", "key", k, "err", err)
			}
		}
	}
	for k, g := range active {
		if !onBus[k] {
			if err := p.distribute(ctx, g); err != nil {
				p.log.Warn("consent reconcile: put failed", "id", g.ID, "err", err)
			}
		}
	}
}
