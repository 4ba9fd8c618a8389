package control

import (
	"context"
	"slices"
	"testing"

	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/event"
)

func TestHealth(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	p := newPlane(t, Options{Store: st, Engine: newEngine(t), FeedEngine: true})
	h, err := p.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.DataPlanes) != 0 || !h.NewestEvent.IsZero() || h.BusConnected || h.Dropped != 0 {
		t.Fatalf("fresh plane: %+v", h)
	}
	evs := []event.Event{txn("a", "GET", "shop", "/a", 1), txn("b", "GET", "shop", "/b", 5), txn("c", "GET", "shop", "/c", 3)}
	alert := txn("alert-1", "GET", "shop", "/a", 9) // newer, but not a transaction
	alert.Type = "alert"
	if err := p.Ingest(ctx, append(evs, alert)); err != nil {
		t.Fatal(err)
	}
	profile := []byte(`{"version":1}`)
	p.ApplyProfile(bus.ProfileKey("edge-1", "0123456789abcdef"), profile)
	p.ApplyProfile(bus.ProfileKey("edge-1", "fedcba9876543210"), profile)
	p.ApplyProfile(bus.ProfileKey("edge.2", "0123456789abcdef"), profile)
	h, err = p.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !h.NewestEvent.Equal(evs[1].Time) {
		t.Errorf("newest event %v, want %v (the newest transaction)", h.NewestEvent, evs[1].Time)
	}
	if want := []string{"edge-1", "edge_2"}; !slices.Equal(h.DataPlanes, want) {
		t.Errorf("data planes %v, want %v", h.DataPlanes, want)
	}
	p.ApplyProfile(bus.ProfileKey("edge.2", "0123456789abcdef"), nil)
	if h, _ = p.Health(ctx); len(h.DataPlanes) != 1 {
		t.Errorf("after edge.2 withdrew its profile: %v", h.DataPlanes)
	}
}
