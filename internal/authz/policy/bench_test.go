package policy

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/authz"
)

// threeRules are the policies of issue 10's configuration
// (docs/identity.md): a BOLA rule, a BFLA rule and a step-up.
func threeRules() []Rule {
	return []Rule{
		{Name: "own-user-record", Match: Match{Endpoint: "GET /users/{id}"},
			DenyIf: `path.id != token.sub && !("admin" in token.roles)`},
		{Name: "admin-only", Match: Match{PathPrefix: "/admin/"},
			AllowIf: `"admin" in token.roles`},
		{Name: "large-orders", Match: Match{Endpoint: "POST /order/add/{id}"},
			StepUpIf: `body.total > 1000.0 && !("mfa" in token.amr)`,
			StepUp:   StepUpSpec{ACRValues: "urn:shop:mfa", MaxAge: 300 * time.Second}},
	}
}

// benchPrincipal is a verified customer as the token package builds it.
func benchPrincipal() *authz.Principal {
	return &authz.Principal{
		Source: authz.SourceJWT, Issuer: "https://id.shop.local", Subject: "user-17", ClientID: "web",
		Scopes: []string{"cart", "orders"}, Roles: []string{"customer"}, AMR: []string{"pwd"},
		AuthTime: time.Unix(1_800_000_000, 0), Expiry: time.Unix(1_800_003_600, 0),
		TokenID: "sha256:0123456789abcdef",
		Claims: map[string]any{"iss": "https://id.shop.local", "sub": "user-17", "aud": "shop", "client_id": "web",
			"scope": "cart orders", "roles": []any{"customer"}, "amr": []any{"pwd"},
			"exp": 1_800_003_600.0, "iat": 1_800_000_000.0, "auth_time": 1_800_000_000.0},
	}
}

// BenchmarkEvaluateThree evaluates the three policies of the issue for
// requests each of them matches, and reports the per-request p50 and p99.
func BenchmarkEvaluateThree(b *testing.B) {
	e, err := Compile(Options{Rules: threeRules(), AdminDefault: AdminDefault{Patterns: []string{"admin", "internal"}, RequireRoles: []string{"admin"}}})
	if err != nil {
		b.Fatal(err)
	}
	p := benchPrincipal()
	hdr := http.Header{"User-Agent": {"bench"}, "Accept": {"application/json"}}
	body := map[string]any{"total": 1500.0, "items": []any{map[string]any{"sku": "socks", "qty": 2.0}}}
	mfa := *p
	mfa.AMR = []string{"pwd", "mfa"}
	mfa.ACR = "urn:shop:mfa"
	now := time.Unix(1_800_000_100, 0)
	cases := []struct {
		name string
		in   Input
		want Action
	}{
		{"own record", Input{Method: "GET", Host: "shop.local", Path: "/users/user-17", Header: hdr, Principal: p, Now: now}, Allow},
		{"other's record", Input{Method: "GET", Host: "shop.local", Path: "/users/user-18", Header: hdr, Principal: p, Now: now}, Deny},
		{"admin function", Input{Method: "GET", Host: "shop.local", Path: "/admin/users", Header: hdr, Principal: p, Now: now}, Deny},
		{"large order", Input{Method: "POST", Host: "shop.local", Path: "/order/add/42", Header: hdr, Principal: p, Now: now,
			Body: func() (any, bool) { return body, true }}, StepUp},
		{"large order with mfa", Input{Method: "POST", Host: "shop.local", Path: "/order/add/42", Header: hdr, Principal: &mfa, Now: now,
			Body: func() (any, bool) { return body, true }}, Allow},
		{"no policy", Input{Method: "GET", Host: "shop.local", Path: "/products/42", Header: hdr, Principal: p, Now: now}, Allow},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			in := c.in
			if d, _ := e.Evaluate(&in); d.Action != c.want {
				b.Fatalf("decision %+v, want action %d", d, c.want)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for b.Loop() {
				in := c.in
				t0 := time.Now()
				d, _ := e.Evaluate(&in)
				lat = append(lat, time.Since(t0))
				if d.Action != c.want {
					b.Fatalf("decision %+v", d)
				}
			}
			reportPercentiles(b, lat)
		})
	}
}

// reportPercentiles reports the p50 and p99 of per-iteration durations.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(q(0.50), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
}
