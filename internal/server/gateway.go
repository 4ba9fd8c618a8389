// Package server runs Vigil's data plane: listeners with their hardening,
// the admin listener, the event queue, and configuration reloads (SIGHUP
// and file changes) that swap a fully built runtime in atomically.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vigil-sec/vigil/internal/authz/behavior"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
	"github.com/vigil-sec/vigil/internal/egress"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/metrics"
	"github.com/vigil-sec/vigil/internal/proxy"
	"github.com/vigil-sec/vigil/internal/stage"
	"github.com/vigil-sec/vigil/internal/tlsconf"
)

// Options configure a Gateway beyond its config file.
type Options struct {
	// Placement names the data plane in events (gateway, sidecar).
	Placement string
	Logger    *slog.Logger
	// Sinks receive every event besides events.file (the bus, discovery).
	Sinks []event.Sink
	// Deps are long-lived services for stages.
	Deps stage.Deps
	// Admin, when set, adds routes to the admin listener (the control
	// plane's API and dashboard).
	Admin func(mux *http.ServeMux)
	// OnReload is called with each new config after it was swapped in.
	OnReload func(*config.Config)
	// EgressDial, when set, connects egress tunnels (tests resolve names
	// with it); default net.Dialer.
	EgressDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Gateway is a running data plane.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	Metrics *metrics.Metrics
	Handler *proxy.Handler
	Events  *event.Queue

	mu      sync.Mutex // serializes reloads
	cfg     atomic.Pointer[config.Config]
	overlay []byte // distributed by the control plane; guarded by mu
	servers []*http.Server
	admin   *http.Server
	ready   atomic.Bool
	addrs   map[string]string

	lnHTTP, lnHTTPS, lnAdmin net.Listener
	lnEgress                 net.Listener
	egress                   *egress.Server
	errc                     chan error
}

// New builds a gateway from a loaded config and binds its listeners, so
// that Addr is meaningful as soon as New returns.
func New(cfg *config.Config, opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Placement == "" {
		opts.Placement = "gateway"
	}
	if opts.Deps.Behavior == nil {
		// Baselines outlive reloads: one tracker per gateway, sized by
		// the first config.
		b := cfg.Identity.Behavior
		opts.Deps.Behavior = behavior.New(behavior.Options{MaxIdentities: b.MaxIdentities, Window: b.Window,
			EnumThreshold: b.EnumerationThreshold, Warmup: b.Warmup})
	}
	g := &Gateway{opts: opts, log: opts.Logger, Metrics: metrics.New(), addrs: map[string]string{}, errc: make(chan error, 4)}
	sinks := append([]event.Sink(nil), opts.Sinks...)
	if cfg.Events.File != "" {
		fs, err := event.OpenFileSink(cfg.Events.File)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, fs)
	}
	redact, err := sensitive.New(nil)
	if err != nil {
		return nil, err
	}
	g.Events = event.NewQueue(event.QueueOptions{Capacity: cfg.Events.QueueSize, Flush: cfg.Events.FlushInterval, Log: g.log,
		Prepare: func(ev *event.Event) {
			// No raw secret in events: mask sensitive query values and
			// path segments (tokens, keys, card numbers, emails).
			ev.Request.Query = redact.RedactQuery(ev.Request.Query)
			ev.Request.Path = redact.RedactPath(ev.Request.Path)
			if ev.Request.RawPath != "" {
				ev.Request.RawPath = redact.RedactPath(ev.Request.RawPath)
			}
		}}, sinks...)
	q := g.Events
	g.Metrics.GaugeFunc("vigil_events_queue_depth", "Events waiting to be written.", func() float64 { return float64(q.Depth()) })
	g.Metrics.CounterFunc("vigil_events_dropped_total", "Events dropped because the queue was full.", func() float64 { return float64(q.Dropped()) })
	g.Metrics.CounterFunc("vigil_events_written_total", "Events handed to the sinks.", func() float64 { return float64(q.Written()) })

	rt, err := g.build(cfg)
	if err != nil {
		_ = g.Events.Close(context.Background())
		return nil, err
	}
	g.cfg.Store(cfg)
	g.Handler = proxy.NewHandler(rt, g.Events, g.Metrics, g.log, opts.Placement)
	if err := g.bind(cfg); err != nil {
		g.closeListeners()
		rt.Close()
		_ = g.Events.Close(context.Background())
		return nil, err
	}
	return g, nil
}

func (g *Gateway) build(cfg *config.Config) (*proxy.Runtime, error) {
	set, err := stage.New(cfg, g.opts.Deps)
	if err != nil {
		return nil, err
	}
	return proxy.NewRuntime(cfg, set, g.Metrics, g.log)
}

