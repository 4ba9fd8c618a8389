package alert

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-sec/vigil/internal/config"
)

// build makes the sink of events.alerts.sinks[i], reading its secrets
// from the config or the environment.
func build(cfg *config.Config, i int, o *Options) (Sink, error) {
	sc := &cfg.Events.Alerts.Sinks[i]
	p := fmt.Sprintf("events.alerts.sinks[%d]", i)
	value := func(key, v, envKey, env string) (string, error) {
		if env == "" {
			return v, nil
		}
		if v := o.Getenv(env); v != "" {
			return v, nil
		}
		return "", cfg.Errorf(p+"."+envKey, "the environment variable %s (for %s) is not set", env, key)
	}
	rawURL, err := value("url", sc.URL, "url_env", sc.URLEnv)
	if err != nil {
		return nil, err
	}
	if sc.URLEnv != "" {
		if err := config.CheckAlertURL(rawURL); err != nil {
			return nil, cfg.Errorf(p+".url_env", "%s: %v", sc.URLEnv, err)
		}
	}
	switch sc.Type {
	case "webhook":
		secret, err := value("secret", sc.Secret, "secret_env", sc.SecretEnv)
		if err != nil {
			return nil, err
		}
		return newWebhook(rawURL, []byte(secret), o.Version), nil
	case "slack":
		return newSlack(rawURL, o.Version), nil
	case "pagerduty":
		key, err := value("routing_key", sc.RoutingKey, "routing_key_env", sc.RoutingKeyEnv)
		if err != nil {
			return nil, err
		}
		return newPagerDuty(rawURL, key, o.Version, o.Hostname), nil
	case "syslog":
		transport, addr, err := config.SyslogAddress(sc.Address)
		if err != nil {
			return nil, cfg.Errorf(p+".address", "%v", err)
		}
		facility, ok := config.SyslogFacility(sc.Facility)
		if !ok {
			facility = 16 // local0
		}
		s, err := newSyslog(transport, addr, facility, sc.CA, o.Hostname, o.Version)
		if err != nil {
			return nil, cfg.Errorf(p+".ca", "%v", err)
		}
		return s, nil
	}
	return nil, cfg.Errorf(p+".type", "%q is not a sink type", sc.Type)
}

// Describe and Collect make the Dispatcher a prometheus.Collector:
// vigil_alert_deliveries_total{sink,type,outcome} (delivered, retry,
// deduplicated, rate_limited, dropped), vigil_alert_dead_letters_total
// {sink,type}, vigil_alert_queue_length{sink,type} and
// vigil_alert_delivery_events_dropped_total.
func (d *Dispatcher) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range descs() {
		ch <- desc
	}
}

var _ prometheus.Collector = (*Dispatcher)(nil)

// Collect implements prometheus.Collector.
func (d *Dispatcher) Collect(ch chan<- prometheus.Metric) {
	ds := descs()
	for _, s := range d.Stats() {
		for outcome, n := range map[string]uint64{StatusDelivered: s.Delivered, StatusRetry: s.Retries, "deduplicated": s.Deduplicated,
			StatusRateLimited: s.RateLimited, StatusDropped: s.Dropped} {
			ch <- prometheus.MustNewConstMetric(ds[0], prometheus.CounterValue, float64(n), s.Name, s.Type, outcome)
		}
		ch <- prometheus.MustNewConstMetric(ds[1], prometheus.CounterValue, float64(s.DeadLetters), s.Name, s.Type)
		ch <- prometheus.MustNewConstMetric(ds[2], prometheus.GaugeValue, float64(s.Queued), s.Name, s.Type)
	}
	ch <- prometheus.MustNewConstMetric(ds[3], prometheus.CounterValue, float64(d.EventsDropped()))
}

func descs() [4]*prometheus.Desc {
	return [4]*prometheus.Desc{
		prometheus.NewDesc("vigil_alert_deliveries_total", "Alerts by sink and outcome (delivered, retry, deduplicated, rate_limited, dropped).",
			[]string{"sink", "type", "outcome"}, nil),
		prometheus.NewDesc("vigil_alert_dead_letters_total", "Alerts a sink failed to deliver after its last attempt, or refused.",
			[]string{"sink", "type"}, nil),
		prometheus.NewDesc("vigil_alert_queue_length", "Alerts waiting for a sink.", []string{"sink", "type"}, nil),
		prometheus.NewDesc("vigil_alert_delivery_events_dropped_total", "alert_delivery events not stored.", nil, nil),
	}
}
