// Package authz is the authorization stage: it judges each request with
// the compiled CEL policies (allow_if, deny_if, step_up_if), the
// function-level rules (require_scopes, require_roles, the admin
// default), relationship and consent checks, and the identity's
// behaviour (enumeration of object ids, the anomaly score policies read
// as behavior.anomaly). It runs after the identity stage, whose
// *authz.Principal it reads from the transaction. The policy engine
// lives in internal/authz/policy and the baselines in
// internal/authz/behavior; see README.md and docs/policies.md.
package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/authz/behavior"
	"github.com/vigil-sec/vigil/internal/authz/policy"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Templater names a path's endpoint template ("/orders/{parameter}"), as
// the discovery engine learned it.
type Templater interface {
	Template(path string) string
}

// Deps are the long-lived services the stage reads: they outlive
// reloads.
type Deps struct {
	// Consent answers the consent() policy function (nil: no grant
	// exists).
	Consent policy.ConsentChecker
	// Behavior keeps the per-identity baselines (nil: behaviour off).
	Behavior *behavior.Tracker
	// Templates, when set, names endpoints for enumeration detection.
	Templates Templater
}

// Stage authorizes requests.
type Stage struct {
	eng        *policy.Engine
	beh        *behavior.Tracker
	tmpl       Templater
	enumBlock  bool
	useBehave  bool
	enumThresh int
}

var (
	_ pipeline.Stage      = (*Stage)(nil)
	_ pipeline.Layered    = (*Stage)(nil)
	_ pipeline.BodyReader = (*Stage)(nil)
)

// bodyKey stashes the request's parsed JSON body.
type bodyKey struct{}

// New builds the stage; nil when there are no policies and no identity
// source (nothing to authorize against).
func New(cfg *config.Config, d Deps) (pipeline.Stage, error) {
	id := &cfg.Identity
	if len(cfg.Policies) == 0 && !id.Configured() {
		return nil, nil
	}
	o, err := Options(cfg)
	if err != nil {
		return nil, err
	}
	o.Consent = d.Consent
	eng, err := Compile(cfg, o)
	if err != nil {
		return nil, err
	}
	s := &Stage{eng: eng, tmpl: d.Templates, enumBlock: id.Behavior.Enumeration != "log", enumThresh: id.Behavior.EnumerationThreshold}
	if !id.Behavior.Off && id.Configured() {
		s.beh = d.Behavior
	}
	s.useBehave = s.beh != nil
	return s, nil
}

// Options maps policies[] and identity (tuples, tuples_file, the admin
// default when an identity source is configured) to the policy engine's
// options, as the stage compiles them (Consent is left to the caller).
// `vigil policy test` builds its engine from the same options.
func Options(cfg *config.Config) (policy.Options, error) {
	id := &cfg.Identity
	var o policy.Options
	for _, p := range cfg.Policies {
		o.Rules = append(o.Rules, policy.Rule{
			Name: p.Name,
			Match: policy.Match{Endpoint: p.Match.Endpoint, PathPrefix: p.Match.PathPrefix, Methods: p.Match.Methods,
				Route: p.Match.Route, Host: p.Match.Host},
			AllowIf: p.AllowIf, DenyIf: p.DenyIf, StepUpIf: p.StepUpIf,
			StepUp:        policy.StepUpSpec{ACRValues: p.StepUp.ACRValues, MaxAge: p.StepUp.MaxAge.Duration()},
			RequireScopes: p.RequireScopes, RequireRoles: p.RequireRoles,
		})
	}
	for _, t := range id.Tuples {
		o.Tuples = append(o.Tuples, policy.Tuple{Subject: t.Subject, Relation: t.Relation, Object: t.Object})
	}
	if id.TuplesFile != "" {
		ts, err := policy.LoadTuples(id.TuplesFile)
		if err != nil {
			return o, cfg.Errorf("identity.tuples_file", "%v", err)
		}
		o.Tuples = append(o.Tuples, ts...)
	}
	if !id.AdminDefault.Off && id.Configured() {
		o.AdminDefault = policy.AdminDefault{Patterns: id.AdminDefault.Patterns, RequireRoles: id.AdminDefault.Roles}
	}
	return o, nil
}

// Compile compiles o; each error is located at the policy field that
// does not compile (policies[N].deny_if, with its line in cfg's file),
// the message naming the policy and the line:column in the expression.
func Compile(cfg *config.Config, o policy.Options) (*policy.Engine, error) {
	eng, err := policy.Compile(o)
	if err == nil {
		return eng, nil
	}
	var errs config.Errors
	many, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil, cfg.Errorf("policies", "%v", err)
	}
	for _, e := range many.Unwrap() {
		var ce *policy.CompileError
		if !errors.As(e, &ce) {
			errs = append(errs, cfg.Errorf("policies", "%v", e))
			continue
		}
		errs = append(errs, cfg.Errorf(fmt.Sprintf("policies[%d].%s", ce.Index, ce.Field), "policy %q: %s", ce.Policy, ce.Msg))
	}
	return nil, errs
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "authz" }

// Layer implements pipeline.Layered.
func (s *Stage) Layer() string { return "authz" }

// WantsBody implements pipeline.BodyReader: only when a policy that
// matches the request reads body.
func (s *Stage) WantsBody(tx *pipeline.Txn) bool {
	r := tx.Req
	return r.ContentLength != 0 && s.eng.NeedsBody(r.Method, r.URL.Path)
}

