package egress

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
)

func TestRulesDecide(t *testing.T) {
	cfg := &config.Config{}
	cfg.Transport.Egress = config.Egress{Identity: "spiffe://shop.local/ns/shop/sa/cart", Rules: []config.EgressRule{
		{Name: "ads-only", Source: "spiffe://shop.local/ns/ads/*", Destination: "*", Action: "block"},
		{Name: "stripe", Source: "spiffe://shop.local/ns/shop/*", Destination: "api.stripe.com", Methods: []string{"POST"}, Action: "intercept", Fallback: "tunnel"},
		{Name: "example", Destination: "*.example.com", Action: "intercept"},
		{Name: "evil", Source: "*", Destination: "evil.test", Action: "block"},
	}}
	rs := NewRules(cfg)
	cases := []struct {
		host, rule, action, fallback string
	}{
		{"api.stripe.com", "stripe", "intercept", "tunnel"},
		{"API.STRIPE.COM", "stripe", "intercept", "tunnel"},
		{"a.example.com", "example", "intercept", "block"},
		{"a.b.example.com", "example", "intercept", "block"},
		{"example.com", DefaultRuleID, "tunnel", "block"},
		{"notexample.com", DefaultRuleID, "tunnel", "block"},
		{"evil.test", "evil", "block", "block"},
		{"stripe.com", DefaultRuleID, "tunnel", "block"},
	}
	for _, c := range cases {
		r := rs.Decide(c.host)
		if r.Name != c.rule || r.Action != c.action || r.Fallback != c.fallback {
			t.Errorf("%s: %+v, want %s %s %s", c.host, r, c.rule, c.action, c.fallback)
		}
	}
	if r := rs.Decide("api.stripe.com"); !r.allows("POST") || r.allows("GET") {
		t.Errorf("methods: %+v", r)
	}

	// Another sidecar's identity, and none: source patterns decide.
	cfg.Transport.Egress.Identity = "spiffe://shop.local/ns/ads/sa/banner"
	cfg.Transport.Egress.Default = "block"
	if r := NewRules(cfg).Decide("api.stripe.com"); r.Name != "ads-only" {
		t.Errorf("ads sidecar: %+v", r)
	}
	cfg.Transport.Egress.Identity = ""
	if r := NewRules(cfg).Decide("api.stripe.com"); r.Name != DefaultRuleID || r.Action != "block" {
		t.Errorf("no identity: %+v", r)
	}
}

func TestSourceMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, id string
		want        bool
	}{
		{"", "", true}, {"*", "", true}, {"*", "spiffe://a/b", true},
		{"spiffe://a/b", "spiffe://a/b", true}, {"spiffe://a/b", "spiffe://a/bc", false},
		{"spiffe://a/b/*", "spiffe://a/b", true}, {"spiffe://a/b/*", "spiffe://a/b/c/d", true}, {"spiffe://a/b/*", "spiffe://a/bc", false},
		{"spiffe://a/b", "", false},
	} {
		if got := sourceMatch(c.pattern, c.id); got != c.want {
			t.Errorf("%q %q: %v", c.pattern, c.id, got)
		}
	}
}
