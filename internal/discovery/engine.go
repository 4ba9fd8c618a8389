package discovery

import (
	"context"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/discovery/openapi"
	"github.com/vigil-sec/vigil/internal/discovery/schema"
	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
	"github.com/vigil-sec/vigil/internal/discovery/template"
)

// Options configure an Engine.
type Options struct {
	// SampleRate is the share of bodies profiled (schemas, sensitive data).
	SampleRate float64
	// MaxEndpoints bounds the inventory; observations of new endpoints
	// beyond it are counted in Overflow, not stored.
	MaxEndpoints int
	// QueueSize bounds the live-traffic queue (Submit).
	QueueSize int
	// SamplesPerSecond caps body profiling per endpoint (after a first
	// burst of SampleBurst samples); defaults 2 and 20.
	SamplesPerSecond float64
	SampleBurst      float64
	// Settle is how long a new endpoint must exist before its
	// new_endpoint alert goes out (templates may still merge meanwhile).
	Settle time.Duration
	// Templater tuning; zero values take the defaults.
	Template template.Config
	Pin      []string
	Split    []string
	// Custom sensitive classes.
	Sensitive []sensitive.Custom
	// Alerts receive change alerts; nil drops them.
	Alerts func(Alert)
	Logger *slog.Logger
}

// Alert is a change worth telling someone about, raised once.
type Alert struct {
	Kind     string    `json:"kind"` // new_endpoint, new_sensitive, schema_changed, shadow_endpoint, zombie_endpoint
	Host     string    `json:"host"`
	Method   string    `json:"method"`
	Endpoint string    `json:"endpoint"`
	Detail   string    `json:"detail,omitempty"`
	Time     time.Time `json:"time"`
}

// Engine is the inventory. Observe is for a single feeding goroutine
// (logs); Submit + Run feed it from live traffic without blocking.
type Engine struct {
	opts    Options
	tmpl    *template.Templater
	cls     *sensitive.Classifier
	sampler *schema.Sampler
	perEP   *endpointSampler

	mu       sync.RWMutex
	entries  map[key]*entry
	gen      uint64
	rekeyAt  time.Time // last re-key
	sinceRek int       // observations since
	specs    []*openapi.Spec

	queue      chan Observation
	dropped    atomic.Uint64
	overflow   atomic.Uint64
	preflights atomic.Uint64
	observed   atomic.Uint64
}

