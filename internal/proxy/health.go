package proxy

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-sec/vigil/internal/metrics"
)

// startHealth starts the pool's active health checker, when it has one:
// a goroutine that probes every target each interval until close.
func (p *pool) startHealth(rt http.RoundTripper) {
	if p.hc == nil {
		return
	}
	client := &http.Client{Transport: rt, Timeout: p.hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx, cancel := context.WithCancel(context.Background())
	p.hcCancel = cancel // close aborts probes in flight
	p.hcDone.Add(1)
	go func() {
		defer p.hcDone.Done()
		// A little jitter, so that pools (and gateways) do not probe in
		// step; a runtime closed at once (vigil validate) probes nothing.
		first := time.NewTimer(rand.N(p.hc.Interval/10 + time.Millisecond))
		defer first.Stop()
		select {
		case <-p.hcStop:
			return
		case <-first.C:
		}
		tick := time.NewTicker(p.hc.Interval)
		defer tick.Stop()
		for {
			p.probeAll(ctx, client)
			select {
			case <-p.hcStop:
				return
			case <-tick.C:
			}
		}
	}()
}

// probeAll probes every target at once and waits for the answers.
func (p *pool) probeAll(ctx context.Context, client *http.Client) {
	var wg sync.WaitGroup
	for _, t := range p.targets {
		wg.Go(func() { p.observe(t, p.probe(ctx, client, t)) })
	}
	wg.Wait()
}

// probe sends one GET to the target's health path; it passes on an
// expected status (any 2xx when expect_status is empty).
func (p *pool) probe(ctx context.Context, client *http.Client, t *target) bool {
	u := *t.url
	u.Path, u.RawPath, u.RawQuery = p.hc.Path, "", ""
	if i := strings.IndexByte(p.hc.Path, '?'); i >= 0 {
		u.Path, u.RawQuery = p.hc.Path[:i], p.hc.Path[i+1:]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "vigil-health-check")
	res, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.CopyN(io.Discard, res.Body, 64<<10) // keeps the connection reusable
	res.Body.Close()
	if len(p.hc.ExpectStatus) == 0 {
		return res.StatusCode >= 200 && res.StatusCode < 300
	}
	return slices.Contains(p.hc.ExpectStatus, res.StatusCode)
}

// observe applies one probe result: unhealthy_threshold failures in a row
// take a target out, healthy_threshold passes in a row bring it back.
func (p *pool) observe(t *target, ok bool) {
	select {
	case <-p.hcStop:
		return // a probe cut short by close says nothing of the target
	default:
	}
	if ok {
		t.hcFail = 0
		t.hcOK++
		if t.down.Load() && t.hcOK >= p.hc.HealthyThreshold {
			t.down.Store(false)
			p.log.Info("upstream target passes its health check again", "route", p.route, "target", t.raw)
		}
		return
	}
	t.hcOK = 0
	t.hcFail++
	if !t.down.Load() && t.hcFail >= p.hc.UnhealthyThreshold {
		t.down.Store(true)
		p.log.Warn("upstream target fails its health check; taken out of the pool", "route", p.route, "target", t.raw,
			"failures", t.hcFail)
	}
}

// healthCollector exports vigil_upstream_healthy{route,target} for the
// live pools of every runtime sharing one registry. While a reload
// overlaps two runtimes, the newest pool of a route speaks for a target.
type healthCollector struct {
	mu    sync.Mutex
	seq   uint64
	pools map[*pool]uint64
}

var healthyDesc = prometheus.NewDesc("vigil_upstream_healthy",
	"1 when the pool target takes requests (passes its health checks and is not ejected), by route and target.",
	[]string{"route", "target"}, nil)

// healthCollectorFor returns the collector registered in m, registering
// one the first time.
func healthCollectorFor(m *metrics.Metrics) *healthCollector {
	c := &healthCollector{pools: map[*pool]uint64{}}
	if err := m.Registry.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if hc, ok := are.ExistingCollector.(*healthCollector); ok {
				return hc
			}
		}
		return c // not exported; the pools still work
	}
	return c
}

func (c *healthCollector) add(p *pool) {
	c.mu.Lock()
	c.seq++
	c.pools[p] = c.seq
	c.mu.Unlock()
}

func (c *healthCollector) remove(p *pool) {
	c.mu.Lock()
	delete(c.pools, p)
	c.mu.Unlock()
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- healthyDesc }

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ route, target string }
	type val struct {
		seq     uint64
		healthy bool
	}
	now := nanotime()
	c.mu.Lock()
	out := map[key]val{}
	for p, seq := range c.pools {
		for _, t := range p.targets {
			k := key{p.route, t.raw}
			if v, ok := out[k]; !ok || v.seq < seq {
				out[k] = val{seq, t.healthy(now)}
			}
		}
	}
	c.mu.Unlock()
	for k, v := range out {
		g := 0.0
		if v.healthy {
			g = 1
		}
		ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, g, k.route, k.target)
	}
}
