package policy

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/authz"
)

// testNow is the clock of every test input.
var testNow = time.Date(2026, 3, 1, 14, 30, 0, 0, time.UTC)

// customer is a verified caller as the token package builds one: claims
// as JSON decodes them, plus the parsed fields.
func customer(sub string) *authz.Principal {
	return &authz.Principal{
		Source: authz.SourceJWT, Issuer: "https://id.shop.local", Subject: sub, ClientID: "web",
		Scopes: []string{"cart", "orders"}, Roles: []string{"customer"}, AMR: []string{"pwd"},
		AuthTime: testNow.Add(-10 * time.Minute),
		Claims: map[string]any{"iss": "https://id.shop.local", "sub": sub, "client_id": "web", "scope": "cart orders",
			"roles": []any{"customer"}, "amr": []any{"pwd"}, "tenant": "acme", "level": 3.0},
	}
}

func with(p *authz.Principal, f func(*authz.Principal)) *authz.Principal {
	c := *p
	f(&c)
	return &c
}

func admin() *authz.Principal {
	return with(customer("ops-1"), func(p *authz.Principal) { p.Roles = []string{"admin"} })
}

// get is a request for method and path from customer user-17.
func get(method, path string) Input {
	return Input{Method: method, Host: "shop.local", Path: path, Principal: customer("user-17"), Now: testNow}
}

func withIn(in Input, f func(*Input)) Input {
	f(&in)
	return in
}

// consentCall is one call the fake checker received.
type consentCall struct {
	subject, grantee, scope, resource string
	at                                time.Time
}

// fakeConsent grants what is in grants (subject/grantee/scope) and records
// every question.
type fakeConsent struct {
	mu     sync.Mutex
	grants map[[3]string]bool
	calls  []consentCall
	panics bool
}

func (f *fakeConsent) Granted(subject, grantee, scope, resource string, at time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, consentCall{subject, grantee, scope, resource, at})
	if f.panics {
		panic("consent store exploded")
	}
	return f.grants[[3]string{subject, grantee, scope}]
}

type want struct {
	action Action
	policy string
	kind   string
	// reason, when set, must be contained in the decision's reason.
	reason string
}

func check(t *testing.T, d Decision, w want) {
	t.Helper()
	if d.Action != w.action || d.Policy != w.policy || (w.kind != "" && d.Kind != w.kind) ||
		(w.reason != "" && !strings.Contains(d.Reason, w.reason)) {
		t.Errorf("decision %+v\nwant action %d, policy %q, kind %q, reason containing %q", d, w.action, w.policy, w.kind, w.reason)
	}
}

