package config

import "fmt"

// addFunc records a validation error at a field path.
type addFunc func(path, format string, args ...any)

// IPRules allows or denies client addresses.
type IPRules struct {
	// Allow, when set, admits only these CIDRs.
	Allow []string `yaml:"allow"`
	// Deny blocks these CIDRs (checked after Allow).
	Deny []string `yaml:"deny"`
}

func (c *Config) validateIPRules(add addFunc) {
	r := c.Protect.IPRules
	if r == nil {
		return
	}
	for i, p := range r.Allow {
		if _, err := ParsePrefix(p); err != nil {
			add(fmt.Sprintf("protect.ip_rules.allow[%d]", i), "%v", err)
		}
	}
	for i, p := range r.Deny {
		if _, err := ParsePrefix(p); err != nil {
			add(fmt.Sprintf("protect.ip_rules.deny[%d]", i), "%v", err)
		}
	}
}
