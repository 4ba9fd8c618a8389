package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	stagediscovery "github.com/vigil-sec/vigil/internal/stage/discovery"
)

// ConfigKey is the bus KV key under which the control plane distributes
// configuration overlays to data planes.
const ConfigKey = "dataplane"

// DataPlane is a gateway or sidecar with its discovery service and, when
// it reports to a control plane, its bus publisher.
type DataPlane struct {
	G         *Gateway
	Discovery *discovery.Service
	Bus       *bus.Bus
	Publisher *bus.Publisher
	// Consents are the consent grants the control plane distributes,
	// answering the consent() policy function; kept in consentFile.
	Consents *consent.Cache
	// Signer signs the audit record of every transaction this data plane
	// handles, into the event (event.Audit), before the event is
	// published: nil unless audit.sign_hops (by default: a bus of its own
	// to a remote control plane).
	Signer      *audit.HopSigner
	consentFile string
	ownBus      bool
	log         *slog.Logger
	opts        DataPlaneOptions
	placement   string
}

// DataPlaneOptions add to Options what assembling a data plane needs.
type DataPlaneOptions struct {
	Discovery discovery.ServiceOptions
	// Bus, when set, is used instead of opening cfg.Bus (vigil up shares
	// its embedded bus).
	Bus *bus.Bus
	// ProfileEvery is how often a data plane that opened its own bus
	// (scale-out) publishes the discovery profiles that changed: body
	// schemas and sensitive fields, which events do not carry. Default 5s.
	// Under vigil up the control plane reads the gateway's engine itself.
	ProfileEvery time.Duration
	// Source names this data plane in the profiles it publishes. Default:
	// host name, placement and listen address.
	Source string
}

// StartDataPlane assembles what every placement runs: discovery (unless
// disabled) fed by the pipeline, the gateway, and — with bus: nats://...
// or a shared Bus — the link to the control plane: events published in
// batches (buffered, spooled to data_dir, counted when dropped) and
// configuration overlays applied as they are distributed.
func StartDataPlane(ctx context.Context, cfg *config.Config, opts Options, log *slog.Logger, dpo DataPlaneOptions) (*DataPlane, error) {
	dp := &DataPlane{log: log, Bus: dpo.Bus, opts: dpo, placement: opts.Placement}
	if dp.Bus == nil && (strings.HasPrefix(cfg.Bus, "nats://") || strings.HasPrefix(cfg.Bus, "tls://")) {
		b, err := bus.Open(ctx, cfg.Bus, cfg.DataDir, bus.Options{Logger: log, Name: "vigil-" + opts.Placement})
		if err != nil {
			return nil, fmt.Errorf("bus: %w", err)
		}
		dp.Bus, dp.ownBus = b, true
	}
	if dp.Bus != nil && cfg.Audit.HopSigning(dp.ownBus) {
		// Signed on the event queue's writer goroutine, after redaction
		// and before any sink encodes the event: the first sink.
		key, err := audit.LoadOrCreateKey(cfg.AuditKeyPath(), cfg.Audit.Origin)
		if err != nil {
			dp.closeBus()
			return nil, fmt.Errorf("audit: %w", err)
		}
		dp.Signer = audit.NewHopSigner(key)
		opts.Sinks = append([]event.Sink{dp.Signer}, opts.Sinks...)
	}
	if dp.Bus != nil {
		dp.Publisher = bus.NewPublisher(dp.Bus, bus.PublisherOptions{Placement: opts.Placement,
			SpoolDir: filepath.Join(cfg.DataDir, "spool", opts.Placement), SpoolMaxBytes: 256 << 20, Logger: log})
		opts.Sinks = append(opts.Sinks, dp.Publisher)
	}
	if discovery.Enabled(cfg.Discovery) {
		so := dpo.Discovery
		so.Logger = log
		svc, err := discovery.StartService(ctx, cfg.Discovery, so)
		if err != nil {
			dp.closeBus()
			return nil, err
		}
		dp.Discovery = svc
		opts.Deps.Discovery = stagediscovery.New(svc.Engine)
	}
	if opts.Deps.Consent == nil {
		dp.Consents = consent.NewCache()
		dp.consentFile = cfg.Identity.Consent.CacheFile
		if dp.consentFile == "" && cfg.DataDir != "" {
			dp.consentFile = filepath.Join(cfg.DataDir, "consent.json")
		}
		if dp.consentFile != "" {
			// A data plane that starts while the bus is down enforces the
			// grants it knew; a broken file is reported and replaced.
			if err := dp.Consents.Load(dp.consentFile); err != nil {
				log.Error("consent cache not loaded; starting with none", "err", err)
			}
		}
		opts.Deps.Consent = dp.Consents
	}
	opts.Logger = log
	g, err := New(cfg, opts)
	if err != nil {
		dp.closeBus()
		return nil, err
	}
	dp.G = g
	if dp.Discovery != nil {
		dp.Discovery.SetEmitter(g.Events)
		eng := dp.Discovery.Engine
		g.Metrics.CounterFunc("vigil_discovery_dropped_total", "Observations dropped because the discovery queue was full.",
			func() float64 { return float64(eng.Dropped()) })
		g.Metrics.GaugeFunc("vigil_discovery_endpoints", "Endpoints in the inventory.", func() float64 { return float64(eng.Len()) })
	}
	if c := dp.Consents; c != nil {
		g.Metrics.GaugeFunc("vigil_consent_grants", "Active consent grants this data plane holds.", func() float64 { return float64(c.Len()) })
		g.Metrics.CounterFunc("vigil_consent_invalid_total", "Consent values from the bus that were not a usable grant.",
			func() float64 { return float64(c.Invalid()) })
	}
	if s := dp.Signer; s != nil {
		g.Metrics.CounterFunc("vigil_audit_hops_signed_total", "Transaction events whose audit record this data plane signed.",
			func() float64 { return float64(s.Signed()) })
	}
	if p := dp.Publisher; p != nil {
		g.Metrics.CounterFunc("vigil_bus_events_published_total", "Events acknowledged by the bus.", func() float64 { return float64(p.Published()) })
		g.Metrics.CounterFunc("vigil_bus_events_dropped_total", "Events the bus publisher dropped (buffer and spool full).", func() float64 { return float64(p.Dropped()) })
		g.Metrics.GaugeFunc("vigil_bus_events_buffered", "Events waiting for the bus (memory and spool).", func() float64 { return float64(p.Buffered()) })
	}
	return dp, nil
}