// New builds an engine.
func New(opts Options) (*Engine, error) {
	if opts.MaxEndpoints <= 0 {
		opts.MaxEndpoints = 20000
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 8192
	}
	if opts.SamplesPerSecond <= 0 {
		opts.SamplesPerSecond = 2
	}
	if opts.SampleBurst <= 0 {
		opts.SampleBurst = 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cls, err := sensitive.New(opts.Sensitive)
	if err != nil {
		return nil, err
	}
	tcfg := opts.Template
	if tcfg == (template.Config{}) {
		tcfg = template.DefaultConfig()
	}
	e := &Engine{opts: opts, tmpl: template.New(tcfg), cls: cls, sampler: schema.NewSampler(opts.SampleRate),
		perEP:   newEndpointSampler(opts.SamplesPerSecond, opts.SampleBurst),
		entries: map[key]*entry{}, queue: make(chan Observation, opts.QueueSize)}
	for _, p := range opts.Pin {
		if err := e.tmpl.Pin(p); err != nil {
			return nil, err
		}
	}
	for _, p := range opts.Split {
		if err := e.tmpl.Split(p); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Template returns the current template for a raw path (cheap, safe from
// any goroutine): what events carry as request.endpoint.
func (e *Engine) Template(path string) string { return e.tmpl.Template(path) }

// Sample decides whether this transaction's bodies are profiled: the
// configured share of requests, within the per-endpoint budget.
func (e *Engine) Sample(endpoint string) bool {
	return e.sampler.Sample() && e.perEP.allow(endpoint, time.Now())
}

// Submit queues a live observation; it never blocks and counts drops.
func (e *Engine) Submit(o Observation) bool {
	select {
	case e.queue <- o:
		return true
	default:
		e.dropped.Add(1)
		return false
	}
}

// Dropped counts live observations lost to a full queue.
func (e *Engine) Dropped() uint64 { return e.dropped.Load() }

// ObservedCount counts observations folded into the inventory.
func (e *Engine) ObservedCount() uint64 { return e.observed.Load() }

// Run drains the live queue until ctx ends, and raises alerts every tick.
func (e *Engine) Run(ctx context.Context, tick time.Duration) {
	if tick <= 0 {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-e.queue:
			e.Observe(&o)
		case now := <-t.C:
			e.Evaluate(now)
		}
	}
}

// Observe folds one observation into the inventory.
func (e *Engine) Observe(o *Observation) {
	e.observed.Add(1)
	path := o.Path
	if path == "" {
		path = "/"
	}
	if isPreflight(o) {
		// CORS pre-flights repeat the paths of real calls; they are not
		// operations of the API.
		e.preflights.Add(1)
		return
	}
	tmpl := o.Endpoint
	switch {
	case tmpl != "" && strings.IndexByte(tmpl, '{') >= 0:
	case o.Status == http.StatusNotFound:
		// Scanner probes and mistyped paths are no evidence of the
		// API's shape: template them without learning from them, and
		// without one endpoint per distinct probe.
		tmpl = e.tmpl.TemplateFolded(path)
	default:
		tmpl = e.tmpl.ObserveRequest(o.Method, path)
	}
	if len(o.Method) > 16 {
		o.Method = o.Method[:16]
	}
	k := key{host: normalizeHost(o.Host), method: strings.ToUpper(o.Method), path: tmpl}
	now := o.Time
	if now.IsZero() {
		now = time.Now()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sinceRek++
	e.maybeRekeyLocked(false)
	en := e.entries[k]
	if en == nil {
		if len(e.entries) >= e.opts.MaxEndpoints {
			e.overflow.Add(1)
			return
		}
		en = newEntry(k, now)
		en.kind = kindOf(o)
		e.entries[k] = en
		e.classifyLocked(en)
	}
	en.sample = path
	if en.hits < 32 || en.hits&(en.hits-1) == 0 {
		en.addSample(path) // the first requests and then ever more rarely: off the hot path
	}
	en.hits++
	if now.Before(en.first) {
		en.first = now
	}
	if now.After(en.last) {
		en.last = now
	}
	en.protected = en.protected || o.Protected
	if o.Status > 0 {
		en.status.inc(o.Status)
	}
	ms := float64(o.Latency.Microseconds()) / 1000
	en.latSum += ms
	en.latMax = max(en.latMax, ms)
	auth := o.Auth
	if auth == "" {
		auth = "none"
	}
	en.auth.inc(auth)
	if ct := mediaType(o.ReqType); ct != "" && len(en.reqTypes) < 16 {
		en.reqTypes[ct]++
	}
	if ct := mediaType(o.RespType); ct != "" && len(en.respTypes) < 16 {
		en.respTypes[ct]++
	}
	for _, h := range o.Headers {
		if _, ok := en.headers[h]; ok || len(en.headers) < maxHeaderNames {
			en.headers[h]++
		}
	}
	for h, cls := range o.HeaderClasses {
		for _, c := range cls {
			en.addClass(c, "header."+strings.ToLower(h))
		}
	}
	if o.Query != "" {
		forEachQuery(o.Query, func(name, value string) {
			p := en.query[name]
			if p == nil {
				if len(en.query) >= maxParams {
					return
				}
				p = &paramStat{schema: schema.New(schema.Options{Classifier: e.cls})}
				en.query[strings.Clone(name)] = p
			}
			p.seen++
			p.schema.ObserveText(value)
			if e.cls.Sensitive(name, value) {
				for _, c := range e.cls.Value(name, value) {
					en.addClass(string(c), "query."+name)
				}
			}
		})
	}
	if len(o.ReqBody) > 0 || len(o.RespBody) > 0 {
		en.profVer++
	}
	var ops []*GraphQLOperation
	if len(o.ReqBody) > 0 {
		ops = e.profileBody(en, "request", o.ReqType, o.ReqBody, 0, nil)
	}
	if len(o.RespBody) > 0 && o.Status > 0 {
		e.profileBody(en, "response", o.RespType, o.RespBody, o.Status, ops)
	}
}

// isPreflight reports a CORS pre-flight: OPTIONS with an
// Access-Control-Request-Method header, or (in logs, which keep no
// headers) answered 204 No Content or never answered. An OPTIONS call
// answered otherwise is an operation (Box's OPTIONS /files/content).
func isPreflight(o *Observation) bool {
	if !strings.EqualFold(o.Method, "OPTIONS") {
		return false
	}
	if o.Status == http.StatusNoContent || o.Status == 0 {
		return true
	}
	for _, h := range o.Headers {
		if strings.EqualFold(h, "Access-Control-Request-Method") {
			return true
		}
	}
	return false
}

// forEachQuery calls fn for each name=value pair of a raw query, decoding
// only the pairs that need it (no allocation for plain ones). Repeated names
// are reported once, with their first value.
func forEachQuery(q string, fn func(name, value string)) {
	var seen [16]string
	n := 0
	for q != "" && n < len(seen) {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name, value = unescape(name), unescape(value)
		if name == "" {
			continue
		}
		dup := false
		for _, s := range seen[:n] {
			if s == name {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		seen[n] = name
		n++
		fn(name, value)
	}
}

func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func (en *entry) addClass(c, field string) {
	m := en.classes[c]
	if m == nil {
		m = map[string]bool{}
		en.classes[c] = m
	}
	if len(m) < 32 {
		m[field] = true
	}
}

// profileBody learns one body's schema and sensitive fields. For a GraphQL
// request it returns the operations it holds; given those, a response is
// learned per operation too.
func (e *Engine) profileBody(en *entry, side, ctype string, body []byte, status int, ops []*GraphQLOperation) []*GraphQLOperation {
	mt := mediaType(ctype)
	var s *schema.Schema
	if side == "request" {
		if en.reqSchema == nil {
			en.reqSchema = schema.New(schema.Options{Classifier: e.cls})
		}
		s = en.reqSchema
	} else {
		s = en.respSchema[status]
		if s == nil {
			if len(en.respSchema) >= 16 {
				return nil
			}
			s = schema.New(schema.Options{Classifier: e.cls})
			en.respSchema[status] = s
		}
	}
	switch {
	case isJSON(mt):
		v, err := sensitive.DecodeJSON(body)
		if err != nil {
			return nil
		}
		s.ObserveValue(v)
		e.cls.ScanDecoded(v, func(path string, c sensitive.Class) { en.addClass(string(c), side+".body."+path) })
		if en.kind == "graphql" {
			newSchema := func() *schema.Schema { return schema.New(schema.Options{Classifier: e.cls}) }
			if side == "request" {
				return observeGraphQL(en, v, newSchema)
			}
			observeGraphQLResponse(ops, v, newSchema)
		}
	case mt == "application/x-www-form-urlencoded":
		if err := s.ObserveForm(body); err == nil {
			e.cls.ScanValues(parseQuery(string(body)), func(name string, c sensitive.Class) {
				en.addClass(string(c), side+".form."+name)
			})
		}
	case strings.HasPrefix(mt, "multipart/form-data"):
		_, params, _ := mime.ParseMediaType(ctype)
		_ = s.ObserveMultipart(body, params["boundary"])
	}
	return nil
}

func isJSON(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "application/graphql-response+json"
}

func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	if len(ct) > 100 {
		ct = ct[:100]
	}
	return ct
}

func normalizeHost(h string) string {
	h = strings.ToLower(h)
	if len(h) > 255 {
		h = h[:255]
	}
	return h
}

// maybeRekeyLocked re-keys when templates changed — while feeding, at most
// every 100 ms and every 10,000 observations (and every inventory's worth
// of them: a merge storm must not make every observation walk a large
// inventory), and always before the inventory is read.
func (e *Engine) maybeRekeyLocked(force bool) {
	g := e.tmpl.Generation()
	if g == e.gen {
		return
	}
	if !force && (e.sinceRek < 10000 || e.sinceRek < len(e.entries) || time.Since(e.rekeyAt) < 100*time.Millisecond) {
		return
	}
	e.gen = g
	e.rekeyAt = time.Now()
	e.sinceRek = 0
	e.rekeyLocked()
}

// Preflights counts CORS pre-flight requests (OPTIONS), which are not
// inventory endpoints.
func (e *Engine) Preflights() uint64 { return e.preflights.Load() }

// settle brings the inventory up to date with the templater before a read.
func (e *Engine) settle() {
	e.tmpl.Settle()
	e.mu.RLock()
	stale := e.tmpl.Generation() != e.gen
	e.mu.RUnlock()
	if stale {
		e.mu.Lock()
		e.maybeRekeyLocked(true)
		e.mu.Unlock()
	}
}

// rekeyLocked moves entries whose template changed (a merge or a split)
// under their new key, folding entries that now share one.
func (e *Engine) rekeyLocked() {
	type split struct {
		from *entry
		key  key
		path string
	}
	var splits []split
	taken := e.tmpl.TakeSplits()
	for k, en := range e.entries {
		nt := e.tmpl.Template(en.sample)
		// The entry's paths may now map to several templates (the
		// templater split a literal out of a parameter): the entry stays
		// with the template most of its samples map to, the others get
		// entries of their own. Only worth asking when the entry moves
		// or literals were split out.
		if len(en.samples) > 1 && (nt != k.path || len(taken) > 0) {
			votes := map[string]int{}
			best := 0
			for _, s := range en.samples {
				t := e.tmpl.Template(s)
				votes[t]++
				if votes[t] > best || votes[t] == best && t == nt {
					best, nt = votes[t], t
				}
			}
			for _, s := range en.samples {
				if t := e.tmpl.Template(s); t != nt && t != k.path {
					splits = append(splits, split{from: en, key: key{host: k.host, method: k.method, path: t}, path: s})
				}
			}
		}
		if nt == k.path {
			continue
		}
		delete(e.entries, k)
		nk := key{host: k.host, method: k.method, path: nt}
		en.key = nk
		if cur, ok := e.entries[nk]; ok {
			cur.merge(en)
		} else {
			e.entries[nk] = en
			e.classifyLocked(en)
		}
	}
	// Literals the templater split out of a parameter take their requests
	// with them, from the entries of the parameter's template.
	var byPath map[string][]key
	if len(taken) > 0 {
		byPath = map[string][]key{}
		for k := range e.entries {
			byPath[k.path] = append(byPath[k.path], k)
		}
	}
	for _, ts := range taken {
		for _, k := range byPath[ts.From] {
			en := e.entries[k]
			if en == nil {
				continue
			}
			n := ts.Gets
			switch k.method {
			case "GET", "HEAD":
			case "POST":
				n = ts.Posts
			default:
				continue
			}
			nk := key{host: k.host, method: k.method, path: ts.To}
			if _, ok := e.entries[nk]; ok || n == 0 || en.hits < 2 {
				continue
			}
			moved := min(int64(n), en.hits-1)
			ne := newEntry(nk, en.first)
			ne.last, ne.kind, ne.hits = en.last, en.kind, moved
			ne.sample = ts.To
			ne.samples = []string{ts.To}
			en.hits -= moved
			e.entries[nk] = ne
			e.classifyLocked(ne)
		}
	}
	for _, sp := range splits {
		if _, ok := e.entries[sp.key]; ok || sp.from.hits < 2 {
			continue
		}
		// Move the requests the templater counted at the new template,
		// within what the entry holds.
		moved := min(int64(e.tmpl.Ends(sp.path)), sp.from.hits-1)
		if moved <= 0 {
			continue
		}
		ne := newEntry(sp.key, sp.from.first)
		ne.last, ne.kind, ne.sample, ne.hits = sp.from.last, sp.from.kind, sp.path, moved
		ne.samples = []string{sp.path}
		sp.from.hits -= moved
		sp.from.samples = slices.DeleteFunc(sp.from.samples, func(s string) bool { return s == sp.path })
		e.entries[sp.key] = ne
		e.classifyLocked(ne)
	}
}

// SetSpecs installs the specs to compare with; their templates win.
func (e *Engine) SetSpecs(specs []*openapi.Spec) {
	for _, s := range specs {
		for _, op := range s.Operations {
			_ = e.tmpl.AddSpecTemplate(op.Path)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.specs = specs
	e.gen = 0 // force a re-key against the spec templates
	e.maybeRekeyLocked(true)
	for _, en := range e.entries {
		e.classifyLocked(en)
	}
}

// classifyLocked sets an entry's spec status.
func (e *Engine) classifyLocked(en *entry) {
	if len(e.specs) == 0 {
		return
	}
	c := openapi.Compare(e.specs, []openapi.Observed{{Host: en.key.host, Method: en.key.method, Path: en.key.path}})
	if len(c.Endpoints) == 1 {
		st := c.Endpoints[0]
		en.specStatus, en.specPath, en.specReason = string(st.Status), st.SpecPath, st.Reason
	}
}

// Comparison compares the whole inventory with the specs.
func (e *Engine) Comparison() openapi.Comparison {
	e.mu.RLock()
	specs := e.specs
	e.mu.RUnlock()
	return openapi.Compare(specs, e.Observed())
}

// Endpoints returns the inventory rows (summary form), sorted by host,
// path, method.
func (e *Engine) Endpoints() []Endpoint {
	e.settle()
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]Endpoint, 0, len(e.entries))
	for _, en := range e.entries {
		out = append(out, e.viewLocked(en, false))
	}
	sortEndpoints(out)
	return out
}

// Endpoint returns one row in full (schemas, parameters), by id.
func (e *Engine) Endpoint(id string) (Endpoint, bool) {
	e.settle()
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, en := range e.entries {
		if EndpointID(en.key.host, en.key.method, en.key.path) == id {
			return e.viewLocked(en, true), true
		}
	}
	return Endpoint{}, false
}

// Full returns every row in full form.
func (e *Engine) Full() []Endpoint {
	e.settle()
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]Endpoint, 0, len(e.entries))
	for _, en := range e.entries {
		out = append(out, e.viewLocked(en, true))
	}
	sortEndpoints(out)
	return out
}

// viewLocked renders an entry with its path parameters.
func (e *Engine) viewLocked(en *entry, full bool) Endpoint {
	ep := en.view(full)
	ep.PathParams = e.pathParams(en)
	return ep
}

// pathParams describes the parameter segments of en's template from the
// raw paths it keeps as samples.
func (e *Engine) pathParams(en *entry) []PathParam {
	tmpl := en.key.path
	if strings.IndexByte(tmpl, '{') < 0 {
		return nil
	}
	tsegs := splitSegments(tmpl)
	var out []PathParam
	for i, ts := range tsegs {
		if !strings.HasPrefix(ts, "{") {
			continue
		}
		name := ts
		if j := strings.IndexByte(ts, '}'); j > 0 {
			name = ts[:j+1]
		}
		p := PathParam{Position: i, Name: name, Examples: []string{}}
		var raw []string
		for _, s := range en.samples {
			segs := splitSegments(s)
			if i >= len(segs) {
				continue
			}
			v := segs[i]
			if ext := ts[len(name):]; ext != "" {
				v = strings.TrimSuffix(v, ext)
			}
			if slices.Contains(raw, v) {
				continue
			}
			raw = append(raw, v)
			if e.cls.Sensitive("", unescape(v)) {
				v = sensitive.Mask(unescape(v))
			}
			p.Examples = append(p.Examples, v)
		}
		p.Kind = template.ParamKind(raw, en.hits)
		out = append(out, p)
	}
	return out
}

// splitSegments splits a path as the templater does: no query, no empty
// segments.
func splitSegments(p string) []string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}

// Len is the number of endpoints.
func (e *Engine) Len() int {
	e.settle()
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.entries)
}

// Count is the number of rows as they stand, without settling the
// templater first (Len settles): for progress lines in the middle of a
// feed, which must not change what the feed decides.
func (e *Engine) Count() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.entries)
}

