package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAlertsValidation: every mistake in events.alerts is reported at its
// key, with its line.
func TestAlertsValidation(t *testing.T) {
	for _, tc := range []struct {
		name, sinks string
		want        []string // "path: message part"
	}{
		{"missing url", `
  - {name: a, type: slack, url: "https://hooks.slack.com/services/x"}
  - {name: b, type: slack}`, []string{"events.alerts.sinks[1].url: required"}},
		{"bad url, not repeated", `
  - {name: a, type: webhook, url: "ftp://user:SECRET@h/x", secret: k}`, []string{"events.alerts.sinks[0].url: not an http:// or https:// URL"}},
		{"unsigned webhook", `
  - {name: a, type: webhook, url: "https://h/x"}`, []string{"events.alerts.sinks[0].secret: a webhook is signed"}},
		{"both secrets", `
  - {name: a, type: webhook, url: "https://h/x", secret: k, secret_env: K}`, []string{"events.alerts.sinks[0].secret:"}},
		{"pagerduty without key", `
  - {name: pd, type: pagerduty}`, []string{"events.alerts.sinks[0].routing_key:"}},
		{"unknown type", `
  - {name: a, type: email}`, []string{`events.alerts.sinks[0].type: "email" is not one of webhook, slack, pagerduty, syslog`}},
		{"duplicate and missing names", `
  - {name: a, type: slack, url: "https://h/x"}
  - {name: a, type: slack, url: "https://h/y"}
  - {type: slack, url: "https://h/z"}`, []string{"events.alerts.sinks[1].name: duplicate sink name", "events.alerts.sinks[2].name: required"}},
		{"syslog address", `
  - {name: s, type: syslog, address: "127.0.0.1:514"}
  - {name: t, type: syslog, address: "udp://nohost"}
  - {name: u, type: syslog}`, []string{"events.alerts.sinks[0].address:", "events.alerts.sinks[1].address:", "events.alerts.sinks[2].address: required"}},
		{"syslog facility", `
  - {name: s, type: syslog, address: "udp://127.0.0.1:514", facility: local9}`, []string{`events.alerts.sinks[0].facility: unknown syslog facility "local9"`}},
		{"key of another type", `
  - {name: s, type: syslog, address: "tcp://127.0.0.1:514", url: "https://h/x"}`, []string{"events.alerts.sinks[0].url: not used by a syslog sink"}},
		{"kinds and severities", `
  - {name: a, type: slack, url: "https://h/x", types: [shadow_endpoint, shadow_endpoints], min_severity: severe}`,
			[]string{`events.alerts.sinks[0].types[1]: unknown alert kind "shadow_endpoints"`, `events.alerts.sinks[0].min_severity: "severe"`}},
		{"rate and retries", `
  - {name: a, type: slack, url: "https://h/x", rate: "ten/m", max_attempts: 1000, backoff: 10s, max_backoff: 1s}`,
			[]string{"events.alerts.sinks[0].rate:", "events.alerts.sinks[0].max_attempts:", "events.alerts.sinks[0].max_backoff:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("events:\n  alerts:\n    sinks:"+strings.ReplaceAll(tc.sinks, "\n", "\n    ")+"\n"), "v.yaml")
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v, want config errors", err)
			}
			if len(errs) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no error %q in:\n%v", w, err)
				}
			}
			for _, e := range errs {
				if e.Line == 0 {
					t.Errorf("%s has no line", e.Path)
				}
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("an error repeats the URL's credentials: %v", err)
			}
		})
	}
}

func TestAlertsSeverityOverrides(t *testing.T) {
	_, err := Parse([]byte("events:\n  alerts:\n    severity: {new_endpoint: high, new_endpoints: low, legacy_tls: urgent}\n"), "v.yaml")
	for _, w := range []string{`events.alerts.severity.new_endpoints: unknown alert kind`, `events.alerts.severity.legacy_tls: "urgent" is not one of`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("no error %q in %v", w, err)
		}
	}
}

func TestAlertsValid(t *testing.T) {
	cfg, err := Parse([]byte(`
events:
  alerts:
    dedup_window: 0s
    severity: {new_endpoint: low}
    sinks:
      - {name: sec-webhook, type: webhook, url: "https://hooks.example/vigil", secret_env: VIGIL_WEBHOOK_SECRET, types: [shadow_endpoint, legacy_tls], min_severity: low, rate: 60/m}
      - {name: slack, type: slack, url_env: SLACK_URL}
      - {name: pd, type: pagerduty, routing_key_env: PD_KEY}
      - {name: siem, type: syslog, address: "tls://siem.example:6514", facility: local0, max_attempts: 3, backoff: 2s, max_backoff: 30s, timeout: 3s, queue_size: 10}
`), "v.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Events.Alerts.Window(); w != 0 {
		t.Fatalf("dedup_window 0s read as %v", w)
	}
	if len(cfg.Events.Alerts.Sinks) != 4 || cfg.Events.Alerts.Sinks[3].Backoff != 2*time.Second {
		t.Fatalf("sinks %+v", cfg.Events.Alerts.Sinks)
	}
	if w := (&Alerts{}).Window(); w != 10*time.Minute {
		t.Fatalf("default window %v", w)
	}
}
