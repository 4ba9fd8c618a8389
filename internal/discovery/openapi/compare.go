package openapi

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Status classifies an observed endpoint against the specs.
type Status string

const (
	// StatusDocumented: the endpoint matches a current, non-deprecated
	// operation of a spec.
	StatusDocumented Status = "documented"
	// StatusShadow: the endpoint is seen in traffic but no spec has it.
	StatusShadow Status = "shadow"
	// StatusZombie: the endpoint is deprecated, or belongs only to an API
	// version older than the current one, yet it is still called.
	StatusZombie Status = "zombie"
)

// Diff kinds.
const (
	DiffUndocumentedParam  = "undocumented_param"
	DiffUndocumentedField  = "undocumented_field"
	DiffTypeMismatch       = "type_mismatch"
	DiffMissingRequired    = "missing_required"
	DiffUndocumentedStatus = "undocumented_status"
)

// Comparison is the result of Compare.
type Comparison struct {
	// Endpoints has one entry per observed endpoint, in input order.
	Endpoints []EndpointStatus `json:"endpoints"`
	// Unused lists the spec operations that no observed endpoint matched,
	// with Path as documented (base path included).
	Unused []Operation `json:"unused"`
	// Diffs lists where the traffic of a matched endpoint differs from its
	// operation: undocumented query parameters, body fields, status codes,
	// type mismatches and required values that are not always sent.
	Diffs []Diff `json:"diffs"`
}

// EndpointStatus is the classification of one observed endpoint.
type EndpointStatus struct {
	Host   string `json:"host,omitempty"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Status Status `json:"status"`
	// SpecPath is the matched operation's template (base path included);
	// for a zombie found through its newer twin, the twin's template.
	SpecPath string `json:"spec_path,omitempty"`
	// SpecTitle names the spec that holds SpecPath.
	SpecTitle string `json:"spec_title,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// Diff is one difference between traffic and the documented operation.
type Diff struct {
	Host   string `json:"host,omitempty"` // the observed endpoint
	Method string `json:"method"`
	Path   string `json:"path"`
	// In says where: "query", "header", "body" (request body) or
	// "response:<status>".
	In   string `json:"in"`
	Kind string `json:"kind"` // undocumented_param, undocumented_field, type_mismatch, missing_required, undocumented_status
	// Name is the parameter name, or a JSON path into the body such as
	// $.items[].productId.
	Name   string `json:"name"`
	Detail string `json:"detail"`
}

type segKind int

const (
	segParam   segKind = iota // {x}
	segPattern                // prefix{x}.json
	segConst                  // products
)

type segment struct {
	kind segKind
	text string
	re   *regexp.Regexp
}

type indexedOp struct {
	spec, op int
	path     string // template matched against (base path applied)
	segs     []segment
}

type comparer struct {
	specs []*Spec
	ops   map[int][]indexedOp // by segment count
	// specMax is the newest API version per spec and path prefix;
	// resources the resource names (segment after the version) per spec
	// and prefix.
	specMax   []map[string]string
	resources []map[string]map[string]bool
	versions  map[string][]string // prefix → known versions, newest first
}

// Compare classifies observed endpoints against the specs (see Status),
// lists spec operations never seen and reports schema drift. An observed
// path matches a spec template when every segment matches: a spec {x}
// matches any observed value or {parameter}, constants must be equal; the
// most specific template wins, as in OpenAPI path matching. Every server
// base path of a spec is honoured. When some spec lists the observed host
// among its servers, only those specs and the specs without hosts are
// used for that endpoint.
func Compare(specs []*Spec, eps []Observed) Comparison {
	c := newComparer(specs)
	var res Comparison
	used := map[[2]int]bool{}
	for _, ep := range eps {
		st, matched, diffs := c.classify(ep)
		res.Endpoints = append(res.Endpoints, st)
		for _, m := range matched {
			used[[2]int{m.spec, m.op}] = true
		}
		res.Diffs = append(res.Diffs, diffs...)
	}
	for i, s := range c.specs {
		if s == nil {
			continue
		}
		for j, op := range s.Operations {
			if !used[[2]int{i, j}] {
				res.Unused = append(res.Unused, op)
			}
		}
	}
	return res
}

func newComparer(specs []*Spec) *comparer {
	c := &comparer{
		specs:     specs,
		ops:       map[int][]indexedOp{},
		specMax:   make([]map[string]string, len(specs)),
		resources: make([]map[string]map[string]bool, len(specs)),
		versions:  map[string][]string{},
	}
	seenVersion := map[string]bool{}
	for i, s := range specs {
		c.specMax[i] = map[string]string{}
		c.resources[i] = map[string]map[string]bool{}
		if s == nil {
			continue
		}
		bases := s.BasePaths
		if len(bases) == 0 {
			bases = []string{s.BasePath}
		}
		for j, op := range s.Operations {
			raw := op.RawPath
			if raw == "" {
				raw = strings.TrimPrefix(op.Path, s.BasePath)
			}
			for _, b := range bases {
				p := joinPath(b, raw)
				segs := parseSegments(p)
				c.ops[len(segs)] = append(c.ops[len(segs)], indexedOp{spec: i, op: j, path: p, segs: segs})
			}
			v, prefix := apiVersion(op.Path)
			if v == "" {
				continue
			}
			if c.resources[i][prefix] == nil {
				c.resources[i][prefix] = map[string]bool{}
			}
			c.resources[i][prefix][resourceAfterVersion(op.Path)] = true
			if cur, ok := c.specMax[i][prefix]; !ok || compareVersions(v, cur) > 0 {
				c.specMax[i][prefix] = v
			}
			if k := prefix + "\x00" + v; !seenVersion[k] {
				seenVersion[k] = true
				c.versions[prefix] = append(c.versions[prefix], v)
			}
		}
	}
	for _, vs := range c.versions {
		sort.Slice(vs, func(a, b int) bool { return compareVersions(vs[a], vs[b]) > 0 })
	}
	return c
}

var paramInSegment = regexp.MustCompile(`\{[^{}/]*\}`)

// splitPath returns the non-empty segments of a path.
func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}

