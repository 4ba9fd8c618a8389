package control

import (
	"context"
	"slices"

	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/store"
)

// flushEdges writes the call graph counted since the last flush to the
// store as deltas (replicas sharing a database add up); what could not be
// written is kept for the next flush.
func (p *Plane) flushEdges(ctx context.Context) {
	es := p.edges.Drain()
	if len(es) == 0 {
		return
	}
	if err := p.o.Store.UpsertConnections(ctx, es); err != nil {
		p.edges.Restore(es)
		if ctx.Err() == nil {
			p.log.Warn("connections flush failed; kept for the next one", "edges", len(es), "err", err)
		}
	}
}

// EdgesDropped counts call-graph edges not kept for want of room.
func (p *Plane) EdgesDropped() uint64 { return p.edges.Dropped() }

// Connections lists the stored call graph (api.GraphService).
func (p *Plane) Connections(ctx context.Context, f store.ConnectionFilter) (store.Page[risk.Edge], error) {
	return p.o.Store.ListConnections(ctx, f)
}

// maxGraph bounds the edges Risk reads.
const maxGraph = risk.MaxEdges

// Risk scores every workload API on the stored graph, riskiest first,
// with the inventory's endpoints of each (api.GraphService).
func (p *Plane) Risk(ctx context.Context) ([]risk.Score, error) {
	var edges []risk.Edge
	f := store.ConnectionFilter{Limit: store.MaxLimit}
	for len(edges) < maxGraph {
		page, err := p.o.Store.ListConnections(ctx, f)
		if err != nil {
			return nil, err
		}
		edges = append(edges, page.Items...)
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	inv := map[string]risk.Inventory{}
	for _, e := range edges {
		if _, ok := inv[e.Destination]; ok {
			continue
		}
		i, err := p.inventoryOf(ctx, e.Destination)
		if err != nil {
			return nil, err
		}
		inv[e.Destination] = i
	}
	return risk.AssessAll(edges, func(w string) risk.Inventory { return inv[w] }), nil
}

// inventoryOf summarizes the inventory rows of a host: endpoints, those
// no protection layer covered, and the data classes served.
// inventoryQuerier is the store's lean inventory query (rows without
// their detail); both backends have it.
type inventoryQuerier interface {
	QueryInventory(ctx context.Context, f store.InventoryFilter) (store.InventoryPage, error)
}

func (p *Plane) inventoryOf(ctx context.Context, host string) (risk.Inventory, error) {
	var inv risk.Inventory
	classes := map[string]bool{}
	f := store.EndpointFilter{Host: hostOnly(host), Limit: store.MaxLimit}
	iq, lean := p.o.Store.(inventoryQuerier)
	for n := range 20 { // at most 20 pages of endpoints per host
		var page store.Page[store.Endpoint]
		var err error
		if lean { // the rows without their detail (schemas, examples)
			var ip store.InventoryPage
			ip, err = iq.QueryInventory(ctx, store.InventoryFilter{Host: f.Host, Offset: n * store.MaxLimit, Limit: store.MaxLimit})
			page.Items = ip.Items
			if int64((n+1)*store.MaxLimit) < ip.Total {
				page.NextCursor = "more"
			}
		} else {
			page, err = p.o.Store.ListEndpoints(ctx, f)
		}
		if err != nil {
			return inv, err
		}
		for _, ep := range page.Items {
			inv.Endpoints++
			if !ep.Protected {
				inv.Unprotected++
			}
			for _, c := range ep.Sensitive {
				classes[c] = true
			}
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	for c := range classes {
		inv.Sensitive = append(inv.Sensitive, c)
	}
	slices.Sort(inv.Sensitive)
	return inv, nil
}

// tlsAlertMemory bounds the (edge, TLS version, cipher) combinations this
// plane remembers having alerted on; beyond it, the store's idempotent
// insert still stores each alert once.
const tlsAlertMemory = 4096

// tlsAlerts raises an alert the first time an edge carries TLS 1.2 or
// older, or a cipher suite that is not an AEAD: one per edge, version and
// suite, stored once however many replicas see it (its txn_id is derived
// from them).
func (p *Plane) tlsAlerts(ctx context.Context, evs []event.Event, fresh []bool) {
	var alerts []event.Event
	for i := range evs {
		ev := &evs[i]
		if !fresh[i] || !risk.Relevant(ev) {
			continue
		}
		src, dst := risk.SourceOf(ev), risk.DestinationOf(ev)
		t := ev.TLS
		kind, detail := risk.TLSWeakness(t)
		if kind == "" && ev.Destination.TLS != nil {
			// The hop from this data plane to its upstream (a payment
			// provider still on TLS 1.2).
			t = ev.Destination.TLS
			if kind, detail = risk.TLSWeakness(t); kind != "" {
				detail = "the upstream answered over " + detail
			}
		}
		if kind == "" {
			continue
		}
		id := "alert-tls-" + risk.EdgeID(src, dst) + "-" + kind + "-" + risk.EdgeID(ev.TLS.Version, ev.TLS.Cipher)[:8]
		p.mu.Lock()
		_, seen := p.tlsAlerted[id]
		if !seen {
			if len(p.tlsAlerted) >= tlsAlertMemory {
				clear(p.tlsAlerted)
			}
			p.tlsAlerted[id] = struct{}{}
		}
		p.mu.Unlock()
		if seen {
			continue
		}
		alerts = append(alerts, event.Event{Type: "alert", TxnID: id, Time: ev.Time, Placement: "control", Decision: event.DecisionAllow,
			Source: ev.Source, Destination: ev.Destination, TLS: t,
			Alert: &event.Alert{Kind: kind, Host: dst, Detail: src + " → " + dst + ": " + detail}})
	}
	if len(alerts) == 0 {
		return
	}
	fresh, err := p.o.Store.InsertEvents(ctx, alerts)
	if err != nil {
		p.mu.Lock()
		for _, a := range alerts {
			delete(p.tlsAlerted, a.TxnID) // tried again on the next such event
		}
		p.mu.Unlock()
		p.log.Warn("TLS alerts not stored", "alerts", len(alerts), "err", err)
		return
	}
	p.deliverAlerts(alerts, fresh)
	for i, a := range alerts {
		if fresh[i] && p.o.Notify != nil {
			p.o.Notify(discovery.Alert{Kind: a.Alert.Kind, Host: a.Alert.Host, Detail: a.Alert.Detail, Time: a.Time})
		}
	}
}
