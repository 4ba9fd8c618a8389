package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ReconstructOptions tunes Reconstruct. The zero value is usable.
type ReconstructOptions struct {
	// Title is info.title; default "<host> (observed by Vigil)".
	Title string
	// Version is info.version; default "0.0.0-observed".
	Version string
	// Servers are the server URLs; default "https://<host>" when host is
	// set, none otherwise.
	Servers []string
	// APIKeyHeader names the header of the apiKey security scheme; default
	// "X-API-Key".
	APIKeyHeader string
	// GeneratedAt, when set, is written as info.x-vigil-generated-at.
	GeneratedAt time.Time
}

// Reconstruct builds an OpenAPI 3.1 document (JSON) for host from the
// observed endpoints. Endpoints of other hosts are skipped; with host ""
// every endpoint is used. Each {name} in a template becomes a required path
// parameter (a name used twice in one template is numbered: {parameter1},
// {parameter2}); templates that differ only in parameter names are merged.
// Operations carry x-vigil-hits, x-vigil-first-seen, x-vigil-last-seen and
// x-vigil-sensitive.
func Reconstruct(host string, eps []Observed, opts ReconstructOptions) ([]byte, error) {
	if opts.Title == "" {
		opts.Title = "API observed by Vigil"
		if host != "" {
			opts.Title = host + " (observed by Vigil)"
		}
	}
	if opts.Version == "" {
		opts.Version = "0.0.0-observed"
	}
	if opts.APIKeyHeader == "" {
		opts.APIKeyHeader = "X-API-Key"
	}
	if len(opts.Servers) == 0 && host != "" && host != "*" {
		opts.Servers = []string{"https://" + host}
	}

	info := map[string]any{
		"title":       opts.Title,
		"version":     opts.Version,
		"description": "Reconstructed from observed traffic. Paths, parameters and schemas are what was seen, not what the service promises.",
	}
	if !opts.GeneratedAt.IsZero() {
		info["x-vigil-generated-at"] = opts.GeneratedAt.UTC().Format(time.RFC3339)
	}
	doc := map[string]any{
		"openapi":           "3.1.0",
		"info":              info,
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
	}
	if len(opts.Servers) > 0 {
		servers := make([]any, 0, len(opts.Servers))
		for _, s := range opts.Servers {
			servers = append(servers, map[string]any{"url": s})
		}
		doc["servers"] = servers
	}

	groups, err := groupEndpoints(host, eps)
	if err != nil {
		return nil, err
	}
	paths := map[string]any{}
	ids := map[string]int{}
	schemes := map[string]any{}
	for _, g := range groups {
		item := map[string]any{}
		for _, ep := range g.ops {
			item[strings.ToLower(ep.Method)] = buildOperation(g.template, g.params, ep, ids, schemes, opts)
		}
		paths[g.template] = item
	}
	doc["paths"] = paths
	if len(schemes) > 0 {
		doc["components"] = map[string]any{"securitySchemes": schemes}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi: reconstruct: %w", err)
	}
	return out, nil
}

type pathGroup struct {
	template string
	params   []string
	ops      []Observed // one per method, merged
}

var validMethods = map[string]bool{"GET": true, "PUT": true, "POST": true, "DELETE": true, "OPTIONS": true, "HEAD": true, "PATCH": true, "TRACE": true}

// groupEndpoints normalizes templates, groups endpoints by path shape and
// merges duplicates of one method.
func groupEndpoints(host string, eps []Observed) ([]*pathGroup, error) {
	byShape := map[string]*pathGroup{}
	var order []string
	for _, ep := range eps {
		if host != "" && !strings.EqualFold(ep.Host, host) {
			continue
		}
		method := strings.ToUpper(ep.Method)
		if !validMethods[method] {
			continue // CONNECT and custom methods have no place in OpenAPI 3.1
		}
		template, params, shape := normalizeTemplate(ep.Path)
		g, ok := byShape[shape]
		if !ok {
			g = &pathGroup{template: template, params: params}
			byShape[shape] = g
			order = append(order, shape)
		}
		ep.Method = method
		merged := false
		for i := range g.ops {
			if g.ops[i].Method == method {
				g.ops[i] = mergeObserved(g.ops[i], ep)
				merged = true
				break
			}
		}
		if !merged {
			g.ops = append(g.ops, ep)
		}
	}
	if len(byShape) == 0 && len(eps) > 0 && host != "" {
		return nil, errors.New("openapi: reconstruct: no endpoint for host " + host)
	}
	sort.Strings(order)
	out := make([]*pathGroup, 0, len(order))
	for _, s := range order {
		g := byShape[s]
		sort.Slice(g.ops, func(i, j int) bool { return methodOrder[g.ops[i].Method] < methodOrder[g.ops[j].Method] })
		out = append(out, g)
	}
	return out, nil
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// normalizeTemplate makes a valid OpenAPI path template: a leading slash,
// no query, parameter names that are unique within the template. shape is
// the template with every parameter name blanked, which OpenAPI treats as
// identical paths.
func normalizeTemplate(p string) (template string, params []string, shape string) {
	p = escapeControls(normalizePath(p))
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		segs[i] = escapeStrayBraces(s)
	}
	count := map[string]int{}
	var names []string
	for _, s := range segs {
		for _, m := range paramInSegment.FindAllString(s, -1) {
			name := nonName.ReplaceAllString(m[1:len(m)-1], "_")
			if name == "" {
				name = "parameter"
			}
			count[name]++
			names = append(names, name)
		}
	}
	seq := map[string]int{}
	used := map[string]bool{}
	idx := 0
	shapeSegs := make([]string, len(segs))
	for i, s := range segs {
		shapeSegs[i] = paramInSegment.ReplaceAllString(s, "{}")
		segs[i] = paramInSegment.ReplaceAllStringFunc(s, func(string) string {
			name := names[idx]
			idx++
			if count[name] > 1 {
				for {
					seq[name]++
					cand := name + strconv.Itoa(seq[name])
					if !used[cand] && count[cand] == 0 {
						name = cand
						break
					}
				}
			}
			used[name] = true
			params = append(params, name)
			return "{" + name + "}"
		})
	}
	return "/" + strings.Join(segs, "/"), params, "/" + strings.Join(shapeSegs, "/")
}

