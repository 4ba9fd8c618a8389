package control

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/store"
)

// Health is the plane's view of its data planes and of its event
// pipeline, as the dashboard's overview shows it.
type Health struct {
	// DataPlanes lists the data planes whose discovery profiles are live
	// in the bus (scale-out: `vigil control` feeding its own inventory),
	// by name; empty when the plane does not watch profiles.
	DataPlanes []string
	// BusConnected reports whether the plane reaches its bus (false
	// without one).
	BusConnected bool
	// NewestEvent is the time of the newest transaction event stored
	// (zero: none yet); under steady traffic its age is the pipeline's
	// lag from the data plane to the store.
	NewestEvent time.Time
	// Dropped counts what the plane dropped before storing it: alerts
	// over the queue, call-graph deltas, and observations the inventory
	// engine could not queue.
	Dropped uint64
}

// Health reports the plane's health; the store is asked for the newest
// event (one indexed row).
func (p *Plane) Health(ctx context.Context) (Health, error) {
	h := Health{DataPlanes: p.profileSources(), Dropped: p.AlertsDropped() + p.EdgesDropped()}
	if p.o.Engine != nil {
		h.Dropped += p.o.Engine.Dropped()
	}
	if p.o.Bus != nil {
		h.BusConnected = p.o.Bus.Connected()
	}
	page, err := p.o.Store.ListEvents(ctx, store.EventFilter{Type: store.TypeTransaction, Limit: 1})
	if err != nil {
		return h, err
	}
	if len(page.Items) > 0 {
		h.NewestEvent = page.Items[0].Time
	}
	return h, nil
}

// profileSources are the distinct data planes among the profile keys
// (bus.ProfileKey: "p.<source>.<endpoint id>"), sorted.
func (p *Plane) profileSources() []string {
	seen := map[string]struct{}{}
	p.profiles.read(func(byKey map[string]*discovery.ScaleOutProfile, _ uint64) {
		for k := range byKey {
			parts := strings.Split(k, ".")
			if len(parts) == 3 && parts[0] == "p" {
				seen[parts[1]] = struct{}{}
			}
		}
	})
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
