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
