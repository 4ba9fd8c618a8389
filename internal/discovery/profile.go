package discovery

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"

	"github.com/vigil-sec/vigil/internal/discovery/schema"
)

// Profile is what a data plane learned of one endpoint's messages that its
// transaction events do not carry: body schemas (as mergeable state),
// sensitive data classes by field, GraphQL operations. In a scale-out
// deployment data planes publish their profiles on the bus, and every
// control plane folds the latest profile of each data plane into the
// inventory it builds from events (ApplyProfiles).
type Profile struct {
	Host      string                 `json:"host"`
	Method    string                 `json:"method"`
	Path      string                 `json:"path"`   // the data plane's template
	Sample    string                 `json:"sample"` // a raw path: the control plane templates it itself
	Version   int64                  `json:"version"`
	Request   *schema.Schema         `json:"request,omitempty"`
	Responses map[int]*schema.Schema `json:"responses,omitempty"`
	// Classes maps a sensitive class to the fields it was seen in.
	Classes map[string][]string `json:"classes,omitempty"`
	Ops     []GraphQLOperation  `json:"graphql_operations,omitempty"`
	// OpSchemas holds the learning state of each operation's schemas, by
	// "type name" (as Ops lists them).
	OpSchemas map[string]OpSchemas `json:"graphql_schemas,omitempty"`
}

// OpSchemas is the mergeable schema state of one GraphQL operation.
type OpSchemas struct {
	Variables *schema.Schema `json:"variables,omitempty"`
	Response  *schema.Schema `json:"response,omitempty"`
}

// profileOps splits ops into the listed operations (no learning state)
// and their schemas.
func profileOps(ops map[string]*GraphQLOperation) ([]GraphQLOperation, map[string]OpSchemas) {
	var list []GraphQLOperation
	var schemas map[string]OpSchemas
	for _, n := range slices.Sorted(maps.Keys(ops)) {
		op := *ops[n]
		if op.vars != nil || op.resp != nil {
			if schemas == nil {
				schemas = map[string]OpSchemas{}
			}
			schemas[n] = OpSchemas{Variables: op.vars, Response: op.resp}
		}
		op.vars, op.resp = nil, nil
		list = append(list, op)
	}
	return list, schemas
}

// adoptOps gives o the operations of a profile, each with a copy of its
// schemas.
func adoptOps(o *entry, ops []GraphQLOperation, schemas map[string]OpSchemas) {
	for _, op := range ops {
		k := op.Type + " " + op.Name
		if sc, ok := schemas[k]; ok {
			if sc.Variables != nil {
				op.vars = copySchema(sc.Variables)
			}
			if sc.Response != nil {
				op.resp = copySchema(sc.Response)
			}
		}
		o.ops[k] = &op
	}
}

// ProfileUpdate is one endpoint's profile, encoded, with what to remember
// to skip it next time.
type ProfileUpdate struct {
	ID      string // the data plane's endpoint id
	Version int64
	JSON    []byte
}

// ProfilesSince returns the profiles of endpoints whose messages were
// profiled since sent[id] (nil sent: all profiled endpoints). sent is only
// read. The encoding happens under the engine's read lock, so the schemas
// are consistent.
func (e *Engine) ProfilesSince(sent map[string]int64) []ProfileUpdate {
	e.settle()
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []ProfileUpdate
	for _, en := range e.entries {
		if en.profVer == 0 {
			continue
		}
		id := EndpointID(en.key.host, en.key.method, en.key.path)
		if v, ok := sent[id]; ok && v >= en.profVer {
			continue
		}
		b, err := json.Marshal(en.profile())
		if err != nil {
			continue // a schema that cannot encode is skipped, not fatal
		}
		out = append(out, ProfileUpdate{ID: id, Version: en.profVer, JSON: b})
	}
	return out
}

func (en *entry) profile() Profile {
	p := Profile{Host: en.key.host, Method: en.key.method, Path: en.key.path, Sample: en.sample, Version: en.profVer}
	if en.reqSchema != nil && en.reqSchema.Samples() > 0 {
		p.Request = en.reqSchema
	}
	for st, s := range en.respSchema {
		if s.Samples() > 0 {
			if p.Responses == nil {
				p.Responses = map[int]*schema.Schema{}
			}
			p.Responses[st] = s
		}
	}
	for c, fields := range en.classes {
		if p.Classes == nil {
			p.Classes = map[string][]string{}
		}
		p.Classes[c] = slices.Sorted(maps.Keys(fields))
	}
	p.Ops, p.OpSchemas = profileOps(en.ops)
	return p
}

// ApplyProfiles folds profiles of one endpoint (the latest of each data
// plane) into ep, a row built from events: schemas are merged, sensitive
// classes and fields united, GraphQL operations taken from the profiles
// when the events named none. Profiles are not modified.
func ApplyProfiles(ep *Endpoint, profiles []*Profile) {
	if len(profiles) == 0 {
		return
	}
	agg := newEntry(key{}, ep.FirstSeen)
	for _, p := range profiles {
		o := newEntry(key{}, ep.FirstSeen)
		if p.Request != nil {
			o.reqSchema = copySchema(p.Request)
		}
		for st, s := range p.Responses {
			o.respSchema[st] = copySchema(s)
		}
		for c, fields := range p.Classes {
			o.classes[c] = map[string]bool{}
			for _, f := range fields {
				o.classes[c][f] = true
			}
		}
		adoptOps(o, p.Ops, p.OpSchemas)
		agg.merge(o)
	}
	v := agg.view(true)
	if v.RequestSchema != nil {
		ep.RequestSchema = v.RequestSchema
	}
	if len(v.ResponseSchemas) > 0 {
		if ep.ResponseSchemas == nil {
			ep.ResponseSchemas = map[string]any{}
		}
		maps.Copy(ep.ResponseSchemas, v.ResponseSchemas)
	}
	if len(v.SensitiveFields) > 0 {
		if ep.SensitiveFields == nil {
			ep.SensitiveFields = map[string][]string{}
		}
		for f, cs := range v.SensitiveFields {
			ep.SensitiveFields[f] = union(ep.SensitiveFields[f], cs)
		}
	}
	ep.Sensitive = union(ep.Sensitive, v.Sensitive)
	if len(ep.Operations) == 0 {
		ep.Operations = v.Operations
	}
}

// copySchema returns an independent copy (merging mutates its receiver).
func copySchema(s *schema.Schema) *schema.Schema {
	c := schema.New(schema.Options{})
	c.Merge(s)
	return c
}

func union(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	sort.Strings(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}
