package egress

import (
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/config"
)

// DefaultRuleID names the decision of transport.egress.default in events.
const DefaultRuleID = "egress.default"

// Rule is a decided egress rule (a configured one, or the default).
type Rule struct {
	Name     string
	Action   string
	Fallback string
	Methods  []string
	// pinned: an intercept rule turned tunnel because a client refused
	// an earlier interception to this host (fallback tunnel).
	pinned bool
}

// allows reports whether an intercepted request's method may go on.
func (r *Rule) allows(method string) bool {
	return len(r.Methods) == 0 || slices.Contains(r.Methods, method)
}

// Rules decide connections: the first rule whose source and destination
// match, else the default.
type Rules struct {
	identity string
	rules    []config.EgressRule
	def      Rule
}

// NewRules compiles the egress rules of cfg.
func NewRules(cfg *config.Config) *Rules {
	e := cfg.Transport.Egress
	def := e.Default
	if def == "" {
		def = config.EgressTunnel
	}
	return &Rules{identity: cfg.SourceIdentity(), rules: e.Rules,
		def: Rule{Name: DefaultRuleID, Action: def, Fallback: config.EgressBlock}}
}

// Decide returns the rule for a connection to host (lower case, no port).
func (rs *Rules) Decide(host string) Rule {
	for _, r := range rs.rules {
		if sourceMatch(r.Source, rs.identity) && hostMatch(r.Destination, host) {
			fb := r.Fallback
			if fb == "" {
				fb = config.EgressBlock
			}
			return Rule{Name: r.Name, Action: r.Action, Fallback: fb, Methods: r.Methods}
		}
	}
	return rs.def
}

// sourceMatch: "" and "*" are any; a pattern ending in /* takes that
// path and below; otherwise the identity must be the pattern. A sidecar
// with no identity matches only any.
func sourceMatch(pattern, id string) bool {
	switch {
	case pattern == "" || pattern == "*":
		return true
	case id == "":
		return false
	}
	if base, ok := strings.CutSuffix(pattern, "/*"); ok {
		return id == base || strings.HasPrefix(id, base+"/")
	}
	return id == pattern
}

// hostMatch: "*" is any host; "*.suffix" any host below suffix (not the
// suffix itself); otherwise equal, ignoring case.
func hostMatch(pattern, host string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		suf := pattern[1:]
		return len(host) > len(suf) && strings.EqualFold(host[len(host)-len(suf):], suf)
	}
	return strings.EqualFold(pattern, host)
}