func TestEvaluate(t *testing.T) {
	tuples := []Tuple{{Subject: "user-17", Relation: "viewer", Object: "order:42"}}
	stepUp := StepUpSpec{ACRValues: "urn:shop:mfa urn:shop:hwk", MaxAge: 5 * time.Minute}
	tests := []struct {
		name  string
		rules []Rule
		in    Input
		want  want
	}{
		// allow_if / deny_if / step_up_if.
		{"allow_if true", []Rule{{Name: "a", AllowIf: `"customer" in token.roles`}}, get("GET", "/x"), want{Allow, "", "", ""}},
		{"allow_if false denies", []Rule{{Name: "a", AllowIf: `"admin" in token.roles`}}, get("GET", "/x"),
			want{Deny, "a", "bfla", "not allowed by a"}},
		{"deny_if true denies", []Rule{{Name: "d", DenyIf: `token.tenant == "acme"`}}, get("GET", "/x"), want{Deny, "d", "policy", "denied by d"}},
		{"deny_if false allows", []Rule{{Name: "d", DenyIf: `token.tenant != "acme"`}}, get("GET", "/x"), want{Allow, "", "", ""}},
		{"step_up_if true", []Rule{{Name: "s", StepUpIf: `token.level < 5.0`, StepUp: stepUp}}, get("GET", "/x"),
			want{StepUp, "s", "step_up", "s asks for a stronger authentication"}},
		{"step_up_if false", []Rule{{Name: "s", StepUpIf: `token.level > 5.0`, StepUp: stepUp}}, get("GET", "/x"), want{Allow, "", "", ""}},
		{"a later deny wins over a step-up", []Rule{
			{Name: "s", StepUpIf: `true`, StepUp: stepUp},
			{Name: "d", DenyIf: `true`},
		}, get("GET", "/x"), want{Deny, "d", "", ""}},
		{"the first deny decides", []Rule{{Name: "d1", DenyIf: `true`}, {Name: "d2", DenyIf: `true`}}, get("GET", "/x"), want{Deny, "d1", "", ""}},
		{"the first step-up decides", []Rule{{Name: "s1", StepUpIf: `true`, StepUp: stepUp}, {Name: "s2", StepUpIf: `true`, StepUp: StepUpSpec{MaxAge: time.Second}}},
			get("GET", "/x"), want{StepUp, "s1", "", ""}},
		{"every rule of a rule set must pass", []Rule{{Name: "a1", AllowIf: `true`}, {Name: "a2", AllowIf: `false`}}, get("GET", "/x"), want{Deny, "a2", "", ""}},

		// Matching.
		{"endpoint template matches", []Rule{{Name: "e", Match: Match{Endpoint: "GET /users/{id}"}, DenyIf: `path.id != token.sub`}},
			get("GET", "/users/user-18"), want{Deny, "e", "bola", ""}},
		{"endpoint template: own record", []Rule{{Name: "e", Match: Match{Endpoint: "GET /users/{id}"}, DenyIf: `path.id != token.sub`}},
			get("GET", "/users/user-17"), want{Allow, "", "", ""}},
		{"endpoint template: HEAD is GET", []Rule{{Name: "e", Match: Match{Endpoint: "GET /users/{id}"}, DenyIf: `true`}},
			get("HEAD", "/users/1"), want{Deny, "e", "", ""}},
		{"endpoint template: other method", []Rule{{Name: "e", Match: Match{Endpoint: "GET /users/{id}"}, DenyIf: `true`}},
			get("DELETE", "/users/1"), want{Allow, "", "", ""}},
		{"endpoint template: deeper path", []Rule{{Name: "e", Match: Match{Endpoint: "GET /users/{id}"}, DenyIf: `true`}},
			get("GET", "/users/1/orders"), want{Allow, "", "", ""}},
		{"endpoint template: any method", []Rule{{Name: "e", Match: Match{Endpoint: "/users/{id}/orders/{order}"}, DenyIf: `path.order == "9" && path.id == "1"`}},
			get("PATCH", "/users/1/orders/9"), want{Deny, "e", "", ""}},
		{"endpoint template: prefix", []Rule{{Name: "e", Match: Match{Endpoint: "/files/{bucket}/*"}, DenyIf: `path.bucket == "secret"`}},
			get("GET", "/files/secret/a/b/c"), want{Deny, "e", "", ""}},
		{"path prefix matches", []Rule{{Name: "p", Match: Match{PathPrefix: "/admin/"}, AllowIf: `"admin" in token.roles`}},
			get("GET", "/admin/users"), want{Deny, "p", "bfla", ""}},
		{"path prefix: other path", []Rule{{Name: "p", Match: Match{PathPrefix: "/admin/"}, DenyIf: `true`}},
			get("GET", "/products"), want{Allow, "", "", ""}},
		{"methods match, any case in the rule", []Rule{{Name: "m", Match: Match{Methods: []string{"post", "PUT"}}, DenyIf: `true`}},
			get("POST", "/x"), want{Deny, "m", "", ""}},
		{"methods: other method", []Rule{{Name: "m", Match: Match{Methods: []string{"POST"}}, DenyIf: `true`}},
			get("GET", "/x"), want{Allow, "", "", ""}},
		{"route matches", []Rule{{Name: "r", Match: Match{Route: "shop"}, DenyIf: `true`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Route = "shop" }), want{Deny, "r", "", ""}},
		{"route: other route", []Rule{{Name: "r", Match: Match{Route: "shop"}, DenyIf: `true`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Route = "billing" }), want{Allow, "", "", ""}},
		{"host exact, any case, port ignored", []Rule{{Name: "h", Match: Match{Host: "shop.local"}, DenyIf: `true`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Host = "Shop.Local:8080" }), want{Deny, "h", "", ""}},
		{"host exact: other host", []Rule{{Name: "h", Match: Match{Host: "shop.local"}, DenyIf: `true`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Host = "api.shop.local" }), want{Allow, "", "", ""}},
		{"host suffix, any case", []Rule{{Name: "h", Match: Match{Host: "*.shop.local"}, DenyIf: `true`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Host = "API.Shop.Local:443" }), want{Deny, "h", "", ""}},
		{"host suffix: not the apex", []Rule{{Name: "h", Match: Match{Host: "*.shop.local"}, DenyIf: `true`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Host = "shop.local" }), want{Allow, "", "", ""}},
		{"host suffix: not a longer name", []Rule{{Name: "h", Match: Match{Host: "*.shop.local"}, DenyIf: `true`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Host = "evilshop.local" }), want{Allow, "", "", ""}},
		{"host *", []Rule{{Name: "h", Match: Match{Host: "*"}, DenyIf: `true`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Host = "anything" }), want{Deny, "h", "", ""}},
		{"host IPv6 with port", []Rule{{Name: "h", Match: Match{Host: "[::1]"}, DenyIf: `true`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Host = "[::1]:8080" }), want{Deny, "h", "", ""}},
		{"every match field must match", []Rule{{Name: "all", Match: Match{Endpoint: "/users/{id}", Methods: []string{"GET"}, Host: "shop.local", Route: "shop"}, DenyIf: `true`}},
			withIn(get("GET", "/users/1"), func(in *Input) { in.Route = "other" }), want{Allow, "", "", ""}},

		// Function-level rules.
		{"require_scopes held", []Rule{{Name: "sc", RequireScopes: []string{"orders", "cart"}}}, get("GET", "/x"), want{Allow, "", "", ""}},
		{"require_scopes missing", []Rule{{Name: "sc", RequireScopes: []string{"orders", "refunds"}}}, get("GET", "/x"),
			want{Deny, "sc", "bfla", "sc requires scope refunds"}},
		{"require_roles held", []Rule{{Name: "ro", RequireRoles: []string{"customer"}}}, get("GET", "/x"), want{Allow, "", "", ""}},
		{"require_roles missing", []Rule{{Name: "ro", RequireRoles: []string{"customer", "support"}}}, get("GET", "/x"),
			want{Deny, "ro", "bfla", "ro requires role support"}},
		{"require_roles, anonymous", []Rule{{Name: "ro", RequireRoles: []string{"customer"}}},
			withIn(get("GET", "/x"), func(in *Input) { in.Principal = nil }), want{Deny, "ro", "bfla", ""}},
		{"requirements before expressions", []Rule{{Name: "both", RequireRoles: []string{"support"}, AllowIf: `false`}}, get("GET", "/x"),
			want{Deny, "both", "bfla", "requires role support"}},

		// Relationship tuples.
		{"relation held", []Rule{{Name: "rel", Match: Match{Endpoint: "GET /orders/{id}"}, AllowIf: `relation(token.sub, "viewer", "order:" + path.id)`}},
			get("GET", "/orders/42"), want{Allow, "", "", ""}},
		{"relation not held", []Rule{{Name: "rel", Match: Match{Endpoint: "GET /orders/{id}"}, AllowIf: `relation(token.sub, "viewer", "order:" + path.id)`}},
			get("GET", "/orders/43"), want{Deny, "rel", "bola", "not allowed by rel"}},
		{"relation: other relation", []Rule{{Name: "rel", AllowIf: `relation("user-17", "owner", "order:42")`}},
			get("GET", "/x"), want{Deny, "rel", "bola", ""}},

		// ip_in.
		{"ip_in inside", []Rule{{Name: "ip", AllowIf: `ip_in(source.ip, "10.0.0.0/8")`}},
			withIn(get("GET", "/x"), func(in *Input) { in.SourceIP = "10.1.2.3" }), want{Allow, "", "", ""}},
		{"ip_in outside", []Rule{{Name: "ip", AllowIf: `ip_in(source.ip, "10.0.0.0/8")`}},
			withIn(get("GET", "/x"), func(in *Input) { in.SourceIP = "192.0.2.1" }), want{Deny, "ip", "", ""}},
		{"ip_in IPv4-mapped IPv6", []Rule{{Name: "ip", AllowIf: `ip_in(source.ip, "10.0.0.0/8")`}},
			withIn(get("GET", "/x"), func(in *Input) { in.SourceIP = "::ffff:10.9.9.9" }), want{Allow, "", "", ""}},
		{"ip_in IPv6", []Rule{{Name: "ip", AllowIf: `ip_in(source.ip, "2001:db8::/32")`}},
			withIn(get("GET", "/x"), func(in *Input) { in.SourceIP = "2001:db8::7" }), want{Allow, "", "", ""}},
		{"ip_in bad CIDR is false", []Rule{{Name: "ip", AllowIf: `ip_in(source.ip, "10.0.0.0/99")`}},
			withIn(get("GET", "/x"), func(in *Input) { in.SourceIP = "10.1.2.3" }), want{Deny, "ip", "", ""}},
		{"ip_in no address is false", []Rule{{Name: "ip", AllowIf: `ip_in(source.ip, "0.0.0.0/0")`}}, get("GET", "/x"), want{Deny, "ip", "", ""}},

		// The other variables.
		{"request fields, headers lower-cased, query", []Rule{{Name: "req", AllowIf: `request.method == "POST" && request.host == "shop.local" &&
			request.path == "/x" && request.route == "shop" && request.headers["x-tenant"] == "acme" && request.query.page == "2"`}},
			withIn(get("POST", "/x"), func(in *Input) {
				in.Route = "shop"
				in.Header = http.Header{"X-Tenant": {"acme", "other"}}
				in.RawQuery = "page=2&page=3"
			}), want{Allow, "", "", ""}},
		{"an absent header is an evaluation error", []Rule{{Name: "req", AllowIf: `request.headers["x-tenant"] == "acme"`}}, get("GET", "/x"),
			want{Deny, "req", "", "no such key: x-tenant"}},
		{"source", []Rule{{Name: "src", DenyIf: `source.country == "KP" || source.reputation != "" || source.workload.startsWith("spiffe://evil/")`}},
			withIn(get("GET", "/x"), func(in *Input) {
				in.Country = "FR"
				in.Reputation = "tor-exit"
				in.Workload = "spiffe://demo.local/cart"
			}),
			want{Deny, "src", "", ""}},
		{"behavior", []Rule{{Name: "beh", DenyIf: `behavior.anomaly > 0.5 && "new_network" in behavior.reasons && behavior.distinct_objects >= 10 && behavior.rate > 30.0`}},
			withIn(get("GET", "/x"), func(in *Input) {
				in.Behavior = Behavior{Anomaly: 0.6, Reasons: []string{"new_network"}, DistinctObjects: 10, RequestRate: 31}
			}), want{Deny, "beh", "", ""}},
		{"behavior: no reasons is an empty list", []Rule{{Name: "beh", DenyIf: `size(behavior.reasons) != 0 || behavior.anomaly != 0.0`}},
			get("GET", "/x"), want{Allow, "", "", ""}},
		{"time", []Rule{{Name: "hours", AllowIf: `time.getHours() >= 8 && time.getHours() < 18 && time > timestamp("2026-01-01T00:00:00Z")`}},
			get("GET", "/x"), want{Allow, "", "", ""}},
		{"time: out of hours", []Rule{{Name: "hours", AllowIf: `time.getHours() >= 8 && time.getHours() < 14`}},
			get("GET", "/x"), want{Deny, "hours", "", ""}},
		{"token claims: scopes, client_id, numbers, lists", []Rule{{Name: "tok", AllowIf: `"orders" in token.scopes && token.client_id == "web" &&
			token.level == 3.0 && "pwd" in token.amr && token.iss == "https://id.shop.local"`}}, get("GET", "/x"), want{Allow, "", "", ""}},
		{"token: the whole map (iteration, size, has)", []Rule{{Name: "tok", AllowIf: `token.exists(k, k == "tenant") && size(token) > 5 &&
			has(token.tenant) && !has(token.nope) && "sub" in token`}}, get("GET", "/x"), want{Allow, "", "", ""}},
		{"token: a computed key", []Rule{{Name: "tok", AllowIf: `token["ten" + "ant"] == "acme"`}}, get("GET", "/x"), want{Allow, "", "", ""}},
		{"path: the whole map", []Rule{{Name: "pm", Match: Match{Endpoint: "/a/{x}/b/{y}"}, AllowIf: `size(path) == 2 && path == {"x": "1", "y": "2"} && "y" in path`}},
			get("GET", "/a/1/b/2"), want{Allow, "", "", ""}},
		{"path: no template, no parameters", []Rule{{Name: "pm", Match: Match{PathPrefix: "/a/"}, AllowIf: `size(path) == 0`}},
			get("GET", "/a/1"), want{Allow, "", "", ""}},

		// Missing values: documented to count against the request.
		{"anonymous: a claim read denies", []Rule{{Name: "own", Match: Match{Endpoint: "GET /users/{id}"}, DenyIf: `path.id != token.sub && !("admin" in token.roles)`}},
			withIn(get("GET", "/users/1"), func(in *Input) { in.Principal = nil }), want{Deny, "own", "bola", "no such key: sub"}},
		{"anonymous: list claims are empty lists", []Rule{{Name: "adm", AllowIf: `"admin" in token.roles || "mfa" in token.amr || "x" in token.scopes`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Principal = nil }), want{Deny, "adm", "bfla", "not allowed by adm"}},
		{"anonymous: _grantee is empty, consent false", []Rule{{Name: "c", AllowIf: `consent("user-1", "read")`}},
			withIn(get("GET", "/x"), func(in *Input) { in.Principal = nil }), want{Deny, "c", "consent", ""}},
		{"absent claim in deny_if denies", []Rule{{Name: "d", DenyIf: `token.department != "sales"`}}, get("GET", "/x"),
			want{Deny, "d", "", "evaluation error: no such key: department"}},
		{"absent claim in allow_if denies", []Rule{{Name: "a", AllowIf: `token.department == "sales"`}}, get("GET", "/x"),
			want{Deny, "a", "", "evaluation error: no such key: department"}},
		{"absent claim in step_up_if steps up", []Rule{{Name: "s", StepUpIf: `token.risk > 0.5`, StepUp: stepUp}}, get("GET", "/x"),
			want{StepUp, "s", "step_up", "evaluation error: no such key: risk"}},
		{"has() guards an absent claim", []Rule{{Name: "d", DenyIf: `has(token.department) && token.department != "sales"`}}, get("GET", "/x"), want{Allow, "", "", ""}},
		{"a claim of another type denies", []Rule{{Name: "d", DenyIf: `token.tenant > 3`}}, get("GET", "/x"), want{Deny, "d", "", "evaluation error"}},
		{"a non-bool result denies", []Rule{{Name: "a", AllowIf: `token.tenant`}}, get("GET", "/x"), want{Deny, "a", "", "not a bool"}},
		{"path parameter not in the template", []Rule{{Name: "p", Match: Match{Endpoint: "/u/{id}"}, DenyIf: `path.uid != token.sub`}},
			get("GET", "/u/1"), want{Deny, "p", "", "no such key: uid"}},
		{"a principal without claims", []Rule{{Name: "own", Match: Match{Endpoint: "/u/{id}"}, DenyIf: `path.id != token.sub`}},
			withIn(get("GET", "/u/user-17"), func(in *Input) { in.Principal = &authz.Principal{Subject: "user-17"} }), want{Allow, "", "", ""}},

		// Kinds.
		{"kind bola from path", []Rule{{Name: "k", DenyIf: `path["x"] == "1"`}}, get("GET", "/x"), want{Deny, "k", "bola", ""}},
		{"kind bfla from scopes", []Rule{{Name: "k", AllowIf: `"refunds" in token.scopes`}}, get("GET", "/x"), want{Deny, "k", "bfla", ""}},
		{"kind: names in a string are not references", []Rule{{Name: "k", DenyIf: `"path.x relation( consent(" != ""`}}, get("GET", "/x"), want{Deny, "k", "policy", ""}},
		{"kind policy", []Rule{{Name: "k", DenyIf: `request.method == "GET" && request.path == "/x"`}}, get("GET", "/x"), want{Deny, "k", "policy", ""}},
		{"kind consent", []Rule{{Name: "k", AllowIf: `consent("u", "s")`}}, get("GET", "/x"), want{Deny, "k", "consent", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(Options{Rules: tt.rules, Tuples: tuples})
			if err != nil {
				t.Fatal(err)
			}
			in := tt.in
			d, err := e.Evaluate(&in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			check(t, d, tt.want)
			if d.Action == StepUp && d.StepUp != tt.rules[0].StepUp {
				t.Errorf("step-up spec %+v, want %+v", d.StepUp, tt.rules[0].StepUp)
			}
		})
	}
}

func TestStepUpSatisfied(t *testing.T) {
	rule := Rule{Name: "large-orders", Match: Match{Endpoint: "POST /order/add/{id}"},
		StepUpIf: `body.total > 1000.0`, StepUp: StepUpSpec{ACRValues: "urn:shop:mfa urn:shop:hwk", MaxAge: 5 * time.Minute}}
	acrOnly := rule
	acrOnly.Name, acrOnly.StepUp = "acr-only", StepUpSpec{ACRValues: "urn:shop:mfa"}
	ageOnly := rule
	ageOnly.Name, ageOnly.StepUp = "age-only", StepUpSpec{MaxAge: time.Minute}
	base := with(customer("user-17"), func(p *authz.Principal) { p.AuthTime = testNow.Add(-2 * time.Minute) })
	tests := []struct {
		name string
		rule Rule
		p    *authz.Principal
		now  time.Time
		want Action
	}{
		{"pwd only", rule, base, testNow, StepUp},
		{"acr is one of acr_values, recent", rule, with(base, func(p *authz.Principal) { p.ACR = "urn:shop:hwk" }), testNow, Allow},
		{"amr holds one of acr_values, recent", rule, with(base, func(p *authz.Principal) { p.AMR = []string{"pwd", "urn:shop:mfa"} }), testNow, Allow},
		{"acr ok, auth_time too old", rule, with(base, func(p *authz.Principal) { p.ACR = "urn:shop:mfa"; p.AuthTime = testNow.Add(-6 * time.Minute) }), testNow, StepUp},
		{"acr ok, auth_time exactly max_age ago", rule, with(base, func(p *authz.Principal) { p.ACR = "urn:shop:mfa"; p.AuthTime = testNow.Add(-5 * time.Minute) }), testNow, Allow},
		{"acr ok, no auth_time", rule, with(base, func(p *authz.Principal) { p.ACR = "urn:shop:mfa"; p.AuthTime = time.Time{} }), testNow, StepUp},
		{"other acr", rule, with(base, func(p *authz.Principal) { p.ACR = "urn:shop:pwd" }), testNow, StepUp},
		{"acr only: old auth_time is fine", acrOnly, with(base, func(p *authz.Principal) { p.ACR = "urn:shop:mfa"; p.AuthTime = time.Time{} }), testNow, Allow},
		{"acr only: other acr", acrOnly, base, testNow, StepUp},
		{"max_age only: recent", ageOnly, with(base, func(p *authz.Principal) { p.AuthTime = testNow.Add(-30 * time.Second) }), testNow, Allow},
		{"max_age only: too old", ageOnly, base, testNow, StepUp},
		{"max_age only: no clock uses now", ageOnly, with(base, func(p *authz.Principal) { p.AuthTime = time.Now().Add(-time.Second) }), time.Time{}, Allow},
		{"anonymous", rule, nil, testNow, StepUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(Options{Rules: []Rule{tt.rule}})
			if err != nil {
				t.Fatal(err)
			}
			in := Input{Method: "POST", Path: "/order/add/42", Principal: tt.p, Now: tt.now,
				Body: func() (any, bool) { return map[string]any{"total": 1500.0}, true }}
			d, _ := e.Evaluate(&in)
			if d.Action != tt.want {
				t.Fatalf("decision %+v, want action %d", d, tt.want)
			}
			if tt.want == StepUp && (d.Policy != tt.rule.Name || d.Kind != "step_up" || d.StepUp != tt.rule.StepUp) {
				t.Errorf("step-up decision %+v", d)
			}
		})
	}
}

