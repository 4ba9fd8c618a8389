package openapi

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// maxDiffDepth bounds the schema walk.
const maxDiffDepth = 32

// differ collects Diffs for one observed endpoint.
type differ struct {
	base  Diff
	in    string
	diffs []Diff
}

func (d *differ) add(in, kind, name, detail string) {
	x := d.base
	x.In, x.Kind, x.Name, x.Detail = in, kind, name, detail
	d.diffs = append(d.diffs, x)
}

// params compares observed query or header parameters with the documented
// ones. undocumented reports names the spec lacks (query only: clients and
// proxies add many generic headers).
func (d *differ) params(in string, obs []ObservedParam, doc map[string]Param, undocumented bool) {
	seen := map[string]bool{}
	for _, o := range obs {
		key := in + "\x00" + strings.ToLower(o.Name)
		seen[key] = true
		p, ok := doc[key]
		if !ok {
			if undocumented {
				d.add(in, DiffUndocumentedParam, o.Name, fmt.Sprintf("%s parameter not in the spec", in))
			}
			continue
		}
		if ot, dt := schemaTypes(o.Schema), schemaTypes(p.Schema); len(ot) > 0 && len(dt) > 0 && !containsStr(dt, "string") {
			for _, t := range ot {
				if !permits(dt, t) {
					d.add(in, DiffTypeMismatch, o.Name, fmt.Sprintf("observed %s, documented %s", t, strings.Join(dt, "|")))
					break
				}
			}
		}
		if p.Required && !o.Required {
			d.add(in, DiffMissingRequired, p.Name, "required parameter absent from some requests")
		}
	}
	names := make([]string, 0, len(doc))
	for key := range doc {
		names = append(names, key)
	}
	sort.Strings(names)
	for _, key := range names {
		p := doc[key]
		if p.In == in && p.Required && !seen[key] {
			d.add(in, DiffMissingRequired, p.Name, "required parameter never sent")
		}
	}
}

// walk compares an observed JSON Schema with the documented one and
// records undocumented fields, type mismatches and required fields that
// traffic does not always carry. at is the JSON path of the value.
func (d *differ) walk(obs, doc map[string]any, at string, depth int) {
	if obs == nil || doc == nil || depth > maxDiffDepth {
		return
	}
	if _, ok := doc["$ref"]; ok {
		return // a recursive reference: anything goes
	}
	if all, ok := doc["allOf"].([]any); ok && len(all) > 0 {
		doc = mergeAllOf(doc, all, 0)
	}
	if alts := alternatives(doc); len(alts) > 0 {
		// Keep the alternative that explains the traffic best.
		var best []Diff
		for i, alt := range alts {
			sub := differ{base: d.base, in: d.in}
			merged := mergeAllOf(withoutKeys(doc, "anyOf", "oneOf"), []any{alt}, 0)
			sub.walk(obs, merged, at, depth+1)
			if i == 0 || len(sub.diffs) < len(best) {
				best = sub.diffs
			}
			if len(best) == 0 {
				break
			}
		}
		d.diffs = append(d.diffs, best...)
		return
	}

	ot, dt := schemaTypes(obs), schemaTypes(doc)
	if len(dt) == 0 {
		if _, ok := doc["properties"]; ok {
			dt = []string{"object"}
		}
	}
	if len(ot) > 0 && len(dt) > 0 {
		var bad []string
		for _, t := range ot {
			if !permits(dt, t) {
				bad = append(bad, t)
			}
		}
		if len(bad) > 0 {
			d.add(d.in, DiffTypeMismatch, at, fmt.Sprintf("observed %s, documented %s", strings.Join(bad, "|"), strings.Join(dt, "|")))
		}
	}
	if containsStr(ot, "object") && (len(dt) == 0 || containsStr(dt, "object")) {
		d.object(obs, doc, at, depth)
	}
	if containsStr(ot, "array") && (len(dt) == 0 || containsStr(dt, "array")) {
		oi, _ := obs["items"].(map[string]any)
		di, _ := doc["items"].(map[string]any)
		d.walk(oi, di, at+"[]", depth+1)
	}
}

