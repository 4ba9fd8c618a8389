package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/ratelimit"
)

// Alerts is events.alerts: where the control plane delivers the alerts it
// stores (discovery's, the TLS and certificate alerts, the audit's), to a
// signed webhook, Slack, PagerDuty or syslog (docs/alerts.md).
type Alerts struct {
	// DedupWindow: an alert with the same key (kind, host, method and
	// endpoint) is delivered once per window to each sink (default 10m;
	// 0s delivers every alert).
	DedupWindow *time.Duration `yaml:"dedup_window"`
	// Severity overrides the severity of alert kinds (kind: info, low,
	// medium, high or critical); AlertKindSeverity gives the defaults.
	Severity map[string]string `yaml:"severity"`
	// Sinks are where alerts go; each gets every alert its filters pass.
	Sinks []AlertSink `yaml:"sinks"`
}

// AlertSink is one destination of alerts.
type AlertSink struct {
	// Name names the sink in logs, metrics and alert_delivery events.
	Name string `yaml:"name"`
	// Type is webhook, slack, pagerduty or syslog.
	Type string `yaml:"type"`
	// URL is where webhook, slack and pagerduty sinks POST (pagerduty
	// default: https://events.pagerduty.com/v2/enqueue). A Slack incoming
	// webhook URL is a secret: prefer URLEnv.
	URL string `yaml:"url"`
	// URLEnv names an environment variable holding the URL.
	URLEnv string `yaml:"url_env"`
	// Secret is the webhook's HMAC-SHA256 key (header Vigil-Signature);
	// SecretEnv names an environment variable holding it. One is required
	// for a webhook.
	Secret    string `yaml:"secret"`
	SecretEnv string `yaml:"secret_env"`
	// RoutingKey is the PagerDuty integration key (Events API v2);
	// RoutingKeyEnv names an environment variable holding it.
	RoutingKey    string `yaml:"routing_key"`
	RoutingKeyEnv string `yaml:"routing_key_env"`
	// Address is the syslog receiver: udp://host:port, tcp://host:port
	// (octet-counting framing, RFC 6587) or tls://host:port (RFC 5425).
	Address string `yaml:"address"`
	// Facility is the syslog facility (default local0): kern, user,
	// daemon, auth, authpriv, syslog, local0 to local7...
	Facility string `yaml:"facility"`
	// CA is a PEM file of the CAs a tls:// syslog receiver's certificate
	// must chain to (default: the system roots).
	CA string `yaml:"ca"`
	// Types are the alert kinds this sink receives; empty: every kind.
	Types []string `yaml:"types"`
	// MinSeverity drops alerts below it (info, low, medium, high,
	// critical; default info: every alert).
	MinSeverity string `yaml:"min_severity"`
	// Rate bounds deliveries ("60/m", "N/DURATION"); alerts beyond it are
	// dropped and counted (rate_limited). Empty: no bound.
	Rate string `yaml:"rate"`
	// MaxAttempts is how many times one alert is tried before it is
	// dead-lettered (default 5).
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff is the wait before the first retry (default 1s), doubled on
	// each retry up to MaxBackoff (default 1m), with jitter; a 429 or 503
	// answer's Retry-After is honoured when longer (up to 5m).
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Timeout bounds one attempt (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// QueueSize bounds the alerts waiting for this sink (default 256);
	// beyond it they are dropped and counted, never waited for.
	QueueSize int `yaml:"queue_size"`
}

// alertSinkTypes are the values of events.alerts.sinks[].type.
func alertSinkTypes() []string { return []string{"webhook", "slack", "pagerduty", "syslog"} }

// AlertSeverities are the severities, lowest first.
func AlertSeverities() []string { return []string{"info", "low", "medium", "high", "critical"} }

// AlertKindSeverity is the default severity of an alert kind Vigil raises
// (events.alerts.severity overrides it); ok is false for an unknown kind.
func AlertKindSeverity(kind string) (severity string, ok bool) {
	switch kind {
	case "new_endpoint":
		return "info", true
	case "schema_changed":
		return "low", true
	case "new_sensitive", "shadow_endpoint", "zombie_endpoint", "legacy_tls":
		return "medium", true
	case "weak_cipher", "certificate_expiry":
		return "high", true
	case "audit_bad_signature":
		return "critical", true
	}
	return "", false
}

// alertKindNames lists the kinds AlertKindSeverity knows.
func alertKindNames() []string {
	return []string{"audit_bad_signature", "certificate_expiry", "legacy_tls", "new_endpoint", "new_sensitive",
		"schema_changed", "shadow_endpoint", "weak_cipher", "zombie_endpoint"}
}

// SyslogFacility is the code of a syslog facility name (RFC 5424).
func SyslogFacility(name string) (int, bool) {
	named := [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp"}
	if i := slices.Index(named[:], name); i >= 0 {
		return i, true
	}
	if n, ok := strings.CutPrefix(name, "local"); ok && len(n) == 1 && n[0] >= '0' && n[0] <= '7' {
		return 16 + int(n[0]-'0'), true
	}
	return 0, false
}

// DefaultPagerDutyURL is the Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// Window is the dedup window: DedupWindow, or 10 minutes.
func (a *Alerts) Window() time.Duration {
	if a.DedupWindow == nil {
		return 10 * time.Minute
	}
	return *a.DedupWindow
}

func (c *Config) validateAlerts(report addFunc) {
	a := &c.Events.Alerts
	// A missing key is reported at the line of the sink that lacks it.
	add := func(path, format string, args ...any) {
		for p := path; c.lines != nil && c.lines[path] == 0 && p != ""; {
			i := strings.LastIndexAny(p, ".[")
			if i < 0 {
				break
			}
			p = p[:i]
			if c.lines[p] != 0 {
				c.lines[path] = c.lines[p]
			}
		}
		report(path, format, args...)
	}
	for kind, sev := range a.Severity {
		p := "events.alerts.severity." + kind
		if _, ok := AlertKindSeverity(kind); !ok {
			add(p, "unknown alert kind %q (one of %s)", kind, strings.Join(alertKindNames(), ", "))
		}
		if !slices.Contains(AlertSeverities(), sev) {
			add(p, "%q is not one of %s", sev, strings.Join(AlertSeverities(), ", "))
		}
	}
	names := map[string]int{}
	for i := range a.Sinks {
		s := &a.Sinks[i]
		p := fmt.Sprintf("events.alerts.sinks[%d]", i)
		if s.Name == "" {
			add(p+".name", "required")
		} else if j, dup := names[s.Name]; dup {
			add(p+".name", "duplicate sink name %q (also events.alerts.sinks[%d])", s.Name, j)
		} else {
			names[s.Name] = i
		}
		if !slices.Contains(alertSinkTypes(), s.Type) {
			add(p+".type", "%q is not one of %s", s.Type, strings.Join(alertSinkTypes(), ", "))
			continue
		}
		s.validate(p, add)
	}
}

func (s *AlertSink) validate(p string, add addFunc) {
	only := func(key, v string, types ...string) {
		if v != "" && !slices.Contains(types, s.Type) {
			add(p+"."+key, "not used by a %s sink", s.Type)
		}
	}
	only("url", s.URL, "webhook", "slack", "pagerduty")
	only("url_env", s.URLEnv, "webhook", "slack", "pagerduty")
	only("secret", s.Secret, "webhook")
	only("secret_env", s.SecretEnv, "webhook")
	only("routing_key", s.RoutingKey, "pagerduty")
	only("routing_key_env", s.RoutingKeyEnv, "pagerduty")
	only("address", s.Address, "syslog")
	only("facility", s.Facility, "syslog")
	only("ca", s.CA, "syslog")
	switch s.Type {
	case "webhook", "slack", "pagerduty":
		switch {
		case s.URL != "" && s.URLEnv != "":
			add(p+".url", "url and url_env are exclusive")
		case s.URL != "":
			if err := CheckAlertURL(s.URL); err != nil {
				add(p+".url", "%v", err)
			}
		case s.URLEnv == "" && s.Type != "pagerduty":
			add(p+".url", "required (or url_env)")
		}
	}
	switch s.Type {
	case "webhook":
		if (s.Secret == "") == (s.SecretEnv == "") {
			add(p+".secret", "a webhook is signed: give secret or secret_env (one of them)")
		}
	case "pagerduty":
		if (s.RoutingKey == "") == (s.RoutingKeyEnv == "") {
			add(p+".routing_key", "give routing_key or routing_key_env (one of them)")
		}
	case "syslog":
		if s.Address == "" {
			add(p+".address", "required (udp://, tcp:// or tls://host:port)")
		} else if _, _, err := SyslogAddress(s.Address); err != nil {
			add(p+".address", "%v", err)
		}
		if _, ok := SyslogFacility(s.Facility); s.Facility != "" && !ok {
			add(p+".facility", "unknown syslog facility %q", s.Facility)
		}
		if s.CA != "" {
			if _, err := os.Stat(s.CA); err != nil {
				add(p+".ca", "%v", err)
			}
		}
	}
	for j, k := range s.Types {
		if _, ok := AlertKindSeverity(k); !ok {
			add(fmt.Sprintf("%s.types[%d]", p, j), "unknown alert kind %q (one of %s)", k, strings.Join(alertKindNames(), ", "))
		}
	}
	if s.MinSeverity != "" && !slices.Contains(AlertSeverities(), s.MinSeverity) {
		add(p+".min_severity", "%q is not one of %s", s.MinSeverity, strings.Join(AlertSeverities(), ", "))
	}
	if s.Rate != "" {
		if _, err := ratelimit.ParseRate(s.Rate); err != nil {
			add(p+".rate", "%v", err)
		}
	}
	if s.MaxAttempts < 0 || s.MaxAttempts > 100 {
		add(p+".max_attempts", "%d: between 1 and 100 (0: the default, 5)", s.MaxAttempts)
	}
	if s.MaxBackoff != 0 && s.MaxBackoff < s.Backoff {
		add(p+".max_backoff", "%v is less than backoff %v", s.MaxBackoff, s.Backoff)
	}
	if s.QueueSize < 0 {
		add(p+".queue_size", "must not be negative")
	}
}

// CheckAlertURL accepts an absolute http(s) URL with a host; the error
// never repeats the URL, which may hold a secret.
func CheckAlertURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("not an http:// or https:// URL with a host")
	}
	return nil
}

// SyslogAddress splits a syslog address into its transport (udp, tcp or
// tls) and host:port.
func SyslogAddress(a string) (transport, hostport string, err error) {
	transport, hostport, ok := strings.Cut(a, "://")
	if !ok || (transport != "udp" && transport != "tcp" && transport != "tls") {
		return "", "", fmt.Errorf("%q is not udp://, tcp:// or tls://host:port", a)
	}
	if _, port, err := net.SplitHostPort(hostport); err != nil || port == "" {
		return "", "", fmt.Errorf("%q: %q is not host:port", a, hostport)
	}
	return transport, hostport, nil
}