// Overflow counts observations of endpoints beyond MaxEndpoints.
func (e *Engine) Overflow() uint64 { return e.overflow.Load() }

func sortEndpoints(eps []Endpoint) {
	slicesSortFunc(eps, func(a, b Endpoint) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
}

// Observed converts the inventory for the openapi package.
func (e *Engine) Observed() []openapi.Observed {
	eps := e.Full()
	out := make([]openapi.Observed, 0, len(eps))
	for _, ep := range eps {
		o := openapi.Observed{Host: ep.Host, Method: ep.Method, Path: ep.Path, Hits: ep.Hits, FirstSeen: ep.FirstSeen,
			LastSeen: ep.LastSeen, RequestSchema: ep.RequestSchema, Sensitive: ep.Sensitive}
		for _, p := range ep.QueryParams {
			o.QueryParams = append(o.QueryParams, openapi.ObservedParam{Name: p.Name, Required: p.Required, Schema: p.Schema})
		}
		for _, p := range ep.HeaderParams {
			o.HeaderParams = append(o.HeaderParams, openapi.ObservedParam{Name: p.Name, Required: p.Required, Schema: map[string]any{"type": "string"}})
		}
		for ct := range ep.ReqContentTypes {
			o.RequestContentTypes = append(o.RequestContentTypes, ct)
		}
		for a := range ep.Auth {
			o.Auth = append(o.Auth, a)
		}
		o.Responses = map[int]openapi.ObservedResponse{}
		respCT := ""
		for ct := range ep.RespContentType {
			respCT = ct
		}
		for st, n := range ep.StatusCodes {
			r := openapi.ObservedResponse{Count: n, ContentType: respCT}
			if s, ok := ep.ResponseSchemas[itoa(st)].(map[string]any); ok {
				r.Schema = s
			}
			o.Responses[st] = r
		}
		out = append(out, o)
	}
	return out
}

// OpenAPI reconstructs the OpenAPI 3.1 document of one host ("" = all).
func (e *Engine) OpenAPI(host string) ([]byte, error) {
	return openapi.Reconstruct(host, e.Observed(), openapi.ReconstructOptions{GeneratedAt: time.Now().UTC()})
}

// Evaluate raises the alerts that are due: new endpoints (once settled),
// new sensitive classes, changed schemas, new shadow and zombie endpoints.
func (e *Engine) Evaluate(now time.Time) {
	if e.opts.Alerts == nil {
		return
	}
	var out []Alert
	e.mu.Lock()
	e.maybeRekeyLocked(true)
	for _, en := range e.entries {
		a := Alert{Host: en.key.host, Method: en.key.method, Endpoint: en.key.path, Time: now}
		if !en.alerted {
			if now.Sub(en.first) < e.opts.Settle {
				continue
			}
			en.alerted = true
			a.Kind = "new_endpoint"
			out = append(out, a)
			for c := range en.classes {
				en.alertedClass[c] = true
			}
			en.schemaPrint = en.fingerprint()
		} else {
			for c := range en.classes {
				if !en.alertedClass[c] {
					en.alertedClass[c] = true
					b := a
					b.Kind, b.Detail = "new_sensitive", c
					out = append(out, b)
				}
			}
			if fp := en.fingerprint(); fp != en.schemaPrint {
				if en.schemaPrint != "" {
					b := a
					b.Kind, b.Detail = "schema_changed", "learned schema changed"
					out = append(out, b)
				}
				en.schemaPrint = fp
			}
		}
		if en.specStatus != en.alertedStatus {
			en.alertedStatus = en.specStatus
			switch en.specStatus {
			case "shadow", "zombie":
				b := a
				b.Kind, b.Detail = en.specStatus+"_endpoint", en.specReason
				out = append(out, b)
			}
		}
	}
	e.mu.Unlock()
	for _, a := range out {
		e.opts.Alerts(a)
	}
}

// fingerprint is the shape of the learned schemas: property paths and
// types, so that a new field or a type change is a change, and a new
// sample of the same shape is not.
func (en *entry) fingerprint() string {
	var b strings.Builder
	if en.reqSchema != nil && en.reqSchema.Samples() >= 3 {
		shape(&b, "req", en.reqSchema.JSONSchema())
	}
	for st, s := range en.respSchema {
		if s.Samples() >= 3 && st < 300 {
			shape(&b, "resp"+itoa(st), s.JSONSchema())
		}
	}
	return b.String()
}

func shape(b *strings.Builder, prefix string, s map[string]any) {
	if s == nil {
		return
	}
	t, _ := json.Marshal(s["type"])
	b.WriteString(prefix)
	b.WriteByte('=')
	b.Write(t)
	b.WriteByte(';')
	if props, ok := s["properties"].(map[string]any); ok {
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			if sub, ok := props[k].(map[string]any); ok {
				shape(b, prefix+"."+k, sub)
			}
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		shape(b, prefix+"[]", items)
	}
}
