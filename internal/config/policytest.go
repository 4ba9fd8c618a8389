package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/endpoint"
)

// PolicyTests is the file `vigil policy test` reads (see
// docs/policies.md): the policies under test, or a config file to take
// them from, and the test cases. It is decoded as strictly as a config
// (unknown keys and bad values name the field path and line), and its
// policies and identity are validated as a config's are.
//
//	policies:
//	  - name: own-user-record
//	    match: {endpoint: "GET /users/{id}"}
//	    deny_if: 'path.id != token.sub'
//	tests:
//	  - name: a customer reads another's record
//	    request: {method: GET, path: /users/user-18}
//	    token: {sub: user-17}
//	    expect: deny
//	    policy: own-user-record
type PolicyTests struct {
	// Config names a vigil config file whose policies, identity.tuples,
	// identity.tuples_file and identity.admin_default are tested, loaded
	// and validated as `vigil validate` does. A relative path is relative
	// to the test file's directory. Set it, or policies and identity
	// here, not both.
	Config string `yaml:"config"`
	// Identity holds the parts of a config's identity section policies
	// read (tuples_file relative to the test file's directory).
	Identity PolicyTestIdentity `yaml:"identity"`
	// Policies have the schema of the config's policies[].
	Policies []Policy `yaml:"policies"`
	// Tests are the cases, run in order.
	Tests []PolicyTest `yaml:"tests"`

	// File is the path the tests were loaded from (not a YAML key).
	File  string `yaml:"-"`
	lines map[string]int
}

// PolicyTestIdentity is the identity section of a policy test file.
type PolicyTestIdentity struct {
	AdminDefault AdminDefault `yaml:"admin_default"`
	Tuples       []Tuple      `yaml:"tuples"`
	TuplesFile   string       `yaml:"tuples_file"`
}

// PolicyTest is one case: a request, who sends it, and the decision
// expected.
type PolicyTest struct {
	// Name identifies the case in the output (default tests[N]).
	Name    string            `yaml:"name"`
	Request PolicyTestRequest `yaml:"request"`
	// Endpoint is a template ("GET /users/{id}") the request path is
	// built from with PathParams, when request.path is not given; with
	// both, the path must match the template.
	Endpoint   string            `yaml:"endpoint"`
	PathParams map[string]string `yaml:"path_params"`
	// Token is the verified token's claims (absent: an anonymous
	// request). exp, nbf, iat and auth_time may be RFC 3339 times.
	Token    map[string]any     `yaml:"token"`
	Source   PolicyTestSource   `yaml:"source"`
	Behavior PolicyTestBehavior `yaml:"behavior"`
	// Time is the request's time, RFC 3339 (default: now).
	Time Timestamp `yaml:"time"`
	// Consents are the grants the consent() function finds.
	Consents []PolicyTestConsent `yaml:"consents"`
	// Expect is allow, deny or step_up.
	Expect string `yaml:"expect"`
	// Policy, when set, is the name of the policy expected to decide
	// (admin_default for the admin default).
	Policy string `yaml:"policy"`

	method, path string
}

// PolicyTestRequest is the request of a case.
type PolicyTestRequest struct {
	// Method defaults to the endpoint's method, else GET.
	Method  string            `yaml:"method"`
	Path    string            `yaml:"path"`
	Host    string            `yaml:"host"`
	Route   string            `yaml:"route"`
	Headers map[string]string `yaml:"headers"`
	Query   map[string]string `yaml:"query"`
	// Body is the JSON body, written as YAML (a mapping, a list...).
	Body any `yaml:"body"`
}

// PolicyTestSource is what policies read as source.
type PolicyTestSource struct {
	IP         string `yaml:"ip"`
	Country    string `yaml:"country"`
	Workload   string `yaml:"workload"`
	Reputation string `yaml:"reputation"`
}

// PolicyTestBehavior is what policies read as behavior.
type PolicyTestBehavior struct {
	Anomaly         float64  `yaml:"anomaly"`
	Reasons         []string `yaml:"reasons"`
	DistinctObjects int      `yaml:"distinct_objects"`
	Rate            float64  `yaml:"rate"`
}

// PolicyTestConsent is one grant: subject lets grantee use scope on
// resource until expires.
type PolicyTestConsent struct {
	Subject string `yaml:"subject"`
	Grantee string `yaml:"grantee"`
	Scope   string `yaml:"scope"`
	// Resource is a path pattern, as a grant's (consent.Grant): segments
	// compared with path.Match, "**" spanning any number of segments;
	// empty or "**" matches every path.
	Resource string `yaml:"resource"`
	// Expires, when set, ends the grant (RFC 3339).
	Expires Timestamp `yaml:"expires"`
}

