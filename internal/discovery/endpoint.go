package discovery

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/discovery/schema"
)

// Endpoint is one inventory row: host + method + path template.
type Endpoint struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Kind      string    `json:"kind"` // rest, grpc, graphql, websocket, static, not_found
	Hits      int64     `json:"hits"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Protected bool      `json:"protected"`
	// Status against the specs: documented, shadow, zombie ("" when no spec
	// is loaded).
	Status    string   `json:"status"`
	Sensitive []string `json:"sensitive"`

	StatusCodes     map[int]int64    `json:"status_codes"`
	LatencyMS       Latency          `json:"latency_ms"`
	Auth            map[string]int64 `json:"auth"`
	QueryParams     []Param          `json:"query_params,omitempty"`
	HeaderParams    []Param          `json:"header_params,omitempty"`
	ReqContentTypes map[string]int64 `json:"request_content_types,omitempty"`
	RespContentType map[string]int64 `json:"response_content_types,omitempty"`
	// SensitiveFields maps where a class was seen (request.body.$.email,
	// response.body.$.card, query.token, header.x-api-key) to its classes.
	SensitiveFields map[string][]string `json:"sensitive_fields,omitempty"`
	RequestSchema   map[string]any      `json:"request_schema,omitempty"`
	ResponseSchemas map[string]any      `json:"response_schemas,omitempty"`
	Operations      []GraphQLOperation  `json:"graphql_operations,omitempty"`
	SpecPath        string              `json:"spec_path,omitempty"`
	StatusReason    string              `json:"status_reason,omitempty"`
	// PathParams describe the template's parameters: their kind and a few
	// example values (masked when sensitive), so that a user can judge a
	// merge.
	PathParams []PathParam `json:"path_params,omitempty"`
}

// PathParam is one parameter segment of a template.
type PathParam struct {
	Position int      `json:"position"` // index of the segment, from 0
	Name     string   `json:"name"`     // {parameter}, or the spec's name
	Kind     string   `json:"kind"`     // integer, uuid, hex, date, email, id, username, slug, name, enum
	Examples []string `json:"examples"`
}

// Latency summarizes an endpoint's latency.
type Latency struct {
	Avg float64 `json:"avg"`
	Max float64 `json:"max"`
}

// Param is a query or header parameter with how often it was present.
type Param struct {
	Name     string         `json:"name"`
	Seen     int64          `json:"seen"`
	Required bool           `json:"required"`
	Schema   map[string]any `json:"schema,omitempty"`
}

// GraphQLOperation is one named GraphQL operation seen on an endpoint.
type GraphQLOperation struct {
	Type       string   `json:"type"` // query, mutation, subscription
	Name       string   `json:"name"`
	RootFields []string `json:"root_fields"`
	Variables  []string `json:"variables,omitempty"` // declared variables, without the $
	Hits       int64    `json:"hits"`
	// VariablesSchema and ResponseSchema are JSON Schemas learned from the
	// operation's own sampled requests ("variables") and responses (the
	// whole response document: data and errors).
	VariablesSchema map[string]any `json:"variables_schema,omitempty"`
	ResponseSchema  map[string]any `json:"response_schema,omitempty"`

	// vars and resp are the learning state behind the two schemas.
	vars, resp *schema.Schema
}

// mergeSchemas folds o's learned schemas into op's (o's are taken over
// when op has none).
func (op *GraphQLOperation) mergeSchemas(o *GraphQLOperation) {
	mergeInto(&op.vars, o.vars)
	mergeInto(&op.resp, o.resp)
}

func mergeInto(dst **schema.Schema, src *schema.Schema) {
	switch {
	case src == nil:
	case *dst == nil:
		*dst = src
	default:
		(*dst).Merge(src)
	}
}

// rendered is op as the inventory shows it: the schemas as JSON Schema,
// without the learning state.
func (op GraphQLOperation) rendered() GraphQLOperation {
	if op.vars != nil && op.vars.Samples() > 0 {
		op.VariablesSchema = op.vars.JSONSchema()
	}
	if op.resp != nil && op.resp.Samples() > 0 {
		op.ResponseSchema = op.resp.JSONSchema()
	}
	op.vars, op.resp = nil, nil
	return op
}

// EndpointID derives a stable id from the key, so that every replica
// names an endpoint alike.
func EndpointID(host, method, path string) string {
	s := sha256.Sum256([]byte(host + " " + method + " " + path))
	return hex.EncodeToString(s[:8])
}

// entry is the mutable state behind an Endpoint (owned by the engine).
type entry struct {
	key        key
	sample     string   // a raw path, kept in memory only, to re-key on template changes
	samples    []string // a few distinct raw paths: examples of the parameters
	kind       string
	hits       int64
	first      time.Time
	last       time.Time
	protected  bool
	status     counts[int]
	latSum     float64
	latMax     float64
	auth       counts[string]
	query      map[string]*paramStat
	headers    map[string]int64
	reqTypes   map[string]int64
	respTypes  map[string]int64
	reqSchema  *schema.Schema
	respSchema map[int]*schema.Schema
	classes    map[string]map[string]bool // class -> fields
	ops        map[string]*GraphQLOperation
	profVer    int64 // bumped by every profiled body: the profile changed

	// alert state
	alerted       bool
	alertedStatus string
	alertedClass  map[string]bool
	schemaPrint   string
	specStatus    string
	specPath      string
	specReason    string
}

type paramStat struct {
	seen   int64
	schema *schema.Schema
}

type key struct{ host, method, path string }

const (
	maxParams      = 64
	maxHeaderNames = 32
	maxOps         = 128
)

func newEntry(k key, now time.Time) *entry {
	return &entry{key: k, first: now, last: now,
		query: map[string]*paramStat{}, headers: map[string]int64{}, reqTypes: map[string]int64{}, respTypes: map[string]int64{},
		respSchema: map[int]*schema.Schema{}, classes: map[string]map[string]bool{}, ops: map[string]*GraphQLOperation{},
		alertedClass: map[string]bool{}}
}

// maxSamples bounds the distinct raw paths an entry keeps as examples.
const maxSamples = 8

func (e *entry) addSample(path string) {
	if len(e.samples) < maxSamples && !slices.Contains(e.samples, path) {
		e.samples = append(e.samples, path)
	}
}

// merge folds o into e (used when templates merge).
func (e *entry) merge(o *entry) {
	for _, s := range o.samples {
		e.addSample(s)
	}
	e.hits += o.hits
	if o.first.Before(e.first) {
		e.first = o.first
	}
	if o.last.After(e.last) {
		e.last = o.last
	}
	e.protected = e.protected || o.protected
	e.status.add(o.status)
	e.auth.add(o.auth)
	addCounts(e.headers, o.headers)
	addCounts(e.reqTypes, o.reqTypes)
	addCounts(e.respTypes, o.respTypes)
	e.latSum += o.latSum
	e.latMax = max(e.latMax, o.latMax)
	for n, p := range o.query {
		if q, ok := e.query[n]; ok {
			q.seen += p.seen
			q.schema.Merge(p.schema)
		} else if len(e.query) < maxParams {
			e.query[n] = p
		}
	}
	if o.reqSchema != nil {
		if e.reqSchema == nil {
			e.reqSchema = o.reqSchema
		} else {
			e.reqSchema.Merge(o.reqSchema)
		}
	}
	for st, s := range o.respSchema {
		if m, ok := e.respSchema[st]; ok {
			m.Merge(s)
		} else {
			e.respSchema[st] = s
		}
	}
	for c, fields := range o.classes {
		if e.classes[c] == nil {
			e.classes[c] = map[string]bool{}
		}
		for f := range fields {
			e.classes[c][f] = true
		}
	}
	for n, op := range o.ops {
		if cur, ok := e.ops[n]; ok {
			cur.Hits += op.Hits
			cur.mergeSchemas(op)
			for _, v := range op.Variables {
				if !slices.Contains(cur.Variables, v) && len(cur.Variables) < 32 {
					cur.Variables = append(cur.Variables, v)
				}
			}
		} else {
			e.ops[n] = op
		}
	}
	e.profVer += o.profVer
	e.alerted = e.alerted && o.alerted
}

func addCounts[K comparable](dst, src map[K]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

func (e *entry) classList() []string {
	return slices.Sorted(maps.Keys(e.classes))
}

// viewKind is the entry's kind; an endpoint that only ever answered 404
// is "not_found": probes and typos, not an operation the upstream serves.
func (e *entry) viewKind() string {
	if e.hits > 0 && e.kind == "rest" {
		var n404 int64
		for _, c := range e.status {
			if c.k == http.StatusNotFound {
				n404 = c.n
			}
		}
		if n404 == e.hits {
			return "not_found"
		}
	}
	return e.kind
}

// view renders the public row. full adds schemas and parameters.
func (e *entry) view(full bool) Endpoint {
	ep := Endpoint{
		ID: EndpointID(e.key.host, e.key.method, e.key.path), Host: e.key.host, Method: e.key.method, Path: e.key.path,
		Kind: e.viewKind(), Hits: e.hits, FirstSeen: e.first, LastSeen: e.last, Protected: e.protected,
		Status: e.specStatus, Sensitive: e.classList(), SpecPath: e.specPath, StatusReason: e.specReason,
	}
	if ep.Sensitive == nil {
		ep.Sensitive = []string{}
	}
	if !full {
		return ep
	}
	ep.StatusCodes = e.status.toMap()
	ep.Auth = e.auth.toMap()
	ep.ReqContentTypes = maps.Clone(e.reqTypes)
	ep.RespContentType = maps.Clone(e.respTypes)
	if e.hits > 0 {
		ep.LatencyMS = Latency{Avg: round3(e.latSum / float64(e.hits)), Max: round3(e.latMax)}
	}
	for _, n := range slices.Sorted(maps.Keys(e.query)) {
		p := e.query[n]
		ep.QueryParams = append(ep.QueryParams, Param{Name: n, Seen: p.seen, Required: p.seen == e.hits && e.hits >= 3, Schema: p.schema.JSONSchema()})
	}
	for _, n := range slices.Sorted(maps.Keys(e.headers)) {
		ep.HeaderParams = append(ep.HeaderParams, Param{Name: n, Seen: e.headers[n], Required: e.headers[n] == e.hits && e.hits >= 3})
	}
	if len(e.classes) > 0 {
		ep.SensitiveFields = map[string][]string{}
		for c, fields := range e.classes {
			for f := range fields {
				ep.SensitiveFields[f] = append(ep.SensitiveFields[f], c)
			}
		}
		for f := range ep.SensitiveFields {
			sort.Strings(ep.SensitiveFields[f])
		}
	}
	if e.reqSchema != nil && e.reqSchema.Samples() > 0 {
		ep.RequestSchema = e.reqSchema.JSONSchema()
	}
	if len(e.respSchema) > 0 {
		ep.ResponseSchemas = map[string]any{}
		for st, s := range e.respSchema {
			if s.Samples() > 0 {
				ep.ResponseSchemas[itoa(st)] = s.JSONSchema()
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(e.ops)) {
		ep.Operations = append(ep.Operations, e.ops[n].rendered())
	}
	return ep
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	neg := i < 0
	if neg {
		i = -i
	}
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		n--
		b[n] = '-'
	}
	return string(b[n:])
}

// kindOf classifies an endpoint from its request.
func kindOf(o *Observation) string {
	switch {
	case o.Upgrade != "":
		return "websocket"
	case strings.HasPrefix(o.ReqType, "application/grpc"):
		return "grpc"
	case isGraphQLPath(o.Path):
		return "graphql"
	case isStatic(o.Path):
		return "static"
	}
	return "rest"
}

func isGraphQLPath(p string) bool {
	return strings.HasSuffix(p, "/graphql") || strings.HasSuffix(p, "/graphql/") || strings.HasSuffix(p, "/gql")
}

var staticExt = map[string]bool{".css": true, ".js": true, ".png": true, ".jpg": true, ".jpeg": true, ".gif": true,
	".svg": true, ".ico": true, ".woff": true, ".woff2": true, ".ttf": true, ".map": true, ".webp": true, ".mp4": true,
	".pdf": true, ".txt": true, ".html": true, ".htm": true, ".xml": true, ".zip": true, ".gz": true, ".eot": true}

func isStatic(p string) bool {
	i := strings.LastIndexByte(p, '.')
	if i < 0 || strings.IndexByte(p[i:], '/') >= 0 {
		return false
	}
	return staticExt[strings.ToLower(p[i:])]
}

// counts is a small counter keyed by a few distinct values (status codes,
// credential kinds): a slice scanned linearly beats a map at this size.
type counts[K comparable] []struct {
	k K
	n int64
}

const maxCountKeys = 32

func (c *counts[K]) inc(k K) { c.addN(k, 1) }

func (c *counts[K]) addN(k K, n int64) {
	for i := range *c {
		if (*c)[i].k == k {
			(*c)[i].n += n
			return
		}
	}
	if len(*c) < maxCountKeys {
		*c = append(*c, struct {
			k K
			n int64
		}{k, n})
	}
}

func (c *counts[K]) add(o counts[K]) {
	for _, x := range o {
		c.addN(x.k, x.n)
	}
}

func (c counts[K]) toMap() map[K]int64 {
	m := make(map[K]int64, len(c))
	for _, x := range c {
		m[x.k] = x.n
	}
	return m
}
