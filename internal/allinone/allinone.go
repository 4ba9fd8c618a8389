// Package allinone assembles Vigil's control-plane placements: `vigil up`
// (Start: a gateway, the control plane and its REST API in one process, on
// the embedded store and bus) and `vigil control` (StartControl: the
// control plane and its API alone, fed by remote data planes over the
// bus) — the same components, so that both give the same inventory.
package allinone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/metrics"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/ui"
)

// Options configure the stack beyond its config.
type Options struct {
	// Token is the admin API token.
	Token string
	// BusListen also exposes the embedded bus to other processes.
	BusListen string
	Logger    *slog.Logger
	Discovery discovery.ServiceOptions
	// FlushEvery is how often the inventory is written to the store
	// (default 2 s).
	FlushEvery time.Duration
	// Sinks also receive the in-process gateway's events (Start only).
	Sinks []event.Sink
}

// Stack is a running all-in-one Vigil, or (StartControl) a control plane
// alone.
type Stack struct {
	// DataPlane is the in-process gateway; nil for a control plane alone.
	DataPlane *server.DataPlane
	// Discovery is the inventory's service when the control plane keeps
	// its own (StartControl); under Start it is DataPlane.Discovery.
	Discovery *discovery.Service
	Plane     *control.Plane
	Store     store.Store
	Bus       *bus.Bus
	API       *api.Server
	// UI is the dashboard under /ui/ on the admin listener, beside the API.
	UI *ui.Server
	// Alerts delivers the alerts the plane stores to events.alerts'
	// sinks; its Stats are what the dashboard shows of them.
	Alerts *alert.Dispatcher

	admin   *http.Server // StartControl: the admin listener's server
	adminLn net.Listener
}

