// Package policy compiles and evaluates Vigil's authorization policies:
// CEL expressions (allow_if, deny_if, step_up_if) per endpoint template,
// path prefix, route or host, function-level rules (require_scopes,
// require_roles, the admin default), relationship tuples and consent.
// Programs are compiled once, when the configuration loads, with a cost
// limit; evaluation reads the request through a lazy activation, so a
// policy that never mentions the body never has it parsed. See
// docs/policies.md.
package policy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/endpoint"
)

// Action is a policy decision.
type Action uint8

// Decisions, in increasing order of severity.
const (
	Allow Action = iota
	StepUpAction
	Deny
)

// StepUp is the StepUpAction spelled for callers that switch on it.
const StepUp = StepUpAction

// Match selects the requests a rule judges; every field set must match.
type Match struct {
	// Endpoint is "METHOD /tmpl/{name}" or "/tmpl/{name}" (any method).
	Endpoint   string
	PathPrefix string
	Methods    []string
	Route      string
	// Host is an exact host, "*.suffix" or "*" (the port is ignored).
	Host string
}

// StepUpSpec is what a step-up asks for (RFC 9470).
type StepUpSpec struct {
	// ACRValues are space-separated values; a token whose acr is one of
	// them, or whose amr holds one, satisfies it.
	ACRValues string
	// MaxAge bounds the time since auth_time.
	MaxAge time.Duration
}

// Rule is one named policy.
type Rule struct {
	Name                      string
	Match                     Match
	AllowIf, DenyIf, StepUpIf string
	StepUp                    StepUpSpec
	// RequireScopes and RequireRoles: the principal must hold every one.
	RequireScopes, RequireRoles []string
}

// Tuple is a relationship: Subject has Relation to Object.
type Tuple struct{ Subject, Relation, Object string }

// ConsentChecker answers consent(): has subject granted grantee scope on
// resource, valid at the given time?
type ConsentChecker interface {
	Granted(subject, grantee, scope, resource string, at time.Time) bool
}

// AdminDefault requires roles on admin-looking paths no rule matches.
type AdminDefault struct {
	// Patterns are path segments that look administrative (admin,
	// internal...), compared case-insensitively.
	Patterns []string
	// RequireRoles: the principal needs one of them.
	RequireRoles []string
}

// Options configure Compile.
type Options struct {
	Rules   []Rule
	Tuples  []Tuple
	Consent ConsentChecker
	// AdminDefault applies when Patterns is not empty.
	AdminDefault AdminDefault
	// CostLimit bounds one expression's evaluation (default 10000).
	CostLimit uint64
}

// Behavior is what the behaviour baselines say of the caller.
type Behavior struct {
	Anomaly         float64
	Reasons         []string
	DistinctObjects int
	RequestRate     float64
}

// Input is one request as policies see it.
type Input struct {
	Method, Host, Path, Route string
	Header                    http.Header
	RawQuery                  string
	// Body returns the parsed JSON body (called only when a policy reads
	// body, at most once).
	Body      func() (any, bool)
	Principal *authz.Principal
	SourceIP  string
	Country   string
	Workload  string
	// Reputation is "" or the name of the reputation list the address is
	// on.
	Reputation string
	Behavior   Behavior
	Now        time.Time
}

// Decision is the outcome of Evaluate.
type Decision struct {
	Action Action
	// Policy is the deciding rule's name ("admin_default" for the
	// default).
	Policy string
	Reason string
	// Kind is bola, bfla, consent, step_up or policy.
	Kind   string
	StepUp StepUpSpec
}

// MaxExpressionBytes bounds one expression's source.
const MaxExpressionBytes = 4096

type program struct {
	prg cel.Program
	src string
	// refs are the variables and function overloads the checked
	// expression refers to (not words in its text: "x-body" in a string
	// is not body).
	refs map[string]bool
	body bool
}

