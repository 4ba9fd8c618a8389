package trafficgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Spec is an API description reduced to what traffic needs: paths,
// methods and what is known of the parameters.
type Spec struct {
	// Name is a short name: the file name without extension, up to the
	// first '-' or '.' ("twilio-api-v2010.json" -> "twilio").
	Name  string `json:"name"`
	Title string `json:"title,omitempty"`
	// Host is the one host all traffic of the spec goes to.
	Host       string      `json:"host"`
	Operations []Operation `json:"operations"`
	// Static lists the API's own static assets (a front-end's files),
	// sent as noise beside the common ones.
	Static []string `json:"static,omitempty"`
}

// Operation is one method on one path.
type Operation struct {
	Method string `json:"method"`
	// Path is the spec's path template with the server base path, without
	// a query or fragment the spec's key may carry
	// ("/responses?beta=true", Box's "/shared_items#folders").
	Path string `json:"path"`
	// Query is a literal query string the spec's path key carries
	// ("beta=true"), sent with every request.
	Query       string  `json:"query,omitempty"`
	OperationID string  `json:"operation_id,omitempty"`
	PathParams  []Param `json:"path_params,omitempty"`
	QueryParams []Param `json:"query_params,omitempty"`
	HasBody     bool    `json:"has_body,omitempty"`
}

// Param is what the spec says of one parameter; everything but Name may be
// empty (a $ref to a file that is not there).
type Param struct {
	Name     string   `json:"name"`
	Type     string   `json:"type,omitempty"`
	Format   string   `json:"format,omitempty"`
	Pattern  string   `json:"pattern,omitempty"`
	Enum     []string `json:"enum,omitempty"`
	Example  string   `json:"example,omitempty"`
	Required bool     `json:"required,omitempty"`
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// LoadSpec reads an OpenAPI 3.x or Swagger 2.0 document (JSON or YAML)
// tolerantly: only local $refs are followed, a $ref to another file leaves
// the parameter with its name only, and nothing is validated.
func LoadSpec(file string) (*Spec, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	base := filepath.Base(file)
	name := strings.TrimSuffix(base, filepath.Ext(base))
	if i := strings.IndexAny(name, "-."); i > 0 {
		name = name[:i]
	}
	return ParseSpec(data, name)
}

// ParseSpec is LoadSpec on bytes; name becomes Spec.Name and the default
// host api.<name>.example.
func ParseSpec(data []byte, name string) (*Spec, error) {
	var doc any
	trim := bytes.TrimSpace(data)
	if len(trim) > 0 && trim[0] == '{' {
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	} else if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not an OpenAPI document", name)
	}
	paths, ok := root["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		return nil, fmt.Errorf("%s: no paths", name)
	}
	l := loader{root: root}
	s := &Spec{Name: name, Host: "api." + strings.ToLower(name) + ".example"}
	if info, ok := root["info"].(map[string]any); ok {
		s.Title, _ = info["title"].(string)
	}
	base := ""
	if _, v2 := root["swagger"]; v2 {
		bp, _ := root["basePath"].(string)
		base = cleanBase(bp)
	} else {
		base = serverBase(root["servers"], "")
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		item, _ := l.resolve(paths[key]).(map[string]any)
		if item == nil {
			continue
		}
		p, query := key, ""
		if i := strings.IndexByte(p, '#'); i >= 0 {
			p = p[:i]
		}
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p, query = p[:i], p[i+1:]
		}
		itemBase := serverBase(item["servers"], base)
		common := l.params(item["parameters"])
		for _, m := range methods {
			raw, ok := item[m]
			if !ok {
				continue
			}
			op, _ := l.resolve(raw).(map[string]any)
			if op == nil {
				op = map[string]any{} // a $ref to a file that is not there
			}
			opBase := serverBase(op["servers"], itemBase)
			o := Operation{Method: strings.ToUpper(m), Path: joinPath(opBase, p), Query: query}
			o.OperationID, _ = op["operationId"].(string)
			_, o.HasBody = op["requestBody"]
			byName := map[string]Param{}
			var queryParams []Param
			for _, list := range [][]rawParam{common, l.params(op["parameters"])} {
				for _, rp := range list {
					switch rp.in {
					case "path":
						byName[rp.Name] = rp.Param
					case "query":
						queryParams = upsert(queryParams, rp.Param)
					case "body", "formData":
						o.HasBody = true
					}
				}
			}
			for _, n := range paramNames(o.Path) {
				pp, ok := byName[n]
				if !ok {
					pp = Param{Name: n}
				}
				pp.Name = n
				o.PathParams = append(o.PathParams, pp)
			}
			o.QueryParams = queryParams
			s.Operations = append(s.Operations, o)
		}
	}
	if len(s.Operations) == 0 {
		return nil, fmt.Errorf("%s: no operations", name)
	}
	return s, nil
}

