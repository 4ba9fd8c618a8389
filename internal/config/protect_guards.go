package config

import (
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/endpoint"
	"github.com/vigil-sec/vigil/internal/guard"
)

// SSRF flags parameters, form fields, JSON body fields (and, when asked,
// headers) whose value is a URL or host pointing at loopback, private,
// link-local, cloud-metadata or other internal destinations (see
// docs/guards.md). The block being present turns it on.
//
//	ssrf: {enabled: true, allow_hosts: [hooks.partner.example, 10.20.0.0/16]}
type SSRF struct {
	// Enabled switches the guard (default true when the block is there).
	Enabled *bool `yaml:"enabled"`
	// Mode is enforce (default: 403) or monitor (findings with
	// would_block, nothing stopped).
	Mode string `yaml:"mode"`
	// Params are the parameter and field names to check: a query or form
	// key, a JSON key, or a dotted JSON path (webhook.url). Empty (the
	// default): every parameter whose value looks like a URL or a host.
	// A listed field also has bare single-label names (redis) judged.
	Params []string `yaml:"params"`
	// AllowHosts are never findings: names, *.domain (its subdomains),
	// IP addresses, CIDR prefixes.
	AllowHosts []string `yaml:"allow_hosts"`
	// BlockPrivate reports loopback, private, link-local, CGNAT,
	// unspecified, reserved and internal names (default true). With
	// false, only metadata, dangerous schemes and disguised names are.
	BlockPrivate *bool `yaml:"block_private"`
	// Ignore lists classes that are not findings (loopback, private,
	// link_local, metadata, cgnat, unspecified, reserved, internal_name,
	// disguised, scheme).
	Ignore []string `yaml:"ignore"`
	// Schemes are always findings, whatever the host (default
	// guard.DefaultSchemes: file, gopher, dict, ldap, ldaps, tftp, jar,
	// netdoc, phar, expect, sftp). An empty list keeps the default;
	// ignore: [scheme] turns the check off.
	Schemes []string `yaml:"schemes"`
	// Query, Body: where to look (both default true). The body is read
	// for JSON and form content types only.
	Query *bool `yaml:"query"`
	Body  *bool `yaml:"body"`
	// Headers are request headers whose values are checked too (none by
	// default: the gateway rewrites X-Forwarded-* from untrusted clients;
	// name X-Original-URL, X-Rewrite-URL or a header of your own when the
	// upstream fetches what it says).
	Headers []string `yaml:"headers"`
	// MaxValues bounds the values examined per request (default 1000).
	MaxValues int `yaml:"max_values"`
	// Endpoints restricts the guard to these endpoint templates ("POST
	// /webhooks", "/import/*"); default every request.
	Endpoints []string `yaml:"endpoints"`
}

// On reports whether the guard is configured and enabled.
func (s *SSRF) On() bool { return s != nil && (s.Enabled == nil || *s.Enabled) }

// Classes is the set of classes that are findings.
func (s *SSRF) Classes() guard.ClassSet {
	set := guard.AllClasses()
	if s.BlockPrivate != nil && !*s.BlockPrivate {
		for _, c := range []guard.Class{guard.Loopback, guard.Private, guard.LinkLocal, guard.CGNAT,
			guard.Unspecified, guard.Reserved, guard.InternalName} {
			set.Remove(c)
		}
	}
	for _, n := range s.Ignore {
		if c, ok := guard.ParseClass(n); ok {
			set.Remove(c)
		}
	}
	return set
}