type rule struct {
	Rule
	tmpl *endpoint.Template
	// params maps each of tmpl's parameter names to its segment index.
	params   map[string]int
	methods  []string
	allow    *program
	deny     *program
	stepUp   *program
	kind     string
	needBody bool
	// The reasons of its decisions, built once.
	denyReason, allowReason, stepUpReason string
}

// Engine evaluates compiled rules. It is safe for concurrent use.
type Engine struct {
	rules   []rule
	tuples  map[string]struct{}
	consent ConsentChecker
	admin   AdminDefault
	adapter types.Adapter
	// adminReason is the admin default's reason, built once.
	adminReason string
}

// CompileError is one rule field that does not compile. Compile returns
// them joined (errors.Join); errors.As finds the first.
type CompileError struct {
	// Index is the rule's position in Options.Rules; Policy its name.
	Index  int
	Policy string
	// Field is the rule field at fault: allow_if, deny_if, step_up_if or
	// match.endpoint.
	Field string
	// Msg says what is wrong; for an expression, as "line:column:
	// message" (the position within the expression, from 1), several
	// joined with "; ".
	Msg string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("policies[%d] %q: %s: %s", e.Index, e.Policy, e.Field, e.Msg)
}

// Compile checks and compiles every rule. Each error is a *CompileError
// naming the rule, the field and the line:column in the expression.
func Compile(o Options) (*Engine, error) {
	e := &Engine{tuples: map[string]struct{}{}, consent: o.Consent, admin: o.AdminDefault}
	for _, t := range o.Tuples {
		e.tuples[tupleKey(t.Subject, t.Relation, t.Object)] = struct{}{}
	}
	env, err := e.env()
	if err != nil {
		return nil, err
	}
	e.adapter = env.CELTypeAdapter()
	e.adminReason = "an administrative function needs one of the roles " + strings.Join(e.admin.RequireRoles, ", ")
	limit := o.CostLimit
	if limit == 0 {
		limit = 10000
	}
	var errs []error
	for i, r := range o.Rules {
		cr := rule{Rule: r}
		fail := func(field string, err error) {
			errs = append(errs, &CompileError{Index: i, Policy: r.Name, Field: field, Msg: err.Error()})
		}
		if r.Match.Endpoint != "" {
			t, err := endpoint.Parse(r.Match.Endpoint)
			if err != nil {
				fail("match.endpoint", err)
				continue
			}
			cr.tmpl = &t
			cr.params = paramIndexes(t.Path)
		}
		for _, m := range r.Match.Methods {
			cr.methods = append(cr.methods, strings.ToUpper(m))
		}
		for _, f := range []struct {
			name string
			src  string
			dst  **program
		}{{"allow_if", r.AllowIf, &cr.allow}, {"deny_if", r.DenyIf, &cr.deny}, {"step_up_if", r.StepUpIf, &cr.stepUp}} {
			if f.src == "" {
				continue
			}
			p, err := compile(env, f.src, limit)
			if err != nil {
				fail(f.name, err)
				continue
			}
			*f.dst = p
			cr.needBody = cr.needBody || p.body
		}
		cr.kind = kindOf(&cr)
		cr.denyReason = "denied by " + r.Name
		cr.allowReason = "not allowed by " + r.Name
		cr.stepUpReason = r.Name + " asks for a stronger authentication"
		e.rules = append(e.rules, cr)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

// paramIndexes maps the {name} segments of a template path to their
// index among the path's segments.
func paramIndexes(path string) map[string]int {
	var m map[string]int
	for i, seg := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' {
			if m == nil {
				m = map[string]int{}
			}
			m[seg[1:len(seg)-1]] = i
		}
	}
	return m
}

// segment returns the i-th segment of path (without the leading /).
func segment(path string, i int) (string, bool) {
	rest := strings.TrimPrefix(path, "/")
	for ; i > 0; i-- {
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return "", false
		}
		rest = rest[j+1:]
	}
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rest, rest != ""
}