func TestAdminDefault(t *testing.T) {
	ad := AdminDefault{Patterns: []string{"admin", "internal"}, RequireRoles: []string{"admin", "ops"}}
	ops := with(customer("ops-2"), func(p *authz.Principal) { p.Roles = []string{"ops"} })
	tests := []struct {
		name  string
		ad    AdminDefault
		rules []Rule
		path  string
		p     *authz.Principal
		want  want
	}{
		{"customer on an admin path", ad, nil, "/admin/users", customer("user-17"), want{Deny, "admin_default", "bfla", "one of the roles admin, ops"}},
		{"anonymous on an admin path", ad, nil, "/api/internal/metrics", nil, want{Deny, "admin_default", "bfla", ""}},
		{"segments compare in any case", ad, nil, "/api/Internal", customer("user-17"), want{Deny, "admin_default", "", ""}},
		{"one of the roles is enough", ad, nil, "/admin/users", ops, want{Allow, "", "", ""}},
		{"admin", ad, nil, "/admin/users", admin(), want{Allow, "", "", ""}},
		{"a segment, not a substring", ad, nil, "/administrators-guide", customer("user-17"), want{Allow, "", "", ""}},
		{"not an admin path", ad, nil, "/products/1", customer("user-17"), want{Allow, "", "", ""}},
		{"a matching rule replaces the default", ad, []Rule{{Name: "admin-read", Match: Match{PathPrefix: "/admin/"}, AllowIf: `"customer" in token.roles`}},
			"/admin/users", customer("user-17"), want{Allow, "", "", ""}},
		{"a rule that does not match leaves it", ad, []Rule{{Name: "other", Match: Match{PathPrefix: "/shop/"}, AllowIf: `true`}},
			"/admin/users", customer("user-17"), want{Deny, "admin_default", "", ""}},
		{"no patterns: off", AdminDefault{RequireRoles: []string{"admin"}}, nil, "/admin/users", customer("user-17"), want{Allow, "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(Options{Rules: tt.rules, AdminDefault: tt.ad})
			if err != nil {
				t.Fatal(err)
			}
			in := Input{Method: "GET", Path: tt.path, Principal: tt.p, Now: testNow}
			d, _ := e.Evaluate(&in)
			check(t, d, tt.want)
		})
	}
}

