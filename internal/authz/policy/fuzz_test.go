package policy

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzEvaluate compiles an arbitrary expression as each kind of rule and
// evaluates it against a request: nothing may panic, a compile error must
// name the rule and field, and an evaluation error must never allow.
func FuzzEvaluate(f *testing.F) {
	for _, seed := range []struct {
		src, path string
		field     uint8
	}{
		{`path.id != token.sub && !("admin" in token.roles)`, "/users/user-18", 1},
		{`"admin" in token.roles`, "/admin/users", 0},
		{`body.total > 1000.0 && !("mfa" in token.amr)`, "/order/add/7", 2},
		{`relation(token.sub, "viewer", "order:" + path.id)`, "/users/42", 0},
		{`consent(path.id, "orders:read")`, "/users/user-9", 0},
		{`ip_in(source.ip, "10.0.0.0/8") || source.country == "FR"`, "/x", 1},
		{`behavior.anomaly > 0.8 && "new_network" in behavior.reasons`, "/x", 1},
		{`request.headers["x-tenant"] == token.tenant && request.query.page == "2"`, "/x", 0},
		{`time.getHours() < 6 || size(token) > 100`, "/x", 2},
		{`token.all(k, k != "") && path.all(k, path[k] != "")`, "/users/%zz", 0},
		{`[1,2,3].map(x, [1,2,3].map(y, x * y)).size() > 0`, "/", 0},
		{`body.items.exists(i, i.qty > 3.0)`, "/users/1", 2},
		{`token.sub ==`, "/x", 0},
		{`1 / 0 == 1`, "/x", 1},
		{`"a".matches("(")`, "/x", 1},
		{`dyn(body) == dyn(token)`, "/x", 0},
	} {
		f.Add(seed.src, seed.path, seed.field)
	}
	p := customer("user-17")
	fc := &fakeConsent{grants: map[[3]string]bool{{"user-9", "web", "orders:read"}: true}}
	f.Fuzz(func(t *testing.T, src, path string, field uint8) {
		r := Rule{Name: "fuzz", Match: Match{Endpoint: "/users/{id}"}}
		name := "allow_if"
		switch field % 3 {
		case 0:
			r.AllowIf = src
		case 1:
			r.DenyIf, name = src, "deny_if"
		case 2:
			r.StepUpIf, name = src, "step_up_if"
			r.StepUp = StepUpSpec{ACRValues: "mfa"}
		}
		if src == "" {
			r.RequireRoles = []string{"customer"}
		}
		e, err := Compile(Options{Rules: []Rule{r, {Name: "all", Match: Match{PathPrefix: "/"}, DenyIf: src}},
			Tuples: []Tuple{{"user-17", "viewer", "order:42"}}, Consent: fc,
			AdminDefault: AdminDefault{Patterns: []string{"admin"}, RequireRoles: []string{"admin"}}})
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) || ce.Policy == "" || (ce.Field != name && ce.Field != "deny_if") || ce.Msg == "" {
				t.Fatalf("compile error %#v", err)
			}
			return
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		for _, in := range []Input{
			{Method: "GET", Path: path, Principal: p, Now: testNow, SourceIP: "10.1.2.3", Header: http.Header{"X-Tenant": {"acme"}}, RawQuery: "page=2&x=%zz",
				Body: func() (any, bool) {
					return map[string]any{"total": 1500.0, "items": []any{map[string]any{"qty": 4.0}}}, true
				}},
			{Method: "POST", Path: path},
		} {
			d, err := e.Evaluate(&in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if d.Action > Deny {
				t.Fatalf("action %d", d.Action)
			}
			if d.Action != Allow && d.Policy == "" {
				t.Fatalf("decision without a policy: %+v", d)
			}
			if strings.Contains(d.Reason, "evaluation error") && d.Action == Allow {
				t.Fatalf("an evaluation error allowed: %+v", d)
			}
			_ = e.NeedsBody(in.Method, in.Path)
		}
	})
}