func (g *Gateway) bind(cfg *config.Config) error {
	var err error
	if cfg.Listen.HTTP != "" {
		if g.lnHTTP, err = net.Listen("tcp", cfg.Listen.HTTP); err != nil {
			return fmt.Errorf("listen.http: %w", err)
		}
		g.addrs["http"] = g.lnHTTP.Addr().String()
	}
	if h := cfg.Listen.HTTPS; h != nil {
		if g.lnHTTPS, err = net.Listen("tcp", h.Addr); err != nil {
			return fmt.Errorf("listen.https: %w", err)
		}
		g.addrs["https"] = g.lnHTTPS.Addr().String()
	}
	if cfg.Admin.Addr != "" {
		if g.lnAdmin, err = net.Listen("tcp", cfg.Admin.Addr); err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		g.addrs["admin"] = g.lnAdmin.Addr().String()
	}
	return g.bindEgress(cfg)
}

func (g *Gateway) closeListeners() {
	for _, l := range []net.Listener{g.lnHTTP, g.lnHTTPS, g.lnAdmin, g.lnEgress} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// Addr returns the bound address of "http", "https", "admin" or "egress".
func (g *Gateway) Addr(name string) string { return g.addrs[name] }

// Config returns the config in use.
func (g *Gateway) Config() *config.Config { return g.cfg.Load() }

// Serve runs the listeners until ctx ends, then drains gracefully: it
// stops accepting, lets in-flight requests finish (up to
// listen.limits.shutdown_timeout), and flushes the event queue.
func (g *Gateway) Serve(ctx context.Context) error {
	cfg := g.cfg.Load()
	lim := cfg.Listen.Limits
	if g.lnHTTP != nil {
		srv := newHTTPServer(g.Handler, lim, g.log, true)
		g.servers = append(g.servers, srv)
		go func() { g.errc <- listenHTTP(g.lnHTTP, srv, lim) }()
	}
	if h := cfg.Listen.HTTPS; h != nil {
		tc, err := tlsconf.Server(h, g.log)
		if err != nil {
			return err
		}
		srv := newHTTPServer(g.Handler, lim, g.log, false)
		g.servers = append(g.servers, srv)
		go func() { g.errc <- listenHTTPS(g.lnHTTPS, srv, tc, lim, g.log) }()
		g.watchCertificate(ctx, tc, "listen.https "+g.Addr("https"))
	}
	g.serveEgress(lim)
	if g.lnAdmin != nil {
		g.admin = &http.Server{Handler: g.adminMux(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
			ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)}
		go func() {
			err := g.admin.Serve(g.lnAdmin)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			g.errc <- err
		}()
	}
	g.ready.Store(true)
	g.log.Info("vigil data plane serving", "placement", g.opts.Placement, "http", g.addrs["http"],
		"https", g.addrs["https"], "egress", g.addrs["egress"], "admin", g.addrs["admin"], "routes", len(cfg.Routes), "mode", cfg.Mode)

	var err error
	select {
	case <-ctx.Done():
	case err = <-g.errc:
		if err != nil {
			g.log.Error("listener failed", "err", err)
		}
	}
	return errors.Join(err, g.shutdown())
}

func (g *Gateway) shutdown() error {
	g.ready.Store(false)
	lim := g.cfg.Load().Listen.Limits
	ctx, cancel := context.WithTimeout(context.Background(), lim.ShutdownTimeout)
	defer cancel()
	g.log.Info("draining", "timeout", lim.ShutdownTimeout)
	g.closeEgress()
	var errs []error
	for _, s := range g.servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = s.Close()
		}
	}
	if g.admin != nil {
		_ = g.admin.Shutdown(ctx)
	}
	g.closeListeners()
	g.Handler.Runtime().Close()
	if err := g.Events.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("events: %w", err))
	}
	g.log.Info("stopped", "events_written", g.Events.Written(), "events_dropped", g.Events.Dropped())
	return errors.Join(errs...)
}

// Reload loads the config file again and swaps it in. A config that fails
// to load, validate or build is rejected and the running one keeps
// serving.
func (g *Gateway) Reload() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.cfg.Load()
	cfg, err := config.LoadWithOverlay(old.File, g.overlay)
	if err == nil {
		err = g.swap(old, cfg)
	}
	if err != nil {
		g.Metrics.Reloads.WithLabelValues("rejected").Inc()
		g.log.Error("config reload rejected; the previous config keeps serving", "file", old.File, "err", err)
		return err
	}
	g.Metrics.Reloads.WithLabelValues("ok").Inc()
	g.log.Info("config reloaded", "file", cfg.File, "routes", len(cfg.Routes), "mode", cfg.Mode)
	if g.opts.OnReload != nil {
		g.opts.OnReload(cfg)
	}
	return nil
}