func (d *differ) object(obs, doc map[string]any, at string, depth int) {
	op, _ := obs["properties"].(map[string]any)
	dp, _ := doc["properties"].(map[string]any)
	pp, _ := doc["patternProperties"].(map[string]any)
	ap, hasAP := doc["additionalProperties"]
	freeForm := dp == nil && pp == nil && !hasAP

	names := make([]string, 0, len(op))
	for name := range op {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		child, _ := op[name].(map[string]any)
		path := at + "." + name
		if ds, ok := dp[name].(map[string]any); ok {
			d.walk(child, ds, path, depth+1)
			continue
		}
		if ds := matchPattern(pp, name); ds != nil {
			d.walk(child, ds, path, depth+1)
			continue
		}
		switch a := ap.(type) {
		case map[string]any:
			d.walk(child, a, path, depth+1)
			continue
		case bool:
			if a {
				continue
			}
		}
		if freeForm {
			continue
		}
		d.add(d.in, DiffUndocumentedField, path, "field not in the documented schema")
	}

	if op == nil {
		return
	}
	obsReq := map[string]bool{}
	_, hasObsReq := obs["required"]
	for _, r := range asStrings(obs["required"]) {
		obsReq[r] = true
	}
	for _, r := range asStrings(doc["required"]) {
		switch {
		case op[r] == nil:
			d.add(d.in, DiffMissingRequired, at+"."+r, "required field never seen")
		case hasObsReq && !obsReq[r]:
			d.add(d.in, DiffMissingRequired, at+"."+r, "required field absent from some bodies")
		}
	}
}

func matchPattern(pp map[string]any, name string) map[string]any {
	keys := make([]string, 0, len(pp))
	for k := range pp {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		re, err := regexp.Compile(k)
		if err == nil && re.MatchString(name) {
			s, _ := pp[k].(map[string]any)
			return s
		}
	}
	return nil
}

func alternatives(doc map[string]any) []map[string]any {
	var out []map[string]any
	for _, key := range []string{"oneOf", "anyOf"} {
		list, _ := doc[key].([]any)
		for _, x := range list {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

func withoutKeys(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// mergeAllOf folds allOf members into one schema: properties and required
// are united, the first type wins, additionalProperties false only stays
// when every member says so.
func mergeAllOf(base map[string]any, members []any, depth int) map[string]any {
	out := withoutKeys(base, "allOf")
	props := map[string]any{}
	if p, ok := out["properties"].(map[string]any); ok {
		for k, v := range p {
			props[k] = v
		}
	}
	req := asStrings(out["required"])
	for _, x := range members {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		if sub, ok := m["allOf"].([]any); ok && depth < maxDiffDepth {
			m = mergeAllOf(m, sub, depth+1)
		}
		if p, ok := m["properties"].(map[string]any); ok {
			for k, v := range p {
				if _, dup := props[k]; !dup {
					props[k] = v
				}
			}
		}
		req = append(req, asStrings(m["required"])...)
		for _, k := range []string{"type", "items", "additionalProperties", "patternProperties", "oneOf", "anyOf", "$ref"} {
			if _, have := out[k]; !have {
				if v, ok := m[k]; ok {
					out[k] = v
				}
			}
		}
	}
	if len(props) > 0 {
		out["properties"] = props
		if out["type"] == nil {
			out["type"] = "object"
		}
	}
	if len(req) > 0 {
		r := make([]any, len(req))
		for i, s := range req {
			r[i] = s
		}
		out["required"] = r
	}
	return out
}

// schemaTypes returns the "type" of a schema as a list.
func schemaTypes(s map[string]any) []string {
	switch t := s["type"].(type) {
	case string:
		return []string{t}
	case []any:
		return asStrings(t)
	case []string:
		return t
	}
	return nil
}

// permits tells whether a documented type list accepts an observed type.
func permits(doc []string, t string) bool {
	if containsStr(doc, t) {
		return true
	}
	return t == "integer" && containsStr(doc, "number")
}

func asStrings(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func containsStr(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
