// Package control is the control plane: it consumes transaction events from
// the bus (a durable consumer shared by every replica, at-least-once,
// stored idempotently by txn_id), keeps the inventory in the store, enforces
// retention, and distributes configuration overlays and consent grants to
// the data planes.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/risk"
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
	// RaiseAlerts makes this plane the source of the discovery alerts of
	// the inventory it feeds (scale-out; connect the engine's service to
	// Enqueue): they are stored as events once however many replicas
	// raise them, and the replica whose insert was new hands them to
	// Notify. Alert events that data planes publish are then not stored:
	// each judged from its own share of the traffic, without this plane's
	// specs and templates.
	RaiseAlerts bool
	// Notify receives the alerts this plane stored first (the webhook).
	Notify    func(discovery.Alert)
	Retention config.Retention
	// Alerts receives every alert event this plane stored first (its own
	// and the data planes'), so that each is delivered once across
	// replicas (events.alerts: package alert). It must not block.
	Alerts interface{ Send(event.Event) }
	// FlushEvery is how often the inventory is written to the store.
	FlushEvery time.Duration
	Logger     *slog.Logger
	// Audit, when set, gets one signed record per transaction and consent
	// event stored and per configuration overlay (audit.go), and a signed
	// checkpoint every AuditCheckpointEvery (default 10 s) while Run runs.
	Audit                *audit.Log
	AuditCheckpointEvery time.Duration
}

// Plane is a running control plane.
type Plane struct {
	o       Options
	log     *slog.Logger
	mu      sync.Mutex
	flushed map[string]int64  // endpoint id -> hits already upserted
	shape   map[string]string // endpoint id -> status, classes and profiles last upserted
	// profiles are the data planes' discovery profiles (scale-out only):
	// body schemas, sensitive fields and header parameters, which events
	// do not carry; adopted records what the engine holds of them.
	profiles *profileSet
	adopted  discovery.ProfileAdoption
	// alerts wait here between the engine and the store (RaiseAlerts).
	alerts        chan event.Event
	alertsDropped atomic.Uint64
	// edges count the call graph between flushes (connections.go).
	edges *risk.Aggregator
	// tlsAlerted remembers the TLS alerts raised (p.mu).
	tlsAlerted map[string]struct{}
}

// alertQueue bounds the alerts raised and not yet stored.
const alertQueue = 1024

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
	return &Plane{o: o, log: o.Logger, flushed: map[string]int64{}, shape: map[string]string{}, profiles: newProfileSet(),
		alerts: make(chan event.Event, alertQueue), edges: risk.NewAggregator(),
		tlsAlerted: map[string]struct{}{}}, nil
}

// Run consumes, flushes and prunes until ctx ends.
func (p *Plane) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.runCheckpoints(ctx) }()
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
	// Profiles are folded into the engine more often than it is flushed,
	// so that its alerts (evaluated every second) see them soon.
	adopt := time.NewTicker(min(p.o.FlushEvery, 250*time.Millisecond))
	defer adopt.Stop()
	var pending []event.Event // alerts not stored yet
	p.prune(ctx)
	p.reconcileConsents(ctx)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			pending = p.storeAlerts(fctx, p.drainAlerts(pending))
			_ = p.Flush(fctx)
			cancel()
			wg.Wait()
			if len(pending) > 0 {
				p.log.Warn("discovery alerts not stored at shutdown", "alerts", len(pending))
			}
			return nil
		case ev := <-p.alerts:
			pending = p.storeAlerts(ctx, p.drainAlerts(append(pending, ev)))
		case <-adopt.C:
			p.mu.Lock()
			p.adopt()
			p.mu.Unlock()
		case <-flush.C:
			if len(pending) > 0 {
				pending = p.storeAlerts(ctx, pending)
			}
			if err := p.Flush(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("inventory flush failed", "err", err)
			}
		case <-prune.C:
			p.prune(ctx)
			p.reconcileConsents(ctx)
		}
	}
}

// Enqueue implements discovery.Emitter for the engine of a plane that
// raises alerts (RaiseAlerts): Run stores the alert. It never blocks; when
// alertQueue alerts are waiting, the alert is dropped and counted.
func (p *Plane) Enqueue(ev *event.Event) bool {
	e := *ev
	event.Put(ev)
	select {
	case p.alerts <- e:
		return true
	default:
		p.alertsDropped.Add(1)
		return false
	}
}

// AlertsDropped counts alerts Enqueue could not queue.
func (p *Plane) AlertsDropped() uint64 { return p.alertsDropped.Load() }