func parseSegments(p string) []segment {
	parts := splitPath(p)
	segs := make([]segment, len(parts))
	for i, s := range parts {
		switch {
		case len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}' && strings.Count(s, "{") == 1:
			segs[i] = segment{kind: segParam, text: s}
		case paramInSegment.MatchString(s):
			var b strings.Builder
			b.WriteString("^")
			last := 0
			for _, loc := range paramInSegment.FindAllStringIndex(s, -1) {
				b.WriteString(regexp.QuoteMeta(s[last:loc[0]]))
				b.WriteString("[^/]+")
				last = loc[1]
			}
			b.WriteString(regexp.QuoteMeta(s[last:]))
			b.WriteString("$")
			segs[i] = segment{kind: segPattern, text: s, re: regexp.MustCompile(b.String())}
		default:
			segs[i] = segment{kind: segConst, text: s}
		}
	}
	return segs
}

func isTemplateSegment(s string) bool {
	return len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}'
}

// matchScore reports whether the observed segments fit the spec segments
// and how specific the spec template is (higher is more specific).
func matchScore(spec []segment, obs []string) (score []int, ok bool) {
	score = make([]int, len(spec))
	for i, s := range spec {
		o := obs[i]
		switch s.kind {
		case segConst:
			if o != s.text {
				return nil, false
			}
		case segPattern:
			if isTemplateSegment(o) {
				// An observed {x} fits a whole-segment {name} better than
				// {name}.json.
				score[i] = -1
				continue
			}
			if !s.re.MatchString(o) {
				return nil, false
			}
		}
		score[i] = int(s.kind)
	}
	return score, true
}

func betterScore(a, b []int) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] > b[i] {
				return 1
			}
			return -1
		}
	}
	return 0
}

type match struct {
	indexedOp
	score []int
}

// candidates returns the spec indexes to use for host.
func (c *comparer) candidates(host string) map[int]bool {
	host = strings.ToLower(host)
	hostName := host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		hostName = host[:i]
	}
	byHost := map[int]bool{}
	for i, s := range c.specs {
		if s == nil || host == "" {
			continue
		}
		for _, h := range s.Hosts {
			if h == host || h == hostName {
				byHost[i] = true
			}
		}
	}
	out := map[int]bool{}
	for i, s := range c.specs {
		if s == nil {
			continue
		}
		if len(byHost) == 0 || byHost[i] || len(s.Hosts) == 0 {
			out[i] = true
		}
	}
	return out
}

