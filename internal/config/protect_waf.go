package config

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/endpoint"
)

// WAF configures the Coraza + OWASP CRS stage (internal/waf, docs/waf.md).
//
//	waf:
//	  enabled: true
//	  mode: enforce                  # enforce | monitor
//	  paranoia_level: 1              # 1..4
//	  inbound_anomaly_threshold: 5
//	  outbound_anomaly_threshold: 4
//	  setup: |                       # SecLang after crs-setup, before the CRS rules
//	    SecAction "id:900005,phase:1,nolog,pass,setvar:tx.arg_length=400"
//	  directives: |                  # SecLang after the CRS
//	    SecRule ARGS:coupon "@rx ^DROP" "id:100001,phase:2,deny,status:403,msg:'virtual patch'"
//	  files: [/etc/vigil/patches.conf] # SecLang after the CRS, reloaded on change
//	  patches:
//	    - {id: 100100, endpoint: "POST /coupon", where: json:code, pattern: "^DROP", action: block}
//	  exclusions:
//	    - {endpoint: "POST /comments", rule_ids: [941100], variables: [ARGS:body]}
type WAF struct {
	// Enabled switches the stage on; a waf block without it does nothing.
	Enabled bool `yaml:"enabled"`
	// Mode is enforce (default) or monitor: in monitor mode the WAF blocks
	// nothing and what it would have blocked is a finding with
	// would_block. routes[].modes.waf and protect.stages.waf.mode can
	// also put it in monitor mode on some routes.
	Mode string `yaml:"mode"`
	// ParanoiaLevel is the CRS blocking paranoia level, 1 (default) to 4.
	ParanoiaLevel int `yaml:"paranoia_level"`
	// InboundAnomalyThreshold is the request anomaly score that blocks
	// (CRS default 5: one critical rule).
	InboundAnomalyThreshold int `yaml:"inbound_anomaly_threshold"`
	// OutboundAnomalyThreshold is the response anomaly score that blocks
	// (CRS default 4).
	OutboundAnomalyThreshold int `yaml:"outbound_anomaly_threshold"`
	// Setup is SecLang loaded after the CRS setup and before the CRS
	// rules: tx variables (SecAction setvar:tx....) and exclusions that
	// must run first.
	Setup string `yaml:"setup"`
	// Directives is SecLang loaded after the CRS: virtual patches,
	// custom rules, exclusions by ctl.
	Directives string `yaml:"directives"`
	// Files are SecLang files loaded after Directives. They are watched:
	// a change rebuilds the engine, which replaces the running one only
	// when it compiles.
	Files []string `yaml:"files"`
	// Patches are virtual patches in short form, compiled to SecLang on
	// the same engine.
	Patches []WAFPatch `yaml:"patches"`
	// Exclusions switch CRS rules off for some routes or endpoints.
	Exclusions []WAFExclusion `yaml:"exclusions"`
	// RequestBody inspects request bodies (urlencoded, multipart, JSON,
	// XML) up to listen.limits.max_inspect_bytes. Default true.
	RequestBody *bool `yaml:"request_body"`
	// ResponseBody inspects response bodies (phase 4) up to
	// listen.limits.response_inspect_bytes. Default false.
	ResponseBody bool `yaml:"response_body"`
	// FreeText is how the CRS rules that match vocabulary (command, SQL
	// function, HTML tag, file and host names) score inside JSON string
	// values that read as natural language: score (default: all of them
	// together one warning, so they block only with another rule) or off
	// (the CRS's scores everywhere). See docs/waf.md.
	FreeText string `yaml:"free_text"`
	// TextFields name JSON fields of an endpoint that carry text: the
	// vocabulary rules of free_text skip them (see WAFTextField).
	TextFields []WAFTextField `yaml:"text_fields"`
}

