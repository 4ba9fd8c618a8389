package schema

import (
	"fmt"
	"slices"
	"strings"
)

// DiffKind names a kind of Difference.
type DiffKind string

// Kinds of Difference.
const (
	// Undocumented: a field seen in traffic that the documented schema
	// does not list (where it lists properties or forbids extra ones).
	Undocumented DiffKind = "undocumented_field"
	// TypeMismatch: values of a type the documented schema does not allow.
	TypeMismatch DiffKind = "type_mismatch"
	// MissingRequired: a documented required field never seen in traffic.
	MissingRequired DiffKind = "missing_required"
)

// Difference is one way traffic disagrees with documentation.
type Difference struct {
	Kind DiffKind `json:"kind"`
	// Path of the field: "price", "items[].sku", "users.*" for the values
	// of a map; "" for the body itself.
	Path string `json:"path"`
	// Documented is the documented type list ("string", "integer|null")
	// for a TypeMismatch.
	Documented string `json:"documented,omitempty"`
	// Seen lists the types seen that the documentation does not allow, for
	// a TypeMismatch; for an Undocumented field, every type seen.
	Seen string `json:"seen,omitempty"`
}

func (d Difference) String() string {
	p := d.Path
	if p == "" {
		p = "(body)"
	}
	switch d.Kind {
	case TypeMismatch:
		return fmt.Sprintf("%s: documented %s, seen %s", p, d.Documented, d.Seen)
	case Undocumented:
		return fmt.Sprintf("%s: undocumented field (seen %s)", p, d.Seen)
	case MissingRequired:
		return fmt.Sprintf("%s: documented as required, never seen", p)
	}
	return fmt.Sprintf("%s: %s", p, d.Kind)
}

// Diff compares a documented JSON Schema (OpenAPI 3.0 or 3.1 schema object
// as a map, e.g. decoded from the spec) with what was learned. It follows
// properties, items, additionalProperties, allOf, oneOf and anyOf, and
// OpenAPI 3.0's nullable. It does not resolve $ref: a subtree behind a
// $ref is taken as documented and not compared (resolve refs first). An
// object schema without "properties" is free-form: its fields are not
// undocumented unless additionalProperties is false. The result is sorted
// by path.
func Diff(documented map[string]any, learned *Schema) []Difference {
	if learned == nil {
		return nil
	}
	learned.lock()
	root := learned.root.clone()
	learned.mu.Unlock()
	if root.N == 0 {
		return nil
	}
	var out []Difference
	diffNode(documented, root, "", &out)
	slices.SortFunc(out, func(a, b Difference) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(string(a.Kind), string(b.Kind))
	})
	return out
}

// view is a documented schema flattened over allOf/oneOf/anyOf.
type view struct {
	opaque   bool
	types    map[string]bool // nil: any type
	props    map[string]map[string]any
	hasProps bool
	required []string
	items    map[string]any
	addl     any // nil (absent), bool or map[string]any
}

func flatten(doc map[string]any, v *view, withRequired bool, depth int) {
	if doc == nil || depth > 32 {
		return
	}
	if _, ok := doc["$ref"]; ok {
		v.opaque = true
		return
	}
	switch t := doc["type"].(type) {
	case string:
		v.addType(t)
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				v.addType(s)
			}
		}
	case []string:
		for _, s := range t {
			v.addType(s)
		}
	}
	if nb, ok := doc["nullable"].(bool); ok && nb && v.types != nil {
		v.types["null"] = true
	}
	if p, ok := doc["properties"].(map[string]any); ok {
		v.hasProps = true
		if v.props == nil {
			v.props = map[string]map[string]any{}
		}
		for k, x := range p {
			if m, ok := x.(map[string]any); ok {
				v.props[k] = m
			} else {
				v.props[k] = nil // true / {} : anything
			}
		}
	}
	if withRequired {
		switch r := doc["required"].(type) {
		case []any:
			for _, x := range r {
				if s, ok := x.(string); ok {
					v.required = append(v.required, s)
				}
			}
		case []string:
			v.required = append(v.required, r...)
		}
	}
	if it, ok := doc["items"].(map[string]any); ok && v.items == nil {
		v.items = it
	}
	switch a := doc["additionalProperties"].(type) {
	case bool, map[string]any:
		v.addl = a
	}
	if all, ok := doc["allOf"].([]any); ok {
		for _, x := range all {
			m, _ := x.(map[string]any)
			flatten(m, v, withRequired, depth+1)
		}
	}
	for _, kw := range []string{"oneOf", "anyOf"} {
		alts, ok := doc[kw].([]any)
		if !ok {
			continue
		}
		for _, x := range alts {
			m, _ := x.(map[string]any)
			flatten(m, v, false, depth+1)
		}
	}
}

func (v *view) addType(t string) {
	if v.types == nil {
		v.types = map[string]bool{}
	}
	v.types[t] = true
}

// seenTypes lists the JSON Schema types learned at n.
func seenTypes(n *node) []string {
	var t []string
	if n.Obj > 0 {
		t = append(t, "object")
	}
	if n.Arr > 0 {
		t = append(t, "array")
	}
	if n.Str > 0 {
		t = append(t, "string")
	}
	if n.Num > 0 {
		t = append(t, "number")
	} else if n.Int > 0 {
		t = append(t, "integer")
	}
	if n.Bool > 0 {
		t = append(t, "boolean")
	}
	if n.Null > 0 {
		t = append(t, "null")
	}
	return t
}

func diffNode(doc map[string]any, n *node, path string, out *[]Difference) {
	if doc == nil || n == nil || n.N == 0 {
		return
	}
	var v view
	flatten(doc, &v, true, 0)
	if v.opaque {
		return
	}
	if v.types != nil {
		var bad []string
		for _, t := range seenTypes(n) {
			if !v.types[t] && !(t == "integer" && v.types["number"]) {
				bad = append(bad, t)
			}
		}
		if len(bad) > 0 {
			doct := make([]string, 0, len(v.types))
			for t := range v.types {
				doct = append(doct, t)
			}
			slices.Sort(doct)
			*out = append(*out, Difference{Kind: TypeMismatch, Path: path,
				Documented: strings.Join(doct, "|"), Seen: strings.Join(bad, "|")})
		}
	}
	if n.Obj > 0 {
		addl, _ := v.addl.(map[string]any)
		closed := v.addl == false
		for _, k := range sortedKeys(n.Props) {
			c := n.Props[k]
			p := joinPath(path, k)
			if d, ok := v.props[k]; ok {
				diffNode(d, c, p, out)
			} else if addl != nil {
				diffNode(addl, c, p, out)
			} else if v.hasProps || closed {
				*out = append(*out, Difference{Kind: Undocumented, Path: p, Seen: strings.Join(seenTypes(c), "|")})
			}
		}
		if n.Map != nil && n.Map.N > 0 {
			p := joinPath(path, "*")
			if addl != nil {
				diffNode(addl, n.Map, p, out)
			} else if v.hasProps || closed {
				*out = append(*out, Difference{Kind: Undocumented, Path: p, Seen: strings.Join(seenTypes(n.Map), "|")})
			}
		}
		slices.Sort(v.required)
		for _, r := range slices.Compact(v.required) {
			if _, ok := n.Props[r]; ok {
				continue
			}
			if n.Map != nil && idLikeKey(r) {
				continue
			}
			if n.Dropped > 0 {
				continue // it may be among the properties not learned
			}
			*out = append(*out, Difference{Kind: MissingRequired, Path: joinPath(path, r)})
		}
	}
	if n.Items != nil && v.items != nil {
		diffNode(v.items, n.Items, path+"[]", out)
	}
}