func TestConsent(t *testing.T) {
	rule := Rule{Name: "share", Match: Match{Endpoint: "GET /users/{id}/orders"},
		AllowIf: `path.id == token.sub || consent(path.id, "orders:read")`}
	tests := []struct {
		name   string
		p      *authz.Principal
		path   string
		grants map[[3]string]bool
		panics bool
		want   want
		// calls are the questions the checker must have received.
		calls []consentCall
	}{
		{"own orders: no question asked", customer("user-17"), "/users/user-17/orders", nil, false, want{Allow, "", "", ""}, nil},
		{"granted to the client", customer("user-17"), "/users/user-9/orders", map[[3]string]bool{{"user-9", "web", "orders:read"}: true}, false,
			want{Allow, "", "", ""}, []consentCall{{"user-9", "web", "orders:read", "/users/user-9/orders", testNow}}},
		{"not granted", customer("user-17"), "/users/user-9/orders", map[[3]string]bool{{"user-9", "web", "orders:write"}: true}, false,
			want{Deny, "share", "consent", "not allowed by share"}, []consentCall{{"user-9", "web", "orders:read", "/users/user-9/orders", testNow}}},
		{"grantee is sub without a client id", with(customer("user-17"), func(p *authz.Principal) { p.ClientID = "" }), "/users/user-9/orders",
			map[[3]string]bool{{"user-9", "user-17", "orders:read"}: true}, false,
			want{Allow, "", "", ""}, []consentCall{{"user-9", "user-17", "orders:read", "/users/user-9/orders", testNow}}},
		{"anonymous: never asked", nil, "/users/user-9/orders", nil, false, want{Deny, "share", "", "no such key: sub"}, nil},
		{"a panicking checker denies", customer("user-17"), "/users/user-9/orders", nil, true, want{Deny, "share", "", "evaluation error"},
			[]consentCall{{"user-9", "web", "orders:read", "/users/user-9/orders", testNow}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := &fakeConsent{grants: tt.grants, panics: tt.panics}
			e, err := Compile(Options{Rules: []Rule{rule}, Consent: fc})
			if err != nil {
				t.Fatal(err)
			}
			in := Input{Method: "GET", Path: tt.path, Principal: tt.p, Now: testNow}
			d, _ := e.Evaluate(&in)
			check(t, d, tt.want)
			if len(fc.calls) != len(tt.calls) {
				t.Fatalf("checker got %+v, want %+v", fc.calls, tt.calls)
			}
			for i, c := range tt.calls {
				if g := fc.calls[i]; g.subject != c.subject || g.grantee != c.grantee || g.scope != c.scope || g.resource != c.resource || !g.at.Equal(c.at) {
					t.Errorf("call %d: got %+v, want %+v", i, g, c)
				}
			}
		})
	}
	t.Run("no checker: never granted", func(t *testing.T) {
		e, err := Compile(Options{Rules: []Rule{rule}})
		if err != nil {
			t.Fatal(err)
		}
		in := Input{Method: "GET", Path: "/users/user-9/orders", Principal: customer("user-17"), Now: testNow}
		d, _ := e.Evaluate(&in)
		check(t, d, want{Deny, "share", "consent", ""})
	})
}