// WAFPatch is a virtual patch: requests to Endpoint whose value at Where
// matches Pattern are blocked (or logged).
type WAFPatch struct {
	// ID is the SecLang rule id (and the finding's rule_id). Keep it out
	// of the CRS range 900000-999999.
	ID int `yaml:"id"`
	// Endpoint is an endpoint template ("POST /coupon",
	// "/cart/{parameter}", "/admin/*"); empty for every request.
	Endpoint string `yaml:"endpoint"`
	// Where is what the pattern is matched against: args (query and
	// body parameters, default), query, body (the raw body), path,
	// header:NAME, cookie:NAME, json:FIELD (a JSON body field, dotted
	// for nested objects: json:order.coupon), arg:NAME (one parameter).
	// Several are separated by commas or |.
	Where string `yaml:"where"`
	// Pattern is a regular expression (RE2).
	Pattern string `yaml:"pattern"`
	// Action is block (default) or log.
	Action string `yaml:"action"`
	// Status answers a block (default 403).
	Status int `yaml:"status"`
	// Message is the finding's message (default "virtual patch <id>").
	Message string `yaml:"message"`
}

// WAFExclusion removes CRS rules, or some variables from rules, on a route
// or an endpoint (both, when both are set).
type WAFExclusion struct {
	// Route is a routes[].name.
	Route string `yaml:"route"`
	// Endpoint is an endpoint template.
	Endpoint string `yaml:"endpoint"`
	// RuleIDs are rule ids or ranges ("942100", "942000-942999").
	RuleIDs []string `yaml:"rule_ids"`
	// Tags remove every rule with one of these tags ("attack-sqli").
	Tags []string `yaml:"tags"`
	// Variables, when set, narrow the exclusion to these variables
	// ("ARGS:comment", "REQUEST_COOKIES:session", "ARGS:json.body"):
	// the rules still run on everything else.
	Variables []string `yaml:"variables"`
}

// WAF defaults.
const (
	DefaultWAFParanoia          = 1
	DefaultWAFInboundAnomaly    = 5
	DefaultWAFOutboundAnomaly   = 4
	wafPath                     = "protect.waf"
	wafCRSFirstID, wafCRSLastID = 900000, 999999
)

// WAFRequestBody reports whether request bodies are inspected.
func (w *WAF) WAFRequestBody() bool { return w.RequestBody == nil || *w.RequestBody }