// kindOf names what a rule's denials are: consent (it asks consent()),
// bola (it reads path parameters or relation()), bfla (roles or scopes),
// else policy.
func kindOf(r *rule) string {
	srcs := r.AllowIf + "\n" + r.DenyIf
	refers := func(name string) bool {
		return (r.allow != nil && r.allow.refs[name]) || (r.deny != nil && r.deny.refs[name])
	}
	switch {
	case refers(consentOverload):
		return "consent"
	case refers("path") || refers(relationOverload):
		return "bola"
	case len(r.RequireRoles) > 0 || len(r.RequireScopes) > 0 || strings.Contains(srcs, "roles") || strings.Contains(srcs, "scope"):
		return "bfla"
	}
	return "policy"
}

func compile(env *cel.Env, src string, limit uint64) (*program, error) {
	if len(src) > MaxExpressionBytes {
		return nil, fmt.Errorf("expression of %d bytes (at most %d)", len(src), MaxExpressionBytes)
	}
	a, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			loc := e.Location
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", loc.Line(), loc.Column()+1, e.Message))
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	if t := a.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, fmt.Errorf("1:1: the expression is %s, not a bool", t)
	}
	prg, err := env.Program(a, cel.CostLimit(limit), cel.InterruptCheckFrequency(100), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	refs := map[string]bool{}
	for _, r := range a.NativeRep().ReferenceMap() {
		if r.Name != "" {
			refs[r.Name] = true
		}
		for _, o := range r.OverloadIDs {
			refs[o] = true
		}
	}
	return &program{prg: prg, src: src, refs: refs, body: refs["body"]}, nil
}

// Overload ids of the functions kindOf looks for.
const (
	relationOverload = "relation_string_string_string"
	consentOverload  = "_consent_5"
)

// env declares the variables and functions policies may use.
func (e *Engine) env() (*cel.Env, error) {
	mapSD := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.Variable("request", mapSD),
		cel.Variable("path", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("body", cel.DynType),
		cel.Variable("token", mapSD),
		cel.Variable("source", mapSD),
		cel.Variable("behavior", mapSD),
		cel.Variable("time", cel.TimestampType),
		cel.Variable("_grantee", cel.StringType),
		cel.Function("relation",
			cel.Overload(relationOverload, []*cel.Type{cel.StringType, cel.StringType, cel.StringType}, cel.BoolType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					s, _ := args[0].Value().(string)
					r, _ := args[1].Value().(string)
					o, _ := args[2].Value().(string)
					_, ok := e.tuples[tupleKey(s, r, o)]
					return types.Bool(ok)
				}))),
		// consent(subject, scope) is a macro for
		// _consent(subject, scope, _grantee, request.path, time): the
		// grantee, resource and time come from the request.
		cel.Macros(cel.GlobalMacro("consent", 2, func(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *cel.Error) {
			return eh.NewCall("_consent", args[0], args[1], eh.NewIdent("_grantee"),
				eh.NewSelect(eh.NewIdent("request"), "path"), eh.NewIdent("time")), nil
		})),
		cel.Function("_consent",
			cel.Overload(consentOverload, []*cel.Type{cel.StringType, cel.StringType, cel.StringType, cel.DynType, cel.TimestampType}, cel.BoolType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					if e.consent == nil {
						return types.False
					}
					subject, _ := args[0].Value().(string)
					scope, _ := args[1].Value().(string)
					grantee, _ := args[2].Value().(string)
					resource, _ := args[3].Value().(string)
					at, _ := args[4].Value().(time.Time)
					if subject == "" || grantee == "" {
						return types.False
					}
					return types.Bool(e.consent.Granted(subject, grantee, scope, resource, at))
				}))),
		cel.Function("ip_in",
			cel.Overload("ip_in_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					ip, _ := a.Value().(string)
					cidr, _ := b.Value().(string)
					return types.Bool(ipIn(ip, cidr))
				}))),
	)
}

func tupleKey(s, r, o string) string { return s + "\x00" + r + "\x00" + o }

