package config

import (
	"strings"
	"testing"
	"time"
)

// The issue's rate limit validates and reads as written.
func TestRateLimitIssueForm(t *testing.T) {
	c, err := Parse([]byte(`listen: {http: 127.0.0.1:1}
protect:
  redis: {url: "redis://127.0.0.1:6379/0", on_error: fail_closed}
  rate_limits:
    - name: login
      match: {endpoint: "POST /login"}
      key: ip
      rate: 5/m
      burst: 5
    - {name: checkout, match: {endpoint: "POST /checkout", host: "*.shop.example"}, key: sub+ip, rate: 10/h, store: local}
    - {name: old, path_prefix: /api, method: GET, requests: 10, per: 1s, burst: 5}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rls := c.Protect.RateLimits
	if rate, burst, q := rls[0].Bucket(); rate != 5.0/60 || burst != 5 || q.N != 5 || q.Period != time.Minute {
		t.Fatalf("login bucket %v %v %v", rate, burst, q)
	}
	if rls[0].Redis == nil || rls[0].Redis.Prefix != "vigil:" || rls[0].Redis.Timeout != 20*time.Millisecond || rls[0].Redis.BreakerFailures != 3 {
		t.Fatalf("login store %+v", rls[0].Redis)
	}
	if rate, burst, _ := rls[1].Bucket(); rate != 10.0/3600 || burst != 10 || strings.Join(rls[1].KeyParts(), ",") != "sub,ip" {
		t.Fatalf("checkout bucket %v %v %v", rate, burst, rls[1].KeyParts())
	}
	// The older form: burst on top of requests.
	if rate, burst, _ := rls[2].Bucket(); rate != 10 || burst != 15 || rls[2].Prefix() != "/api" || rls[2].Methods()[0] != "GET" {
		t.Fatalf("old bucket %v %v", rate, burst)
	}
}

func TestRateLimitErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"bad rate", "  rate_limits:\n    - {rate: 5/fortnight}\n",
			[]string{`t.yaml:4: protect.rate_limits[0].rate: "5/fortnight": bad period "fortnight"`}},
		{"rate and requests", "  rate_limits:\n    - {rate: 5/m, requests: 5}\n",
			[]string{`protect.rate_limits[0].rate: set rate or requests/per, not both`}},
		{"no rate", "  rate_limits:\n    - {name: x}\n",
			[]string{`protect.rate_limits[0].requests: must be a positive number of requests (or set rate`}},
		{"bad key", "  rate_limits:\n    - {rate: 1/s, key: ip+cookie}\n",
			[]string{`protect.rate_limits[0].key: "ip+cookie" is not ip or header:NAME, sub, client_id, endpoint`}},
		{"empty header", "  rate_limits:\n    - {rate: 1/s, key: 'header:'}\n",
			[]string{`protect.rate_limits[0].key: "header:" is not`}},
		{"bad endpoint", "  rate_limits:\n    - {rate: 1/s, match: {endpoint: FETCH /x}}\n",
			[]string{`protect.rate_limits[0].match.endpoint: "FETCH" is not an HTTP method`}},
		{"bad host", "  rate_limits:\n    - {rate: 1/s, match: {host: 'a*.b'}}\n",
			[]string{`protect.rate_limits[0].match.host: "a*.b": a wildcard is only *.domain or *`}},
		{"prefix never matches", "  rate_limits:\n    - {rate: 1/s, match: {path_prefix: /a//b}}\n",
			[]string{`protect.rate_limits[0].match.path_prefix: "/a//b" never matches a normalized path (use "/a/b")`}},
		{"two prefixes", "  rate_limits:\n    - {rate: 1/s, path_prefix: /a, match: {path_prefix: /b}}\n",
			[]string{`protect.rate_limits[0].path_prefix: set match.path_prefix or path_prefix, not both`}},
		{"bad missing, store, on_error", "  rate_limits:\n    - {rate: 1/s, missing: drop, store: memcached, on_error: retry}\n",
			[]string{`.missing: "drop" is not skip, shared or ip`, `.store: "memcached" is not local or redis`,
				`.on_error: "retry" is not fail_open, fail_closed or local`}},
		{"redis store without redis", "  rate_limits:\n    - {rate: 1/s, store: redis}\n",
			[]string{`protect.rate_limits[0].store: redis needs protect.redis`}},
		{"duplicate names", "  rate_limits:\n    - {name: a, rate: 1/s}\n    - {name: a, rate: 2/s}\n",
			[]string{`t.yaml:5: protect.rate_limits[1].name: duplicate limit name "a" (also rate_limits[0])`}},
		{"bad redis", "  redis: {url: 'http://x', on_error: maybe}\n",
			[]string{`protect.redis.url: `, `protect.redis.on_error: "maybe" is not fail_open, fail_closed or local`}},
		{"redis timeout beyond the stage's", "  stage_timeout: 10ms\n  redis: {url: 'redis://127.0.0.1:6379', timeout: 10ms}\n",
			[]string{`protect.redis.timeout: 10ms must be shorter than the rate_limit stage timeout (10ms)`}},
		{"unknown key", "  rate_limits:\n    - {rate: 1/s, match: {path: /x}}\n",
			[]string{`protect.rate_limits[0].match.path: unknown field`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("listen: {http: 127.0.0.1:1}\nprotect:\n"+tc.yaml), "t.yaml")
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
