// Package control is the control plane: it consumes transaction events from
// the bus (a durable consumer shared by every replica, at-least-once,
// stored idempotently by txn_id), keeps the inventory in the store, enforces
// retention, and distributes configuration overlays to the data planes.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// ConfigKey is the bus KV key data planes watch (server.ConfigKey).
const ConfigKey = "dataplane"

// settingKey is where the overlay is kept in the store.
const settingKey = "config.overlay"

// Options configure a control plane.
type Options struct {
	Store store.Store
	// Bus delivers events and distributes config; nil runs without a bus
	// (events then come only through Ingest).
	Bus *bus.Bus
	// Durable names the consumer shared by the replicas.
	Durable string
	// Engine is the inventory. When FeedEngine is set, the control plane
	// feeds it from the events it consumes (scale-out); otherwise someone
	// else feeds it (vigil up: the in-process gateway's discovery stage).
	Engine     *discovery.Engine
	FeedEngine bool
	Retention  config.Retention
	// FlushEvery is how often the inventory is written to the store.
	FlushEvery time.Duration
	Logger     *slog.Logger
}

// Plane is a running control plane.
type Plane struct {
	o       Options
	log     *slog.Logger
	mu      sync.Mutex
	flushed map[string]int64  // endpoint id -> hits already upserted
	shape   map[string]string // endpoint id -> status, classes and profiles last upserted
	// profiles are the data planes' discovery profiles (scale-out only):
	// body schemas and sensitive fields, which events do not carry.
	profiles *profileSet
}

// New validates options.
func New(o Options) (*Plane, error) {
	if o.Store == nil {
		return nil, errors.New("control: a store is required")
	}
	if o.Durable == "" {
		o.Durable = "vigil-control"
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Plane{o: o, log: o.Logger, flushed: map[string]int64{}, shape: map[string]string{}, profiles: newProfileSet()}, nil
}

// Run consumes, flushes and prunes until ctx ends.
func (p *Plane) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if p.o.Bus != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := bus.Consume(ctx, p.o.Bus, p.o.Durable, p.Ingest); err != nil {
				p.log.Error("event consumer stopped", "err", err)
			}
		}()
		if p.o.FeedEngine && p.o.Engine != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = p.o.Bus.WatchProfiles(ctx, p.ApplyProfile)
			}()
		}
	}
	flush := time.NewTicker(p.o.FlushEvery)
	defer flush.Stop()
	prune := time.NewTicker(30 * time.Second)
	defer prune.Stop()
	p.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = p.Flush(fctx)
			cancel()
			wg.Wait()
			return nil
		case <-flush.C:
			if err := p.Flush(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("inventory flush failed", "err", err)
			}
		case <-prune.C:
			p.prune(ctx)
		}
	}
}

// ApplyProfile takes one data plane's discovery profile of one endpoint
// (the bus's profile bucket delivers them); the next flush merges it into
// the endpoint's row. A nil value withdraws the profile.
func (p *Plane) ApplyProfile(key string, value []byte) {
	if err := p.profiles.update(key, value); err != nil {
		p.log.Warn("discovery profile ignored", "key", key, "err", err)
	}
}

// Ingest stores a batch of events (idempotently by txn_id) and, when
// configured, folds transaction events into the inventory. It is the bus
// consumer's handler; an error makes the bus redeliver the batch.
func (p *Plane) Ingest(ctx context.Context, evs []event.Event) error {
	fresh, err := p.o.Store.InsertEvents(ctx, evs)
	if err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	if p.o.FeedEngine && p.o.Engine != nil {
		for i := range evs {
			ev := &evs[i]
			if ev.Type != "" || !fresh[i] {
				continue // alerts, and redelivered transactions: counted once
			}
			o := discovery.Observation{Time: ev.Time, Host: hostOnly(ev.Destination.Host), Method: ev.Request.Method,
				Path: ev.Request.Path, Query: ev.Request.Query, Status: ev.Response.Status,
				Latency: time.Duration(ev.Latency.Total * float64(time.Millisecond)), Auth: ev.Request.Auth,
				ReqType: ev.Request.ContentType, RespType: ev.Response.ContentType, Endpoint: ev.Request.Endpoint,
				Protected: len(ev.Findings) > 0 || ev.Decision != event.DecisionAllow}
			p.o.Engine.Observe(&o)
		}
	}
	return nil
}

