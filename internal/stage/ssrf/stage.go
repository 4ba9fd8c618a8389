// Package ssrf is the ssrf stage: query parameters, form fields, JSON body
// fields and chosen headers whose value is a URL or host that points at
// loopback, private, link-local, cloud-metadata or other internal
// destinations are findings (OWASP API7). The classification lives in
// internal/guard; see README.md and docs/guards.md.
package ssrf

import (
	"context"
	"mime"
	"net/http"
	"strings"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/endpoint"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/guard"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Stage checks URL-carrying values.
type Stage struct {
	chk       *guard.Checker
	params    []string // names or dotted paths; empty: every field
	dotted    bool     // some param is a dotted JSON path
	headers   []string // canonical header names
	query     bool
	body      bool
	maxValues int
	endpoints []endpoint.Template
	monitor   bool
}

var (
	_ pipeline.Stage      = (*Stage)(nil)
	_ pipeline.Layered    = (*Stage)(nil)
	_ pipeline.BodyReader = (*Stage)(nil)
)

// maxFindings bounds the findings one request records.
const maxFindings = 4

// New builds the stage from protect.ssrf; nil when it is not configured.
func New(cfg *config.Config) (pipeline.Stage, error) {
	c := cfg.Protect.SSRF
	if !c.On() {
		return nil, nil
	}
	chk, err := guard.NewChecker(guard.Options{Classes: c.Classes(), Schemes: c.Schemes, AllowHosts: c.AllowHosts})
	if err != nil {
		return nil, cfg.Errorf("protect.ssrf.allow_hosts", "%v", err)
	}
	s := &Stage{chk: chk, params: c.Params, query: c.Query == nil || *c.Query, body: c.Body == nil || *c.Body,
		maxValues: c.MaxValues, monitor: c.Mode == "monitor"}
	if s.maxValues == 0 {
		s.maxValues = 1000
	}
	for _, p := range c.Params {
		if strings.ContainsAny(p, ".[") {
			s.dotted = true
		}
	}
	for _, h := range c.Headers {
		s.headers = append(s.headers, http.CanonicalHeaderKey(h))
	}
	for i, e := range c.Endpoints {
		t, err := endpoint.Parse(e)
		if err != nil {
			return nil, cfg.Errorf("protect.ssrf.endpoints", "[%d]: %v", i, err)
		}
		s.endpoints = append(s.endpoints, t)
	}
	return s, nil
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "ssrf" }

// Layer implements pipeline.Layered.
func (s *Stage) Layer() string { return "ssrf" }

// WantsBody implements pipeline.BodyReader: JSON and form bodies only.
func (s *Stage) WantsBody(tx *pipeline.Txn) bool {
	if !s.body || tx.Req.ContentLength == 0 || tx.Req.Body == nil || tx.Req.Body == http.NoBody || !s.applies(tx) {
		return false
	}
	return bodyKind(tx.Req.Header) != 0
}

func (s *Stage) applies(tx *pipeline.Txn) bool {
	if len(s.endpoints) == 0 {
		return true
	}
	for i := range s.endpoints {
		if s.endpoints[i].Match(tx.Req.Method, tx.Req.URL.Path) {
			return true
		}
	}
	return false
}

const (
	bodyJSON = 1 + iota
	bodyForm
)

// bodyKind reads the content type without allocating for the common
// spellings.
func bodyKind(h http.Header) int {
	ct := h["Content-Type"]
	if len(ct) == 0 {
		return 0
	}
	v := ct[0]
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimSpace(v)
	switch {
	case strings.EqualFold(v, "application/json"), len(v) > 5 && strings.EqualFold(v[len(v)-5:], "+json"):
		return bodyJSON
	case strings.EqualFold(v, "application/x-www-form-urlencoded"):
		return bodyForm
	}
	if mt, _, err := mime.ParseMediaType(ct[0]); err == nil && strings.HasSuffix(mt, "/json") {
		return bodyJSON
	}
	return 0
}

// hit is one finding in the making.
type hit struct {
	where string // query, form, json, header
	name  string // the parameter, field path or header (copied)
	h     guard.Hit
}

type scan struct {
	s     *Stage
	hits  [maxFindings]hit
	n     int
	total int // values examined
}

func (sc *scan) add(where, name string, h guard.Hit) {
	if sc.n < maxFindings {
		sc.hits[sc.n] = hit{where: where, name: strings.Clone(name), h: h}
	}
	sc.n++
}

// level is how eagerly a field named name is read.
func (s *Stage) level(name string) (guard.Level, bool) {
	if len(s.params) == 0 {
		if guard.HostHint(name) {
			return guard.Hinted, true
		}
		return guard.Plain, true
	}
	for _, p := range s.params {
		if strings.EqualFold(p, name) {
			return guard.Listed, true
		}
	}
	return 0, false
}

// maybeURL is a cheap filter on a still-escaped value: without any of
// these bytes it cannot name a host worth a look.
func maybeURL(v string) bool {
	if len(v) > 0 && v[0] >= '0' && v[0] <= '9' {
		return true
	}
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ':', '.', '/', '\\', '%':
			return true
		}
	}
	return false
}