// find returns, per spec, the most specific operation matching method and
// path, and the methods documented for the path under any method.
func (c *comparer) find(cands map[int]bool, method, path string) (best []match, otherMethods []string) {
	obs := splitPath(path)
	perSpec := map[int]match{}
	seenMethod := map[string]bool{}
	for _, io := range c.ops[len(obs)] {
		if !cands[io.spec] {
			continue
		}
		score, ok := matchScore(io.segs, obs)
		if !ok {
			continue
		}
		op := c.specs[io.spec].Operations[io.op]
		if op.Method != method {
			if !seenMethod[op.Method] {
				seenMethod[op.Method] = true
				otherMethods = append(otherMethods, op.Method)
			}
			continue
		}
		if cur, ok := perSpec[io.spec]; !ok || betterScore(score, cur.score) > 0 {
			perSpec[io.spec] = match{indexedOp: io, score: score}
		}
	}
	for _, m := range perSpec {
		best = append(best, m)
	}
	sort.Slice(best, func(i, j int) bool {
		if d := betterScore(best[i].score, best[j].score); d != 0 {
			return d > 0
		}
		return best[i].spec < best[j].spec
	})
	sort.Slice(otherMethods, func(i, j int) bool { return methodOrder[otherMethods[i]] < methodOrder[otherMethods[j]] })
	return best, otherMethods
}

func normalizePath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
		if p == "" {
			p = "/"
		}
	}
	return p
}

func (c *comparer) classify(ep Observed) (EndpointStatus, []match, []Diff) {
	method := strings.ToUpper(ep.Method)
	path := normalizePath(ep.Path)
	st := EndpointStatus{Host: ep.Host, Method: ep.Method, Path: ep.Path}
	cands := c.candidates(ep.Host)
	matches, others := c.find(cands, method, path)

	if len(matches) == 0 {
		if twin, ok := c.newerTwin(cands, method, path); ok {
			st.Status = StatusZombie
			st.SpecPath = twin.path
			st.SpecTitle = c.specs[twin.spec].Title
			tv, _ := apiVersion(twin.path)
			st.Reason = fmt.Sprintf("not in any spec; superseded by %s %s (version %s)", method, twin.path, tv)
			return st, nil, nil
		}
		st.Status = StatusShadow
		if len(others) > 0 {
			st.Reason = fmt.Sprintf("path is documented for %s, not for %s", strings.Join(others, ", "), method)
		} else {
			st.Reason = "not in any spec"
		}
		return st, nil, nil
	}

	// matches is ordered most specific first. A deprecated operation only
	// counts when nothing else matches; among the live ones, the first from
	// a spec that no newer version supersedes makes the endpoint documented.
	var live []match
	for _, m := range matches {
		if !c.specs[m.spec].Operations[m.op].Deprecated {
			live = append(live, m)
		}
	}
	chosen := matches[0]
	if len(live) == 0 {
		st.Status = StatusZombie
		st.Reason = fmt.Sprintf("operation is deprecated in %s", specName(c.specs[chosen.spec]))
	} else {
		st.Status = StatusZombie
		chosen = live[0]
		v, _ := apiVersion(chosen.path)
		newer, _ := c.supersededBy(chosen)
		st.Reason = fmt.Sprintf("API version %s is only in an older spec (%s); current version is %s",
			v, specName(c.specs[chosen.spec]), newer)
		for _, m := range live {
			if _, old := c.supersededBy(m); !old {
				st.Status, st.Reason, chosen = StatusDocumented, "", m
				break
			}
		}
	}
	st.SpecPath = chosen.path
	st.SpecTitle = c.specs[chosen.spec].Title
	op := c.specs[chosen.spec].Operations[chosen.op]
	return st, matches, diffEndpoint(ep, op)
}

func specName(s *Spec) string {
	name := s.Title
	if s.Version != "" {
		name += " " + s.Version
	}
	if name == "" {
		name = s.Source
	}
	return name
}

