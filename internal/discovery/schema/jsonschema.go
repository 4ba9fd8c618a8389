package schema

import (
	"slices"

	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
)

// SensitiveKeyword is the extension keyword under which JSONSchema lists
// the sensitive data classes seen in a string or number (class names only,
// never values).
const SensitiveKeyword = "x-vigil-sensitive"

// JSONSchema returns the learned schema as JSON Schema 2020-12 (the OpenAPI
// 3.1 dialect). The map holds only map[string]any, []any, string, bool and
// int64 values, the shapes encoding/json produces, so it marshals as is.
// A learner that saw nothing returns an empty schema ({}), which accepts
// anything.
//
// Rules:
//   - type: integer and number together are "number"; a type plus null is
//     "type": [T, "null"]; several types without sub-keywords become a type
//     list, with sub-keywords (properties, items, format, enum) a "oneOf" of
//     one subschema per type.
//   - required: properties present in every one of at least
//     Options.RequiredMinSamples objects.
//   - format: set when every string seen had that format.
//   - enum: at most EnumMaxValues distinct strings over at least
//     EnumMinSamples, none sensitive, no format.
//   - an object collapsed to a map has additionalProperties set to the
//     schema of its values; one whose properties hit a cap has
//     additionalProperties: true.
func (s *Schema) JSONSchema() map[string]any {
	s.lock()
	defer s.mu.Unlock()
	if s.root.N == 0 {
		return map[string]any{}
	}
	return s.toJSON(s.root)
}

func (s *Schema) toJSON(n *node) map[string]any {
	var subs []map[string]any
	if n.Obj > 0 {
		subs = append(subs, s.objectJSON(n))
	}
	if n.Arr > 0 {
		a := map[string]any{"type": "array"}
		if n.Items != nil && n.Items.N > 0 {
			a["items"] = s.toJSON(n.Items)
		}
		subs = append(subs, a)
	}
	if n.Str > 0 {
		subs = append(subs, s.stringJSON(n))
	}
	switch {
	case n.Num > 0:
		subs = append(subs, s.withClasses(map[string]any{"type": "number"}, n))
	case n.Int > 0:
		subs = append(subs, s.withClasses(map[string]any{"type": "integer"}, n))
	}
	if n.Bool > 0 {
		subs = append(subs, map[string]any{"type": "boolean"})
	}
	switch {
	case len(subs) == 0 && n.Null > 0:
		return map[string]any{"type": "null"}
	case len(subs) == 0:
		return map[string]any{}
	case len(subs) == 1:
		m := subs[0]
		if n.Null > 0 {
			m["type"] = []any{m["type"], "null"}
		}
		return m
	}
	plain := true
	for _, m := range subs {
		if len(m) != 1 {
			plain = false
		}
	}
	if plain {
		types := make([]any, 0, len(subs)+1)
		for _, m := range subs {
			types = append(types, m["type"])
		}
		if n.Null > 0 {
			types = append(types, "null")
		}
		return map[string]any{"type": types}
	}
	one := make([]any, 0, len(subs)+1)
	for _, m := range subs {
		one = append(one, m)
	}
	if n.Null > 0 {
		one = append(one, map[string]any{"type": "null"})
	}
	return map[string]any{"oneOf": one}
}

func (s *Schema) withClasses(m map[string]any, n *node) map[string]any {
	if len(n.Classes) > 0 {
		cl := make([]any, len(n.Classes))
		for i, c := range n.Classes {
			cl[i] = c
		}
		m[SensitiveKeyword] = cl
	}
	return m
}

func (s *Schema) objectJSON(n *node) map[string]any {
	m := map[string]any{"type": "object"}
	if len(n.Props) > 0 {
		props := make(map[string]any, len(n.Props))
		var req []any
		for _, k := range sortedKeys(n.Props) {
			c := n.Props[k]
			props[k] = s.toJSON(c)
			if n.Obj >= s.opts.RequiredMinSamples && c.N >= n.Obj {
				req = append(req, k)
			}
		}
		m["properties"] = props
		if len(req) > 0 {
			m["required"] = req
		}
	}
	switch {
	case n.Map != nil && n.Map.N > 0:
		m["additionalProperties"] = s.toJSON(n.Map)
	case n.Dropped > 0:
		m["additionalProperties"] = true
	}
	return m
}

func (s *Schema) stringJSON(n *node) map[string]any {
	m := map[string]any{"type": "string"}
	f := ""
	for k, c := range n.Formats {
		if c == n.Str {
			f = k
		}
	}
	if f != "" {
		m["format"] = f
		if f == FormatBinary && n.Media != "" {
			m["contentMediaType"] = n.Media
		}
	}
	if f == "" && !n.NoEnum && len(n.Classes) == 0 && len(n.Enum) > 0 &&
		len(n.Enum) <= s.opts.EnumMaxValues && n.Str >= s.opts.EnumMinSamples {
		vals := sortedKeys(n.Enum)
		enum := make([]any, len(vals))
		for i, v := range vals {
			enum[i] = v
		}
		m["enum"] = enum
	}
	return s.withClasses(m, n)
}

// Sensitive returns the sensitive classes seen, by path. Paths join object
// keys with '.', mark array elements with "[]" and map values with "*":
// "customer.email", "items[].card", "users.*.phone"; the body itself is "".
func (s *Schema) Sensitive() map[string][]sensitive.Class {
	s.lock()
	defer s.mu.Unlock()
	out := map[string][]sensitive.Class{}
	var walk func(n *node, path string)
	walk = func(n *node, path string) {
		if n == nil {
			return
		}
		if len(n.Classes) > 0 {
			cl := make([]sensitive.Class, len(n.Classes))
			for i, c := range n.Classes {
				cl[i] = sensitive.Class(c)
			}
			out[path] = cl
		}
		for k, c := range n.Props {
			walk(c, joinPath(path, k))
		}
		walk(n.Map, joinPath(path, "*"))
		walk(n.Items, path+"[]")
	}
	walk(s.root, "")
	return out
}

// Classes returns every sensitive class seen anywhere, sorted.
func (s *Schema) Classes() []sensitive.Class {
	var all []sensitive.Class
	for _, cl := range s.Sensitive() {
		for _, c := range cl {
			if !slices.Contains(all, c) {
				all = append(all, c)
			}
		}
	}
	slices.Sort(all)
	return all
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