// GraphQLGuard limits GraphQL documents before they reach the server:
// depth, aliases, cost, batch size, introspection (see docs/guards.md).
//
//	graphql: {enabled: true, max_depth: 8, introspection: allow}
type GraphQLGuard struct {
	// Enabled switches the guard (default true when the block is there).
	Enabled *bool `yaml:"enabled"`
	// Mode is enforce (default) or monitor.
	Mode string `yaml:"mode"`
	// Paths are the GraphQL endpoints: endpoint templates ("/graphql",
	// "POST /api/graphql", "/gql/*"). Default [/graphql].
	Paths []string `yaml:"paths"`
	// MaxDepth is the deepest field nesting allowed (default 10; -1: no
	// limit).
	MaxDepth int `yaml:"max_depth"`
	// MaxAliases bounds aliased fields, fragments expanded (default 15;
	// -1: no limit).
	MaxAliases int `yaml:"max_aliases"`
	// MaxCost bounds Σ list-size × (1 + cost of the selection) (default
	// 1000; -1: no limit).
	MaxCost int64 `yaml:"max_cost"`
	// MaxBatch bounds the operations of a batched request (a JSON array;
	// default 5; -1: no limit).
	MaxBatch int `yaml:"max_batch"`
	// ListArgs are the arguments read as list sizes by the cost
	// (default first, last, limit, page_size, pageSize, per_page,
	// perPage, count, take, top).
	ListArgs []string `yaml:"list_args"`
	// Introspection is block (default: __schema and __type queries are
	// refused with 403) or allow.
	Introspection string `yaml:"introspection"`
	// Invalid is what an unparsable document (or a body cut at the
	// inspection cap) gets: allow (default: a finding, the server answers
	// the error itself) or block (400).
	Invalid string `yaml:"invalid"`
}

// On reports whether the guard is configured and enabled.
func (g *GraphQLGuard) On() bool { return g != nil && (g.Enabled == nil || *g.Enabled) }

// ResourceLimits caps resource-consumption knobs clients control (OWASP
// API4): page sizes.
//
//	limits: {page_size: {max: 100, action: clamp}}
type ResourceLimits struct {
	// Mode is enforce (default) or monitor.
	Mode     string    `yaml:"mode"`
	PageSize *PageSize `yaml:"page_size"`
}

// PageSize caps the query parameters that ask for a page of results.
type PageSize struct {
	// Params are the parameter names (compared case-insensitively;
	// default limit, per_page, page_size, size, pageSize, first, last,
	// count).
	Params []string `yaml:"params"`
	// Max is the largest value allowed (default 100).
	Max int64 `yaml:"max"`
	// Action is block (default: 400) or clamp (the parameter is
	// rewritten to max before the request is forwarded).
	Action string `yaml:"action"`
	// Negative values often mean "no limit": they are findings too unless
	// allow_negative is set.
	AllowNegative bool `yaml:"allow_negative"`
	// Endpoints override max, params or action per endpoint template,
	// first match wins.
	Endpoints []PageSizeEndpoint `yaml:"endpoints"`
}

// PageSizeEndpoint is a per-endpoint page-size override.
type PageSizeEndpoint struct {
	Endpoint string   `yaml:"endpoint"`
	Max      int64    `yaml:"max"`
	Params   []string `yaml:"params"`
	Action   string   `yaml:"action"`
}

// DefaultPageParams are the page-size parameters checked by default.
var DefaultPageParams = []string{"limit", "per_page", "page_size", "size", "pageSize", "first", "last", "count"}

