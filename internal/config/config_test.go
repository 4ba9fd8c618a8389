package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/pathnorm"
)

const good = `mode: monitor
listen:
  http: 127.0.0.1:8080
  trusted_proxies: [10.0.0.0/8, 192.168.1.1]
  limits: {max_body_bytes: 10MB, read_timeout: 5s}
admin: 127.0.0.1:9901
data_dir: ./d
routes:
  - name: shop
    match: {host: "*.shop.local", path_prefix: /api}
    upstream: https://127.0.0.1:9000
  - name: grpc
    upstream: h2c://127.0.0.1:9001
    mode: enforce
events: {file: stdout}
protect:
  on_error: fail_closed
  ip_rules: {deny: [203.0.113.0/24]}
  rate_limits: [{name: login, path_prefix: /login, requests: 5, per: 1m}]
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good), "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "monitor" || c.Admin.Addr != "127.0.0.1:9901" || c.Listen.Limits.MaxBodyBytes != 10<<20 ||
		c.Listen.Limits.ReadTimeout != 5*time.Second || c.Listen.Limits.ReadHeaderTimeout != 10*time.Second {
		t.Fatalf("decoded %+v", c)
	}
	if c.Routes[1].Match.PathPrefix != "/" || c.Routes[1].Match.Host != "*" || c.Routes[0].Mode != "monitor" || c.Routes[1].Mode != "enforce" {
		t.Fatalf("route defaults %+v", c.Routes)
	}
	if c.Protect.RateLimits[0].Per != time.Minute || c.Protect.RateLimits[0].Key != "ip" {
		t.Fatalf("rate limit %+v", c.Protect.RateLimits[0])
	}
	if n := c.Listen.Normalize; n.EscapedSlashes != "reject" || n.CaseInsensitiveMatch {
		t.Fatalf("normalize defaults %+v", n)
	}
	if c.Line("routes[1].upstream") != 13 {
		t.Fatalf("line of routes[1].upstream = %d", c.Line("routes[1].upstream"))
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // each must appear, as "file:line: path: message"
	}{
		{"unknown top-level key", "listen: {http: 127.0.0.1:1}\nlisten_http: x\n",
			[]string{`t.yaml:2: listen_http: unknown field`}},
		{"unknown nested key with suggestion", "listen:\n  http: 127.0.0.1:1\n  limts: {}\n",
			[]string{`t.yaml:3: listen.limts: unknown field (did you mean "limits"?)`}},
		{"bad mode", "mode: strict\nlisten: {http: 127.0.0.1:1}\n",
			[]string{`t.yaml:1: mode: "strict" is not one of enforce, monitor`}},
		{"bad duration", "listen: {http: 127.0.0.1:1, limits: {read_timeout: soon}}\n",
			[]string{`t.yaml:1: listen.limits.read_timeout: "soon" is not a valid duration`}},
		{"bad size", "listen: {http: 127.0.0.1:1, limits: {max_body_bytes: lots}}\n",
			[]string{`listen.limits.max_body_bytes: "lots" is not a size`}},
		{"route problems", "listen: {http: 127.0.0.1:1}\nroutes:\n  - name: a\n    upstream: ftp://x\n  - name: a\n    match: {path_prefix: api, host: 'a*b'}\n    upstream: http://x\n",
			[]string{
				`t.yaml:4: routes[0].upstream: "ftp://x" is not an http://, https:// or h2c:// URL`,
				`t.yaml:5: routes[1].name: duplicate route name "a"`,
				`t.yaml:6: routes[1].match.path_prefix: "api" must start with /`,
				`t.yaml:6: routes[1].match.host: "a*b" is not *`,
			}},
		{"wrong kinds", "listen: [a, b]\nroutes: {name: x}\n",
			[]string{`t.yaml:1: listen: expected a mapping, got a list`, `t.yaml:2: routes: expected a list, got a mapping`}},
		{"bad cidr", "listen: {http: 127.0.0.1:1, trusted_proxies: [10.0.0.0/33]}\n",
			[]string{`t.yaml:1: listen.trusted_proxies[0]: "10.0.0.0/33" is not a CIDR`}},
		{"bad rate limit", "listen: {http: 127.0.0.1:1}\nprotect:\n  rate_limits:\n    - {requests: 0, key: cookie}\n",
			[]string{`protect.rate_limits[0].requests: must be a positive number`, `protect.rate_limits[0].key: "cookie" is not ip or header:NAME`}},
		{"duplicate key", "listen: {http: 127.0.0.1:1}\nmode: enforce\nmode: monitor\n", []string{`t.yaml:3: mode: duplicate key`}},
		{"yaml syntax", "listen: {http: [\n", []string{`t.yaml:`}},
		{"empty", "", []string{`empty configuration`}},
		{"bad escaped_slashes", "listen:\n  http: 127.0.0.1:1\n  normalize:\n    escaped_slashes: decode\n",
			[]string{`t.yaml:4: listen.normalize.escaped_slashes: "decode" is not one of reject, keep, decode_and_forward`}},
		{"unknown normalize key", "listen:\n  http: 127.0.0.1:1\n  normalize: {merge_slashes: true}\n",
			[]string{`t.yaml:3: listen.normalize.merge_slashes: unknown field`}},
		{"bad case_insensitive_match", "listen:\n  http: 127.0.0.1:1\n  normalize: {case_insensitive_match: maybe}\n",
			[]string{`t.yaml:3: listen.normalize.case_insensitive_match: expected true or false, got "maybe"`}},
		{"prefixes that never match a normalized path",
			"listen:\n  http: 127.0.0.1:1\n  normalize: {case_insensitive_match: true}\nroutes:\n  - name: a\n    match: {path_prefix: /API//v1}\n    upstream: http://x\n" +
				"protect:\n  rate_limits:\n    - name: l\n      path_prefix: /x/../Login\n      requests: 1\n",
			[]string{`t.yaml:6: routes[0].match.path_prefix: "/API//v1" never matches a normalized path (use "/api/v1")`,
				`t.yaml:11: protect.rate_limits[0].path_prefix: "/x/../Login" never matches a normalized path (use "/login")`}},
		{"bad store and bus", "listen: {http: 127.0.0.1:1}\nstore: mysql://x\nbus: kafka://y\n",
			[]string{`t.yaml:2: store: "mysql://x" is not sqlite or a postgres:// URL`, `t.yaml:3: bus: "kafka://y"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "t.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error type %T", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestNormalizeOptions(t *testing.T) {
	c, err := Parse([]byte("listen:\n  http: 127.0.0.1:1\n  normalize: {escaped_slashes: decode_and_forward, case_insensitive_match: true}\n"+
		"routes: [{name: a, match: {path_prefix: /api/}, upstream: 'http://x'}]\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Listen.Normalize.Options(); o.EscapedSlashes != pathnorm.DecodeAndForward || !o.CaseInsensitive {
		t.Fatalf("options %+v", o)
	}
}

func TestRequireListener(t *testing.T) {
	c, err := Parse([]byte("mode: enforce\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RequireListener(); err == nil || !strings.Contains(err.Error(), "listen: at least one of listen.http or listen.https is required") {
		t.Fatalf("RequireListener: %v", err)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "64KB": 64 << 10, "1MiB": 1 << 20, "2 GB": 2 << 30, "10m": 10 << 20} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1TB", "abc", "99999999999999GB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParse: arbitrary bytes never panic the config parser, and an
// accepted config is valid by construction.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("listen: {http: 127.0.0.1:1}\nroutes: [{name: a, upstream: 'http://x'}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("listen: !!binary aGVsbG8=\n"))
	f.Add([]byte("routes:\n  - match: {host: '*.'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err == nil && c.Mode != "enforce" && c.Mode != "monitor" {
			t.Fatalf("accepted mode %q", c.Mode)
		}
	})
}

func TestOverlayKeepsFileName(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/v.yaml"
	if err := os.WriteFile(file, []byte("mode: enforce\nlisten: {http: 127.0.0.1:1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadWithOverlay(file, []byte("mode: monitor\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "monitor" || c.File != file {
		t.Fatalf("mode %q file %q", c.Mode, c.File)
	}
	// A second load through the same path works (reloads after an overlay).
	if _, err := LoadWithOverlay(c.File, []byte("mode: enforce\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWithOverlay(file, []byte("listen: {http: 127.0.0.1:2}\n")); err == nil || !strings.Contains(err.Error(), "not distributable") {
		t.Fatalf("overlay of a local key: %v", err)
	}
}

func TestParsePool(t *testing.T) {
	c, err := Parse([]byte(`listen: {http: 127.0.0.1:1}
routes:
  - name: pool
    upstreams:
      - http://127.0.0.1:9001
      - {url: http://127.0.0.1:9002, weight: 3}
    balance: {policy: consistent_hash, hash_on: "header:X-User"}
    health_check: {path: /healthz}
    outlier: {}
    retries: {attempts: 2}
  - name: single
    upstream: http://127.0.0.1:9003
  - name: single-with-retries
    upstream: http://127.0.0.1:9004
    retries: {on: [connect_failure]}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routes[0]
	if !r.Pooled() || len(r.Targets()) != 2 || r.Upstreams[0] != (Target{URL: "http://127.0.0.1:9001", Weight: 1}) || r.Upstreams[1].Weight != 3 {
		t.Fatalf("targets %+v", r.Upstreams)
	}
	if h := r.HealthCheck; h.Interval != DefaultHealthInterval || h.Timeout != DefaultHealthTimeout || h.HealthyThreshold != 2 || h.UnhealthyThreshold != 3 {
		t.Fatalf("health defaults %+v", h)
	}
	if o := r.Outlier; o.ConsecutiveFailures != 5 || o.EjectionTime != 30*time.Second || o.MaxEjectedPercent != 50 {
		t.Fatalf("outlier defaults %+v", o)
	}
	if rt := r.Retries; rt.Attempts != 2 || rt.BudgetPercent != 20 || strings.Join(rt.On, ",") != "connect_failure,502,503,504" {
		t.Fatalf("retry defaults %+v", rt)
	}
	if c.Routes[1].Pooled() || c.Routes[1].Upstream == "" {
		t.Fatalf("single upstream %+v", c.Routes[1])
	}
	if s := c.Routes[2]; !s.Pooled() || s.Targets()[0].URL != "http://127.0.0.1:9004" || s.Retries.Attempts != 1 {
		t.Fatalf("single upstream with retries %+v", s)
	}
}

func TestParsePoolErrors(t *testing.T) {
	const head = "listen: {http: 127.0.0.1:1}\nroutes:\n  - name: a\n"
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"upstream and upstreams", "    upstream: http://x\n    upstreams: [http://y]\n",
			[]string{`t.yaml:5: routes[0].upstreams: upstream and upstreams are exclusive`}},
		{"neither", "    match: {path_prefix: /}\n",
			[]string{`routes[0].upstream: required (or upstreams, a pool)`}},
		{"bad targets", "    upstreams:\n      - ftp://x\n      - {url: http://y, weight: 1001}\n      - {weight: 2}\n      - https://z\n      - http://y\n",
			[]string{
				`t.yaml:5: routes[0].upstreams[0].url: "ftp://x" is not an http://, https:// or h2c:// URL`,
				`t.yaml:6: routes[0].upstreams[1].weight: 1001 is not between 1 and 1000`,
				`routes[0].upstreams[2].url: required`,
				`t.yaml:8: routes[0].upstreams[3].url: "https://z": every target of a pool has the same scheme (http://)`,
				`t.yaml:9: routes[0].upstreams[4].url: duplicate target "http://y" (also upstreams[1])`,
			}},
		{"negative weight", "    upstreams: [{url: http://x, weight: -1}]\n",
			[]string{`routes[0].upstreams[0].weight: -1 is not between 1 and 1000`}},
		{"unknown target key", "    upstreams: [{url: http://x, wieght: 2}]\n",
			[]string{`t.yaml:4: routes[0].upstreams[0].wieght: unknown field (did you mean "weight"?)`}},
		{"bad policy", "    upstreams: [http://x]\n    balance: {policy: random}\n",
			[]string{`t.yaml:5: routes[0].balance.policy: "random" is not one of round_robin, least_request, consistent_hash`}},
		{"hash without key", "    upstreams: [http://x]\n    balance: {policy: consistent_hash}\n",
			[]string{`routes[0].balance.hash_on: required with policy consistent_hash`}},
		{"bad hash key", "    upstreams: [http://x]\n    balance: {policy: consistent_hash, hash_on: \"query:x\"}\n",
			[]string{`t.yaml:5: routes[0].balance.hash_on: "query:x" is not header:NAME, cookie:NAME or ip`}},
		{"hash key without hashing", "    upstreams: [http://x]\n    balance: {hash_on: ip}\n",
			[]string{`routes[0].balance.hash_on: applies to policy consistent_hash only`}},
		{"bad health check", "    upstreams: [http://x]\n    health_check:\n      path: healthz\n      interval: 1s\n      timeout: 2s\n      healthy_threshold: -1\n      expect_status: [200, 700]\n",
			[]string{
				`t.yaml:6: routes[0].health_check.path: "healthz" must start with /`,
				`t.yaml:8: routes[0].health_check.timeout: 2s must be shorter than interval (1s)`,
				`t.yaml:9: routes[0].health_check.healthy_threshold: must be a positive number`,
				`routes[0].health_check.expect_status[1]: 700 is not an HTTP status`,
			}},
		{"health check without path", "    upstreams: [http://x]\n    health_check: {interval: 5s}\n",
			[]string{`t.yaml:5: routes[0].health_check.path: required`}},
		{"bad outlier", "    upstreams: [http://x]\n    outlier: {consecutive_failures: -2, max_ejected_percent: 150}\n",
			[]string{`routes[0].outlier.consecutive_failures: must be a positive number`,
				`routes[0].outlier.max_ejected_percent: 150 is not between 1 and 100`}},
		{"bad outlier duration", "    upstreams: [http://x]\n    outlier: {ejection_time: long}\n",
			[]string{`t.yaml:5: routes[0].outlier.ejection_time: "long" is not a valid duration`}},
		{"bad retries", "    upstreams: [http://x]\n    retries:\n      attempts: 11\n      budget_percent: 101\n      on: [connect_failure, 404, reset]\n",
			[]string{
				`t.yaml:6: routes[0].retries.attempts: 11 is not between 1 and 10`,
				`t.yaml:7: routes[0].retries.budget_percent: 101 is not between 1 and 100`,
				`routes[0].retries.on[1]: "404" is not connect_failure, timeout or a 5xx status`,
				`routes[0].retries.on[2]: "reset" is not connect_failure`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head+tc.yaml), "t.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}
