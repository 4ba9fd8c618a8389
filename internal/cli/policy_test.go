package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyTest(t *testing.T) {
	const dir = "testdata/policy/"
	tests := []struct {
		name string
		file string
		code int
		// stdout are full lines (or, for errors, line prefixes) printed
		// in this order; other lines may come between.
		stdout []string
		// stderr must contain these.
		stderr []string
	}{
		{
			name: "every case passes",
			file: dir + "shop.yaml",
			code: ExitOK,
			stdout: []string{
				"PASS  a customer reads her record: allow",
				"PASS  a customer reads another's record: deny by own-user-record (denied by own-user-record)",
				"PASS  anonymous: deny by own-user-record (denied by own-user-record (evaluation error: no such key: sub))",
				"PASS  a customer on an admin function: deny by admin-only (not allowed by admin-only)",
				"PASS  an admin-looking path no policy covers: deny by admin_default (an administrative function needs one of the roles admin)",
				"PASS  a large order without mfa: step_up by large-orders (large-orders asks for a stronger authentication)",
				"PASS  a large order after a recent mfa: allow",
				"PASS  a large order, mfa too long ago: step_up by large-orders (large-orders asks for a stronger authentication)",
				"PASS  a viewer from the tuples file: allow",
				"PASS  not a viewer: deny by order-viewers (not allowed by order-viewers)",
				"PASS  a cart shared with the client: allow",
				"PASS  a cart whose grant expired: deny by shared-carts (not allowed by shared-carts)",
				"PASS  reports from an unusual place: deny by office-network (not allowed by office-network)",
				dir + "shop.yaml: 17 passed, 0 failed",
			},
		},
		{
			name: "policies from a config file",
			file: dir + "from-config.yaml",
			code: ExitOK,
			stdout: []string{
				"PASS  own record on the shop route: allow",
				"PASS  another's record on the shop route: deny by own-user-record (denied by own-user-record)",
				"PASS  no admin default without an identity source: allow",
				dir + "from-config.yaml: 3 passed, 0 failed",
			},
		},
		{
			name: "failing cases",
			file: dir + "failing.yaml",
			code: ExitProblem,
			stdout: []string{
				"PASS  own record: allow",
				"FAIL  wrong expectation: deny by own-user-record (denied by own-user-record); want allow",
				"FAIL  right decision, wrong policy: deny by admin-only (not allowed by admin-only); want deny by own-user-record",
				dir + "failing.yaml: 1 passed, 2 failed",
			},
			stderr: []string{"vigil: 2 of 3 policy tests failed"},
		},
		{
			name: "invalid file: every error with its line and field",
			file: dir + "invalid.yaml",
			code: ExitProblem,
			stdout: []string{
				dir + `invalid.yaml:5: policies[1].name: duplicate policy name "own-user-record" (also policies[0])`,
				dir + `invalid.yaml:7: policies[1].step_up: set without step_up_if`,
				dir + `invalid.yaml:9: tests[0].expect: required: allow, deny or step_up`,
				dir + `invalid.yaml:12: tests[1].request.method: "get" is not an upper-case HTTP method`,
				dir + `invalid.yaml:12: tests[1].request.path: "users/1" must start with /`,
				dir + `invalid.yaml:13: tests[1].expect: "maybe" is not allow, deny or step_up`,
				dir + `invalid.yaml:14: tests[1].toke: unknown field (did you mean "token"?)`,
				dir + `invalid.yaml:15: tests[2].path_params: needs id (a non-empty segment) for the endpoint /users/{id}`,
				dir + `invalid.yaml:20: tests[3].request.path: "/orders/1" does not match the endpoint GET /users/{id}`,
				dir + `invalid.yaml:24: tests[4].source.ip: "10.0.0.300" is not an IP address`,
				dir + `invalid.yaml:25: tests[4].behavior.anomaly: 2 is not between 0 and 1`,
				dir + `invalid.yaml:26: tests[4].time: "yesterday" is not an RFC 3339 time`,
			},
			stderr: []string{"vigil: " + dir + "invalid.yaml is not valid"},
		},
		{
			name: "expressions that do not compile",
			file: dir + "bad-expression.yaml",
			code: ExitProblem,
			stdout: []string{
				dir + `bad-expression.yaml:4: policies[0].deny_if: policy "own-user-record": 1:24: Syntax error: mismatched input '<EOF>'`,
				dir + `bad-expression.yaml:7: policies[1].allow_if: policy "admin-only": 2:10: undeclared reference to 'tokn' (did you mean 'token'?)`,
			},
			stderr: []string{dir + "bad-expression.yaml is not valid"},
		},
		{
			name: "cases naming an unknown policy or bad claims",
			file: dir + "bad-case.yaml",
			code: ExitProblem,
			stdout: []string{
				dir + `bad-case.yaml:10: tests[0].policy: no policy is named "own-record" (known: admin_default, own-user-record)`,
				dir + `bad-case.yaml:13: tests[1].token: sub is not a string`,
			},
			stderr: []string{dir + "bad-case.yaml is not valid"},
		},
		{
			name: "config and policies both, config missing",
			file: dir + "missing-config.yaml",
			code: ExitProblem,
			stdout: []string{
				dir + `missing-config.yaml:1: config: stat ` + dir + `no-such-vigil.yaml: no such file or directory`,
				dir + `missing-config.yaml:2: policies: set with config`,
			},
		},
		{
			name:   "a config file with errors",
			file:   dir + "invalid-config.yaml",
			code:   ExitProblem,
			stdout: []string{dir + `bad-vigil.yaml:3: policies[0].deny_if: policy "p": 1:1: undeclared reference to 'nope'`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, "policy", "test", tt.file)
			if r.code != tt.code {
				t.Fatalf("vigil policy test %s: want exit %d, got %v", tt.file, tt.code, r)
			}
			lines := strings.Split(r.stdout, "\n")
			at := 0
			for _, w := range tt.stdout {
				found := false
				for at < len(lines) {
					l := lines[at]
					at++
					if l == w || (strings.Contains(w, ".yaml:") && strings.HasPrefix(l, w)) {
						found = true
						break
					}
				}
				if !found {
					t.Fatalf("stdout lacks, in order, %q:\n%s", w, r)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r)
				}
			}
			if tt.code != ExitOK && strings.Contains(r.stdout, " 0 failed") {
				t.Errorf("a failing run says 0 failed:\n%s", r.stdout)
			}
		})
	}
}