// Request implements pipeline.Stage.
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	r := tx.Req
	p, _ := tx.Stashed(authz.PrincipalKey{}).(*authz.Principal)
	now := tx.Start
	if now.IsZero() {
		now = time.Now()
	}
	in := policy.Input{
		Method: r.Method, Host: r.Host, Path: r.URL.Path, Route: tx.Route,
		Header: r.Header, RawQuery: r.URL.RawQuery,
		Principal: p, SourceIP: tx.ClientIPText, Country: tx.Country,
		Now: now,
	}
	in.Body = func() (any, bool) { return parseBody(tx) }
	var enum *pipeline.Verdict
	if s.useBehave && p != nil {
		who := p.Subject
		if who == "" {
			who = p.ClientID
		}
		ep, obj := s.objectOf(r.Method, r.URL.Path)
		sc := s.beh.Check(behavior.Observation{Identity: who, Endpoint: ep, ObjectID: obj, SourceIP: tx.ClientIP, At: now})
		in.Behavior = policy.Behavior{Anomaly: sc.Anomaly, Reasons: sc.Reasons.Strings(), DistinctObjects: sc.DistinctObjects, RequestRate: sc.RequestRate}
		if sc.Enumeration {
			v := pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Kind: "enumeration",
				RuleID: "authz.enumeration", Severity: "high",
				Message:  who + " touched " + strconv.Itoa(sc.DistinctObjects) + " distinct objects of " + ep + " within the window",
				Variable: "REQUEST_PATH", Data: obj}
			if !s.enumBlock {
				tx.AddFinding(event.Finding{Stage: "authz", Layer: "authz", Kind: v.Kind, RuleID: v.RuleID, Severity: v.Severity, Message: v.Message, Action: "log"})
			} else {
				enum = &v
			}
		}
	}
	if enum != nil {
		return *enum, nil
	}
	dec, err := s.eng.Evaluate(&in)
	if err != nil {
		return pipeline.Continue, err
	}
	switch dec.Action {
	case policy.Deny:
		v := pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Kind: dec.Kind,
			RuleID: dec.Policy, Severity: "high", Message: dec.Reason}
		if p == nil {
			// Nobody to hold to the policy: ask for a credential.
			v.Status = http.StatusUnauthorized
			v.Header = http.Header{"Www-Authenticate": {`Bearer realm="vigil"`}}
		}
		return v, nil
	case policy.StepUp:
		return pipeline.Verdict{Action: pipeline.StepUp, Status: http.StatusUnauthorized, Kind: "step_up",
			RuleID: dec.Policy, Severity: "medium", Message: dec.Reason,
			Header: http.Header{"Www-Authenticate": {Challenge(dec.StepUp)}}}, nil
	}
	return pipeline.Continue, nil
}

// Challenge is the RFC 9470 WWW-Authenticate value for a step-up.
func Challenge(su policy.StepUpSpec) string {
	const head = `Bearer error="insufficient_user_authentication", error_description="a stronger or more recent authentication is required"`
	var b strings.Builder
	b.Grow(len(head) + len(su.ACRValues) + 40)
	b.WriteString(head)
	if su.ACRValues != "" {
		b.WriteString(`, acr_values="`)
		b.WriteString(strings.ReplaceAll(su.ACRValues, `"`, ""))
		b.WriteByte('"')
	}
	if su.MaxAge > 0 {
		b.WriteString(`, max_age="`)
		b.WriteString(strconv.FormatInt(int64(su.MaxAge/time.Second), 10))
		b.WriteByte('"')
	}
	return b.String()
}

// objectOf names the endpoint ("GET /orders/{parameter}") and the object
// id (the value of its last parameter) of a request: from the discovery
// engine's template when it knows one, else from id-looking segments.
func (s *Stage) objectOf(method, path string) (endpoint, object string) {
	if s.tmpl != nil {
		if t := s.tmpl.Template(path); t != "" && t != path && strings.Contains(t, "{") {
			ps, ts := strings.Split(path, "/"), strings.Split(t, "/")
			if len(ps) == len(ts) {
				for i := len(ts) - 1; i >= 0; i-- {
					if strings.HasPrefix(ts[i], "{") {
						return method + " " + t, ps[i]
					}
				}
			}
		}
	}
	segs := strings.Split(path, "/")
	last := -1
	for i, sg := range segs {
		if IDLike(sg) {
			segs[i] = "{id}"
			last = i
		}
	}
	if last < 0 {
		return method + " " + path, ""
	}
	obj := strings.Split(path, "/")[last]
	return method + " " + strings.Join(segs, "/"), obj
}

// IDLike says a path segment looks like an object id: a number, a UUID,
// a long hex or base64url string, or a word with digits in it.
func IDLike(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	digits, letters, other := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters++
		case c == '-' || c == '_' || c == '.':
			other++
		default:
			return false
		}
	}
	if digits == len(s) {
		return true
	}
	if digits == 0 {
		return false // a word: a collection or an action
	}
	// v1, v2: versions, not objects.
	if len(s) <= 3 && (s[0] == 'v' || s[0] == 'V') {
		return false
	}
	return digits >= 2 || len(s) >= 8
}

// parseBody decodes the request body as JSON once per transaction.
func parseBody(tx *pipeline.Txn) (any, bool) {
	if v, ok := tx.Stashed(bodyKey{}).(parsed); ok {
		return v.v, v.ok
	}
	body, truncated := tx.Body()
	var out parsed
	if len(body) > 0 && !truncated {
		out.ok = json.Unmarshal(body, &out.v) == nil
	}
	tx.Stash(bodyKey{}, out)
	return out.v, out.ok
}

type parsed struct {
	v  any
	ok bool
}