// SetOverlay applies a configuration overlay distributed by the control
// plane on top of the local file (see config.OverlayKeys), through the same
// validation and build path as a reload. A rejected overlay leaves the
// running config in place.
func (g *Gateway) SetOverlay(overlay []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.cfg.Load()
	cfg, err := config.LoadWithOverlay(old.File, overlay)
	if err == nil {
		err = g.swap(old, cfg)
	}
	if err != nil {
		g.Metrics.Reloads.WithLabelValues("rejected").Inc()
		g.log.Error("control-plane config rejected; the previous config keeps serving", "err", err)
		return err
	}
	g.overlay = overlay
	g.Metrics.Reloads.WithLabelValues("ok").Inc()
	g.log.Info("control-plane config applied", "routes", len(cfg.Routes), "mode", cfg.Mode)
	return nil
}

func (g *Gateway) swap(old, cfg *config.Config) error {
	rt, err := g.build(cfg)
	if err != nil {
		return err
	}
	for _, k := range restartOnly(old, cfg) {
		g.log.Warn("config change needs a restart to take effect", "field", k)
	}
	g.cfg.Store(cfg)
	prev := g.Handler.Swap(rt)
	prev.Retire(cfg.Listen.Limits.ShutdownTimeout + time.Minute)
	return nil
}

func restartOnly(a, b *config.Config) []string {
	var out []string
	if a.Listen.HTTP != b.Listen.HTTP {
		out = append(out, "listen.http")
	}
	if (a.Listen.HTTPS == nil) != (b.Listen.HTTPS == nil) || (a.Listen.HTTPS != nil && *a.Listen.HTTPS != *b.Listen.HTTPS) {
		out = append(out, "listen.https")
	}
	if a.Events.File != b.Events.File || a.Events.QueueSize != b.Events.QueueSize || a.Events.FlushInterval != b.Events.FlushInterval {
		out = append(out, "events")
	}
	la, lb := a.Listen.Limits, b.Listen.Limits
	if la.MaxConnections != lb.MaxConnections || la.ReadHeaderTimeout != lb.ReadHeaderTimeout || la.IdleTimeout != lb.IdleTimeout {
		out = append(out, "listen.limits (max_connections, read_header_timeout, idle_timeout)")
	}
	ea, eb := a.Transport.Egress, b.Transport.Egress
	ea.Rules, eb.Rules, ea.Default, eb.Default, ea.Identity, eb.Identity = nil, nil, "", "", "", ""
	if !reflect.DeepEqual(ea, eb) {
		out = append(out, "transport.egress (all but rules, default and identity)")
	}
	if a.Admin != b.Admin {
		out = append(out, "admin")
	}
	if a.Store != b.Store || a.Bus != b.Bus || a.DataDir != b.DataDir {
		out = append(out, "store/bus/data_dir")
	}
	if !reflect.DeepEqual(a.Discovery, b.Discovery) {
		out = append(out, "discovery")
	}
	return out
}

// WatchReloads reloads on SIGHUP and when the config file changes, until
// ctx ends.
func (g *Gateway) WatchReloads(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	file := g.cfg.Load().File
	changes := make(chan struct{}, 1)
	if w, err := fsnotify.NewWatcher(); err != nil {
		g.log.Warn("config file watching unavailable", "err", err)
	} else {
		defer w.Close()
		// Watch the directory: editors replace files by rename.
		if err := w.Add(filepath.Dir(file)); err != nil {
			g.log.Warn("config file watching unavailable", "err", err)
		}
		go func() {
			abs, _ := filepath.Abs(file)
			for {
				select {
				case ev, ok := <-w.Events:
					if !ok {
						return
					}
					if p, _ := filepath.Abs(ev.Name); p == abs && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
						select {
						case changes <- struct{}{}:
						default:
						}
					}
				case <-w.Errors:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = g.Reload()
		case <-changes:
			debounce = time.After(150 * time.Millisecond)
		case <-debounce:
			debounce = nil
			_ = g.Reload()
		}
	}
}

// Check builds (and then releases) everything a config needs, without
// binding listeners: what `vigil validate` runs after parsing.
func Check(cfg *config.Config) error {
	set, err := stage.New(cfg, stage.Deps{})
	if err != nil {
		return err
	}
	rt, err := proxy.NewRuntime(cfg, set, metrics.New(), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	rt.Close()
	if err := checkEgress(cfg); err != nil {
		return err
	}
	if h := cfg.Listen.HTTPS; h != nil {
		if _, err := tlsconf.Server(h, slog.New(slog.DiscardHandler)); err != nil {
			return cfg.Errorf("listen.https", "%v", err)
		}
	}
	return nil
}
