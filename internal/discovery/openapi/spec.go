package openapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/yaml"
)

// Spec is an OpenAPI document reduced to what discovery needs.
type Spec struct {
	Title   string `json:"title"`
	Version string `json:"version"` // info.version
	// Source is where the document came from (file path or URL), or the
	// source name given to Parse.
	Source string `json:"source,omitempty"`
	// OpenAPI is the document's own version: "2.0", "3.0.3", "3.1.0", ...
	OpenAPI string `json:"openapi"`
	// Hosts are the host[:port] parts of servers (3.x) or host (2.0); empty
	// when the servers are relative.
	Hosts []string `json:"hosts,omitempty"`
	// BasePath is the path of the first server (3.x) or basePath (2.0), ""
	// for "/". Operation.Path already includes it.
	BasePath string `json:"base_path"`
	// BasePaths lists every distinct server base path (BasePath first); an
	// observed path matches an operation under any of them.
	BasePaths  []string    `json:"base_paths"`
	Operations []Operation `json:"operations"`
}

// Operation is one method on one path template.
type Operation struct {
	// Method is upper case: GET, POST, ...
	Method string `json:"method"`
	// Path is the full template including the base path, e.g.
	// /v1/pets/{petId}.
	Path string `json:"path"`
	// RawPath is the template as written under paths, without base path.
	RawPath     string `json:"raw_path"`
	OperationID string `json:"operation_id,omitempty"`
	Deprecated  bool   `json:"deprecated,omitempty"`
	// APIVersion is derived from a version segment of Path ("v1", "v2.1"),
	// "" if there is none.
	APIVersion string  `json:"api_version,omitempty"`
	Params     []Param `json:"params,omitempty"`
	// RequestSchema is the JSON Schema of the JSON request body, nil if
	// the operation takes no JSON body. $refs are resolved; a recursive
	// reference is left as {"$ref": "..."} at the point where it recurs.
	RequestSchema map[string]any `json:"request_schema,omitempty"`
	// ResponseSchemas maps a status code ("200", "4XX", "default") to the
	// JSON Schema of its JSON body; the value is nil for a documented
	// status without a JSON body.
	ResponseSchemas map[string]map[string]any `json:"response_schemas,omitempty"`
}

// Param is one path, query, header or cookie parameter.
type Param struct {
	Name     string         `json:"name"`
	In       string         `json:"in"` // path, query, header, cookie
	Required bool           `json:"required"`
	Schema   map[string]any `json:"schema,omitempty"`
}

// Parse parses an OpenAPI 2.0, 3.0 or 3.1 document, YAML or JSON. source
// names the document in errors and in Spec.Source. External $refs (to other
// files or URLs) are not followed: such a document is rejected.
func Parse(data []byte, source string) (*Spec, error) {
	return parse(context.Background(), data, source)
}

func parse(ctx context.Context, data []byte, source string) (spec *Spec, err error) {
	name := source
	if name == "" {
		name = "spec"
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("openapi: %s: %w", name, err)
		}
	}()
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, errors.New("empty document")
	}
	jsonData := data
	if !json.Valid(data) {
		if jsonData, err = yaml.YAMLToJSON(data); err != nil {
			return nil, fmt.Errorf("not YAML or JSON: %w", err)
		}
	}
	var probe struct {
		Swagger any `json:"swagger"`
		OpenAPI any `json:"openapi"`
	}
	if err := json.Unmarshal(jsonData, &probe); err != nil {
		return nil, errors.New("not an OpenAPI document: the top level is not an object")
	}
	var doc *openapi3.T
	var doc2 *openapi2.T
	switch {
	case probe.Swagger != nil:
		if v := fmt.Sprint(probe.Swagger); v != "2.0" {
			return nil, fmt.Errorf("unsupported swagger version %q (want \"2.0\")", v)
		}
		doc2 = new(openapi2.T)
		if err := json.Unmarshal(jsonData, doc2); err != nil {
			return nil, fmt.Errorf("invalid Swagger 2.0 document: %w", err)
		}
		loader := newLoader(ctx)
		if doc, err = openapi2conv.ToV3WithLoader(doc2, loader, nil); err != nil {
			return nil, fmt.Errorf("invalid Swagger 2.0 document: %w", err)
		}
	case probe.OpenAPI != nil:
		v, ok := probe.OpenAPI.(string)
		if !ok || !strings.HasPrefix(v, "3.") {
			return nil, fmt.Errorf("unsupported openapi version %v (want 3.0.x or 3.1.x)", probe.OpenAPI)
		}
		loader := newLoader(ctx)
		if doc, err = loader.LoadFromData(jsonData); err != nil {
			return nil, fmt.Errorf("invalid OpenAPI %s document: %w", v, err)
		}
	default:
		return nil, errors.New(`not an OpenAPI document: neither "openapi" nor "swagger" version field is present`)
	}
	if err := validate(ctx, doc); err != nil {
		return nil, err
	}
	spec = convert(doc, doc2)
	spec.Source = source
	return spec, nil
}

func newLoader(ctx context.Context) *openapi3.Loader {
	l := openapi3.NewLoader()
	l.Context = ctx
	l.IsExternalRefsAllowed = false
	return l
}

func validate(ctx context.Context, doc *openapi3.T) (err error) {
	// Examples and defaults are documentation: a wrong example must not
	// stop Vigil from using the spec's paths and schemas.
	err = doc.Validate(ctx,
		openapi3.DisableExamplesValidation(),
		openapi3.DisableSchemaDefaultsValidation(),
		openapi3.DisableSchemaPatternValidation(),
	)
	if err != nil {
		return fmt.Errorf("invalid document: %w", err)
	}
	return nil
}