func (s *Spec) clone() *Spec {
	c := *s
	c.Operations = make([]Operation, len(s.Operations))
	for i, op := range s.Operations {
		op.PathParams = append([]Param(nil), op.PathParams...)
		op.QueryParams = append([]Param(nil), op.QueryParams...)
		c.Operations[i] = op
	}
	c.Static = append([]string(nil), s.Static...)
	return &c
}

func upsert(list []Param, p Param) []Param {
	for i := range list {
		if list[i].Name == p.Name {
			list[i] = p
			return list
		}
	}
	return append(list, p)
}

var paramRE = regexp.MustCompile(`\{([^{}/]*)\}`)

// paramNames lists the {names} of a template in order.
func paramNames(tmpl string) []string {
	var out []string
	for _, m := range paramRE.FindAllStringSubmatch(tmpl, -1) {
		out = append(out, m[1])
	}
	return out
}

// Normalize replaces every {name} of a template by {parameter}, the
// name discovery gives every parameter.
func Normalize(tmpl string) string { return paramRE.ReplaceAllString(tmpl, "{parameter}") }

func serverBase(v any, def string) string {
	list, _ := v.([]any)
	if len(list) == 0 {
		return def
	}
	srv, _ := list[0].(map[string]any)
	raw, _ := srv["url"].(string)
	if raw == "" {
		return def
	}
	if vars, ok := srv["variables"].(map[string]any); ok {
		for name, vv := range vars {
			if m, ok := vv.(map[string]any); ok {
				d := fmt.Sprint(m["default"])
				raw = strings.ReplaceAll(raw, "{"+name+"}", d)
			}
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return def
	}
	return cleanBase(u.Path)
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

// loader follows local $refs of one document.
type loader struct{ root map[string]any }

// resolve follows $ref chains within the document; a $ref elsewhere
// resolves to nil.
func (l loader) resolve(v any) any {
	for range 16 {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		if !strings.HasPrefix(ref, "#/") {
			return nil
		}
		var cur any = l.root
		for _, part := range strings.Split(ref[2:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			if p, err := url.PathUnescape(part); err == nil {
				part = p
			}
			cm, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = cm[part]
		}
		v = cur
	}
	return nil
}

type rawParam struct {
	Param
	in string
}

func (l loader) params(v any) []rawParam {
	list, _ := v.([]any)
	var out []rawParam
	for _, e := range list {
		m, _ := l.resolve(e).(map[string]any)
		if m == nil {
			continue
		}
		name, _ := m["name"].(string)
		in, _ := m["in"].(string)
		if name == "" {
			continue
		}
		p := Param{Name: name}
		p.Required, _ = m["required"].(bool)
		schema := m
		if s, ok := l.resolve(m["schema"]).(map[string]any); ok {
			schema = l.flatten(s)
		}
		p.Type = typeOf(schema["type"])
		p.Format, _ = schema["format"].(string)
		p.Pattern, _ = schema["pattern"].(string)
		for _, e := range enumOf(schema) {
			p.Enum = append(p.Enum, fmt.Sprint(e))
		}
		p.Example = exampleOf(m)
		if p.Example == "" {
			p.Example = exampleOf(schema)
		}
		out = append(out, rawParam{Param: p, in: in})
	}
	return out
}

// flatten picks the first alternative of allOf/oneOf/anyOf that says
// something, for a parameter schema.
func (l loader) flatten(s map[string]any) map[string]any {
	for range 8 {
		if s["type"] != nil || s["enum"] != nil || s["pattern"] != nil || s["format"] != nil {
			return s
		}
		next := map[string]any(nil)
		for _, k := range []string{"allOf", "oneOf", "anyOf"} {
			list, _ := s[k].([]any)
			for _, alt := range list {
				if m, ok := l.resolve(alt).(map[string]any); ok {
					if m["type"] == "null" {
						continue
					}
					next = m
					break
				}
			}
			if next != nil {
				break
			}
		}
		if next == nil {
			return s
		}
		// keep an example of the wrapper
		if s["example"] != nil && next["example"] == nil {
			c := make(map[string]any, len(next)+1)
			for k, v := range next {
				c[k] = v
			}
			c["example"] = s["example"]
			next = c
		}
		s = next
	}
	return s
}

func typeOf(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && s != "null" {
				return s
			}
		}
	}
	return ""
}

func enumOf(s map[string]any) []any {
	list, _ := s["enum"].([]any)
	var out []any
	for _, e := range list {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

func exampleOf(m map[string]any) string {
	if v, ok := m["example"]; ok && v != nil {
		return scalar(v)
	}
	switch ex := m["examples"].(type) {
	case []any:
		if len(ex) > 0 {
			return scalar(ex[0])
		}
	case map[string]any:
		keys := make([]string, 0, len(ex))
		for k := range ex {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if e, ok := ex[k].(map[string]any); ok && e["value"] != nil {
				return scalar(e["value"])
			}
		}
	}
	return ""
}

func scalar(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		if t == float64(int64(t)) {
			return fmt.Sprintf("%d", int64(t))
		}
		return fmt.Sprint(t)
	case int, int64, bool:
		return fmt.Sprint(t)
	}
	return ""
}