func (c *Config) validateGuards(add addFunc) {
	p := &c.Protect
	mode := func(path, m string) {
		if m != "" && m != "enforce" && m != "monitor" {
			add(path, "%q is not enforce or monitor", m)
		}
	}
	templates := func(path string, list []string) {
		for i, e := range list {
			if _, err := endpoint.Parse(e); err != nil {
				add(fmt.Sprintf("%s[%d]", path, i), "%v", err)
			}
		}
	}
	if s := p.SSRF; s != nil {
		mode("protect.ssrf.mode", s.Mode)
		for i, h := range s.AllowHosts {
			if err := guard.CheckAllowHost(h); err != nil {
				add(fmt.Sprintf("protect.ssrf.allow_hosts[%d]", i), "%v", err)
			}
		}
		for i, n := range s.Ignore {
			if _, ok := guard.ParseClass(n); !ok {
				add(fmt.Sprintf("protect.ssrf.ignore[%d]", i), "%q is not one of %s", n, strings.Join(guard.ClassNames(), ", "))
			}
		}
		for i, sc := range s.Schemes {
			if sc == "" || strings.ContainsAny(sc, ":/ ") {
				add(fmt.Sprintf("protect.ssrf.schemes[%d]", i), "%q is not a URL scheme (write gopher, not gopher://)", sc)
			}
		}
		for i, h := range s.Headers {
			if h == "" || strings.ContainsAny(h, ": ") {
				add(fmt.Sprintf("protect.ssrf.headers[%d]", i), "%q is not a header name", h)
			}
		}
		for i, n := range s.Params {
			if n == "" {
				add(fmt.Sprintf("protect.ssrf.params[%d]", i), "empty parameter name")
			}
		}
		if s.MaxValues < 0 {
			add("protect.ssrf.max_values", "must not be negative")
		} else if s.MaxValues == 0 {
			s.MaxValues = 1000
		}
		if len(s.Schemes) == 0 {
			s.Schemes = guard.DefaultSchemes
		}
		templates("protect.ssrf.endpoints", s.Endpoints)
	}
	if g := p.GraphQL; g != nil {
		mode("protect.graphql.mode", g.Mode)
		if len(g.Paths) == 0 {
			g.Paths = []string{"/graphql"}
		}
		templates("protect.graphql.paths", g.Paths)
		if g.MaxCost < -1 {
			add("protect.graphql.max_cost", "must be a positive number, or -1 for no limit")
		} else if g.MaxCost == 0 {
			g.MaxCost = 1000
		}
		for _, l := range []struct {
			name string
			v    *int
			def  int
		}{{"max_depth", &g.MaxDepth, 10}, {"max_aliases", &g.MaxAliases, 15}, {"max_batch", &g.MaxBatch, 5}} {
			if *l.v < -1 {
				add("protect.graphql."+l.name, "must be a positive number, or -1 for no limit")
			} else if *l.v == 0 {
				*l.v = l.def
			}
		}
		allowBlock := func(key string, v *string, def string) {
			switch *v {
			case "":
				*v = def
			case "allow", "block":
			default:
				add("protect.graphql."+key, "%q is not allow or block", *v)
			}
		}
		allowBlock("introspection", &g.Introspection, "block")
		allowBlock("invalid", &g.Invalid, "allow")
		if len(g.ListArgs) == 0 {
			g.ListArgs = guard.DefaultListArgs
		}
	}
	if l := p.Limits; l != nil {
		mode("protect.limits.mode", l.Mode)
		if ps := l.PageSize; ps != nil {
			if len(ps.Params) == 0 {
				ps.Params = DefaultPageParams
			}
			if ps.Max < 0 {
				add("protect.limits.page_size.max", "must not be negative")
			} else if ps.Max == 0 {
				ps.Max = 100
			}
			action := func(path string, a *string, def string) {
				switch *a {
				case "":
					*a = def
				case "block", "clamp":
				default:
					add(path, "%q is not block or clamp", *a)
				}
			}
			action("protect.limits.page_size.action", &ps.Action, "block")
			for i := range ps.Endpoints {
				e := &ps.Endpoints[i]
				ep := fmt.Sprintf("protect.limits.page_size.endpoints[%d]", i)
				if e.Endpoint == "" {
					add(ep+".endpoint", "required")
				} else if _, err := endpoint.Parse(e.Endpoint); err != nil {
					add(ep+".endpoint", "%v", err)
				}
				if e.Max < 0 {
					add(ep+".max", "must not be negative")
				} else if e.Max == 0 {
					e.Max = ps.Max
				}
				if len(e.Params) == 0 {
					e.Params = ps.Params
				}
				action(ep+".action", &e.Action, ps.Action)
			}
		}
	}
}