// Timestamp is a time YAML gives in RFC 3339 (2026-03-01T14:30:00Z).
type Timestamp struct{ time.Time }

func (t *Timestamp) decodeScalar(s string) error {
	v, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 time (e.g. 2026-03-01T14:30:00Z)", s)
	}
	t.Time = v
	return nil
}

// RequestMethod is the case's method: request.method, else the
// endpoint's, else GET.
func (t *PolicyTest) RequestMethod() string { return t.method }

// RequestPath is the case's path: request.path, else the endpoint
// template with path_params filled in.
func (t *PolicyTest) RequestPath() string { return t.path }

// Line returns the line of a field path in the test file: of the
// nearest enclosing field the file has when the field itself is absent
// (a missing expect is reported at its case), 0 if none.
func (pt *PolicyTests) Line(path string) int {
	for path != "" {
		if l, ok := pt.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// Errorf builds a FieldError located at path in the test file.
func (pt *PolicyTests) Errorf(path, format string, args ...any) *FieldError {
	return &FieldError{File: pt.File, Line: pt.Line(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// LoadPolicyTests reads and validates a policy test file. The Config it
// returns holds the policies under test: the file config: names, loaded
// as vigil loads it, or else one made of the test file's own policies
// and identity, whose errors (Config.Errorf) point into the test file.
// Every problem is reported, as Errors.
func LoadPolicyTests(path string) (*PolicyTests, *Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	pt, err := ParsePolicyTests(data, path)
	if err != nil {
		return nil, nil, err
	}
	if pt.Config == "" {
		return pt, pt.policyConfig(), nil
	}
	cfg, err := Load(pt.Config)
	if err != nil {
		if es, ok := err.(Errors); ok {
			return nil, nil, es
		}
		return nil, nil, Errors{pt.Errorf("config", "%v", err)}
	}
	return pt, cfg, nil
}

// ParsePolicyTests decodes and validates a policy test file's YAML
// (without loading the file config: names). file names the source in
// errors and anchors relative paths.
func ParsePolicyTests(data []byte, file string) (*PolicyTests, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		if err.Error() == "EOF" {
			return nil, Errors{{File: file, Msg: "empty policy test file: give policies (or config) and tests"}}
		}
		if _, perr := Parse(data, file); perr != nil {
			return nil, perr // the same YAML syntax errors as a config
		}
		return nil, Errors{{File: file, Msg: err.Error()}}
	}
	pt := &PolicyTests{File: file}
	d := &decoder{file: file, lines: map[string]int{}}
	d.decode(&root, reflect.ValueOf(pt).Elem(), "")
	pt.lines = d.lines
	errs := d.errs
	for _, e := range pt.validate() {
		if !hasPathPrefix(d.errs, e.Path) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return pt, nil
}

// policyConfig is the test file's own policies and identity as a
// Config, for the code that builds the policy engine from one.
func (pt *PolicyTests) policyConfig() *Config {
	c := &Config{File: pt.File, lines: pt.lines, Policies: pt.Policies,
		Identity: Identity{AdminDefault: pt.Identity.AdminDefault, Tuples: pt.Identity.Tuples, TuplesFile: pt.Identity.TuplesFile}}
	c.applyDefaults()
	// Defaults only: validate has run on the test file.
	c.validateIdentity(func(string, string, ...any) {})
	return c
}

// relative resolves p against the test file's directory.
func (pt *PolicyTests) relative(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(pt.File), p)
}

func (pt *PolicyTests) validate() Errors {
	var errs Errors
	var add addFunc = func(path, format string, args ...any) { errs = append(errs, pt.Errorf(path, format, args...)) }
	pt.Config = pt.relative(pt.Config)
	pt.Identity.TuplesFile = pt.relative(pt.Identity.TuplesFile)
	if pt.Config != "" {
		if len(pt.Policies) > 0 {
			add("policies", "set with config: take the policies from the config file or give them here, not both")
		}
		if _, ok := pt.lines["identity"]; ok {
			add("identity", "set with config: the config file's identity section is used")
		}
		if _, err := os.Stat(pt.Config); err != nil {
			add("config", "%v", err)
		}
	} else {
		// The policies and identity are checked as a config's, with
		// their paths and lines in this file. There are no routes here:
		// match.route is compared with the cases' request.route only.
		c := pt.policyConfig()
		c.validateIdentity(func(path, format string, args ...any) {
			if strings.HasPrefix(path, "policies[") && strings.HasSuffix(path, ".match.route") {
				return
			}
			add(path, format, args...)
		})
	}
	if len(pt.Tests) == 0 {
		add("tests", "no test cases: give a list of {name, request, token, expect}")
	}
	names := map[string]int{}
	for i := range pt.Tests {
		pt.Tests[i].validate(add, fmt.Sprintf("tests[%d]", i), names, i)
	}
	return errs
}

func (t *PolicyTest) validate(add addFunc, p string, names map[string]int, i int) {
	if t.Name == "" {
		t.Name = p
	} else if j, dup := names[t.Name]; dup {
		add(p+".name", "duplicate test name %q (also tests[%d])", t.Name, j)
	}
	names[t.Name] = i
	switch t.Expect {
	case "allow", "deny", "step_up":
	case "":
		add(p+".expect", "required: allow, deny or step_up")
	default:
		add(p+".expect", "%q is not allow, deny or step_up", t.Expect)
	}
	r := &t.Request
	if r.Method != "" && (strings.ToUpper(r.Method) != r.Method || strings.ContainsAny(r.Method, " /")) {
		add(p+".request.method", "%q is not an upper-case HTTP method", r.Method)
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		add(p+".request.path", "%q must start with /", r.Path)
	}
	t.method, t.path = r.Method, r.Path
	if t.Endpoint == "" {
		if r.Path == "" {
			add(p+".request.path", "required (or endpoint with path_params)")
		}
		if len(t.PathParams) > 0 {
			add(p+".path_params", "set without endpoint")
		}
	} else if tmpl, err := endpoint.Parse(t.Endpoint); err != nil {
		add(p+".endpoint", "%v", err)
	} else {
		if tmpl.Method != "" {
			if r.Method != "" && r.Method != tmpl.Method && !(tmpl.Method == "GET" && r.Method == "HEAD") {
				add(p+".request.method", "%s, but the endpoint is %s", r.Method, tmpl.String())
			}
			if t.method == "" {
				t.method = tmpl.Method
			}
		}
		if t.path == "" {
			t.path = fill(add, p, tmpl.Path, t.PathParams)
		} else {
			m := t.method
			if m == "" {
				m = "GET"
			}
			if !tmpl.Match(m, t.path) {
				add(p+".request.path", "%q does not match the endpoint %s", t.path, tmpl.String())
			} else if ps := tmpl.Params(m, t.path); len(t.PathParams) > 0 {
				for k, v := range t.PathParams {
					if ps[k] != v {
						add(p+".path_params."+k, "%q, but request.path %s gives %q", v, t.path, ps[k])
					}
				}
			}
		}
	}
	if t.method == "" {
		t.method = "GET"
	}
	if s := t.Source.IP; s != "" {
		if _, err := netip.ParseAddr(s); err != nil {
			add(p+".source.ip", "%q is not an IP address", s)
		}
	}
	if a := t.Behavior.Anomaly; a < 0 || a > 1 {
		add(p+".behavior.anomaly", "%v is not between 0 and 1", a)
	}
	if t.Behavior.DistinctObjects < 0 || t.Behavior.Rate < 0 {
		add(p+".behavior", "distinct_objects and rate must not be negative")
	}
	for j, c := range t.Consents {
		g := consent.Grant{Subject: c.Subject, Grantee: c.Grantee, Scope: c.Scope, Resource: c.Resource}
		if err := g.Validate(); err != nil {
			add(fmt.Sprintf("%s.consents[%d]", p, j), "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
	}
}

// fill builds a path from a template path and its parameters.
func fill(add addFunc, p, tmpl string, params map[string]string) string {
	segs := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
	used := map[string]bool{}
	for i, s := range segs {
		switch {
		case len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}':
			name := s[1 : len(s)-1]
			v, ok := params[name]
			if !ok || v == "" || strings.Contains(v, "/") {
				add(p+".path_params", "needs %s (a non-empty segment) for the endpoint %s, or give request.path", name, tmpl)
				continue
			}
			segs[i] = v
			used[name] = true
		case s == "*":
			add(p+".request.path", "required: the endpoint %s ends in *", tmpl)
		}
	}
	for k := range params {
		if !used[k] {
			add(p+".path_params."+k, "the endpoint %s has no parameter {%s}", tmpl, k)
		}
	}
	return "/" + strings.Join(segs, "/")
}
