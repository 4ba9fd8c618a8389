package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/authz/policy"
	"github.com/vigil-sec/vigil/internal/authz/token"
	"github.com/vigil-sec/vigil/internal/config"
	authzstage "github.com/vigil-sec/vigil/internal/stage/authz"
)

func policyCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Work with authorization policies (CEL allow_if, deny_if, step_up_if)",
		Args:  cobra.NoArgs,
		// Runnable, so that an unknown subcommand is a usage error.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(policyTestCmd(e))
	return c
}

func policyTestCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "test FILE",
		Short: "Run policy test cases: each request's decision against the one expected",
		Long: `Reads a YAML file of policies (the schema of the config's policies[], or
config: FILE to take them, identity.tuples and identity.admin_default from a
vigil config) and test cases: a request, the token's claims, the source,
behaviour, time and consent grants, and the decision expected (allow, deny or
step_up, optionally the policy expected to decide). Prints one line per case
and a summary; exits 1 when a case fails or the file is not valid. See
docs/policies.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return runPolicyTest(e.stdout, args[0])
		},
	}
}

func runPolicyTest(out io.Writer, file string) error {
	invalid := func(err error) error {
		fmt.Fprintln(out, err)
		return problem(fmt.Errorf("%s is not valid", file))
	}
	pt, cfg, err := config.LoadPolicyTests(file)
	if err != nil {
		return invalid(err)
	}
	o, err := authzstage.Options(cfg)
	if err != nil {
		return invalid(err)
	}
	if pt.Config == "" && !cfg.Identity.AdminDefault.Off {
		// A test file's cases carry tokens: its policies are judged as
		// on a gateway with an identity source, admin default included.
		o.AdminDefault = policy.AdminDefault{Patterns: cfg.Identity.AdminDefault.Patterns, RequireRoles: cfg.Identity.AdminDefault.Roles}
	}
	grants := &testGrants{}
	o.Consent = grants
	eng, err := authzstage.Compile(cfg, o)
	if err != nil {
		return invalid(err)
	}
	known := []string{"admin_default"}
	for _, r := range o.Rules {
		known = append(known, r.Name)
	}
	cases := make([]policy.Input, len(pt.Tests))
	var errs config.Errors
	for i := range pt.Tests {
		in, es := policyInput(pt, cfg, i)
		errs = append(errs, es...)
		cases[i] = in
		if p := pt.Tests[i].Policy; p != "" && !slices.Contains(known, p) {
			errs = append(errs, pt.Errorf(fmt.Sprintf("tests[%d].policy", i), "no policy is named %q (known: %s)", p, strings.Join(known, ", ")))
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *config.FieldError) int { return a.Line - b.Line })
		return invalid(errs)
	}
	failed := 0
	for i := range pt.Tests {
		tc := &pt.Tests[i]
		grants.set(tc.Consents)
		d, err := eng.Evaluate(&cases[i])
		if err != nil {
			return problem(fmt.Errorf("%s: %s: %w", file, tc.Name, err))
		}
		got := describe(d)
		ok := actionName(d.Action) == tc.Expect && (tc.Policy == "" || tc.Policy == d.Policy)
		if ok {
			fmt.Fprintf(out, "PASS  %s: %s\n", tc.Name, got)
			continue
		}
		failed++
		want := tc.Expect
		if tc.Policy != "" {
			want += " by " + tc.Policy
		}
		fmt.Fprintf(out, "FAIL  %s: %s; want %s\n", tc.Name, got, want)
	}
	fmt.Fprintf(out, "%s: %d passed, %d failed\n", file, len(pt.Tests)-failed, failed)
	if failed > 0 {
		return problem(fmt.Errorf("%d of %d policy tests failed", failed, len(pt.Tests)))
	}
	return nil
}

func actionName(a policy.Action) string {
	switch a {
	case policy.Deny:
		return "deny"
	case policy.StepUp:
		return "step_up"
	}
	return "allow"
}

// describe is a decision as a case line shows it: "deny by
// own-user-record (denied by own-user-record)".
func describe(d policy.Decision) string {
	s := actionName(d.Action)
	if d.Policy != "" {
		s += " by " + d.Policy
	}
	if d.Reason != "" {
		s += " (" + d.Reason + ")"
	}
	return s
}

// policyInput builds the request of test case i.
func policyInput(pt *config.PolicyTests, cfg *config.Config, i int) (policy.Input, config.Errors) {
	tc := &pt.Tests[i]
	at := fmt.Sprintf("tests[%d]", i)
	var errs config.Errors
	r := &tc.Request
	in := policy.Input{
		Method: tc.RequestMethod(), Path: tc.RequestPath(), Host: r.Host, Route: r.Route,
		SourceIP: tc.Source.IP, Country: tc.Source.Country, Workload: tc.Source.Workload, Reputation: tc.Source.Reputation,
		Behavior: policy.Behavior{Anomaly: tc.Behavior.Anomaly, Reasons: tc.Behavior.Reasons,
			DistinctObjects: tc.Behavior.DistinctObjects, RequestRate: tc.Behavior.Rate},
		Now: tc.Time.Time,
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	if in.Host == "" {
		in.Host = "localhost"
	}
	if len(r.Headers) > 0 {
		in.Header = http.Header{}
		for k, v := range r.Headers {
			in.Header.Set(k, v)
		}
	}
	if len(r.Query) > 0 {
		q := url.Values{}
		for k, v := range r.Query {
			q.Set(k, v)
		}
		in.RawQuery = q.Encode()
	}
	if r.Body != nil {
		body, err := jsonValue(r.Body)
		if err != nil {
			errs = append(errs, pt.Errorf(at+".request.body", "not a JSON value: %v", err))
		}
		in.Body = func() (any, bool) { return body, true }
	}
	if tc.Token != nil {
		p, err := principalOf(tc.Token, cfg)
		if err != nil {
			errs = append(errs, pt.Errorf(at+".token", "%v", err))
		}
		in.Principal = p
	}
	return in, errs
}

// principalOf builds the Principal a verified token with these claims
// yields, with the claim names of the configured issuer it names.
func principalOf(claims map[string]any, cfg *config.Config) (*authz.Principal, error) {
	c := make(map[string]any, len(claims))
	for k, v := range claims {
		switch k {
		case "exp", "nbf", "iat", "auth_time":
			switch t := v.(type) {
			case time.Time:
				v = t.Unix()
			case string:
				if tt, err := time.Parse(time.RFC3339, t); err == nil {
					v = tt.Unix()
				}
			}
		}
		c[k] = v
	}
	v, err := jsonValue(c)
	if err != nil {
		return nil, fmt.Errorf("not JSON claims: %w", err)
	}
	m, _ := v.(map[string]any)
	var clientIDs []string
	var roles string
	for _, j := range cfg.Identity.JWT {
		if iss, _ := m["iss"].(string); iss == j.Issuer {
			clientIDs, roles = j.ClientIDClaims, j.RolesClaim
		}
	}
	p, err := token.PrincipalFromClaims(m, clientIDs, roles)
	if err != nil {
		var te *token.Error
		if errors.As(err, &te) && te.Detail != "" {
			return nil, errors.New(te.Detail)
		}
		return nil, err
	}
	return p, nil
}

// jsonValue is v as encoding/json decodes it (float64 numbers, []any,
// map[string]any), the way the authz stage reads a body and the token
// package a token.
func jsonValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// testGrants answers consent() from the current case's grants, matched
// as the data planes' consent cache matches them. Cases run one after
// another, each setting its own.
type testGrants struct{ grants []consent.Grant }

func (g *testGrants) set(cs []config.PolicyTestConsent) {
	g.grants = g.grants[:0]
	for _, c := range cs {
		gr := consent.Grant{Subject: c.Subject, Grantee: c.Grantee, Scope: c.Scope, Resource: c.Resource}
		if !c.Expires.IsZero() {
			t := c.Expires.Time
			gr.ExpiresAt = &t
		}
		g.grants = append(g.grants, gr)
	}
}

// Granted implements policy.ConsentChecker.
func (g *testGrants) Granted(subject, grantee, scope, resource string, at time.Time) bool {
	for i := range g.grants {
		c := &g.grants[i]
		if c.Subject == subject && c.Grantee == grantee && c.ActiveAt(at) && c.Covers(scope, resource) {
			return true
		}
	}
	return false
}
