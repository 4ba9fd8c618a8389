// Package alert delivers the control plane's alerts (events of type
// "alert": discovery's new, shadow and zombie endpoints, schema changes,
// sensitive data; the TLS and certificate alerts; the audit's) to where
// teams look: a signed generic webhook, Slack incoming webhooks,
// PagerDuty Events API v2 and syslog (RFC 5424 with a CEF message).
//
// A Dispatcher holds one Sink per events.alerts.sinks entry. Send filters
// an alert per sink (kinds, minimum severity), deduplicates it by key
// within the dedup window, applies the sink's rate and queues it, never
// blocking; one goroutine per sink delivers its queue, retrying network
// errors, 5xx and 429 answers with exponential backoff and jitter (and
// Retry-After), and dead-letters an alert after its last attempt or a
// refusal (another 4xx). Every outcome is an alert_delivery event, stored
// beside the alert.
package alert

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
)

// Severity orders alerts: Info < Low < Medium < High < Critical.
type Severity int

// Severities, lowest first (config.AlertSeverities names them).
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

// String is the severity's config name.
func (s Severity) String() string {
	names := config.AlertSeverities()
	if int(s) < 0 || int(s) >= len(names) {
		return "info"
	}
	return names[s]
}

// parseSeverity reads a config name; unknown names are Low.
func parseSeverity(name string) Severity {
	for i, n := range config.AlertSeverities() {
		if n == name {
			return Severity(i)
		}
	}
	return Low
}

// Alert is what a sink delivers: one alert event's alert, its id and
// severity.
type Alert struct {
	// ID is the alert event's txn_id, the same on every replica and every
	// attempt (the webhook's Vigil-Alert-Id: receivers may deduplicate by
	// it).
	ID       string
	Kind     string
	Host     string
	Method   string
	Endpoint string
	Detail   string
	Time     time.Time
	Severity Severity
	// Source is the calling workload or address, when the alert is about
	// a connection (legacy_tls, weak_cipher).
	Source string
}

// Key is what deduplication compares: kind, host, method and endpoint.
func (a *Alert) Key() string {
	return a.Kind + "\x00" + a.Host + "\x00" + a.Method + "\x00" + a.Endpoint
}

// Summary is the alert in one line: "shadow_endpoint: GET /debug on
// shop.local: not in any spec".
func (a *Alert) Summary() string {
	var b strings.Builder
	b.WriteString(a.Kind)
	b.WriteString(":")
	if a.Method != "" || a.Endpoint != "" {
		b.WriteString(" " + strings.TrimSpace(a.Method+" "+a.Endpoint))
		if a.Host != "" {
			b.WriteString(" on")
		}
	}
	if a.Host != "" {
		b.WriteString(" " + a.Host)
	}
	if a.Detail != "" {
		b.WriteString(": " + a.Detail)
	}
	return truncate(b.String(), 1000)
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && i < len(s) && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}

// Sink delivers one alert. An error that is not an *Error, or an *Error
// with Retry set, is tried again (until the sink's max_attempts); others
// dead-letter the alert at once.
type Sink interface {
	Deliver(ctx context.Context, a *Alert, attempt int) error
}