// Flush writes the inventory's changes since the last flush to the store.
// Hits are sent as deltas, so replicas sharing a database add up.
func (p *Plane) Flush(ctx context.Context) error {
	if p.o.Engine == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var (
		rows []store.Endpoint
		sent []discovery.Endpoint // sent[i] is the engine row behind rows[i]
	)
	full := p.o.Engine.Full()
	live := make(map[string]struct{}, len(full))
	for _, ep := range full {
		live[ep.ID] = struct{}{}
	}
	groups, stamps := p.profiles.index(p.o.Engine)
	for _, ep := range full {
		if g := groups[ep.ID]; len(g) > 0 {
			discovery.ApplyProfiles(&ep, g)
		}
		delta := ep.Hits - p.flushed[ep.ID]
		shape := ep.Status + "|" + strings.Join(ep.Sensitive, ",") + "|" + stamps[ep.ID]
		if _, seen := p.flushed[ep.ID]; seen && delta <= 0 && p.shape[ep.ID] == shape {
			continue // nothing new: no hits, same status and classes
		}
		detail, _ := json.Marshal(ep)
		rows = append(rows, store.Endpoint{Host: ep.Host, Method: ep.Method, Path: ep.Path, Hits: max(delta, 0),
			FirstSeen: ep.FirstSeen, LastSeen: ep.LastSeen, Protected: ep.Protected, Status: ep.Status,
			Sensitive: ep.Sensitive, Detail: detail})
		sent = append(sent, ep)
	}
	for i := 0; i < len(rows); i += 500 {
		j := min(i+500, len(rows))
		if err := p.o.Store.UpsertEndpoints(ctx, rows[i:j]); err != nil {
			return err
		}
		// Each chunk commits on its own: remember what it sent, so that a
		// later chunk's failure does not make the next flush add it again.
		for _, ep := range sent[i:j] {
			p.flushed[ep.ID] = ep.Hits
			p.shape[ep.ID] = ep.Status + "|" + strings.Join(ep.Sensitive, ",") + "|" + stamps[ep.ID]
		}
	}
	// Rows this plane wrote whose endpoint a template merge folded into
	// another: the merged row above now carries their hits (its delta
	// counts everything this plane saw under it), so the old rows go.
	var retired []string
	for id := range p.flushed {
		if _, ok := live[id]; !ok {
			retired = append(retired, id)
		}
	}
	if len(retired) > 0 {
		if _, err := p.o.Store.DeleteEndpoints(ctx, retired); err != nil {
			return err
		}
		for _, id := range retired {
			delete(p.flushed, id)
			delete(p.shape, id)
		}
	}
	return nil
}

func (p *Plane) prune(ctx context.Context) {
	r := p.o.Retention
	if r.MaxAge <= 0 && r.MaxCount <= 0 {
		return
	}
	n, err := p.o.Store.Prune(ctx, r.MaxAge, r.MaxCount)
	if err != nil && ctx.Err() == nil {
		p.log.Warn("retention failed", "err", err)
	} else if n > 0 {
		p.log.Info("retention pruned events", "deleted", n)
	}
}

// PublishConfig implements api.ConfigPublisher: the overlay is validated
// against a minimal data-plane config, kept in the store, and put on the
// bus for every data plane.
func (p *Plane) PublishConfig(ctx context.Context, overlay []byte) (int64, error) {
	base := []byte("listen: {http: 127.0.0.1:0}\n")
	merged, err := config.Overlay(base, overlay)
	if err != nil {
		return 0, &ConfigError{Err: err}
	}
	if _, err := config.Parse(merged, "overlay"); err != nil {
		return 0, &ConfigError{Err: err}
	}
	rev, err := p.o.Store.PutSetting(ctx, settingKey, overlay)
	if err != nil {
		return 0, err
	}
	if p.o.Bus != nil {
		if _, err := p.o.Bus.PutConfig(ctx, ConfigKey, overlay); err != nil {
			return 0, fmt.Errorf("distribute: %w", err)
		}
	}
	p.log.Info("config overlay distributed", "revision", rev)
	return rev, nil
}

// ConfigError is an overlay PublishConfig rejected: a key that is not
// distributable, or a value that does not validate. Other PublishConfig
// errors (store, bus) are not the overlay's fault.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// InvalidConfig marks the error as the caller's (the API answers 422).
func (e *ConfigError) InvalidConfig() bool { return true }

// CurrentConfig implements api.ConfigPublisher.
func (p *Plane) CurrentConfig(ctx context.Context) ([]byte, int64, error) {
	v, rev, err := p.o.Store.GetSetting(ctx, settingKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, nil
	}
	return v, rev, err
}

func hostOnly(h string) string {
	for i := len(h) - 1; i >= 0; i-- {
		switch h[i] {
		case ':':
			return h[:i]
		case ']':
			return h
		}
	}
	return h
}
