// Package metrics defines Vigil's Prometheus metrics. Each process owns one
// registry (no global state); /metrics on the admin listener serves it.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the data plane's collectors.
type Metrics struct {
	Registry       *prometheus.Registry
	Requests       *prometheus.CounterVec
	Latency        *prometheus.HistogramVec
	StageLatency   *prometheus.HistogramVec
	StageFailures  *prometheus.CounterVec
	UpstreamErrors *prometheus.CounterVec
	Rejected       *prometheus.CounterVec
	Reloads        *prometheus.CounterVec
	// Upstream pools (internal/proxy); the per-target healthy gauge is
	// collected by the proxy from its live pools.
	UpstreamEjections      *prometheus.CounterVec
	UpstreamRetries        *prometheus.CounterVec
	UpstreamRetriesRefused *prometheus.CounterVec
	UpstreamPanic          *prometheus.CounterVec
}

// New registers the collectors (plus Go and process collectors) in a new
// registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_requests_total", Help: "Requests handled, by route and decision.",
		}, []string{"route", "decision"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_request_duration_seconds", Help: "Total request latency, by route and decision.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "decision"}),
		StageLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_stage_duration_seconds", Help: "Time spent in each pipeline stage.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05},
		}, []string{"stage"}),
		StageFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_stage_failures_total", Help: "Stage failures (panic, timeout, error).",
		}, []string{"stage", "kind"}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_upstream_errors_total", Help: "Failed upstream exchanges, by route and kind.",
		}, []string{"route", "kind"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_rejected_requests_total", Help: "Requests refused before routing (ambiguous framing, limits).",
		}, []string{"reason"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_config_reloads_total", Help: "Configuration reloads, by result.",
		}, []string{"result"}),
		UpstreamEjections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_upstream_ejections_total", Help: "Targets ejected from their pool after consecutive failures, by route and target.",
		}, []string{"route", "target"}),
		UpstreamRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_upstream_retries_total", Help: "Requests retried on another target, by route.",
		}, []string{"route"}),
		UpstreamRetriesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_upstream_retries_refused_total", Help: "Retries not made because the route's retry budget was spent, by route.",
		}, []string{"route"}),
		UpstreamPanic: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_upstream_panic_total", Help: "Requests sent to an unhealthy target because no target of the pool was healthy (panic mode), by route.",
		}, []string{"route"}),
	}
	r.MustRegister(m.Requests, m.Latency, m.StageLatency, m.StageFailures, m.UpstreamErrors, m.Rejected, m.Reloads,
		m.UpstreamEjections, m.UpstreamRetries, m.UpstreamRetriesRefused, m.UpstreamPanic,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// GaugeFunc registers a gauge read at scrape time.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// CounterFunc registers a counter read at scrape time.
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}