func mergeObserved(a, b Observed) Observed {
	a.Hits += b.Hits
	if a.FirstSeen.IsZero() || (!b.FirstSeen.IsZero() && b.FirstSeen.Before(a.FirstSeen)) {
		a.FirstSeen = b.FirstSeen
	}
	if b.LastSeen.After(a.LastSeen) {
		a.LastSeen = b.LastSeen
	}
	a.QueryParams = mergeParams(a.QueryParams, b.QueryParams)
	a.HeaderParams = mergeParams(a.HeaderParams, b.HeaderParams)
	a.RequestContentTypes = unionStrings(a.RequestContentTypes, b.RequestContentTypes)
	if a.RequestSchema == nil {
		a.RequestSchema = b.RequestSchema
	}
	if len(b.Responses) > 0 {
		rs := make(map[int]ObservedResponse, len(a.Responses)+len(b.Responses))
		for k, v := range a.Responses {
			rs[k] = v
		}
		for k, v := range b.Responses {
			if cur, ok := rs[k]; ok {
				cur.Count += v.Count
				if cur.Schema == nil {
					cur.Schema, cur.ContentType = v.Schema, v.ContentType
				}
				v = cur
			}
			rs[k] = v
		}
		a.Responses = rs
	}
	a.Auth = unionStrings(a.Auth, b.Auth)
	a.Sensitive = unionStrings(a.Sensitive, b.Sensitive)
	return a
}

func mergeParams(a, b []ObservedParam) []ObservedParam {
	out := append([]ObservedParam(nil), a...)
	for _, p := range b {
		found := false
		for i := range out {
			if out[i].Name == p.Name {
				out[i].Required = out[i].Required && p.Required
				found = true
				break
			}
		}
		if !found {
			p.Required = false // absent from the other endpoint's requests
			out = append(out, p)
		}
	}
	return out
}