// Error is a delivery failure with what the retry loop needs to know.
type Error struct {
	// Status is the receiver's HTTP status (0: none).
	Status int
	// Retry: the failure may pass (network, 5xx, 429).
	Retry bool
	// After is the receiver's Retry-After (0: none).
	After time.Duration
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// EventStore stores alert_delivery events (store.Store does).
type EventStore interface {
	InsertEvents(ctx context.Context, evs []event.Event) ([]bool, error)
}

// Options configure a Dispatcher beyond events.alerts.
type Options struct {
	// Events stores the alert_delivery events; nil only logs outcomes.
	Events EventStore
	Logger *slog.Logger
	// Getenv reads secret_env, url_env and routing_key_env (default
	// os.Getenv).
	Getenv func(string) string
	// Hostname is syslog's HOSTNAME (default os.Hostname).
	Hostname string
	// Version is CEF's device version (default the module's).
	Version string
	// Sinks replaces the sinks built from the config, by sink name
	// (tests).
	Sinks map[string]Sink
}

// Dispatcher delivers alerts to the configured sinks.
type Dispatcher struct {
	log     *slog.Logger
	sinks   []*runner
	rec     *recorder
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closing sync.Once
}

// Start builds the sinks of cfg.Events.Alerts and delivers to them until
// ctx ends or Close. With no sinks, Send does nothing. A secret, URL or
// routing key named by an *_env key that is empty is an error naming the
// key.
func Start(ctx context.Context, cfg *config.Config, o Options) (*Dispatcher, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.Version == "" {
		o.Version = moduleVersion()
	}
	ac := &cfg.Events.Alerts
	severity := func(kind string) Severity {
		if s, ok := ac.Severity[kind]; ok {
			return parseSeverity(s)
		}
		if s, ok := config.AlertKindSeverity(kind); ok {
			return parseSeverity(s)
		}
		return Low
	}
	d := &Dispatcher{log: o.Logger}
	var errs config.Errors
	for i := range ac.Sinks {
		sc := &ac.Sinks[i]
		sink, ok := o.Sinks[sc.Name]
		if !ok {
			var err error
			if sink, err = build(cfg, i, &o); err != nil {
				var fe *config.FieldError
				if errors.As(err, &fe) {
					errs = append(errs, fe)
					continue
				}
				return nil, fmt.Errorf("events.alerts.sinks[%d]: %w", i, err)
			}
		}
		d.sinks = append(d.sinks, newRunner(sc, sink, ac.Window(), severity, o.Logger))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.rec = newRecorder(o.Events, o.Logger)
	for _, r := range d.sinks {
		r.record = d.rec.add
		d.wg.Add(1)
		go func() { defer d.wg.Done(); r.run(ctx) }()
	}
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.rec.run(ctx) }()
	return d, nil
}

// Close stops delivering and waits for the sinks' goroutines; what is
// still queued is not delivered.
func (d *Dispatcher) Close() {
	d.closing.Do(func() {
		d.cancel()
		d.wg.Wait()
		for _, r := range d.sinks {
			if c, ok := r.sink.(interface{ Close() error }); ok {
				_ = c.Close()
			}
		}
	})
}

// Send hands an alert event to every sink whose filters it passes. It
// never blocks: a sink's full queue drops the alert (counted, and an
// alert_delivery event "dropped"). Events that are not alerts are
// ignored. It is safe for concurrent use, and on a nil Dispatcher.
func (d *Dispatcher) Send(ev event.Event) {
	if d == nil || ev.Alert == nil {
		return
	}
	a := Alert{ID: ev.TxnID, Kind: ev.Alert.Kind, Host: ev.Alert.Host, Method: ev.Alert.Method, Endpoint: ev.Alert.Endpoint,
		Detail: ev.Alert.Detail, Time: ev.Time, Source: cmp.Or(ev.Source.Workload, ev.Source.IP)}
	if a.Time.IsZero() {
		a.Time = time.Now().UTC()
	}
	if a.ID == "" {
		a.ID = fmt.Sprintf("alert-%d", a.Time.UnixNano())
	}
	for _, r := range d.sinks {
		r.offer(a)
	}
}

// SinkStats are one sink's counters since start.
type SinkStats struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Delivered alerts, Retries made, DeadLetters (failed after the last
	// attempt, or refused), Deduplicated within the window, RateLimited
	// beyond the sink's rate, Dropped on a full queue, Queued now.
	Delivered    uint64 `json:"delivered"`
	Retries      uint64 `json:"retries"`
	DeadLetters  uint64 `json:"dead_letters"`
	Deduplicated uint64 `json:"deduplicated"`
	RateLimited  uint64 `json:"rate_limited"`
	Dropped      uint64 `json:"dropped"`
	Queued       int    `json:"queued"`
	// LastError is the last failure (secrets and URL paths masked), and
	// LastErrorTime when it happened.
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// Stats reports every sink, in config order (the dashboard reads it).
func (d *Dispatcher) Stats() []SinkStats {
	if d == nil {
		return nil
	}
	out := make([]SinkStats, len(d.sinks))
	for i, r := range d.sinks {
		out[i] = r.stats()
	}
	return out
}

// DeadLetters is the number of alerts no sink attempt delivered, over all
// sinks.
func (d *Dispatcher) DeadLetters() uint64 {
	var n uint64
	for _, s := range d.Stats() {
		n += s.DeadLetters
	}
	return n
}

// EventsDropped counts alert_delivery events not stored (a full queue, a
// store error).
func (d *Dispatcher) EventsDropped() uint64 {
	if d == nil {
		return 0
	}
	return d.rec.dropped.Load()
}

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
