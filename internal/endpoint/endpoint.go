// Package endpoint matches requests against endpoint templates written the
// way the inventory names them: "POST /login", "GET /users/{id}",
// "/cart/items/{parameter}" (any method), "/admin/*" (a prefix). Layers that
// are configured per endpoint (rate limits, WAF exclusions, virtual
// patches, policies) share it, so "POST /cart/item/add/{parameter}" means
// the same thing to all of them. Templates are compared with the canonical
// path (internal/pathnorm), segment by segment, without allocating.
package endpoint

import (
	"fmt"
	"net/http"
	"strings"
)

// Template is a parsed endpoint template.
type Template struct {
	// Method is upper case, or "" for any method.
	Method string
	// Path is the template path as written.
	Path string
	segs []seg
	// prefix: the template ended in "/*" and matches any deeper path.
	prefix bool
}

type seg struct {
	lit   string // literal segment; "" when param
	param string // parameter name (without braces) when a parameter
}

// Parse reads "METHOD /path" or "/path". Parameters are {name} segments;
// a final "*" segment matches the rest of the path.
func Parse(s string) (Template, error) {
	s = strings.TrimSpace(s)
	var t Template
	if m, p, ok := strings.Cut(s, " "); ok {
		t.Method = strings.ToUpper(strings.TrimSpace(m))
		s = strings.TrimSpace(p)
		if !validMethod(t.Method) {
			return Template{}, fmt.Errorf("%q is not an HTTP method", m)
		}
		if t.Method == "*" || t.Method == "ANY" {
			t.Method = ""
		}
	}
	if !strings.HasPrefix(s, "/") {
		return Template{}, fmt.Errorf("%q: the path must start with /", s)
	}
	t.Path = s
	rest := s[1:]
	if rest == "" {
		return t, nil
	}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		switch {
		case p == "*" && i == len(parts)-1:
			t.prefix = true
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") && len(p) > 2:
			name := p[1 : len(p)-1]
			if strings.ContainsAny(name, "{}") {
				return Template{}, fmt.Errorf("%q: bad parameter segment %q", s, p)
			}
			t.segs = append(t.segs, seg{param: name})
		case strings.ContainsAny(p, "{}"):
			return Template{}, fmt.Errorf("%q: a parameter must be a whole segment ({name}), not %q", s, p)
		case p == "*":
			t.segs = append(t.segs, seg{param: "*"})
		default:
			t.segs = append(t.segs, seg{lit: p})
		}
	}
	return t, nil
}

// MustParse is Parse for constants in tests.
func MustParse(s string) Template {
	t, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return t
}

func validMethod(m string) bool {
	switch m {
	case "*", "ANY", http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}

// String is the template as written ("POST /login").
func (t Template) String() string {
	if t.Method == "" {
		return t.Path
	}
	return t.Method + " " + t.Path
}

// Match reports whether method and path (canonical, without the query)
// fall under the template.
func (t *Template) Match(method, path string) bool {
	return t.walk(method, path, nil)
}

// Params returns the template's parameters for a matching request, by name
// (nil when it does not match).
func (t *Template) Params(method, path string) map[string]string {
	m := map[string]string{}
	if !t.walk(method, path, func(name, v string) { m[name] = v }) {
		return nil
	}
	return m
}

func (t *Template) walk(method, path string, bind func(name, v string)) bool {
	if t.Method != "" && t.Method != method && !(t.Method == http.MethodGet && method == http.MethodHead) {
		return false
	}
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	rest := path[1:]
	if len(t.segs) == 0 {
		return t.prefix || rest == ""
	}
	for i, s := range t.segs {
		if rest == "" {
			return false
		}
		var cur string
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			cur, rest = rest[:j], rest[j+1:]
			if i == len(t.segs)-1 && !t.prefix {
				// More path (or a trailing slash) after the last segment.
				return false
			}
		} else {
			cur, rest = rest, ""
			if i < len(t.segs)-1 {
				return false
			}
		}
		if s.param == "" {
			if cur != s.lit {
				return false
			}
			continue
		}
		if cur == "" {
			return false
		}
		if bind != nil && s.param != "*" {
			bind(s.param, cur)
		}
	}
	return true
}