func TestBodyIsLazy(t *testing.T) {
	rules := []Rule{
		{Name: "own", Match: Match{Endpoint: "GET /users/{id}"}, DenyIf: `path.id != token.sub`},
		{Name: "large-orders", Match: Match{Endpoint: "POST /order/add/{id}"}, StepUpIf: `body.total > 1000.0`, StepUp: StepUpSpec{ACRValues: "mfa"}},
		{Name: "no-coupons", Match: Match{Endpoint: "POST /order/add/{id}"}, DenyIf: `has(body.coupon) && body.coupon == "FREE"`},
		{Name: "header", Match: Match{PathPrefix: "/h"}, DenyIf: `request.headers["x-body"] == "1"`},
	}
	e, err := Compile(Options{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		method    string
		path      string
		body      any
		needsBody bool
		calls     int
		want      Action
	}{
		{"no policy reads it", "GET", "/users/user-17", map[string]any{"total": 5000.0}, false, 0, Allow},
		{"no policy matches", "POST", "/cart/1", map[string]any{"total": 5000.0}, false, 0, Allow},
		{"read once for two policies", "POST", "/order/add/1", map[string]any{"total": 5000.0}, true, 1, StepUp},
		{"small order", "POST", "/order/add/1", map[string]any{"total": 5.0}, true, 1, Allow},
		{"coupon", "POST", "/order/add/1", map[string]any{"total": 5.0, "coupon": "FREE"}, true, 1, Deny},
		{"no body: an empty object, total missing steps up", "POST", "/order/add/1", nil, true, 1, StepUp},
		{"other method", "GET", "/order/add/1", map[string]any{"total": 5000.0}, false, 0, Allow},
		{"the word body in a string is not body", "GET", "/h", nil, false, 0, Deny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.NeedsBody(tt.method, tt.path); got != tt.needsBody {
				t.Errorf("NeedsBody(%s %s) = %v, want %v", tt.method, tt.path, got, tt.needsBody)
			}
			calls := 0
			in := Input{Method: tt.method, Path: tt.path, Principal: customer("user-17"), Now: testNow,
				Header: http.Header{"X-Body": {"1"}},
				Body: func() (any, bool) {
					calls++
					return tt.body, tt.body != nil
				}}
			d, _ := e.Evaluate(&in)
			if d.Action != tt.want {
				t.Errorf("decision %+v, want action %d", d, tt.want)
			}
			if calls != tt.calls {
				t.Errorf("Body called %d times, want %d", calls, tt.calls)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want string
	}{
		{"syntax", Rule{Name: "own", DenyIf: `token.sub ==`},
			`policies[0] "own": deny_if: 1:13: Syntax error: mismatched input '<EOF>' expecting`},
		{"unknown variable", Rule{Name: "own", AllowIf: `tokn.sub == "a"`},
			`policies[0] "own": allow_if: 1:1: undeclared reference to 'tokn' (did you mean 'token'?)`},
		{"second line", Rule{Name: "multi", StepUpIf: "token.sub == 'a' &&\n  nosuch(1)", StepUp: StepUpSpec{MaxAge: time.Second}},
			`policies[0] "multi": step_up_if: 2:9: undeclared reference to 'nosuch'`},
		{"type error", Rule{Name: "own", DenyIf: `path.id == 1`},
			`policies[0] "own": deny_if: 1:9: found no matching overload for '_==_' applied to '(string, int)'`},
		{"not a bool", Rule{Name: "num", AllowIf: `1 + 2`}, `policies[0] "num": allow_if: 1:1: the expression is int, not a bool`},
		{"relation arity", Rule{Name: "rel", AllowIf: `relation("a", "b")`},
			`policies[0] "rel": allow_if: 1:9: found no matching overload for 'relation' applied to '(string, string)'`},
		{"too long", Rule{Name: "long", AllowIf: strings.Repeat("true && ", 600) + "true"},
			`policies[0] "long": allow_if: expression of 4804 bytes (at most 4096)`},
		{"bad endpoint", Rule{Name: "ep", Match: Match{Endpoint: "GOT /x"}, DenyIf: `true`},
			`policies[0] "ep": match.endpoint: "GOT" is not an HTTP method`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(Options{Rules: []Rule{tt.rule}})
			if err == nil {
				t.Fatal("compiled")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n%s\nwant a prefix\n%s", err, tt.want)
			}
			var ce *CompileError
			if !errors.As(err, &ce) || ce.Index != 0 || ce.Policy != tt.rule.Name {
				t.Errorf("not a *CompileError for the rule: %#v", err)
			}
		})
	}
	t.Run("every error is reported", func(t *testing.T) {
		_, err := Compile(Options{Rules: []Rule{
			{Name: "ok", AllowIf: `true`},
			{Name: "a", AllowIf: `(`, DenyIf: `nope`},
			{Name: "b", Match: Match{Endpoint: "x"}, DenyIf: `true`},
		}})
		var fields []string
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var ce *CompileError
			if !errors.As(e, &ce) {
				t.Fatalf("%T is not a *CompileError", e)
			}
			fields = append(fields, ce.Policy+"."+ce.Field)
		}
		if got := strings.Join(fields, " "); got != "a.allow_if a.deny_if b.match.endpoint" {
			t.Errorf("errors for %s", got)
		}
	})
}

func TestCostLimit(t *testing.T) {
	// 10^4 inner iterations: beyond the default limit of 10000.
	const digits = `[0,1,2,3,4,5,6,7,8,9]`
	expensive := digits + `.all(a, ` + digits + `.all(b, ` + digits + `.all(c, ` + digits + `.all(d, a + b + c + d >= 0))))`
	tests := []struct {
		name  string
		limit uint64
		rule  Rule
		want  want
	}{
		{"allow_if over the default limit denies", 0, Rule{Name: "cost", AllowIf: expensive},
			want{Deny, "cost", "policy", "not allowed by cost (evaluation error: operation cancelled: actual cost limit exceeded)"}},
		{"deny_if over the default limit denies", 0, Rule{Name: "cost", DenyIf: "!(" + expensive + ")"},
			want{Deny, "cost", "policy", "denied by cost (evaluation error: operation cancelled: actual cost limit exceeded)"}},
		{"step_up_if over the limit steps up", 0, Rule{Name: "cost", StepUpIf: "!(" + expensive + ")", StepUp: StepUpSpec{ACRValues: "mfa"}},
			want{StepUp, "cost", "step_up", "actual cost limit exceeded"}},
		{"a lower limit", 50, Rule{Name: "cost", AllowIf: digits + `.all(a, ` + digits + `.all(b, a + b >= 0))`},
			want{Deny, "cost", "", "actual cost limit exceeded"}},
		{"within the limit", 0, Rule{Name: "cheap", AllowIf: digits + `.all(a, a >= 0)`}, want{Allow, "", "", ""}},
		{"a large body walked", 0, Rule{Name: "items", Match: Match{PathPrefix: "/"}, AllowIf: `body.items.all(i, i.qty < 100.0)`},
			want{Deny, "items", "", "actual cost limit exceeded"}},
	}
	items := make([]any, 20000)
	for i := range items {
		items[i] = map[string]any{"qty": 1.0}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(Options{Rules: []Rule{tt.rule}, CostLimit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			in := get("GET", "/x")
			in.Body = func() (any, bool) { return map[string]any{"items": items}, true }
			start := time.Now()
			d, _ := e.Evaluate(&in)
			check(t, d, tt.want)
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("took %s: the limit did not stop it", el)
			}
		})
	}
}