func unionStrings(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range [][]string{a, b} {
		for _, s := range l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// Headers that OpenAPI says must not be described as header parameters.
var reservedHeaders = map[string]bool{"accept": true, "content-type": true, "authorization": true}

func buildOperation(template string, pathParams []string, ep Observed, ids map[string]int, schemes map[string]any, opts ReconstructOptions) map[string]any {
	op := map[string]any{
		"operationId":  operationID(ep.Method, template, ids),
		"x-vigil-hits": ep.Hits,
	}
	if !ep.FirstSeen.IsZero() {
		op["x-vigil-first-seen"] = ep.FirstSeen.UTC().Format(time.RFC3339)
	}
	if !ep.LastSeen.IsZero() {
		op["x-vigil-last-seen"] = ep.LastSeen.UTC().Format(time.RFC3339)
	}
	if len(ep.Sensitive) > 0 {
		s := append([]string(nil), ep.Sensitive...)
		sort.Strings(s)
		op["x-vigil-sensitive"] = s
	}

	var params []any
	for _, name := range pathParams {
		params = append(params, map[string]any{
			"name": name, "in": "path", "required": true,
			"schema": map[string]any{"type": "string"},
		})
	}
	addParams := func(in string, list []ObservedParam) {
		sorted := append([]ObservedParam(nil), list...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
		seen := map[string]bool{}
		for _, p := range sorted {
			key := strings.ToLower(p.Name)
			if p.Name == "" || seen[key] || (in == "header" && reservedHeaders[key]) {
				continue
			}
			seen[key] = true
			schema := p.Schema
			if schema == nil {
				schema = map[string]any{"type": "string"}
			}
			params = append(params, map[string]any{"name": p.Name, "in": in, "required": p.Required, "schema": schema})
		}
	}
	addParams("query", ep.QueryParams)
	addParams("header", ep.HeaderParams)
	if len(params) > 0 {
		op["parameters"] = params
	}

	if body := requestBody(ep); body != nil {
		op["requestBody"] = body
	}
	op["responses"] = responses(ep)
	if sec := security(ep.Auth, schemes, opts); sec != nil {
		op["security"] = sec
	}
	return op
}

func requestBody(ep Observed) map[string]any {
	types := append([]string(nil), ep.RequestContentTypes...)
	if len(types) == 0 && ep.RequestSchema != nil {
		types = []string{"application/json"}
	}
	if len(types) == 0 {
		return nil
	}
	content := map[string]any{}
	for _, ct := range types {
		ct = strings.TrimSpace(strings.SplitN(ct, ";", 2)[0])
		if ct == "" {
			continue
		}
		media := map[string]any{}
		if isJSONType(ct) && ep.RequestSchema != nil {
			media["schema"] = ep.RequestSchema
		}
		content[strings.ToLower(ct)] = media
	}
	if len(content) == 0 {
		return nil
	}
	return map[string]any{"content": content}
}

func responses(ep Observed) map[string]any {
	out := map[string]any{}
	for code, r := range ep.Responses {
		if code < 100 || code > 599 {
			continue
		}
		desc := http.StatusText(code)
		if desc == "" {
			desc = "Observed response"
		}
		resp := map[string]any{"description": desc, "x-vigil-count": r.Count}
		if ct := strings.ToLower(strings.TrimSpace(strings.SplitN(r.ContentType, ";", 2)[0])); ct != "" {
			media := map[string]any{}
			if r.Schema != nil {
				media["schema"] = r.Schema
			}
			resp["content"] = map[string]any{ct: media}
		}
		out[strconv.Itoa(code)] = resp
	}
	if len(out) == 0 {
		out["default"] = map[string]any{"description": "No response observed"}
	}
	return out
}

// security maps the kinds of credentials seen to security requirements;
// each kind is one alternative, and "none" makes authentication optional.
func security(auth []string, schemes map[string]any, opts ReconstructOptions) []any {
	var reqs []any
	optional := false
	seen := map[string]bool{}
	for _, a := range auth {
		var name string
		var scheme map[string]any
		switch a {
		case "none", "":
			optional = true
			continue
		case "bearer_jwt":
			name, scheme = "bearerJWT", map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
		case "bearer":
			name, scheme = "bearer", map[string]any{"type": "http", "scheme": "bearer"}
		case "basic":
			name, scheme = "basic", map[string]any{"type": "http", "scheme": "basic"}
		case "api_key":
			name, scheme = "apiKey", map[string]any{"type": "apiKey", "in": "header", "name": opts.APIKeyHeader}
		case "mtls":
			name, scheme = "mutualTLS", map[string]any{"type": "mutualTLS"}
		default:
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		schemes[name] = scheme
		reqs = append(reqs, map[string]any{name: []any{}})
	}
	if len(reqs) == 0 {
		if optional {
			return []any{} // explicitly public
		}
		return nil
	}
	sort.Slice(reqs, func(i, j int) bool { return firstKey(reqs[i]) < firstKey(reqs[j]) })
	if optional {
		reqs = append(reqs, map[string]any{})
	}
	return reqs
}

func firstKey(v any) string {
	for k := range v.(map[string]any) {
		return k
	}
	return ""
}

// operationID derives a readable, unique operationId: GET
// /products/{id}/reviews → getProductsByIdReviews.
func operationID(method, template string, ids map[string]int) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(template, "/") {
		if seg == "" {
			continue
		}
		if isTemplateSegment(seg) {
			b.WriteString("By")
			seg = seg[1 : len(seg)-1]
		}
		for _, word := range strings.FieldsFunc(seg, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) {
			b.WriteString(strings.ToUpper(word[:1]) + word[1:])
		}
	}
	id := b.String()
	ids[id]++
	if n := ids[id]; n > 1 {
		id += "_" + strconv.Itoa(n)
		ids[id]++
	}
	return id
}

// escapeControls percent-encodes ASCII control characters, which have no
// place in a path template.
func escapeControls(p string) string {
	if !strings.ContainsFunc(p, isControl) {
		return p
	}
	var b strings.Builder
	for _, r := range p {
		if isControl(r) {
			fmt.Fprintf(&b, "%%%02X", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// braceEscaper is immutable once built.
var braceEscaper = strings.NewReplacer("{", "%7B", "}", "%7D")

// escapeStrayBraces percent-encodes braces that are not part of a {name}.
func escapeStrayBraces(seg string) string {
	if !strings.ContainsAny(seg, "{}") {
		return seg
	}
	var b strings.Builder
	last := 0
	for _, loc := range paramInSegment.FindAllStringIndex(seg, -1) {
		b.WriteString(braceEscaper.Replace(seg[last:loc[0]]))
		b.WriteString(seg[loc[0]:loc[1]])
		last = loc[1]
	}
	b.WriteString(braceEscaper.Replace(seg[last:]))
	return b.String()
}