// TestPolicyTestPassFail: the same case passes or fails with its
// expectation, so that a PASS line means the decision was checked.
func TestPolicyTestPassFail(t *testing.T) {
	dir := t.TempDir()
	policies := `policies:
  - name: own
    match: {endpoint: "GET /users/{id}"}
    deny_if: 'path.id != token.sub'
  - name: big
    match: {endpoint: "POST /orders"}
    step_up_if: 'body.total > 100.0'
    step_up: {acr_values: mfa}
tests:
`
	tests := []struct {
		name, test string
		pass       bool
	}{
		{"deny expected", "{name: c, request: {path: /users/2}, token: {sub: '1'}, expect: deny}", true},
		{"deny, allow expected", "{name: c, request: {path: /users/2}, token: {sub: '1'}, expect: allow}", false},
		{"deny, policy named", "{name: c, request: {path: /users/2}, token: {sub: '1'}, expect: deny, policy: own}", true},
		{"deny, other policy named", "{name: c, request: {path: /users/2}, token: {sub: '1'}, expect: deny, policy: big}", false},
		{"allow expected", "{name: c, request: {path: /users/1}, token: {sub: '1'}, expect: allow}", true},
		{"allow, deny expected", "{name: c, request: {path: /users/1}, token: {sub: '1'}, expect: deny}", false},
		{"step-up expected", "{name: c, request: {method: POST, path: /orders, body: {total: 500}}, token: {sub: '1'}, expect: step_up}", true},
		{"step-up, allow expected", "{name: c, request: {method: POST, path: /orders, body: {total: 500}}, token: {sub: '1'}, expect: allow}", false},
		{"step-up met by amr", "{name: c, request: {method: POST, path: /orders, body: {total: 500}}, token: {sub: '1', amr: [mfa]}, expect: allow}", true},
		{"body absent: total missing steps up", "{name: c, request: {method: POST, path: /orders}, token: {sub: '1'}, expect: step_up}", true},
		{"a string body is a JSON string", `{name: c, request: {method: POST, path: /orders, body: '{"total": 500}'}, token: {sub: '1'}, expect: step_up}`, true},
		{"query and headers", "{name: c, endpoint: 'GET /users/{id}', path_params: {id: '1'}, request: {query: {a: b}, headers: {X-A: b}}, token: {sub: '1'}, expect: allow}", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, "t.yaml")
			if err := os.WriteFile(f, []byte(policies+"  - "+tt.test+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			r := run(t, nil, "policy", "test", f)
			want, code := "PASS  c: ", ExitOK
			if !tt.pass {
				want, code = "FAIL  c: ", ExitProblem
			}
			if r.code != code || !strings.HasPrefix(r.stdout, want) {
				t.Fatalf("want exit %d and %q..., got %v", code, want, r)
			}
		})
	}
}

func TestPolicyTestUnreadable(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		content string
		code    int
		want    []string
	}{
		{name: "no FILE", args: []string{"policy", "test"}, code: ExitUsage, want: []string{"accepts 1 arg(s), received 0"}},
		{name: "two files", args: []string{"policy", "test", "a", "b"}, code: ExitUsage, want: []string{"accepts 1 arg(s), received 2"}},
		{name: "unknown subcommand", args: []string{"policy", "frob"}, code: ExitUsage, want: []string{`unknown command "frob"`}},
		{name: "missing file", args: []string{"policy", "test", filepath.Join(dir, "nope.yaml")}, code: ExitProblem, want: []string{"nope.yaml", "no such file"}},
		{name: "empty file", args: []string{"policy", "test", filepath.Join(dir, "empty.yaml")}, content: " ", code: ExitProblem,
			want: []string{"empty.yaml: empty policy test file"}},
		{name: "not YAML", args: []string{"policy", "test", filepath.Join(dir, "syntax.yaml")}, content: "tests: [\n", code: ExitProblem,
			want: []string{"syntax.yaml:"}},
		{name: "no tests", args: []string{"policy", "test", filepath.Join(dir, "none.yaml")}, content: "policies: []\n", code: ExitProblem,
			want: []string{"none.yaml: tests: no test cases"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.content != "" {
				if err := os.WriteFile(tt.args[2], []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := run(t, nil, tt.args...)
			if r.code != tt.code {
				t.Fatalf("want exit %d, got %v", tt.code, r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output does not mention %q:\n%s", w, r)
				}
			}
		})
	}
}
