package authz_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/authz/policy"
	"github.com/vigil-sec/vigil/internal/config"
	authzstage "github.com/vigil-sec/vigil/internal/stage/authz"
)

// TestCompileErrors: a policy that does not compile is reported at the
// line of its field, naming the policy and the position in the
// expression, every one of them.
func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"syntax and unknown variable", `policies:
  - name: own-user-record
    match: {endpoint: "GET /users/{id}"}
    deny_if: 'path.id != token.sub &&'
  - name: fine
    allow_if: 'true'
  - name: admin-only
    match: {path_prefix: /admin/}
    allow_if: '"admin" in tokn.roles'
`, []string{
			`p.yaml:4: policies[0].deny_if: policy "own-user-record": 1:24: Syntax error: mismatched input '<EOF>'`,
			`p.yaml:9: policies[2].allow_if: policy "admin-only": 1:12: undeclared reference to 'tokn' (did you mean 'token'?)`,
		}},
		{"not a bool", `policies:
  - name: num
    step_up_if: '1 + 2'
    step_up: {max_age: 60}
`, []string{`p.yaml:3: policies[0].step_up_if: policy "num": 1:1: the expression is int, not a bool`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tt.yaml), "p.yaml")
			if err != nil {
				t.Fatal(err)
			}
			_, err = authzstage.New(cfg, authzstage.Deps{})
			var fe config.Errors
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not config.Errors", err)
			}
			if len(fe) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(fe), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(fe[i].Error(), w) {
					t.Errorf("error %d:\n got %s\nwant %s...", i, fe[i], w)
				}
			}
		})
	}
}

// TestOptions: the admin default applies only with an identity source;
// tuples come from the config and the tuples file.
func TestOptions(t *testing.T) {
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	tuples := filepath.Join(dir, "tuples.txt")
	if err := os.WriteFile(jwks, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tuples, []byte("user:1 viewer order:2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	issuer := "identity:\n  jwt: [{issuer: https://id, jwks_file: " + jwks + ", algorithms: [ES256]}]\n"
	tests := []struct {
		name       string
		yaml       string
		wantAdmin  bool
		wantTuples int
		wantRules  int
	}{
		{"no identity source: no admin default", "policies: [{name: p, allow_if: 'true'}]\n", false, 0, 1},
		{"identity source: admin default", issuer, true, 0, 0},
		{"admin default off", issuer + "  admin_default: {off: true}\n", false, 0, 0},
		{"tuples and tuples file", issuer + "  tuples: [{subject: a, relation: b, object: c}]\n  tuples_file: " + tuples + "\n", true, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tt.yaml), "o.yaml")
			if err != nil {
				t.Fatal(err)
			}
			o, err := authzstage.Options(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(o.AdminDefault.Patterns) > 0; got != tt.wantAdmin {
				t.Errorf("admin default %+v, want on=%v", o.AdminDefault, tt.wantAdmin)
			}
			if tt.wantAdmin && strings.Join(o.AdminDefault.RequireRoles, ",") != "admin" {
				t.Errorf("admin default roles %v", o.AdminDefault.RequireRoles)
			}
			if len(o.Tuples) != tt.wantTuples || len(o.Rules) != tt.wantRules {
				t.Errorf("%d tuples, %d rules; want %d, %d", len(o.Tuples), len(o.Rules), tt.wantTuples, tt.wantRules)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	const head = `Bearer error="insufficient_user_authentication", error_description="a stronger or more recent authentication is required"`
	tests := []struct {
		name string
		su   policy.StepUpSpec
		want string
	}{
		{"both", policy.StepUpSpec{ACRValues: "urn:shop:mfa urn:shop:hwk", MaxAge: 5 * time.Minute}, head + `, acr_values="urn:shop:mfa urn:shop:hwk", max_age="300"`},
		{"acr only", policy.StepUpSpec{ACRValues: `a"b`}, head + `, acr_values="ab"`},
		{"max_age only", policy.StepUpSpec{MaxAge: 90 * time.Second}, head + `, max_age="90"`},
		{"neither", policy.StepUpSpec{}, head},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := authzstage.Challenge(tt.su); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
