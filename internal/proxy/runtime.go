package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/metrics"
	"github.com/vigil-sec/vigil/internal/pathnorm"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Stages is the set of stage instances built for one configuration (see
// internal/stage, which holds the one list of stages and their order).
type Stages interface {
	// Chain assembles the chain of one route; obs makes its metrics observer.
	Chain(route *config.Route, obs func(stages []string) pipeline.Observer) (*pipeline.Chain, error)
	Close() error
}

// Runtime is everything one configuration needs to serve requests. It is
// built (and fully validated) before it replaces the running one; requests
// keep the Runtime they started with.
type Runtime struct {
	Config   *config.Config
	router   *Router[*Route]
	routes   []*Route
	trust    Trust
	limits   config.Limits
	norm     pathnorm.Options
	stages   Stages
	inflight atomic.Int64
	health   *healthCollector
}

// Route is a route's runtime: its upstream, chain and cached metrics.
type Route struct {
	Name      string
	Upstream  string
	Mode      string
	Chain     *pipeline.Chain
	proxy     http.Handler
	transport *http.Transport
	requests  [4]prometheus.Counter
	latency   [4]prometheus.Observer
	upErrs    *prometheus.CounterVec
	pool      *pool // nil for a single upstream
}

// NewRuntime builds a runtime from a validated config.
func NewRuntime(cfg *config.Config, stages Stages, m *metrics.Metrics, log *slog.Logger) (*Runtime, error) {
	rt := &Runtime{Config: cfg, limits: cfg.Listen.Limits, norm: cfg.Listen.Normalize.Options(), stages: stages,
		health: healthCollectorFor(m)}
	var prefixes []netip.Prefix
	for _, p := range cfg.Listen.TrustedProxies {
		pp, err := config.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		prefixes = append(prefixes, pp)
	}
	rt.trust = NewTrust(prefixes)
	bp := newBufferPool()
	var specs []RouteSpec[*Route]
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		field := fmt.Sprintf("routes[%d].upstream", i)
		if len(rc.Upstreams) > 0 {
			field += "s[0].url"
		}
		orig, target, err := upstreamURL(rc.Targets()[0].URL)
		if err != nil {
			rt.Close()
			return nil, cfg.Errorf(field, "%v", err)
		}
		t, err := newTransport(rc, orig)
		if err != nil {
			rt.Close()
			return nil, cfg.Errorf(fmt.Sprintf("routes[%d]", i), "%v", err)
		}
		if rc.InsecureSkipVerify {
			log.Warn("route skips upstream certificate verification", "route", rc.Name)
		}
		r := &Route{Name: rc.Name, Upstream: rc.Upstream, Mode: rc.Mode, transport: t, upErrs: m.UpstreamErrors}
		if rc.Pooled() {
			r.pool, err = newPool(rc, m, log, func(u *url.URL) *httputil.ReverseProxy {
				return newReverseProxy(u, t, rt.trust, bp, rt.proxyError)
			})
			if err != nil {
				rt.routes = append(rt.routes, r)
				rt.Close()
				return nil, cfg.Errorf(fmt.Sprintf("routes[%d].upstreams", i), "%v", err)
			}
		}
		for a := pipeline.Allow; a <= pipeline.Block; a++ {
			r.requests[a] = m.Requests.WithLabelValues(rc.Name, a.String())
			r.latency[a] = m.Latency.WithLabelValues(rc.Name, a.String())
		}
		obs := func(stages []string) pipeline.Observer { return newStageObserver(m, stages) }
		chain, err := stages.Chain(rc, obs)
		if err != nil {
			rt.routes = append(rt.routes, r)
			rt.Close()
			var fe *config.FieldError
			if errors.As(err, &fe) {
				return nil, err
			}
			return nil, cfg.Errorf(fmt.Sprintf("routes[%d]", i), "%v", err)
		}
		r.Chain = chain
		fw := &forwarder{target: target, rt: t, trust: rt.trust, bufs: bp, errh: rt.proxyError,
			chain: chain, respLimit: int(cfg.Listen.Limits.ResponseInspectBytes), pool: r.pool}
		if u := rc.UpstreamTLS; u != nil {
			fw.clientCert = u.SVID != nil || u.Cert != ""
		}
		if r.pool == nil {
			fw.upgrades = newReverseProxy(target, t, rt.trust, bp, rt.proxyError)
		}
		r.proxy = fw
		rt.routes = append(rt.routes, r)
		specs = append(specs, RouteSpec[*Route]{Host: rc.Match.Host, PathPrefix: rc.Match.PathPrefix, Value: r})
	}
	rt.router = NewRouter(specs)
	// Health checkers start once the whole runtime is built; Close stops
	// them (a reload retires the old runtime, and its checkers with it).
	for _, r := range rt.routes {
		if r.pool != nil {
			rt.health.add(r.pool)
			r.pool.startHealth(r.transport)
		}
	}
	return rt, nil
}

// Routes lists the route runtimes.
func (rt *Runtime) Routes() []*Route { return rt.routes }

// Close releases transports and stage resources. Call it once no request
// uses the runtime (see Retire).
func (rt *Runtime) Close() {
	for _, r := range rt.routes {
		if r.pool != nil {
			r.pool.close()
			rt.health.remove(r.pool)
		}
		r.transport.CloseIdleConnections()
	}
	if rt.stages != nil {
		_ = rt.stages.Close()
	}
}

// Retire waits (in the background) for in-flight requests to finish on rt,
// then closes it.
func (rt *Runtime) Retire(maxWait time.Duration) {
	go func() {
		deadline := time.Now().Add(maxWait)
		for rt.inflight.Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		rt.Close()
	}()
}

// stageObserver records per-stage latency and failures.
type stageObserver struct {
	lat   []prometheus.Observer
	fails *prometheus.CounterVec
	names []string
}

func newStageObserver(m *metrics.Metrics, names []string) pipeline.Observer {
	o := &stageObserver{fails: m.StageFailures, names: names}
	for _, n := range names {
		o.lat = append(o.lat, m.StageLatency.WithLabelValues(n))
	}
	return o
}

func (o *stageObserver) StageDone(i int, d time.Duration) { o.lat[i].Observe(d.Seconds()) }
func (o *stageObserver) StageFailed(i int, kind string) {
	o.fails.WithLabelValues(o.names[i], kind).Inc()
}
