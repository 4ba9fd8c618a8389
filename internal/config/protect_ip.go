package config

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vigil-sec/vigil/internal/iprep"
)

// addFunc records a validation error at a field path.
type addFunc func(path, format string, args ...any)

// IPRules is protect.ip_rules, written in either of two shapes:
//
//	ip_rules:                        # a list of rules, first match wins
//	  - {action: deny, cidrs: [203.0.113.0/24]}
//	ip_rules:                        # a mapping
//	  allow: [10.0.0.0/8]            # shorthand: only these are admitted
//	  deny:  [10.6.6.0/24]           # shorthand: these are refused
//	  rules: [{...}, ...]            # rules, as in the list shape
//	  default: allow                 # allow | deny: what no rule matched gets
//	  max_file_bytes: 64MiB          # bound on one list file
//
// The config decoder gives one field one Go kind, so the field holds the
// YAML as it was written; validation resolves it, strictly (unknown keys,
// wrong kinds and bad values are errors naming the field), into an
// *IPRuleSet, stored back in place. Code reads it through ResolveIPRules.
type IPRules any

// IPRuleSet is protect.ip_rules resolved: the rules in evaluation order.
type IPRuleSet struct {
	// Rules are evaluated in order; the first allow or deny rule that
	// matches the client address decides. log rules, and deny rules in
	// monitor mode, record a finding and evaluation goes on.
	Rules []IPRule
	// Default is what an address no rule decided gets: allow or deny.
	Default string
	// DefaultRuleID names a default deny in findings: "ip_rules.allow"
	// for the allow shorthand, "ip:default" otherwise.
	DefaultRuleID string
	// MaxFileBytes bounds one list file (0: iprep.DefaultMaxFileBytes).
	MaxFileBytes int64
	// GeoIPDatabase is protect.geoip.database, for country rules.
	GeoIPDatabase string
	// File and Line locate protect.ip_rules, for errors found later (a list
	// file that does not parse when the stage is built).
	File string
	Line int
}

// IPRule is one rule.
type IPRule struct {
	// Name is the rule id in findings (default "ip:<index>").
	Name string `yaml:"name"`
	// Action: allow (admit, skip the rules after), deny (403), or log
	// (a finding, and go on).
	Action string `yaml:"action"`
	// CIDRs are addresses or CIDRs, IPv4 or IPv6.
	CIDRs []string `yaml:"cidrs"`
	// Files are reputation lists, one address or CIDR per line (see
	// iprep.Parse for the formats), reloaded when they change.
	Files []string `yaml:"files"`
	// Countries are ISO 3166-1 alpha-2 codes, looked up in
	// protect.geoip.database.
	Countries []string `yaml:"countries"`
	// Mode monitor makes a deny rule record what it would block
	// (would_block) and let evaluation go on: enforce (default) | monitor.
	Mode string `yaml:"mode"`
	// Path is the rule's field path, e.g. "protect.ip_rules[2]".
	Path string `yaml:"-"`
}

// ipRulesMapping is the mapping shape of protect.ip_rules.
type ipRulesMapping struct {
	Allow        []string `yaml:"allow"`
	Deny         []string `yaml:"deny"`
	Rules        []IPRule `yaml:"rules"`
	Default      string   `yaml:"default"`
	MaxFileBytes ByteSize `yaml:"max_file_bytes"`
}

// GeoIP is protect.geoip: the MaxMind-format database (GeoLite2-Country,
// GeoIP2-Country or -City) that maps client addresses to countries.
type GeoIP struct {
	Database string `yaml:"database"`
}

const ipRulesPath = "protect.ip_rules"

// ResolveIPRules returns the rule set of protect.ip_rules (nil when it is
// not set). A config from Parse holds it resolved already; one built in
// code may hold an *IPRuleSet, an IPRuleSet, a []IPRule, or YAML-shaped
// values (map[string]any, []any).
func ResolveIPRules(r *IPRules) (*IPRuleSet, error) {
	if r == nil || *r == nil {
		return nil, nil
	}
	switch v := (*r).(type) {
	case *IPRuleSet:
		return v, nil
	case IPRuleSet:
		return &v, nil
	}
	set, errs := resolveIPRules(*r, "")
	if len(errs) > 0 {
		return nil, errs
	}
	*r = set
	return set, nil
}

