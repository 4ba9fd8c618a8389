package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEgressConfig(t *testing.T) {
	ca := t.TempDir()
	if err := os.WriteFile(filepath.Join(ca, "ca.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := `listen: {http: 127.0.0.1:1}
transport:
  egress:
    listen: 127.0.0.1:15002
    ca_dir: ` + ca + `
    identity: spiffe://shop.local/cart
    default: block
    rules:
      - {name: stripe, source: "spiffe://shop.local/*", destination: api.stripe.com, methods: [POST], action: intercept, fallback: tunnel}
      - {name: example, destination: "*.example.com", action: tunnel}
      - {name: rest, destination: "*", action: block}
`
	c, err := Parse([]byte(good), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := c.Transport.Egress
	if len(e.Rules) != 3 || e.Rules[0].Fallback != "tunnel" || !e.Intercepts() || c.SourceIdentity() != "spiffe://shop.local/cart" {
		t.Fatalf("parsed %+v", e)
	}

	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"rules without a listener", "transport:\n  egress:\n    rules: [{name: a, destination: x, action: tunnel}]\n",
			[]string{`transport.egress.listen: required with transport.egress rules`}},
		{"bad values", `transport:
  egress:
    listen: nowhere
    default: allow
    identity: "spiffe://shop.local/*"
    leaf_ttl: 10s
    idle_timeout: 1ms
    transparent_port: 70000
    cache_size: -1
    rules:
      - {destination: x, action: intercept}
      - {name: b, destination: "Api.Stripe.com", action: pass}
      - {name: b, destination: "a*b", source: "https://x", action: tunnel, fallback: tunnel, methods: [GET]}
      - {name: c, action: intercept, fallback: allow, methods: [get]}
`, []string{
			`t.yaml:4: transport.egress.listen: "nowhere" is not host:port`,
			`t.yaml:5: transport.egress.default: "allow" is not one of intercept, tunnel, block`,
			`transport.egress.ca_dir: required to intercept`,
			`t.yaml:6: transport.egress.identity: "spiffe://shop.local/*" is not a SPIFFE ID`,
			`transport.egress.leaf_ttl: 10s: at least 1m`,
			`transport.egress.idle_timeout: 1ms: at least 1s`,
			`transport.egress.transparent_port: 70000 is not a port`,
			`transport.egress.cache_size: -1: must not be negative`,
			`transport.egress.rules[0].name: required`,
			`transport.egress.rules[1].action: "pass" is not one of intercept, tunnel, block`,
			`transport.egress.rules[1].destination: "Api.Stripe.com" is not *, a lower-case host name or *.suffix`,
			`transport.egress.rules[2].name: "b" is used twice`,
			`transport.egress.rules[2].destination: "a*b"`,
			`transport.egress.rules[2].source: "https://x" is not a SPIFFE ID`,
			`transport.egress.rules[2].fallback: only an intercept rule has a fallback`,
			`transport.egress.rules[2].methods: only an intercept rule has methods`,
			`transport.egress.rules[3].destination: required`,
			`transport.egress.rules[3].fallback: "allow" is not one of tunnel, block`,
			`transport.egress.rules[3].methods[0]: "get" is not an HTTP method`,
		}},
		{"ca_dir without a CA", "transport:\n  egress:\n    listen: 127.0.0.1:1\n    ca_dir: " + filepath.Join(ca, "none") +
			"\n    default: intercept\n", []string{`transport.egress.ca_dir: stat `, `(run vigil ca init --dir`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("listen: {http: 127.0.0.1:1}\n"+tc.yaml), "t.yaml")
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