// NeedsBody says a rule that matches method and path reads body.
func (e *Engine) NeedsBody(method, path string) bool {
	for i := range e.rules {
		r := &e.rules[i]
		if r.needBody && r.matchesPath(method, path) {
			return true
		}
	}
	return false
}

func (r *rule) matchesPath(method, path string) bool {
	if r.tmpl != nil && !r.tmpl.Match(method, path) {
		return false
	}
	if r.Match.PathPrefix != "" && !strings.HasPrefix(path, r.Match.PathPrefix) {
		return false
	}
	if len(r.methods) > 0 && !slices.Contains(r.methods, method) {
		return false
	}
	return true
}

func (r *rule) matches(in *Input) bool {
	if !r.matchesPath(in.Method, in.Path) {
		return false
	}
	if r.Match.Route != "" && r.Match.Route != in.Route {
		return false
	}
	if h := r.Match.Host; h != "" && h != "*" {
		host := in.Host
		if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
			host = host[:i]
		}
		if suf, ok := strings.CutPrefix(h, "*."); ok {
			// Any case, as host names are compared.
			if len(host) <= len(suf) || host[len(host)-len(suf)-1] != '.' || !strings.EqualFold(host[len(host)-len(suf):], suf) {
				return false
			}
		} else if !strings.EqualFold(host, h) {
			return false
		}
	}
	return true
}

// Evaluate judges a request. Every matching rule is evaluated in order:
// a failed requirement, a true deny_if or a false allow_if denies at once
// (the rule names the decision); a true step_up_if asks for a step-up
// unless the principal already meets it, and a later deny still wins. An
// expression that cannot be evaluated (a missing claim, a cost overrun, a
// value of the wrong type) counts against the request, fail-closed:
// allow_if and deny_if deny, step_up_if steps up; the reason carries the
// evaluation error. A request no rule matches and whose path looks
// administrative needs one of AdminDefault's roles. The error is always
// nil today; it is kept for checkers that may fail.
func (e *Engine) Evaluate(in *Input) (Decision, error) {
	// The activation is allocated once a rule matches: a request no rule
	// matches costs no allocation.
	var a *activation
	var up *rule
	var upErr error
	matched := false
	for i := range e.rules {
		r := &e.rules[i]
		if !r.matches(in) {
			continue
		}
		matched = true
		if d, ok := requirements(r, in.Principal); !ok {
			return d, nil
		}
		if r.deny == nil && r.allow == nil && (r.stepUp == nil || up != nil) {
			continue
		}
		if a == nil {
			a = &activation{in: *in, e: e}
		}
		a.setRule(r)
		if r.deny != nil {
			v, err := a.eval(r.deny)
			if err != nil || v {
				return deny(r, r.denyReason, err), nil
			}
		}
		if r.allow != nil {
			v, err := a.eval(r.allow)
			if err != nil || !v {
				return deny(r, r.allowReason, err), nil
			}
		}
		if r.stepUp != nil && up == nil {
			v, err := a.eval(r.stepUp)
			if (err != nil || v) && !satisfies(in.Principal, r.StepUp, in.Now) {
				up, upErr = r, err
			}
		}
	}
	if up != nil {
		reason := up.stepUpReason
		if upErr != nil {
			reason += " (evaluation error: " + upErr.Error() + ")"
		}
		return Decision{Action: StepUpAction, Policy: up.Name, Kind: "step_up", StepUp: up.StepUp, Reason: reason}, nil
	}
	if !matched && len(e.admin.Patterns) > 0 && adminLooking(in.Path, e.admin.Patterns) {
		if in.Principal == nil || !slices.ContainsFunc(e.admin.RequireRoles, func(r string) bool { return slices.Contains(in.Principal.Roles, r) }) {
			return Decision{Action: Deny, Policy: "admin_default", Kind: "bfla", Reason: e.adminReason}, nil
		}
	}
	return Decision{}, nil
}