// resolveIPRules decodes the YAML-shaped value strictly and checks it.
func resolveIPRules(raw any, file string) (*IPRuleSet, Errors) {
	d := &decoder{file: file, lines: map[string]int{}}
	set := &IPRuleSet{File: file}
	var rules []IPRule
	switch v := raw.(type) {
	case []IPRule:
		rules = slices.Clone(v)
		for i := range rules {
			rules[i].Path = fmt.Sprintf("%s[%d]", ipRulesPath, i)
		}
	default:
		var n yaml.Node
		if err := n.Encode(raw); err != nil {
			return nil, Errors{{File: file, Path: ipRulesPath, Msg: err.Error()}}
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			n = *n.Content[0]
		}
		switch n.Kind {
		case yaml.SequenceNode:
			d.decode(&n, reflect.ValueOf(&rules).Elem(), ipRulesPath)
			for i := range rules {
				rules[i].Path = fmt.Sprintf("%s[%d]", ipRulesPath, i)
			}
		case yaml.MappingNode:
			var m ipRulesMapping
			d.decode(&n, reflect.ValueOf(&m).Elem(), ipRulesPath)
			if len(m.Deny) > 0 {
				rules = append(rules, IPRule{Name: "ip_rules.deny", Action: "deny", CIDRs: m.Deny, Path: ipRulesPath + ".deny"})
			}
			if len(m.Allow) > 0 {
				rules = append(rules, IPRule{Name: "ip_rules.allow", Action: "allow", CIDRs: m.Allow, Path: ipRulesPath + ".allow"})
				set.Default, set.DefaultRuleID = "deny", "ip_rules.allow"
			}
			for i, r := range m.Rules {
				r.Path = fmt.Sprintf("%s.rules[%d]", ipRulesPath, i)
				if r.Name == "" {
					r.Name = fmt.Sprintf("ip:%d", i)
				}
				rules = append(rules, r)
			}
			if m.Default != "" {
				set.Default = m.Default
			}
			set.MaxFileBytes = int64(m.MaxFileBytes)
		default:
			return nil, Errors{{File: file, Path: ipRulesPath, Msg: "expected a list of rules or a mapping (allow, deny, rules, default, max_file_bytes), got " + kindName(&n)}}
		}
	}
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	for i := range rules {
		if rules[i].Name == "" {
			rules[i].Name = fmt.Sprintf("ip:%d", i)
		}
	}
	set.Rules = rules
	if set.Default == "" {
		set.Default = "allow"
	}
	if set.DefaultRuleID == "" {
		set.DefaultRuleID = "ip:default"
	}
	return set, nil
}

func (c *Config) validateIPRules(add addFunc) {
	var geo string
	if g := c.Protect.GeoIP; g != nil {
		geo = g.Database
		if geo == "" {
			add("protect.geoip.database", "required")
		} else if _, err := os.Stat(geo); err != nil {
			add("protect.geoip.database", "%v", err)
		}
	}
	r := c.Protect.IPRules
	if r == nil || *r == nil {
		return
	}
	line := c.lines[ipRulesPath]
	// Field paths inside ip_rules point at the ip_rules line.
	at := func(path, format string, args ...any) {
		if _, ok := c.lines[path]; !ok && c.lines != nil {
			c.lines[path] = line
		}
		add(path, format, args...)
	}
	var set *IPRuleSet
	switch v := (*r).(type) {
	case *IPRuleSet:
		set = v
	default:
		var errs Errors
		set, errs = resolveIPRules(v, c.File)
		for _, e := range errs {
			at(e.Path, "%s", e.Msg)
		}
		if set == nil {
			return
		}
	}
	set.File, set.Line, set.GeoIPDatabase = c.File, line, geo
	for _, e := range set.Check() {
		at(e.Path, "%s", e.Msg)
	}
	*r = set
}

// Check reports semantic problems: unknown actions and modes, bad CIDRs
// and country codes, missing files, duplicate names, country rules without
// a database. Paths are field paths; File and Line are the set's.
func (s *IPRuleSet) Check() Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{File: s.File, Line: s.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	oneOf := func(path, v string, allowed ...string) bool {
		if !slices.Contains(allowed, v) {
			add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
			return false
		}
		return true
	}
	oneOf(ipRulesPath+".default", s.Default, "allow", "deny")
	if s.MaxFileBytes < 0 {
		add(ipRulesPath+".max_file_bytes", "must be positive")
	}
	names := map[string]string{}
	for _, r := range s.Rules {
		if r.Action == "" {
			add(r.Path+".action", "required: allow, deny or log")
		} else {
			oneOf(r.Path+".action", r.Action, "allow", "deny", "log")
		}
		if r.Mode != "" && oneOf(r.Path+".mode", r.Mode, "enforce", "monitor") && r.Mode == "monitor" && r.Action != "deny" {
			add(r.Path+".mode", "monitor applies to deny rules (a %s rule never blocks)", r.Action)
		}
		if len(r.CIDRs) == 0 && len(r.Files) == 0 && len(r.Countries) == 0 {
			add(r.Path, "a rule needs cidrs, files or countries (to match every address: cidrs: [0.0.0.0/0, \"::/0\"])")
		}
		if p, ok := names[r.Name]; ok {
			add(r.Path+".name", "%q is already the name of %s", r.Name, p)
		}
		names[r.Name] = r.Path
		for i, p := range r.CIDRs {
			if _, err := iprep.ParsePrefix(p); err != nil {
				add(fmt.Sprintf("%s.cidrs[%d]", r.Path, i), "%v", err)
			}
		}
		if r.Path == ipRulesPath+".deny" || r.Path == ipRulesPath+".allow" {
			// The shorthand lists: errors name the entry in them.
			for i := range errs {
				errs[i].Path = strings.Replace(errs[i].Path, r.Path+".cidrs[", r.Path+"[", 1)
			}
		}
		for i, f := range r.Files {
			if f == "" {
				add(fmt.Sprintf("%s.files[%d]", r.Path, i), "empty path")
			} else if _, err := os.Stat(f); err != nil {
				add(fmt.Sprintf("%s.files[%d]", r.Path, i), "%v", err)
			}
		}
		for i, cc := range r.Countries {
			if _, err := iprep.ParseCountry(cc); err != nil {
				add(fmt.Sprintf("%s.countries[%d]", r.Path, i), "%v", err)
			}
		}
		if len(r.Countries) > 0 && s.GeoIPDatabase == "" {
			add(r.Path+".countries", "country rules need a database: set protect.geoip.database (a GeoLite2-Country.mmdb)")
		}
	}
	return errs
}