// TestConcurrentEvaluate: one engine, many requests at once (-race).
func TestConcurrentEvaluate(t *testing.T) {
	fc := &fakeConsent{grants: map[[3]string]bool{{"user-9", "web", "orders:read"}: true}}
	e, err := Compile(Options{Rules: append(threeRules(),
		Rule{Name: "share", Match: Match{Endpoint: "GET /shared/{id}"}, AllowIf: `consent(path.id, "orders:read")`}), Consent: fc})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				sub := "user-17"
				if (g+i)%2 == 0 {
					sub = "user-18"
				}
				in := get("GET", "/users/user-17")
				in.Principal = customer(sub)
				d, _ := e.Evaluate(&in)
				if want := map[bool]Action{true: Allow, false: Deny}[sub == "user-17"]; d.Action != want {
					t.Errorf("%s: %+v", sub, d)
					return
				}
				in = get("GET", "/shared/user-9")
				if d, _ := e.Evaluate(&in); d.Action != Allow {
					t.Errorf("shared: %+v", d)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestLoadTuples(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          []Tuple
		err           string
	}{
		{"lines, comments, blanks", "# who sees what\nuser:17 viewer order:42\n\n  user:18   owner order:43  \n",
			[]Tuple{{"user:17", "viewer", "order:42"}, {"user:18", "owner", "order:43"}}, ""},
		{"empty", "", nil, ""},
		{"two fields", "user:17 viewer order:42\nuser:18 owner\n", nil, `t.txt:2: want "subject relation object", got 2 fields`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, "t.txt")
			if err := os.WriteFile(f, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadTuples(f)
			if tt.err != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tt.err) {
					t.Fatalf("error %v, want one ending in %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("tuple %d: %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
	if _, err := LoadTuples(filepath.Join(dir, "missing.txt")); err == nil {
		t.Error("a missing file loaded")
	}
}