func deny(r *rule, reason string, err error) Decision {
	if err != nil {
		reason += " (evaluation error: " + err.Error() + ")"
	}
	return Decision{Action: Deny, Policy: r.Name, Kind: r.kind, Reason: reason}
}

func requirements(r *rule, p *authz.Principal) (Decision, bool) {
	if len(r.RequireScopes) == 0 && len(r.RequireRoles) == 0 {
		return Decision{}, true
	}
	for _, s := range r.RequireScopes {
		if p == nil || !slices.Contains(p.Scopes, s) {
			return Decision{Action: Deny, Policy: r.Name, Kind: "bfla", Reason: r.Name + " requires scope " + s}, false
		}
	}
	for _, s := range r.RequireRoles {
		if p == nil || !slices.Contains(p.Roles, s) {
			return Decision{Action: Deny, Policy: r.Name, Kind: "bfla", Reason: r.Name + " requires role " + s}, false
		}
	}
	return Decision{}, true
}

// satisfies says p already meets the step-up: acr (or an amr value) is
// one of ACRValues, and auth_time is within MaxAge.
func satisfies(p *authz.Principal, su StepUpSpec, now time.Time) bool {
	if p == nil {
		return false
	}
	if vals := strings.Fields(su.ACRValues); len(vals) > 0 {
		if !slices.Contains(vals, p.ACR) && !slices.ContainsFunc(p.AMR, func(m string) bool { return slices.Contains(vals, m) }) {
			return false
		}
	}
	if su.MaxAge > 0 {
		if now.IsZero() {
			now = time.Now()
		}
		if p.AuthTime.IsZero() || now.Sub(p.AuthTime) > su.MaxAge {
			return false
		}
	}
	return true
}

func adminLooking(path string, patterns []string) bool {
	for seg := range strings.SplitSeq(strings.Trim(path, "/"), "/") {
		for _, p := range patterns {
			if strings.EqualFold(seg, p) {
				return true
			}
		}
	}
	return false
}

// activation resolves policy variables lazily, once per request. token
// and path are views that look a key up when an expression reads it;
// the other variables are built on first use.
type activation struct {
	in       Input
	e        *Engine
	path     pathView
	token    tokenMap
	tokenSet bool
	request  map[string]any
	source   map[string]any
	behavior map[string]any
	body     any
	bodyDone bool
}

var _ interpreter.Activation = (*activation)(nil)

// setRule points path at r's template parameters.
func (a *activation) setRule(r *rule) {
	a.path = pathView{view: view{adapter: a.e.adapter}, r: r, method: a.in.Method, path: a.in.Path}
}

func (a *activation) eval(p *program) (bool, error) {
	out, _, err := p.prg.Eval(a)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the expression gave %v, not a bool", out.Value())
	}
	return b, nil
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	in := &a.in
	switch name {
	case "path":
		return &a.path, true
	case "token":
		if !a.tokenSet {
			a.token, a.tokenSet = tokenMap{view: view{adapter: a.e.adapter}, p: in.Principal}, true
		}
		return &a.token, true
	case "request":
		if a.request == nil {
			h := make(map[string]string, len(in.Header))
			for k, v := range in.Header {
				if len(v) > 0 {
					h[strings.ToLower(k)] = v[0]
				}
			}
			q := map[string]string{}
			if in.RawQuery != "" {
				vs, _ := url.ParseQuery(in.RawQuery)
				for k, v := range vs {
					q[k] = v[0]
				}
			}
			a.request = map[string]any{"method": in.Method, "host": in.Host, "path": in.Path, "route": in.Route, "headers": h, "query": q}
		}
		return a.request, true
	case "body":
		if !a.bodyDone {
			a.bodyDone = true
			if in.Body != nil {
				if v, ok := in.Body(); ok {
					a.body = v
				}
			}
			if a.body == nil {
				a.body = map[string]any{}
			}
		}
		return a.body, true
	case "source":
		if a.source == nil {
			a.source = map[string]any{"ip": in.SourceIP, "country": in.Country, "workload": in.Workload, "reputation": in.Reputation}
		}
		return a.source, true
	case "behavior":
		if a.behavior == nil {
			reasons := in.Behavior.Reasons
			if reasons == nil {
				reasons = []string{}
			}
			a.behavior = map[string]any{"anomaly": in.Behavior.Anomaly, "reasons": reasons,
				"distinct_objects": int64(in.Behavior.DistinctObjects), "rate": in.Behavior.RequestRate}
		}
		return a.behavior, true
	case "time":
		if in.Now.IsZero() {
			in.Now = time.Now()
		}
		return in.Now, true
	case "_grantee":
		if p := in.Principal; p != nil {
			if p.ClientID != "" {
				return p.ClientID, true
			}
			return p.Subject, true
		}
		return "", true
	}
	return nil, false
}