// Events returns the event sink chain's queue (for alert emitters).
func (dp *DataPlane) Events() *event.Queue { return dp.G.Events }

// Serve runs the data plane until ctx ends: listeners, config reloads
// (file, SIGHUP) and distributed overlays; then drains and flushes the
// publisher.
func (dp *DataPlane) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if dp.Bus != nil {
		go dp.watchOverlay(ctx)
		if dp.Consents != nil {
			go dp.watchConsents(ctx)
		}
	}
	if dp.ownBus && dp.Discovery != nil {
		go dp.publishProfiles(ctx)
	}
	if dp.G.Config().File != "" {
		go dp.G.WatchReloads(ctx)
	}
	err := dp.G.Serve(ctx)
	if dp.Publisher != nil {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = dp.Publisher.Close(cctx)
	}
	dp.closeBus()
	return err
}

func (dp *DataPlane) closeBus() {
	if dp.ownBus && dp.Bus != nil {
		dp.Bus.Close()
	}
}

// watchOverlay applies configuration distributed by the control plane,
// caching the last one in data_dir so a restart without the bus serves it.
func (dp *DataPlane) watchOverlay(ctx context.Context) {
	cache := filepath.Join(dp.G.Config().DataDir, "control-overlay.cache")
	err := dp.Bus.WatchConfig(ctx, ConfigKey, cache, func(v []byte, rev uint64) {
		if err := dp.G.SetOverlay(v); err != nil {
			dp.log.Error("distributed config rejected", "revision", rev, "err", err)
		}
	})
	if err != nil && ctx.Err() == nil {
		dp.log.Error("config watch stopped", "err", err)
	}
}

// watchConsents follows the grants the control plane distributes (a
// revocation is seen within milliseconds) and saves them to the cache file
// when they changed, every two seconds and at shutdown.
func (dp *DataPlane) watchConsents(ctx context.Context) {
	go func() {
		if err := dp.Bus.WatchPrefix(ctx, consent.KeyPrefix, dp.Consents); err != nil && ctx.Err() == nil {
			dp.log.Error("consent watch stopped", "err", err)
		}
	}()
	if dp.consentFile == "" {
		return
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := dp.Consents.Save(dp.consentFile); err != nil {
				dp.log.Warn("consent cache not saved", "err", err)
			}
			return
		case <-t.C:
			if err := dp.Consents.Save(dp.consentFile); err != nil {
				dp.log.Warn("consent cache not saved", "err", err)
			}
		}
	}
}

// publishProfiles puts the discovery profiles that changed on the bus every
// ProfileEvery, and all of them again every few hours (the bucket expires
// profiles nobody renews). A bus outage only delays them: what was not
// acknowledged is sent on a later tick.
func (dp *DataPlane) publishProfiles(ctx context.Context) {
	every := dp.opts.ProfileEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	source := dp.opts.Source
	if source == "" {
		host, _ := os.Hostname()
		source = host + "-" + dp.placement + "-" + dp.G.Addr("http")
	}
	// The profiles carry header parameters and protected too, so the
	// scale-out inventory is the all-in-one one.
	dp.Bus.PublishProfiles(ctx, source, every, dp.Discovery.Engine.ScaleOutProfilesSince)
}