var methodOrder = map[string]int{"GET": 0, "HEAD": 1, "OPTIONS": 2, "POST": 3, "PUT": 4, "PATCH": 5, "DELETE": 6, "TRACE": 7, "CONNECT": 8, "QUERY": 9}

func convert(doc *openapi3.T, doc2 *openapi2.T) *Spec {
	s := &Spec{OpenAPI: doc.OpenAPI}
	if doc.Info != nil {
		s.Title, s.Version = doc.Info.Title, doc.Info.Version
	}
	if doc2 != nil {
		s.OpenAPI = "2.0"
		if doc2.Host != "" {
			s.Hosts = []string{strings.ToLower(doc2.Host)}
		}
		s.BasePaths = []string{cleanBase(doc2.BasePath)}
	} else {
		s.Hosts, s.BasePaths = servers(doc.Servers)
	}
	s.BasePath = s.BasePaths[0]

	if doc.Paths != nil {
		for raw, item := range doc.Paths.Map() {
			if item == nil {
				continue
			}
			for method, op := range item.Operations() {
				if op == nil {
					continue
				}
				s.Operations = append(s.Operations, operation(s.BasePath, raw, strings.ToUpper(method), item, op))
			}
		}
	}
	sort.Slice(s.Operations, func(i, j int) bool {
		a, b := s.Operations[i], s.Operations[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return methodOrder[a.Method] < methodOrder[b.Method]
	})
	return s
}

// servers returns the hosts and base paths of the server list, with
// variables replaced by their defaults. No servers means "/".
func servers(list openapi3.Servers) (hosts, bases []string) {
	seenHost := map[string]bool{}
	seenBase := map[string]bool{}
	for _, srv := range list {
		if srv == nil {
			continue
		}
		raw := srv.URL
		for name, v := range srv.Variables {
			if v != nil {
				raw = strings.ReplaceAll(raw, "{"+name+"}", v.Default)
			}
		}
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if h := strings.ToLower(u.Host); h != "" && !seenHost[h] {
			seenHost[h] = true
			hosts = append(hosts, h)
		}
		if b := cleanBase(u.Path); !seenBase[b] {
			seenBase[b] = true
			bases = append(bases, b)
		}
	}
	if len(bases) == 0 {
		bases = []string{""}
	}
	return hosts, bases
}

func cleanBase(p string) string {
	p = strings.TrimRight(p, "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

func joinPath(base, p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return base + p
}

func operation(base, raw, method string, item *openapi3.PathItem, op *openapi3.Operation) Operation {
	o := Operation{
		Method:      method,
		Path:        joinPath(base, raw),
		RawPath:     raw,
		OperationID: op.OperationID,
		Deprecated:  op.Deprecated,
	}
	o.APIVersion, _ = apiVersion(o.Path)

	// Operation parameters override path-item parameters with the same
	// name and location.
	idx := map[string]int{}
	for _, list := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, pr := range list {
			if pr == nil || pr.Value == nil {
				continue
			}
			p := pr.Value
			param := Param{Name: p.Name, In: p.In, Required: p.Required || p.In == "path"}
			if p.Schema != nil {
				param.Schema = schemaMap(p.Schema)
			} else if mt := jsonMedia(p.Content); mt != nil && mt.Schema != nil {
				param.Schema = schemaMap(mt.Schema)
			}
			key := p.In + "\x00" + p.Name
			if i, ok := idx[key]; ok {
				o.Params[i] = param
				continue
			}
			idx[key] = len(o.Params)
			o.Params = append(o.Params, param)
		}
	}

	if op.RequestBody != nil && op.RequestBody.Value != nil {
		if mt := jsonMedia(op.RequestBody.Value.Content); mt != nil && mt.Schema != nil {
			o.RequestSchema = schemaMap(mt.Schema)
		}
	}
	if op.Responses != nil {
		for code, rr := range op.Responses.Map() {
			if o.ResponseSchemas == nil {
				o.ResponseSchemas = map[string]map[string]any{}
			}
			var sch map[string]any
			if rr != nil && rr.Value != nil {
				if mt := jsonMedia(rr.Value.Content); mt != nil && mt.Schema != nil {
					sch = schemaMap(mt.Schema)
				}
			}
			o.ResponseSchemas[code] = sch
		}
	}
	return o
}

// jsonMedia picks the JSON media type of a content map: application/json
// first, then any */*+json or */json, then a wildcard.
func jsonMedia(c openapi3.Content) *openapi3.MediaType {
	if len(c) == 0 {
		return nil
	}
	if mt, ok := c["application/json"]; ok {
		return mt
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if isJSONType(k) {
			return c[k]
		}
	}
	for _, k := range []string{"*/*", "application/*"} {
		if mt, ok := c[k]; ok {
			return mt
		}
	}
	return nil
}

func isJSONType(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(ct))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	return ct == "application/json" || strings.HasSuffix(ct, "+json") || strings.HasSuffix(ct, "/json")
}

var versionSegment = regexp.MustCompile(`^[vV]([0-9]+)(?:\.([0-9]+))?$`)

// apiVersion finds the first version segment ("v1", "v2.1") in a path
// template and returns it with the path prefix before it.
func apiVersion(p string) (version, prefix string) {
	segs := splitPath(p)
	for i, s := range segs {
		if versionSegment.MatchString(s) {
			return strings.ToLower(s), "/" + strings.Join(segs[:i], "/")
		}
	}
	return "", ""
}

// compareVersions orders "v1" < "v2" < "v2.1" < "v10".
func compareVersions(a, b string) int {
	ma, mb := versionSegment.FindStringSubmatch(a), versionSegment.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		return strings.Compare(a, b)
	}
	for i := 1; i <= 2; i++ {
		x, _ := strconv.Atoi(ma[i])
		y, _ := strconv.Atoi(mb[i])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
