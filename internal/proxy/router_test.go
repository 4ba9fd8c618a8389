package proxy

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestRouterMatch(t *testing.T) {
	r := NewRouter([]RouteSpec[string]{
		{"*", "/", "root"}, {"*", "/api", "api"}, {"api.example.com", "/api", "exact"},
		{"*.example.com", "/", "wild"}, {"*.eu.example.com", "/", "eu"}, {"[::1]", "/v6", "v6"},
	})
	for _, tc := range []struct{ host, path, want string }{
		{"x", "/", "root"}, {"x", "/api", "api"}, {"x", "/api/", "api"}, {"x", "/apis", "root"},
		{"api.example.com", "/api/x", "exact"}, {"a.example.com", "/x", "wild"}, {"a.eu.example.com", "/x", "eu"},
		{"example.com", "/", "root"}, {"[::1]:8080", "/v6/x", "v6"}, {"API.EXAMPLE.COM.", "/api", "exact"},
	} {
		if got, _ := r.Match(tc.host, tc.path); got != tc.want {
			t.Errorf("%s %s: %q want %q", tc.host, tc.path, got, tc.want)
		}
	}
	if _, ok := NewRouter([]RouteSpec[string]{{"a", "/x", "x"}}).Match("b", "/x"); ok {
		t.Error("matched a foreign host")
	}
}

func TestClientAddr(t *testing.T) {
	trust := NewTrust([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	for _, tc := range []struct {
		peer, xff, want string
	}{
		{"192.0.2.1", "1.1.1.1", "192.0.2.1"},                 // untrusted peer: XFF ignored
		{"10.0.0.1", "1.1.1.1", "1.1.1.1"},                    // trusted peer
		{"10.0.0.1", "1.1.1.1, 10.0.0.2", "1.1.1.1"},          // trusted hops skipped
		{"10.0.0.1", "6.6.6.6, 2.2.2.2, 10.0.0.2", "2.2.2.2"}, // rightmost untrusted wins
		{"10.0.0.1", "garbage", "10.0.0.1"},
		{"10.0.0.1", "", "10.0.0.1"},
	} {
		h := http.Header{}
		if tc.xff != "" {
			h.Set("X-Forwarded-For", tc.xff)
		}
		if got := trust.ClientAddr(netip.MustParseAddr(tc.peer), h).String(); got != tc.want {
			t.Errorf("peer %s xff %q: %s want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}