// view is a CEL map whose keys are looked up one at a time (the
// interpreter's FindStringKey fast path serves token.sub and path.id
// without building anything); every other map operation (iteration,
// size, equality, a computed key) works on the whole map, built on first
// need.
type view struct {
	adapter types.Adapter
	full    traits.Mapper
}

// tokenMap is the token variable: the principal's claims, with the list
// claims policies test membership in (roles, amr, scopes) always present
// and sub and client_id from the principal (see tokenView).
type tokenMap struct {
	view
	p *authz.Principal
}

// FindStringKey implements the interpreter's string-key fast path. A
// string is returned as a CEL value already: one conversion fewer.
func (t *tokenMap) FindStringKey(k string) (any, bool) {
	v, ok := tokenClaim(t.p, k)
	if s, isStr := v.(string); isStr {
		return types.String(s), ok
	}
	return v, ok
}

func (t *tokenMap) m() traits.Mapper {
	if t.full == nil {
		t.full = types.NewStringInterfaceMap(t.adapter, tokenView(t.p))
	}
	return t.full
}

// pathView is the path variable: the matching rule's template
// parameters, read from the request path.
type pathView struct {
	view
	r            *rule
	method, path string
}

// FindStringKey implements the interpreter's string-key fast path.
func (p *pathView) FindStringKey(k string) (any, bool) {
	i, ok := p.r.params[k]
	if !ok {
		return nil, false
	}
	s, ok := segment(p.path, i)
	if !ok {
		return nil, false
	}
	return types.String(s), true
}

func (p *pathView) m() traits.Mapper {
	if p.full == nil {
		m := make(map[string]any, len(p.r.params))
		for k := range p.r.params {
			if v, ok := p.FindStringKey(k); ok {
				m[k] = v
			}
		}
		p.full = types.NewStringInterfaceMap(p.adapter, m)
	}
	return p.full
}

// ConvertToNative implements ref.Val.
func (t *tokenMap) ConvertToNative(d reflect.Type) (any, error) { return t.m().ConvertToNative(d) }

// ConvertToType implements ref.Val.
func (t *tokenMap) ConvertToType(typ ref.Type) ref.Val { return t.m().ConvertToType(typ) }

// Equal implements ref.Val.
func (t *tokenMap) Equal(o ref.Val) ref.Val { return t.m().Equal(o) }