// supersededBy reports the newer API version that makes the matched
// operation's spec an older version of its API: another spec for a
// compatible host (same host, or either has no host) whose newest version
// under the same path prefix is newer and that shares at least one resource
// (first segment after the version) with it. A spec that itself documents
// the newest version is never superseded.
func (c *comparer) supersededBy(m match) (string, bool) {
	v, prefix := apiVersion(m.path)
	if v == "" {
		return "", false
	}
	mine := c.specMax[m.spec][prefix]
	newest := ""
	for t, other := range c.specs {
		if other == nil || t == m.spec || !hostsCompatible(c.specs[m.spec], other) {
			continue
		}
		tv, ok := c.specMax[t][prefix]
		if !ok || compareVersions(tv, mine) <= 0 || !intersects(c.resources[t][prefix], c.resources[m.spec][prefix]) {
			continue
		}
		if newest == "" || compareVersions(tv, newest) > 0 {
			newest = tv
		}
	}
	return newest, newest != ""
}

func hostsCompatible(a, b *Spec) bool {
	if len(a.Hosts) == 0 || len(b.Hosts) == 0 {
		return true
	}
	for _, h := range a.Hosts {
		if containsStr(b.Hosts, h) {
			return true
		}
	}
	return false
}

func intersects(a, b map[string]bool) bool {
	for k := range a {
		if b[k] {
			return true
		}
	}
	return false
}

// resourceAfterVersion returns the segment after the version segment:
// "orders" for /api/v1/orders/{id}.
func resourceAfterVersion(p string) string {
	segs := splitPath(p)
	for i, s := range segs {
		if versionSegment.MatchString(s) {
			if i+1 < len(segs) {
				return segs[i+1]
			}
			return ""
		}
	}
	return ""
}

// newerTwin looks for the same path under a newer API version than the
// observed one, e.g. /v2/orders for an observed /v1/orders.
func (c *comparer) newerTwin(cands map[int]bool, method, path string) (match, bool) {
	v, prefix := apiVersion(path)
	if v == "" {
		return match{}, false
	}
	segs := splitPath(path)
	at := len(splitPath(prefix))
	for _, nv := range c.versions[prefix] {
		if compareVersions(nv, v) <= 0 {
			break
		}
		twin := append([]string(nil), segs...)
		twin[at] = nv
		if ms, _ := c.find(cands, method, "/"+strings.Join(twin, "/")); len(ms) > 0 {
			for _, m := range ms {
				if !c.specs[m.spec].Operations[m.op].Deprecated {
					return m, true
				}
			}
		}
	}
	return match{}, false
}

// diffEndpoint compares what traffic showed with the documented operation.
func diffEndpoint(ep Observed, op Operation) []Diff {
	d := differ{base: Diff{Host: ep.Host, Method: ep.Method, Path: ep.Path}}

	docParams := map[string]Param{}
	for _, p := range op.Params {
		docParams[p.In+"\x00"+strings.ToLower(p.Name)] = p
	}
	d.params("query", ep.QueryParams, docParams, true)
	if len(ep.HeaderParams) > 0 {
		d.params("header", ep.HeaderParams, docParams, false)
	}

	if ep.RequestSchema != nil {
		if op.RequestSchema == nil {
			if len(ep.RequestSchema) > 0 {
				d.add("body", DiffUndocumentedField, "$", "the operation documents no JSON request body")
			}
		} else {
			d.in = "body"
			d.walk(ep.RequestSchema, op.RequestSchema, "$", 0)
		}
	}

	codes := make([]int, 0, len(ep.Responses))
	for code := range ep.Responses {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	for _, code := range codes {
		if op.ResponseSchemas == nil {
			break
		}
		in := "response:" + strconv.Itoa(code)
		doc, ok := responseSchema(op.ResponseSchemas, code)
		if !ok {
			d.add(in, DiffUndocumentedStatus, strconv.Itoa(code), "status code not documented")
			continue
		}
		if obs := ep.Responses[code].Schema; obs != nil && doc != nil {
			d.in = in
			d.walk(obs, doc, "$", 0)
		}
	}
	return d.diffs
}

// responseSchema finds the documented response for a status: the exact
// code, then the range (2XX), then default.
func responseSchema(rs map[string]map[string]any, code int) (map[string]any, bool) {
	c := strconv.Itoa(code)
	if s, ok := rs[c]; ok {
		return s, true
	}
	if len(c) == 3 {
		for _, k := range []string{c[:1] + "XX", c[:1] + "xx"} {
			if s, ok := rs[k]; ok {
				return s, true
			}
		}
	}
	s, ok := rs["default"]
	return s, ok
}
