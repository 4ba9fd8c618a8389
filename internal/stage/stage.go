// Package stage assembles the pipeline: it holds the one list of stages in
// their fixed order (the only place the order is written, like CoreDNS's
// plugin.cfg), builds the configured ones for a configuration, and gives
// each route its chain.
package stage

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vigil-sec/vigil/internal/authz/behavior"
	"github.com/vigil-sec/vigil/internal/authz/policy"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
	authzstage "github.com/vigil-sec/vigil/internal/stage/authz"
	"github.com/vigil-sec/vigil/internal/stage/bots"
	"github.com/vigil-sec/vigil/internal/stage/connections"
	"github.com/vigil-sec/vigil/internal/stage/graphql"
	"github.com/vigil-sec/vigil/internal/stage/identity"
	"github.com/vigil-sec/vigil/internal/stage/iprules"
	"github.com/vigil-sec/vigil/internal/stage/limits"
	"github.com/vigil-sec/vigil/internal/stage/openapi"
	"github.com/vigil-sec/vigil/internal/stage/ratelimit"
	"github.com/vigil-sec/vigil/internal/stage/ssrf"
	"github.com/vigil-sec/vigil/internal/stage/waf"
)

// Deps are the long-lived services stages may use; they outlive reloads
// (learned state such as the discovery inventory must survive a new config).
type Deps struct {
	// Discovery, when not nil, receives observations from the discovery stage.
	Discovery pipeline.Stage
	// Custom stages, supplied by a program embedding Vigil (and by tests),
	// run after the built-in ones, in the order given. Their names can be
	// used in routes[].stages and protect.stages like any other.
	Custom []pipeline.Stage
	// Consent answers the consent() policy function: the data plane's
	// cache of grants, kept current from the control plane (nil: none).
	Consent policy.ConsentChecker
	// Behavior holds the per-identity baselines (nil: behaviour off).
	Behavior *behavior.Tracker
}

// Setup builds a stage from the config; it returns nil when the stage is
// not configured.
type Setup func(cfg *config.Config, deps Deps) (pipeline.Stage, error)

// Order is the pipeline: cheap, decisive stages first; discovery last so it
// sees what the others decided.
var Order = []struct {
	Name  string
	Setup Setup
}{
	{"ip_rules", func(c *config.Config, _ Deps) (pipeline.Stage, error) { return iprules.New(c.Protect.IPRules) }},
	{"connections", func(c *config.Config, _ Deps) (pipeline.Stage, error) { return connections.New(c) }},
	{"identity", func(c *config.Config, _ Deps) (pipeline.Stage, error) { return identity.New(c) }},
	{"rate_limit", func(c *config.Config, _ Deps) (pipeline.Stage, error) { return ratelimit.New(c.Protect.RateLimits) }},
	{"authz", func(c *config.Config, d Deps) (pipeline.Stage, error) {
		ad := authzstage.Deps{Consent: d.Consent, Behavior: d.Behavior}
		if t, ok := d.Discovery.(authzstage.Templater); ok {
			ad.Templates = t
		}
		return authzstage.New(c, ad)
	}},
	{"bots", func(c *config.Config, _ Deps) (pipeline.Stage, error) { return bots.New(c) }},
	{"limits", func(c *config.Config, _ Deps) (pipeline.Stage, error) { return limits.New(c) }},
	{"graphql", func(c *config.Config, _ Deps) (pipeline.Stage, error) { return graphql.New(c) }},
	{"openapi", func(c *config.Config, _ Deps) (pipeline.Stage, error) { return openapi.New(c) }},
	{"ssrf", func(c *config.Config, _ Deps) (pipeline.Stage, error) { return ssrf.New(c) }},
	{"waf", func(c *config.Config, _ Deps) (pipeline.Stage, error) { return waf.New(c) }},
	{"discovery", func(_ *config.Config, d Deps) (pipeline.Stage, error) {
		if d.Discovery == nil {
			return nil, nil
		}
		return d.Discovery, nil
	}},
}

// Names lists every built-in stage name, in order.
func Names() []string {
	n := make([]string, len(Order))
	for i, o := range Order {
		n[i] = o.Name
	}
	return n
}

// Set is the stages built for one configuration.
type Set struct {
	cfg    *config.Config
	names  []string
	stages []pipeline.Stage // parallel to names; nil when not configured
	owned  []bool
}

// New builds every configured stage. Errors name the config field.
func New(cfg *config.Config, deps Deps) (*Set, error) {
	s := &Set{cfg: cfg}
	var errs []error
	for _, o := range Order {
		st, err := o.Setup(cfg, deps)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.names = append(s.names, o.Name)
		s.stages = append(s.stages, st)
		s.owned = append(s.owned, st != nil && o.Name != "discovery")
	}
	for _, st := range deps.Custom {
		s.names = append(s.names, st.Name())
		s.stages = append(s.stages, st)
		s.owned = append(s.owned, false)
	}
	for name := range cfg.Protect.Stages {
		if !slices.Contains(s.names, name) {
			errs = append(errs, cfg.Errorf("protect.stages."+name, "unknown stage %q (known: %v)", name, s.names))
		}
	}
	for i, r := range cfg.Routes {
		for j, n := range r.Stages {
			if !slices.Contains(s.names, n) {
				errs = append(errs, cfg.Errorf(fmt.Sprintf("routes[%d].stages[%d]", i, j), "unknown stage %q (known: %v)", n, s.names))
			}
		}
	}
	if len(errs) > 0 {
		_ = s.Close()
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Chain assembles a route's chain: the configured stages, in the fixed
// order, restricted to route.stages when that is set.
func (s *Set) Chain(route *config.Route, obs func([]string) pipeline.Observer) (*pipeline.Chain, error) {
	var links []pipeline.Link
	var names []string
	for i, name := range s.names {
		st := s.stages[i]
		if st == nil || (len(route.Stages) > 0 && !slices.Contains(route.Stages, name)) {
			continue
		}
		policy, timeout := s.cfg.Protect.OnError, s.cfg.Protect.StageTimeout
		mode := ""
		if sp, ok := s.cfg.Protect.Stages[name]; ok {
			if sp.OnError != "" {
				policy = sp.OnError
			}
			if sp.Timeout > 0 {
				timeout = sp.Timeout
			}
			mode = sp.Mode
		}
		if m, ok := route.Modes[name]; ok {
			mode = m
		}
		links = append(links, pipeline.Link{Stage: st, OnError: pipeline.ParseFailurePolicy(policy), Timeout: timeout,
			Monitor: mode == "monitor"})
		names = append(names, name)
	}
	var o pipeline.Observer
	if obs != nil {
		o = obs(names)
	}
	return pipeline.NewChain(links, o), nil
}

// Close releases the stages this set owns.
func (s *Set) Close() error {
	var errs []error
	for i, st := range s.stages {
		if st == nil || !s.owned[i] {
			continue
		}
		if c, ok := st.(pipeline.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
