package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery/openapi"
	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
	"github.com/vigil-sec/vigil/internal/event"
)

// Emitter receives alert events (the data plane's event queue).
type Emitter interface {
	Enqueue(ev *event.Event) bool
}

// Service runs an Engine for live traffic: its queue, periodic alert
// evaluation, the specs to compare with (files, and URLs fetched again on
// an interval) and the alert webhook.
type Service struct {
	Engine  *Engine
	log     *slog.Logger
	emit    atomic.Pointer[Emitter]
	hook    chan Alert
	hookURL string
	hookErr atomic.Uint64
}

// ServiceOptions tune a Service beyond its config section.
type ServiceOptions struct {
	Logger *slog.Logger
	// Tick is how often alerts are evaluated (default 1s).
	Tick time.Duration
	// Settle overrides how long a new endpoint waits before its alert.
	Settle time.Duration
}

// Enabled reports whether discovery runs for this config (default: yes).
func Enabled(c config.Discovery) bool { return c.Enabled == nil || *c.Enabled }

// StartService builds the engine from the config and starts its
// goroutines; they stop when ctx ends.
func StartService(ctx context.Context, c config.Discovery, o ServiceOptions) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	rate := 0.1
	if c.SampleRate != nil {
		rate = *c.SampleRate
	}
	settle := 10 * time.Second
	if o.Settle > 0 {
		settle = o.Settle
	}
	s := &Service{log: o.Logger, hookURL: c.Webhook, hook: make(chan Alert, 256)}
	var custom []sensitive.Custom
	for _, sc := range c.Sensitive {
		custom = append(custom, sensitive.Custom{Name: sc.Name, Pattern: sc.Pattern, FieldNames: sc.FieldNames})
	}
	eng, err := New(Options{SampleRate: rate, MaxEndpoints: c.MaxEndpoints, Settle: settle, Pin: c.Pin, Split: c.Split,
		Sensitive: custom, Logger: o.Logger, Alerts: s.alert})
	if err != nil {
		return nil, err
	}
	s.Engine = eng
	if err := s.loadSpecs(ctx, c); err != nil {
		return nil, err
	}
	go eng.Run(ctx, o.Tick)
	if s.hookURL != "" {
		go s.webhookLoop(ctx)
	}
	return s, nil
}

// SetEmitter connects alerts to the event stream.
func (s *Service) SetEmitter(e Emitter) { s.emit.Store(&e) }

func (s *Service) loadSpecs(ctx context.Context, c config.Discovery) error {
	if len(c.Specs) == 0 {
		return nil
	}
	specs := make([]*openapi.Spec, len(c.Specs))
	for i, src := range c.Specs {
		sp, err := openapi.Load(ctx, src)
		if err != nil {
			return err
		}
		specs[i] = sp
	}
	s.Engine.SetSpecs(specs)
	refresh := c.SpecRefresh
	if refresh <= 0 {
		refresh = 5 * time.Minute
	}
	for i, src := range c.Specs {
		if !isURL(src) {
			continue
		}
		go openapi.Watch(ctx, src, refresh, func(sp *openapi.Spec, err error) {
			if err != nil {
				s.log.Warn("spec refresh failed; keeping the previous one", "spec", src, "err", err)
				return
			}
			cur := append([]*openapi.Spec(nil), specs...)
			cur[i] = sp
			s.Engine.SetSpecs(cur)
			s.log.Info("spec refreshed", "spec", src, "operations", len(sp.Operations))
		})
	}
	return nil
}

func isURL(s string) bool {
	return len(s) > 8 && (s[:7] == "http://" || s[:8] == "https://")
}

func (s *Service) alert(a Alert) {
	if p := s.emit.Load(); p != nil {
		(*p).Enqueue(AlertEvent(a))
	}
	if s.hookURL != "" {
		select {
		case s.hook <- a:
		default:
			s.hookErr.Add(1)
		}
	}
	s.log.Info("discovery alert", "kind", a.Kind, "host", a.Host, "method", a.Method, "endpoint", a.Endpoint, "detail", a.Detail)
}

// AlertEvent wraps an alert as an event of type "alert".
func AlertEvent(a Alert) *event.Event {
	ev := event.Get()
	ev.Type = "alert"
	ev.TxnID = "alert-" + EndpointID(a.Host, a.Method, a.Endpoint) + "-" + a.Kind + "-" + shortHash(a.Detail)
	ev.Time = a.Time.UTC()
	ev.Placement = "control"
	ev.Decision = event.DecisionAllow
	ev.Destination.Host = a.Host
	ev.Request.Method = a.Method
	ev.Request.Path = a.Endpoint
	ev.Request.Endpoint = a.Endpoint
	ev.Alert = &event.Alert{Kind: a.Kind, Host: a.Host, Method: a.Method, Endpoint: a.Endpoint, Detail: a.Detail}
	return ev
}

func shortHash(s string) string { return EndpointID(s, "", "")[:8] }

// WebhookFailures counts alerts the webhook could not take.
func (s *Service) WebhookFailures() uint64 { return s.hookErr.Load() }

func (s *Service) webhookLoop(ctx context.Context) {
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-s.hook:
			body, _ := json.Marshal(map[string]any{"type": "vigil.discovery.alert", "alert": a})
			var err error
			for attempt := range 3 {
				var req *http.Request
				req, err = http.NewRequestWithContext(ctx, "POST", s.hookURL, bytes.NewReader(body))
				if err != nil {
					break
				}
				req.Header.Set("Content-Type", "application/json")
				var resp *http.Response
				resp, err = client.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode < 300 {
						break
					}
					err = &webhookStatus{resp.StatusCode}
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
				}
			}
			if err != nil {
				s.hookErr.Add(1)
				s.log.Warn("alert webhook failed", "err", err)
			}
		}
	}
}

type webhookStatus struct{ code int }

func (w *webhookStatus) Error() string { return "webhook answered " + http.StatusText(w.code) }