// Type implements ref.Val.
func (t *tokenMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (t *tokenMap) Value() any { return t.m().Value() }

// Contains implements traits.Container.
func (t *tokenMap) Contains(k ref.Val) ref.Val {
	if s, ok := k.(types.String); ok {
		_, found := t.FindStringKey(string(s))
		return types.Bool(found)
	}
	return t.m().Contains(k)
}

// Get implements traits.Indexer.
func (t *tokenMap) Get(k ref.Val) ref.Val {
	if s, ok := k.(types.String); ok {
		if v, found := t.FindStringKey(string(s)); found {
			return t.adapter.NativeToValue(v)
		}
	}
	return t.m().Get(k)
}

// Find implements traits.Mapper.
func (t *tokenMap) Find(k ref.Val) (ref.Val, bool) {
	if s, ok := k.(types.String); ok {
		if v, found := t.FindStringKey(string(s)); found {
			return t.adapter.NativeToValue(v), true
		}
		return nil, false
	}
	return t.m().Find(k)
}

// Iterator implements traits.Iterable.
func (t *tokenMap) Iterator() traits.Iterator { return t.m().Iterator() }

// Size implements traits.Sizer.
func (t *tokenMap) Size() ref.Val { return t.m().Size() }

// ConvertToNative implements ref.Val.
func (p *pathView) ConvertToNative(d reflect.Type) (any, error) { return p.m().ConvertToNative(d) }

// ConvertToType implements ref.Val.
func (p *pathView) ConvertToType(typ ref.Type) ref.Val { return p.m().ConvertToType(typ) }

// Equal implements ref.Val.
func (p *pathView) Equal(o ref.Val) ref.Val { return p.m().Equal(o) }

// Type implements ref.Val.
func (p *pathView) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (p *pathView) Value() any { return p.m().Value() }

// Contains implements traits.Container.
func (p *pathView) Contains(k ref.Val) ref.Val {
	if s, ok := k.(types.String); ok {
		_, found := p.FindStringKey(string(s))
		return types.Bool(found)
	}
	return p.m().Contains(k)
}

// Get implements traits.Indexer.
func (p *pathView) Get(k ref.Val) ref.Val {
	if s, ok := k.(types.String); ok {
		if v, found := p.FindStringKey(string(s)); found {
			return p.adapter.NativeToValue(v)
		}
	}
	return p.m().Get(k)
}

// Find implements traits.Mapper.
func (p *pathView) Find(k ref.Val) (ref.Val, bool) {
	if s, ok := k.(types.String); ok {
		if v, found := p.FindStringKey(string(s)); found {
			return p.adapter.NativeToValue(v), true
		}
		return nil, false
	}
	return p.m().Find(k)
}

// Iterator implements traits.Iterable.
func (p *pathView) Iterator() traits.Iterator { return p.m().Iterator() }

// Size implements traits.Sizer.
func (p *pathView) Size() ref.Val { return p.m().Size() }

var (
	_ traits.Mapper = (*tokenMap)(nil)
	_ traits.Mapper = (*pathView)(nil)
)

// tokenClaim is one key of tokenView(p), without building the map.
func tokenClaim(p *authz.Principal, k string) (any, bool) {
	if p == nil {
		switch k {
		case "roles", "amr", "scopes":
			return []string{}, true
		}
		return nil, false
	}
	v, ok := p.Claims[k]
	switch k {
	case "sub":
		if !ok && p.Subject != "" {
			return p.Subject, true
		}
	case "roles":
		if !ok || p.Roles != nil {
			return nonNil(p.Roles), true
		}
	case "amr":
		if !ok {
			return nonNil(p.AMR), true
		}
	case "scopes":
		return nonNil(p.Scopes), true
	case "client_id":
		if p.ClientID != "" {
			return p.ClientID, true
		}
	}
	return v, ok
}

// tokenView is the principal's claims with the list claims policies test
// membership in (roles, amr, scopes) always present.
func tokenView(p *authz.Principal) map[string]any {
	if p == nil {
		return map[string]any{"roles": []string{}, "amr": []string{}, "scopes": []string{}}
	}
	m := make(map[string]any, len(p.Claims)+4)
	for k, v := range p.Claims {
		m[k] = v
	}
	if _, ok := m["sub"]; !ok && p.Subject != "" {
		m["sub"] = p.Subject
	}
	if _, ok := m["roles"]; !ok || p.Roles != nil {
		m["roles"] = nonNil(p.Roles)
	}
	if _, ok := m["amr"]; !ok {
		m["amr"] = nonNil(p.AMR)
	}
	m["scopes"] = nonNil(p.Scopes)
	if p.ClientID != "" {
		m["client_id"] = p.ClientID
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
