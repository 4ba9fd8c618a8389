// Package limits is the limits stage: query parameters that ask for a page
// of results (limit, per_page, page_size...) above the configured maximum
// are refused with 400 or clamped to the maximum before the request is
// forwarded (OWASP API4). See README.md and docs/guards.md.
package limits

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/endpoint"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/guard"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Stage caps page-size parameters.
type Stage struct {
	def       policy
	endpoints []epPolicy
	monitor   bool
	allowNeg  bool
}

type policy struct {
	params []string
	max    int64
	clamp  bool
}

type epPolicy struct {
	tmpl endpoint.Template
	policy
}

var (
	_ pipeline.Stage   = (*Stage)(nil)
	_ pipeline.Layered = (*Stage)(nil)
)

// New builds the stage from protect.limits; nil when nothing is limited.
func New(cfg *config.Config) (pipeline.Stage, error) {
	l := cfg.Protect.Limits
	if l == nil || l.PageSize == nil {
		return nil, nil
	}
	ps := l.PageSize
	s := &Stage{def: policy{params: ps.Params, max: ps.Max, clamp: ps.Action == "clamp"}, monitor: l.Mode == "monitor",
		allowNeg: ps.AllowNegative}
	if len(s.def.params) == 0 {
		s.def.params = config.DefaultPageParams
	}
	if s.def.max == 0 {
		s.def.max = 100
	}
	for i, e := range ps.Endpoints {
		t, err := endpoint.Parse(e.Endpoint)
		if err != nil {
			return nil, cfg.Errorf("protect.limits.page_size.endpoints", "[%d]: %v", i, err)
		}
		s.endpoints = append(s.endpoints, epPolicy{tmpl: t, policy: policy{params: e.Params, max: e.Max, clamp: e.Action == "clamp"}})
	}
	return s, nil
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "limits" }

// Layer implements pipeline.Layered.
func (s *Stage) Layer() string { return "limits" }

func (s *Stage) policyFor(tx *pipeline.Txn) *policy {
	for i := range s.endpoints {
		if s.endpoints[i].tmpl.Match(tx.Req.Method, tx.Req.URL.Path) {
			return &s.endpoints[i].policy
		}
	}
	return &s.def
}

func (p *policy) isParam(k string) bool {
	for _, n := range p.params {
		if strings.EqualFold(n, k) {
			return true
		}
	}
	return false
}

// pageValue reads a page size: an integer, or a number in another
// spelling (1e6, 100.0) some frameworks accept. ok is false for values
// that are not numbers at all (left to schema validation).
func pageValue(v string) (n int64, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err == nil {
		return n, true
	}
	if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange {
		if v[0] == '-' {
			return math.MinInt64, true
		}
		return math.MaxInt64, true
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != f {
		return 0, false
	}
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64, true
	case f <= math.MinInt64:
		return math.MinInt64, true
	}
	return int64(math.Ceil(f)), true
}

// Request implements pipeline.Stage.
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	raw := tx.Req.URL.RawQuery
	if raw == "" {
		return pipeline.Continue, nil
	}
	p := s.policyFor(tx)
	var (
		bad          bool
		name, value  string
		neg, clamped bool
	)
	guard.EachPair(raw, func(k, v string) bool {
		k = guard.Unescape(k)
		if !p.isParam(k) {
			return true
		}
		n, ok := pageValue(guard.Unescape(v))
		if !ok || (n <= p.max && (n >= 0 || s.allowNeg)) {
			return true
		}
		bad, name, value, neg = true, k, guard.Unescape(v), n < 0
		return false
	})
	if !bad {
		return pipeline.Continue, nil
	}
	monitor := s.monitor || tx.Monitor()
	msg := "query parameter " + name + "=" + value + " exceeds the page size limit of " + strconv.FormatInt(p.max, 10)
	if neg {
		msg = "query parameter " + name + "=" + value + " is negative (often: no limit); the page size limit is " + strconv.FormatInt(p.max, 10)
	}
	if p.clamp {
		if !monitor {
			tx.Req.URL.RawQuery = clampQuery(raw, p, s.allowNeg)
			clamped = true
		}
		f := event.Finding{Stage: "limits", Layer: "limits", RuleID: "page_size:" + name, Kind: "page_size", Severity: "low",
			Action: "clamp", Message: msg, Variable: "query:" + name, Data: value, WouldBlock: monitor}
		if clamped {
			f.Message += ": clamped to " + strconv.FormatInt(p.max, 10)
		}
		tx.AddFinding(f)
		return pipeline.Continue, nil
	}
	if s.monitor {
		tx.AddFinding(event.Finding{Stage: "limits", Layer: "limits", RuleID: "page_size:" + name, Kind: "page_size", Severity: "medium",
			Action: pipeline.Block.String(), Message: msg, Variable: "query:" + name, Data: value, WouldBlock: true})
		return pipeline.Continue, nil
	}
	return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadRequest, Kind: "page_size", RuleID: "page_size:" + name,
		Severity: "medium", Message: msg, Variable: "query:" + name, Data: value}, nil
}

// clampQuery rewrites every page-size parameter above the maximum (every
// occurrence: frameworks disagree on which one wins) and keeps every other
// byte of the query as the client sent it.
func clampQuery(raw string, p *policy, allowNeg bool) string {
	var b strings.Builder
	b.Grow(len(raw))
	maxStr := strconv.FormatInt(p.max, 10)
	for rest := raw; ; {
		i := strings.IndexAny(rest, "&;")
		pair, sep := rest, ""
		if i >= 0 {
			pair, sep = rest[:i], rest[i:i+1]
		}
		k, v, hasEq := strings.Cut(pair, "=")
		if hasEq && p.isParam(guard.Unescape(k)) {
			if n, ok := pageValue(guard.Unescape(v)); ok && (n > p.max || (n < 0 && !allowNeg)) {
				pair = k + "=" + maxStr
			}
		}
		b.WriteString(pair)
		b.WriteString(sep)
		if i < 0 {
			break
		}
		rest = rest[i+1:]
	}
	return b.String()
}