// Start opens the store and the embedded bus and assembles the gateway,
// the control plane and the API. Serve runs them.
func Start(ctx context.Context, cfg *config.Config, o Options) (*Stack, error) {
	s, err := open(ctx, cfg, bus.Embedded, "vigil-up", &o)
	if err != nil {
		return nil, err
	}
	dp, err := server.StartDataPlane(ctx, cfg, server.Options{Placement: "gateway", Admin: s.register, Sinks: o.Sinks}, o.Logger,
		server.DataPlaneOptions{Bus: s.Bus, Discovery: o.Discovery})
	if err != nil {
		s.close()
		return nil, err
	}
	s.DataPlane = dp
	var eng *discovery.Engine
	if dp.Discovery != nil {
		eng = dp.Discovery.Engine
	}
	if err := s.startAlerts(ctx, cfg, o); err != nil {
		s.close()
		return nil, err
	}
	dp.G.Metrics.Registry.MustRegister(s.Alerts)
	if err := s.assemble(cfg, eng, control.Options{Alerts: s.Alerts}, o); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// StartControl opens the store and cfg.Bus and assembles a control plane
// for remote data planes (`vigil control`), on the admin address. Its
// inventory is what `vigil up` keeps for the same traffic: the engine is
// built from the config's discovery section (specs, pins, splits, custom
// classes; spec URLs refreshed) and fed from the data planes' events and
// profiles, and it raises the discovery alerts itself — stored once across
// replicas, and sent to discovery.webhook by the replica that stored them.
// Serve runs it.
func StartControl(ctx context.Context, cfg *config.Config, o Options) (*Stack, error) {
	if cfg.Admin.Addr == "" {
		return nil, errors.New("the control plane needs admin.addr for its API")
	}
	if cfg.Bus == "none" {
		return nil, errors.New("bus: the control plane needs a bus (embedded or nats://...), not none")
	}
	s, err := open(ctx, cfg, cfg.Bus, "vigil-control", &o)
	if err != nil {
		return nil, err
	}
	dc := cfg.Discovery
	hook := dc.Webhook
	dc.Webhook = "" // the plane sends what it stored first (control.Options.Notify)
	so := o.Discovery
	so.Logger = o.Logger
	svc, err := discovery.StartService(ctx, dc, so)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	s.Discovery = svc
	if err := s.startAlerts(ctx, cfg, o); err != nil {
		s.close()
		return nil, err
	}
	po := control.Options{FeedEngine: true, RaiseAlerts: true, Alerts: s.Alerts}
	if wh := discovery.StartWebhook(ctx, hook, o.Logger); wh != nil {
		po.Notify = wh.Send
	}
	if err := s.assemble(cfg, svc.Engine, po, o); err != nil {
		s.close()
		return nil, err
	}
	svc.SetEmitter(s.Plane)
	m := metrics.New()
	eng, plane := svc.Engine, s.Plane
	m.GaugeFunc("vigil_discovery_endpoints", "Endpoints in the inventory.", func() float64 { return float64(eng.Len()) })
	m.CounterFunc("vigil_discovery_alerts_dropped_total", "Discovery alerts dropped before they were stored.",
		func() float64 { return float64(plane.AlertsDropped()) })
	m.Registry.MustRegister(s.Alerts)
	if s.adminLn, err = net.Listen("tcp", cfg.Admin.Addr); err != nil {
		s.close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	b := s.Bus
	s.admin = &http.Server{Handler: server.AdminMux(m, b.Connected, s.register),
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
	return s, nil
}

// open opens the store and the bus every placement of the control plane
// runs on, with the API over the store.
func open(ctx context.Context, cfg *config.Config, busURL, name string, o *Options) (*Stack, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Store, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	b, err := bus.Open(ctx, busURL, cfg.DataDir, bus.Options{Listen: o.BusListen, Logger: o.Logger, Name: name})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("bus: %w", err)
	}
	return &Stack{Store: st, Bus: b, API: &api.Server{Store: st, Token: o.Token, Log: o.Logger}}, nil
}

// startAlerts starts delivering alerts to events.alerts' sinks, recording
// each outcome in the store (alert_delivery events). discovery.webhook
// keeps its own sender, unchanged.
func (s *Stack) startAlerts(ctx context.Context, cfg *config.Config, o Options) error {
	d, err := alert.Start(ctx, cfg, alert.Options{Events: s.Store, Logger: o.Logger})
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	s.Alerts = d
	return nil
}

// assemble builds the control plane over eng (the inventory) and connects
// the API to both.
func (s *Stack) assemble(cfg *config.Config, eng *discovery.Engine, po control.Options, o Options) error {
	po.Store, po.Bus, po.Engine, po.Retention = s.Store, s.Bus, eng, cfg.Events.Retention
	po.FlushEvery, po.Logger = o.FlushEvery, o.Logger
	lg, err := control.OpenAudit(s.Store, cfg)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	po.Audit, po.AuditCheckpointEvery = lg, cfg.Audit.CheckpointInterval
	plane, err := control.New(po)
	if err != nil {
		return err
	}
	if lg != nil {
		s.API.Audit = lg
	}
	s.Plane = plane
	s.API.Discovery = eng
	s.API.Config = plane
	s.API.Consents = plane
	s.API.Graph = plane
	uo := ui.Options{Store: s.Store, Discovery: eng, Graph: plane, Health: s.health, Token: o.Token,
		ReadToken: cfg.Admin.ReadToken, Logger: o.Logger}
	if lg != nil {
		uo.Audit = lg
	}
	if s.UI, err = ui.New(uo); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

// register mounts the API and the dashboard on the admin listener's mux.
// The listener builds its mux when it starts serving (Serve), after
// assemble made the dashboard.
func (s *Stack) register(mux *http.ServeMux) {
	s.API.Register(mux)
	if s.UI != nil {
		s.UI.Register(mux)
	}
}

// health is the dashboard's plane health: the in-process gateway (Start)
// and the data planes with live profiles (StartControl), the bus, the
// age of the newest stored event, and what was dropped on the way.
func (s *Stack) health() ui.Health {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ph, err := s.Plane.Health(ctx)
	h := ui.Health{DataPlanes: len(ph.DataPlanes), BusConnected: ph.BusConnected, DroppedEvents: ph.Dropped}
	if dp := s.DataPlane; dp != nil {
		h.DataPlanes++
		if dp.Publisher != nil {
			h.DroppedEvents += dp.Publisher.Dropped()
		}
	}
	if !ph.NewestEvent.IsZero() {
		h.EventLag = max(time.Since(ph.NewestEvent), 0)
	}
	if err != nil {
		h.Notes = append(h.Notes, "the store did not answer: "+err.Error())
	}
	if s.API.Audit == nil {
		h.Notes = append(h.Notes, "the audit log is off")
	}
	return h
}

// AdminAddr is the address of the admin listener (API, metrics).
func (s *Stack) AdminAddr() string {
	if s.DataPlane != nil {
		return s.DataPlane.G.Addr("admin")
	}
	return s.adminLn.Addr().String()
}

// Serve runs the stack until ctx ends, then stops it and closes the store
// and bus.
func (s *Stack) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	planeDone := make(chan struct{})
	go func() { defer close(planeDone); _ = s.Plane.Run(ctx) }()
	var err error
	if s.DataPlane != nil {
		err = s.DataPlane.Serve(ctx)
	} else {
		err = s.serveAdmin(ctx)
	}
	cancel()
	<-planeDone
	s.close()
	return err
}

func (s *Stack) serveAdmin(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.admin.Shutdown(sctx)
	}()
	if err := s.admin.Serve(s.adminLn); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Stack) close() {
	if s.Alerts != nil {
		s.Alerts.Close() // before the store its events go to
	}
	s.Bus.Close()
	_ = s.Store.Close()
}
