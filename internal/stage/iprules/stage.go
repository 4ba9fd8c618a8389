// Package iprules is the ip_rules stage: it admits or refuses clients by
// address (after X-Forwarded-For resolution through trusted proxies),
// against inline CIDRs, reputation list files reloaded when they change,
// and countries from a MaxMind-format database. Rules are evaluated in
// order and the first allow or deny rule that matches decides. See
// README.md and docs/ip-rules.md.
package iprules

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/iprep"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Stage evaluates the configured rules against the client address.
type Stage struct {
	rules       []rule
	defaultDeny bool
	defaultID   string
	defaultMsg  string
	geo         *iprep.Countries
	watch       *iprep.Watcher
}

var (
	_ pipeline.Stage   = (*Stage)(nil)
	_ pipeline.Layered = (*Stage)(nil)
	_ pipeline.Closer  = (*Stage)(nil)
)

const (
	actAllow uint8 = iota
	actDeny
	actLog
)

type rule struct {
	name      string
	action    uint8
	monitor   bool
	static    *iprep.Set // the rule's cidrs; nil when it has none
	lists     []*iprep.List
	countries iprep.CountrySet
	byCountry bool
}

// Options tune what New builds.
type Options struct {
	// Log receives list reloads (slog.Default when nil).
	Log *slog.Logger
	// Debounce is the quiet time after a list file changes before it is
	// read again (iprep.DefaultDebounce when zero).
	Debounce time.Duration
	// OnReload, when set, is called after every reload of a list file or
	// of the country database.
	OnReload func(path string, err error)
}

// New builds the stage; it returns nil when no rules are configured.
func New(c *config.IPRules) (pipeline.Stage, error) { return NewWith(c, Options{}) }

// NewWith is New with options.
func NewWith(c *config.IPRules, o Options) (pipeline.Stage, error) {
	set, err := config.ResolveIPRules(c)
	if err != nil || set == nil {
		return nil, err
	}
	if len(set.Rules) == 0 && set.Default != "deny" {
		return nil, nil
	}
	if errs := set.Check(); len(errs) > 0 {
		return nil, errs
	}
	fail := func(path string, err error) error {
		return &config.FieldError{File: set.File, Line: set.Line, Path: path, Msg: err.Error()}
	}
	s := &Stage{defaultDeny: set.Default == "deny", defaultID: set.DefaultRuleID,
		defaultMsg: "client address matched no allow rule (default: deny)"}
	if set.DefaultRuleID == "ip_rules.allow" {
		s.defaultMsg = "client address is not in the allow list"
	}
	lists := map[string]*iprep.List{}
	var watched []iprep.Reloader
	for _, r := range set.Rules {
		cr := rule{name: r.Name, monitor: r.Mode == "monitor"}
		switch r.Action {
		case "deny":
			cr.action = actDeny
		case "log":
			cr.action = actLog
		}
		if len(r.CIDRs) > 0 {
			var b iprep.Builder
			src, _ := b.Source("")
			for i, p := range r.CIDRs {
				pp, err := iprep.ParsePrefix(p)
				if err != nil {
					return nil, fail(fmt.Sprintf("%s.cidrs[%d]", r.Path, i), err)
				}
				b.Add(pp, src, i+1)
			}
			cr.static = b.Build()
		}
		for i, f := range r.Files {
			l, ok := lists[f]
			if !ok {
				var err error
				if l, err = iprep.LoadList(f, set.MaxFileBytes); err != nil {
					return nil, fail(fmt.Sprintf("%s.files[%d]", r.Path, i), err)
				}
				lists[f] = l
				watched = append(watched, l)
			}
			cr.lists = append(cr.lists, l)
		}
		for _, cc := range r.Countries {
			code, _ := iprep.ParseCountry(cc)
			cr.countries.Add(code)
			cr.byCountry = true
		}
		if cr.byCountry && s.geo == nil {
			g, err := iprep.OpenCountries(set.GeoIPDatabase, 0)
			if err != nil {
				return nil, fail("protect.geoip.database", err)
			}
			s.geo = g
			watched = append(watched, g)
		}
		s.rules = append(s.rules, cr)
	}
	if len(watched) > 0 {
		w, err := iprep.Watch(watched, iprep.WatchOptions{Debounce: o.Debounce, Log: o.Log, OnReload: o.OnReload})
		if err != nil {
			return nil, fmt.Errorf("ip_rules: watching list files: %w", err)
		}
		s.watch = w
	}
	return s, nil
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "ip_rules" }

// Layer implements pipeline.Layered.
func (s *Stage) Layer() string { return "ip" }

// Close stops watching the list files.
func (s *Stage) Close() error {
	if s.watch == nil {
		return nil
	}
	return s.watch.Close()
}

// Request implements pipeline.Stage: the first allow or deny rule that
// matches decides; log rules and monitor-mode deny rules record a finding
// and evaluation goes on; no decision means the default.
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	ip := tx.ClientIP.Unmap()
	country, looked := "", false
	if s.geo != nil {
		// The country goes on the event (source.country) and is there for
		// later layers, whether or not a rule asks for it.
		country, looked = s.geo.Country(ip), true
		tx.Country = country
	}
	for i := range s.rules {
		r := &s.rules[i]
		var (
			m    iprep.Match
			ok   bool
			kind string
		)
		if r.static != nil {
			if m, ok = r.static.Lookup(ip); ok {
				kind = "ip_denied"
				if r.action == actLog {
					kind = "ip_listed"
				}
			}
		}
		for j := 0; !ok && j < len(r.lists); j++ {
			if m, ok = r.lists[j].Lookup(ip); ok {
				kind = "ip_reputation"
			}
		}
		if !ok && r.byCountry {
			if !looked {
				country, looked = s.geo.Country(ip), true
			}
			if ok = r.countries.Has(country); ok {
				kind = "country_denied"
				if r.action == actLog {
					kind = "country_listed"
				}
			}
		}
		if !ok {
			continue
		}
		if r.action == actAllow {
			return pipeline.Continue, nil
		}
		msg := message(m, kind, country)
		if r.action == actLog {
			tx.AddFinding(event.Finding{Stage: "ip_rules", Layer: "ip", RuleID: r.name, Kind: kind, Severity: "low",
				Action: "log", Message: msg})
			continue
		}
		if r.monitor {
			tx.AddFinding(event.Finding{Stage: "ip_rules", Layer: "ip", RuleID: r.name, Kind: kind, Severity: "high",
				Action: pipeline.Block.String(), Message: msg + " (rule in monitor mode)", WouldBlock: true})
			continue
		}
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, RuleID: r.name, Kind: kind,
			Severity: "high", Message: msg}, nil
	}
	if s.defaultDeny {
		return pipeline.BlockWith(http.StatusForbidden, "ip_not_allowed", s.defaultID, s.defaultMsg), nil
	}
	return pipeline.Continue, nil
}

// message says which entry matched: the CIDR, the list file and its line,
// or the country; never the whole list.
func message(m iprep.Match, kind, country string) string {
	switch kind {
	case "country_denied", "country_listed":
		return "client address is in country " + country
	}
	return "client address is in " + m.String()
}

// Lists reports the list files the stage serves, for diagnostics.
func (s *Stage) Lists() map[string]iprep.Status {
	out := map[string]iprep.Status{}
	for i := range s.rules {
		for _, l := range s.rules[i].lists {
			out[l.Path()] = l.Status()
		}
	}
	if s.geo != nil {
		out[s.geo.Path()] = s.geo.Status()
	}
	return out
}