// drainAlerts appends the alerts waiting in the queue to batch.
func (p *Plane) drainAlerts(batch []event.Event) []event.Event {
	for len(batch) < alertQueue {
		select {
		case ev := <-p.alerts:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// storeAlerts stores alert events, idempotently by txn_id: every replica
// names an alert alike (discovery.AlertEvent), so the replica whose insert
// is new is the one that notifies. What could not be stored is returned,
// to be tried again on the next flush (at most alertQueue of them).
func (p *Plane) storeAlerts(ctx context.Context, batch []event.Event) []event.Event {
	if len(batch) == 0 {
		return nil
	}
	fresh, err := p.o.Store.InsertEvents(ctx, batch)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("discovery alerts not stored; retrying", "alerts", len(batch), "err", err)
		}
		if n := len(batch) - alertQueue; n > 0 {
			p.alertsDropped.Add(uint64(n))
			batch = batch[n:]
		}
		return batch
	}
	p.deliverAlerts(batch, fresh)
	for i := range batch {
		if a := batch[i].Alert; fresh[i] && a != nil && p.o.Notify != nil {
			p.o.Notify(discovery.Alert{Kind: a.Kind, Host: a.Host, Method: a.Method, Endpoint: a.Endpoint, Detail: a.Detail,
				Time: batch[i].Time})
		}
	}
	return nil
}

// adopt folds the data planes' profiles into the engine (p.mu held).
func (p *Plane) adopt() {
	if !p.o.FeedEngine || p.o.Engine == nil {
		return
	}
	p.profiles.read(func(byKey map[string]*discovery.ScaleOutProfile, gen uint64) {
		p.o.Engine.AdoptProfiles(byKey, gen, &p.adopted)
	})
}

// ApplyProfile takes one data plane's discovery profile of one endpoint
// (the bus's profile bucket delivers them); Run folds it into the engine
// within a quarter of a second, and every flush before it writes. A nil
// value withdraws the profile.
func (p *Plane) ApplyProfile(key string, value []byte) {
	if err := p.profiles.update(key, value); err != nil {
		p.log.Warn("discovery profile ignored", "key", key, "err", err)
	}
}

// Ingest stores a batch of events (idempotently by txn_id) and, when
// configured, folds transaction events into the inventory. It is the bus
// consumer's handler; an error makes the bus redeliver the batch.
func (p *Plane) Ingest(ctx context.Context, evs []event.Event) error {
	if p.o.RaiseAlerts && slices.ContainsFunc(evs, isDiscoveryAlert) {
		// This plane raises the alerts of the inventory it keeps (a data
		// plane's certificate_expiry is still its own to raise).
		evs = slices.DeleteFunc(slices.Clone(evs), isDiscoveryAlert)
	}
	fresh, err := p.o.Store.InsertEvents(ctx, evs)
	if err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	for i := range evs {
		if fresh[i] {
			p.edges.Add(&evs[i]) // redelivered transactions: counted once
		}
	}
	p.deliverAlerts(evs, fresh)
	p.tlsAlerts(ctx, evs, fresh)
	if p.o.FeedEngine && p.o.Engine != nil {
		for i := range evs {
			ev := &evs[i]
			if ev.Type != "" || !fresh[i] {
				continue // alerts, and redelivered transactions: counted once
			}
			p.o.Engine.Observe(observation(ev))
		}
	}
	if err := p.auditEvents(ctx, evs); err != nil {
		return fmt.Errorf("audit: %w", err) // redelivered: the log skips what it holds
	}
	return nil
}

func isAlert(ev event.Event) bool { return ev.Type == "alert" }

// isDiscoveryAlert reports an alert of the kinds the discovery engine
// raises (discovery.Engine.Evaluate).
func isDiscoveryAlert(ev event.Event) bool {
	if !isAlert(ev) || ev.Alert == nil {
		return isAlert(ev)
	}
	switch ev.Alert.Kind {
	case "new_endpoint", "new_sensitive", "schema_changed", "shadow_endpoint", "zombie_endpoint":
		return true
	}
	return false
}

// deliverAlerts hands the alerts among evs whose insert was new (fresh)
// to Options.Alerts.
func (p *Plane) deliverAlerts(evs []event.Event, fresh []bool) {
	if p.o.Alerts == nil {
		return
	}
	for i := range evs {
		if fresh[i] && isAlert(evs[i]) && evs[i].Alert != nil {
			p.o.Alerts.Send(evs[i])
		}
	}
}

// observation is what the engine of `vigil up` would have observed of the
// request behind a transaction event, short of what only profiles carry
// (bodies, header parameters). The path is templated by this plane's own
// engine, as a gateway's engine templates its traffic, and not taken from
// the event's endpoint: that is the data plane's template, made without
// this plane's specs, pins and splits. Protected is what the event shows
// (a finding, a decision); profiles tell whether an enforcing stage ran.
func observation(ev *event.Event) *discovery.Observation {
	o := &discovery.Observation{Time: ev.Time, Host: hostOnly(ev.Destination.Host), Method: ev.Request.Method,
		Path: ev.Request.Path, Query: unmaskQuery(ev.Request.Query), Status: ev.Response.Status,
		Latency: time.Duration(ev.Latency.Total * float64(time.Millisecond)), Auth: ev.Request.Auth,
		ReqType: ev.Request.ContentType, RespType: ev.Response.ContentType,
		Protected: len(ev.Findings) > 0 || ev.Decision != event.DecisionAllow}
	if ev.Response.Status == http.StatusSwitchingProtocols {
		o.Upgrade = "websocket" // what the gateway upgrades
	}
	return o
}

// unmaskQuery empties the query values that the data plane masked in the
// event (sensitive.Mask: "sha256:…", "****1111", "***-**-6789",
// "j***@example.com"): a mask is not what the client sent, and learning
// from it would type the parameter by the mask, or find an API key in a
// hash. The parameter is still counted; the classes of its real values
// reach the inventory through the data planes' profiles.
func unmaskQuery(q string) string {
	if !strings.Contains(q, "%2A%2A%2A") && !strings.Contains(q, "***") && !strings.Contains(q, "sha256%3A") {
		return q
	}
	pairs := strings.Split(q, "&")
	for i, pair := range pairs {
		name, value, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		if v, err := url.QueryUnescape(value); err == nil && isMask(v) {
			pairs[i] = name + "="
		}
	}
	return strings.Join(pairs, "&")
}

// isMask reports the shapes sensitive.Mask produces.
func isMask(v string) bool {
	allIn := func(s, set string) bool {
		return s != "" && strings.Trim(s, set) == ""
	}
	switch {
	case strings.HasPrefix(v, "sha256:"):
		return len(v) == 7+16 && allIn(v[7:], "0123456789abcdef")
	case strings.HasPrefix(v, "****"), strings.HasPrefix(v, "***-**-"):
		return allIn(strings.TrimLeft(v, "*-"), "0123456789")
	}
	at := strings.IndexByte(v, '@')
	return at == 4 && v[1:4] == "***"
}

// Flush writes the call graph and the inventory's changes since the last
// flush to the store. Hits and edge counters are sent as deltas, so
// replicas sharing a database add up.
func (p *Plane) Flush(ctx context.Context) error {
	p.flushEdges(ctx)
	if p.o.Engine == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var (
		rows []store.Endpoint
		sent []discovery.Endpoint // sent[i] is the engine row behind rows[i]
	)
	p.adopt()
	full := p.o.Engine.Full()
	live := make(map[string]struct{}, len(full))
	for _, ep := range full {
		live[ep.ID] = struct{}{}
	}
	for _, ep := range full {
		delta := ep.Hits - p.flushed[ep.ID]
		if _, seen := p.flushed[ep.ID]; seen && delta <= 0 && p.shape[ep.ID] == p.shapeOf(&ep) {
			continue // nothing new: no hits, same status, classes and profiles
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
			p.shape[ep.ID] = p.shapeOf(&ep)
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

// shapeOf is what, besides hits, makes a row worth writing again: its
// status, classes and the profiles adopted into it.
func (p *Plane) shapeOf(ep *discovery.Endpoint) string {
	return ep.Status + "|" + strings.Join(ep.Sensitive, ",") + "|" + p.adopted.Stamp(ep.ID)
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
	if err := p.auditConfig(ctx, rev, overlay); err != nil {
		p.log.Error("audit record of the config overlay not appended", "revision", rev, "err", err)
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

// hostOnly drops the port of a Host header and the brackets of an IPv6
// address, as the discovery stage names hosts.
func hostOnly(h string) string {
	for i := len(h) - 1; i >= 0; i-- {
		switch h[i] {
		case ':':
			return strings.Trim(h[:i], "[]")
		case ']':
			return strings.Trim(h, "[]")
		}
	}
	return h
}