func (sc *scan) pairs(where, raw string) {
	guard.EachPair(raw, func(k, v string) bool {
		if sc.total++; sc.total > sc.s.maxValues {
			return false
		}
		if v == "" || !maybeURL(v) {
			return true
		}
		name := guard.Unescape(k)
		lvl, ok := sc.s.level(name)
		if !ok {
			return true
		}
		if h, bad := sc.s.chk.Value(guard.Unescape(v), lvl); bad {
			sc.add(where, name, h)
		}
		return true
	})
}

func (sc *scan) json(body []byte) {
	s := sc.s
	var pathBuf [256]byte
	_ = guard.WalkJSON(body, s.maxValues, func(p *guard.JSONPath, raw string, isString bool) bool {
		if raw == "" || !maybeURL(raw) {
			return true
		}
		key := p.Key()
		lvl, ok := s.level(key)
		if !ok && s.dotted {
			path := p.AppendTo(pathBuf[:0])
			lvl, ok = s.level(string(path))
		}
		if !ok || (!isString && lvl == guard.Plain) {
			return true
		}
		v := raw
		if isString {
			v = guard.UnescapeJSON(raw)
		}
		if h, bad := s.chk.Value(v, lvl); bad {
			sc.add("json", p.String(), h)
		}
		return true
	})
}

// Request implements pipeline.Stage.
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	if !s.applies(tx) {
		return pipeline.Continue, nil
	}
	sc := scan{s: s}
	if s.query && tx.Req.URL.RawQuery != "" {
		sc.pairs("query", tx.Req.URL.RawQuery)
	}
	for _, name := range s.headers {
		for _, v := range tx.Req.Header[name] {
			if h, bad := s.chk.Value(v, guard.Listed); bad {
				sc.add("header", name, h)
			}
		}
	}
	if s.body {
		if body, _ := tx.Body(); len(body) > 0 {
			switch bodyKind(tx.Req.Header) {
			case bodyJSON:
				sc.json(body)
			case bodyForm:
				sc.pairs("form", string(body))
			}
		}
	}
	if sc.n == 0 {
		return pipeline.Continue, nil
	}
	return s.verdict(tx, &sc), nil
}

func (s *Stage) verdict(tx *pipeline.Txn, sc *scan) pipeline.Verdict {
	monitor := s.monitor || tx.Monitor()
	n := min(sc.n, maxFindings)
	first := 0
	if !s.monitor {
		first = 1 // the verdict carries the first hit
	}
	for i := first; i < n; i++ {
		h := &sc.hits[i]
		tx.AddFinding(event.Finding{Stage: "ssrf", Layer: "ssrf", RuleID: "ssrf:" + h.h.Class.String(), Kind: "ssrf",
			Severity: severity(h.h.Class), Action: pipeline.Block.String(), Message: message(h),
			Variable: h.where + ":" + h.name, Data: h.h.Host, WouldBlock: monitor})
	}
	if s.monitor {
		return pipeline.Continue
	}
	h := &sc.hits[0]
	msg := message(h)
	if sc.n > 1 {
		msg += " (and more)"
	}
	return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, Kind: "ssrf",
		RuleID: "ssrf:" + h.h.Class.String(), Severity: severity(h.h.Class), Message: msg,
		Variable: h.where + ":" + h.name, Data: h.h.Host}
}

func severity(c guard.Class) string {
	switch c {
	case guard.Metadata:
		return "critical"
	case guard.Disguised, guard.InternalName, guard.Reserved, guard.CGNAT:
		return "medium"
	}
	return "high"
}

var classWords = map[guard.Class]string{
	guard.Loopback:     "a loopback address",
	guard.Private:      "a private address",
	guard.LinkLocal:    "a link-local address",
	guard.Metadata:     "a cloud metadata service",
	guard.CGNAT:        "a shared (CGNAT) address",
	guard.Unspecified:  "the unspecified address",
	guard.Reserved:     "a reserved address",
	guard.InternalName: "an internal host name",
	guard.Disguised:    "an internal address disguised as a DNS name",
}

func message(h *hit) string {
	what := h.where + " " + h.name
	switch h.where {
	case "query":
		what = "query parameter " + h.name
	case "form":
		what = "form field " + h.name
	case "json":
		what = "JSON field " + h.name
	}
	if h.h.Class == guard.Scheme {
		return what + " carries a " + h.h.Scheme + ": URL"
	}
	return what + " points at " + classWords[h.h.Class] + " (" + h.h.Host + ")"
}
