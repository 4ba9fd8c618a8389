package config

import (
	"fmt"
	"os"
	"strings"
)

// OpenAPIEnforce validates traffic against loaded OpenAPI specs
// (internal/apispec, stage openapi).
type OpenAPIEnforce struct {
	// Specs are OpenAPI 3.0 or 3.1 files (JSON or YAML) or http(s) URLs.
	Specs []string `yaml:"specs"`
	// Requests: enforce (default; a violation is answered 400), monitor
	// (findings only) or off.
	Requests string `yaml:"requests"`
	// Responses: monitor (default: findings only), enforce (fields the spec
	// does not declare are stripped from the body) or off.
	Responses string `yaml:"responses"`
	// Undocumented: allow (default; a finding) or block (404, or 405 when
	// the path exists with other methods) for operations no spec lists.
	Undocumented string `yaml:"undocumented"`
	// MaxFindings caps the findings one request records (default 8).
	MaxFindings int `yaml:"max_findings"`
}

func (c *Config) validateOpenAPI(add addFunc) {
	o := c.Protect.OpenAPI
	if o == nil {
		return
	}
	if o.Requests == "" {
		o.Requests = "enforce"
	}
	if o.Responses == "" {
		o.Responses = "monitor"
	}
	if o.Undocumented == "" {
		o.Undocumented = "allow"
	}
	if o.MaxFindings == 0 {
		o.MaxFindings = 8
	}
	check := func(path, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	check("protect.openapi.requests", o.Requests, "enforce", "monitor", "off")
	check("protect.openapi.responses", o.Responses, "enforce", "monitor", "off")
	check("protect.openapi.undocumented", o.Undocumented, "allow", "block")
	if o.MaxFindings < 0 {
		add("protect.openapi.max_findings", "must not be negative")
	}
	if len(o.Specs) == 0 {
		add("protect.openapi.specs", "at least one OpenAPI spec (file or URL) is required")
	}
	for i, sp := range o.Specs {
		if strings.HasPrefix(sp, "http://") || strings.HasPrefix(sp, "https://") {
			continue
		}
		if _, err := os.Stat(sp); err != nil {
			add(fmt.Sprintf("protect.openapi.specs[%d]", i), "%v", err)
		}
	}
}
