package openapi

import (
	"encoding/json"

	"github.com/getkin/kin-openapi/openapi3"
)

// maxSchemaDepth bounds how deep a schema is inlined, so that a wide
// non-recursive but deeply nested document cannot blow up memory.
const maxSchemaDepth = 64

// schemaMap turns a resolved kin-openapi schema into a plain JSON Schema
// (2020-12 flavour) with every $ref inlined. A reference that recurs into a
// schema already being inlined is kept as {"$ref": "..."}: consumers treat it
// as "any value". OpenAPI 3.0 "nullable: true" becomes a "null" member of
// "type".
func schemaMap(sr *openapi3.SchemaRef) map[string]any {
	c := schemaConv{onStack: map[*openapi3.Schema]bool{}}
	return c.convert(sr, 0)
}

type schemaConv struct {
	onStack map[*openapi3.Schema]bool
}

func (c *schemaConv) convert(sr *openapi3.SchemaRef, depth int) map[string]any {
	if sr == nil {
		return nil
	}
	s := sr.Value
	if s == nil || c.onStack[s] || depth > maxSchemaDepth {
		if sr.Ref != "" {
			return map[string]any{"$ref": sr.Ref}
		}
		return map[string]any{}
	}
	if s.Always != nil {
		if *s.Always {
			return map[string]any{}
		}
		return map[string]any{"not": map[string]any{}}
	}
	c.onStack[s] = true
	defer delete(c.onStack, s)

	m := map[string]any{}
	if b, err := json.Marshal(s); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	one := func(key string, child *openapi3.SchemaRef) {
		if child != nil {
			m[key] = c.convert(child, depth+1)
		}
	}
	many := func(key string, list openapi3.SchemaRefs) {
		if len(list) == 0 {
			return
		}
		out := make([]any, 0, len(list))
		for _, child := range list {
			out = append(out, c.convert(child, depth+1))
		}
		m[key] = out
	}
	props := func(key string, list openapi3.Schemas) {
		if len(list) == 0 {
			return
		}
		out := make(map[string]any, len(list))
		for name, child := range list {
			out[name] = c.convert(child, depth+1)
		}
		m[key] = out
	}
	boolSchema := func(key string, bs openapi3.BoolSchema) {
		switch {
		case bs.Has != nil:
			m[key] = *bs.Has
		case bs.Schema != nil:
			m[key] = c.convert(bs.Schema, depth+1)
		}
	}
	one("items", s.Items)
	one("not", s.Not)
	one("contains", s.Contains)
	one("propertyNames", s.PropertyNames)
	one("if", s.If)
	one("then", s.Then)
	one("else", s.Else)
	one("contentSchema", s.ContentSchema)
	many("allOf", s.AllOf)
	many("anyOf", s.AnyOf)
	many("oneOf", s.OneOf)
	many("prefixItems", s.PrefixItems)
	props("properties", s.Properties)
	props("patternProperties", s.PatternProperties)
	props("dependentSchemas", s.DependentSchemas)
	props("$defs", s.Defs)
	boolSchema("additionalProperties", s.AdditionalProperties)
	boolSchema("unevaluatedProperties", s.UnevaluatedProperties)
	boolSchema("unevaluatedItems", s.UnevaluatedItems)

	if s.Nullable {
		delete(m, "nullable")
		switch t := m["type"].(type) {
		case string:
			m["type"] = []any{t, "null"}
		case []any:
			if !containsAny(t, "null") {
				m["type"] = append(t, "null")
			}
		}
	}
	return m
}

func containsAny(list []any, v string) bool {
	for _, x := range list {
		if s, ok := x.(string); ok && s == v {
			return true
		}
	}
	return false
}