// WAFPatchWhere lists the targets of a patch's where ("args" when empty).
func WAFPatchWhere(where string) []string {
	if strings.TrimSpace(where) == "" {
		return []string{"args"}
	}
	var out []string
	for _, p := range strings.FieldsFunc(where, func(r rune) bool { return r == ',' || r == '|' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// wafWhereRE checks one where target.
var wafWhereRE = regexp.MustCompile(`^(args|query|body|path|method|(header|cookie|json|arg):[^\s"',|]+)$`)

// wafVariableRE checks an exclusion variable: COLLECTION or COLLECTION:key
// (a /regex/ key is allowed).
var wafVariableRE = regexp.MustCompile(`^[A-Z_]+(:(/[^/]+/|[^\s"',;]+))?$`)

func (c *Config) validateWAF(add addFunc) {
	w := c.Protect.WAF
	if w == nil {
		return
	}
	if w.Mode == "" {
		w.Mode = "enforce"
	}
	if w.Mode != "enforce" && w.Mode != "monitor" {
		add(wafPath+".mode", "%q is not one of enforce, monitor", w.Mode)
	}
	if w.ParanoiaLevel == 0 {
		w.ParanoiaLevel = DefaultWAFParanoia
	}
	if w.ParanoiaLevel < 1 || w.ParanoiaLevel > 4 {
		add(wafPath+".paranoia_level", "%d is not between 1 and 4", w.ParanoiaLevel)
	}
	if w.InboundAnomalyThreshold == 0 {
		w.InboundAnomalyThreshold = DefaultWAFInboundAnomaly
	}
	if w.InboundAnomalyThreshold < 1 {
		add(wafPath+".inbound_anomaly_threshold", "must be at least 1")
	}
	if w.OutboundAnomalyThreshold == 0 {
		w.OutboundAnomalyThreshold = DefaultWAFOutboundAnomaly
	}
	if w.OutboundAnomalyThreshold < 1 {
		add(wafPath+".outbound_anomaly_threshold", "must be at least 1")
	}
	w.validateFreeText(add)
	for i, f := range w.Files {
		if _, err := os.Stat(f); err != nil {
			add(fmt.Sprintf("%s.files[%d]", wafPath, i), "%v", err)
		}
	}
	routes := map[string]bool{}
	for _, r := range c.Routes {
		routes[r.Name] = true
	}
	ids := map[int]int{}
	for i, p := range w.Patches {
		path := fmt.Sprintf("%s.patches[%d]", wafPath, i)
		switch {
		case p.ID <= 0:
			add(path+".id", "required: a positive rule id outside %d-%d", wafCRSFirstID, wafCRSLastID)
		case p.ID >= wafCRSFirstID && p.ID <= wafCRSLastID:
			add(path+".id", "%d is in the CRS range %d-%d; pick another", p.ID, wafCRSFirstID, wafCRSLastID)
		default:
			if j, dup := ids[p.ID]; dup {
				add(path+".id", "duplicate id %d (also patches[%d])", p.ID, j)
			}
			ids[p.ID] = i
		}
		if p.Endpoint != "" {
			if _, err := endpoint.Parse(p.Endpoint); err != nil {
				add(path+".endpoint", "%v", err)
			}
		}
		for _, t := range WAFPatchWhere(p.Where) {
			if !wafWhereRE.MatchString(t) {
				add(path+".where", "%q is not args, query, body, path, method, header:NAME, cookie:NAME, json:FIELD or arg:NAME", t)
			}
		}
		if p.Pattern == "" {
			add(path+".pattern", "required")
		} else if _, err := regexp.Compile(p.Pattern); err != nil {
			add(path+".pattern", "%v", err)
		} else if strings.ContainsAny(p.Pattern, "\"\n\r") {
			add(path+".pattern", "must not contain a double quote or a line break (write \\x22 for a quote)")
		}
		if p.Action == "" {
			w.Patches[i].Action = "block"
		} else if p.Action != "block" && p.Action != "log" {
			add(path+".action", "%q is not one of block, log", p.Action)
		}
		if p.Status != 0 && (p.Status < 400 || p.Status > 599) {
			add(path+".status", "%d is not a 4xx or 5xx status", p.Status)
		}
		if strings.ContainsAny(p.Message, "'\n\r") {
			add(path+".message", "must not contain a single quote or a line break")
		}
	}
	for i, e := range w.Exclusions {
		path := fmt.Sprintf("%s.exclusions[%d]", wafPath, i)
		if e.Route == "" && e.Endpoint == "" {
			add(path, "needs a route or an endpoint (for every request, write the exclusion in setup)")
		}
		if e.Route != "" && !routes[e.Route] {
			add(path+".route", "no route is named %q", e.Route)
		}
		if e.Endpoint != "" {
			if _, err := endpoint.Parse(e.Endpoint); err != nil {
				add(path+".endpoint", "%v", err)
			}
		}
		if len(e.RuleIDs) == 0 && len(e.Tags) == 0 && len(e.Variables) == 0 {
			add(path, "needs rule_ids, tags or variables")
		}
		for j, id := range e.RuleIDs {
			if !validWAFRuleRange(id) {
				add(fmt.Sprintf("%s.rule_ids[%d]", path, j), "%q is not a rule id or a range like 942000-942999", id)
			}
		}
		for j, t := range e.Tags {
			if t == "" || strings.ContainsAny(t, " \t\"',;") {
				add(fmt.Sprintf("%s.tags[%d]", path, j), "%q is not a rule tag", t)
			}
		}
		for j, v := range e.Variables {
			if !wafVariableRE.MatchString(v) {
				add(fmt.Sprintf("%s.variables[%d]", path, j), "%q is not a variable like ARGS:name or REQUEST_HEADERS:user-agent", v)
			}
		}
	}
}

// validWAFRuleRange accepts "942100" and "942000-942999".
func validWAFRuleRange(s string) bool {
	a, b, isRange := strings.Cut(s, "-")
	x, err := strconv.Atoi(a)
	if err != nil || x <= 0 {
		return false
	}
	if !isRange {
		return true
	}
	y, err := strconv.Atoi(b)
	return err == nil && y >= x
}
