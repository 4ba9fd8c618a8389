package discovery

import (
	"github.com/vigil-sec/vigil/internal/discovery/schema"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// Bounds on what a GraphQL request body may cost to inspect. Bodies come
// from clients, hostile ones included, and gqlparser builds a whole AST,
// recursing once per nesting level.
const (
	// maxGraphQLBytes: larger documents are not parsed.
	maxGraphQLBytes = 256 << 10
	// maxGraphQLDepth bounds the nesting of selection sets, lists and
	// objects ({ and [), checked before parsing. Real documents nest a
	// few dozen levels at most (the introspection query, about ten);
	// gqlparser's own bound (parser.MaxNestingDepth, 1000) is the backstop.
	maxGraphQLDepth = 128
	// maxGraphQLTokens bounds the AST gqlparser allocates.
	maxGraphQLTokens = 1 << 15
	// maxRootFields and maxVariables bound what one operation keeps.
	maxRootFields = 32
	maxVariables  = 32
)

// observeGraphQL records the operation of a GraphQL request body (a JSON
// object with "query" and optionally "operationName", or a batch array).
// A document that does not parse, or names no operation it holds, is not
// an operation: the server rejects it too.
//
// It returns the operations, in request order (one per batch item; nil for
// an item that is no operation), so the response can be learned per
// operation too (observeGraphQLResponse). newSchema makes the learning
// state of an operation's schemas.
func observeGraphQL(en *entry, v any, newSchema func() *schema.Schema) []*GraphQLOperation {
	switch b := v.(type) {
	case []any: // a batch: an array of requests, the first 16 read
		var ops []*GraphQLOperation
		for i, x := range b {
			if i >= 16 {
				break
			}
			r, _ := x.(map[string]any)
			var op *GraphQLOperation
			if r != nil {
				op = observeGraphQLRequest(en, r, newSchema)
			}
			ops = append(ops, op)
		}
		return ops
	case map[string]any:
		if op := observeGraphQLRequest(en, b, newSchema); op != nil {
			return []*GraphQLOperation{op}
		}
	}
	return nil
}

func observeGraphQLRequest(en *entry, r map[string]any, newSchema func() *schema.Schema) *GraphQLOperation {
	q, _ := r["query"].(string)
	if q == "" {
		return nil
	}
	name, _ := r["operationName"].(string)
	op := ParseGraphQL(q, name)
	if op.Type == "" {
		return nil
	}
	if op.Name == "" {
		op.Name = "(anonymous)"
	}
	k := op.Type + " " + op.Name
	cur, ok := en.ops[k]
	if ok {
		cur.Hits++
	} else {
		if len(en.ops) >= maxOps {
			return nil
		}
		op.Hits = 1
		cur = &op
		en.ops[k] = cur
	}
	if vars, ok := r["variables"].(map[string]any); ok && len(vars) > 0 {
		if cur.vars == nil {
			cur.vars = newSchema()
		}
		cur.vars.ObserveValue(vars)
	}
	return cur
}

// observeGraphQLResponse learns the response schema of each operation of
// the request (a batch answers with an array, item by item).
func observeGraphQLResponse(ops []*GraphQLOperation, v any, newSchema func() *schema.Schema) {
	learn := func(op *GraphQLOperation, doc any) {
		if op == nil {
			return
		}
		if _, ok := doc.(map[string]any); !ok {
			return
		}
		if op.resp == nil {
			op.resp = newSchema()
		}
		op.resp.ObserveValue(doc)
	}
	switch b := v.(type) {
	case []any:
		for i, doc := range b {
			if i < len(ops) {
				learn(ops[i], doc)
			}
		}
	case map[string]any:
		if len(ops) == 1 {
			learn(ops[0], b)
		}
	}
}

// ParseGraphQL parses a GraphQL query document (no schema needed) and
// returns the type, name and root fields of the operation it executes:
// the one named want, or, when want is empty, the document's only
// operation. Root fields are field names (aliases resolved), with the
// fields of fragments spread at the root (named and inline) expanded in
// place, deduplicated, in document order. A document that does not
// parse, is too large or too deep, or holds no operation by that name
// gives the zero GraphQLOperation (Type "").
func ParseGraphQL(doc, want string) GraphQLOperation {
	op, vars := parseGraphQL(doc, want)
	op.Variables = vars
	return op
}

// parseGraphQL is ParseGraphQL plus the names of the variables the
// operation declares (without the $), in order.
func parseGraphQL(doc, want string) (GraphQLOperation, []string) {
	if len(doc) > maxGraphQLBytes || gqlTooDeep(doc, maxGraphQLDepth) {
		return GraphQLOperation{}, nil
	}
	qd, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: doc}, maxGraphQLTokens)
	if err != nil || qd == nil {
		return GraphQLOperation{}, nil
	}
	var od *ast.OperationDefinition
	switch {
	case want == "" && len(qd.Operations) == 1:
		od = qd.Operations[0]
	case want != "":
		od = qd.Operations.ForName(want)
	}
	if od == nil {
		return GraphQLOperation{}, nil
	}
	op := GraphQLOperation{Type: string(od.Operation), Name: od.Name} // the shorthand { ... } is a query
	r := rootFields{frags: qd.Fragments}
	r.add(od.SelectionSet)
	op.RootFields = r.out
	var vars []string
	for _, v := range od.VariableDefinitions {
		if len(vars) == maxVariables {
			break
		}
		vars = append(vars, v.Variable)
	}
	return op, vars
}

// rootFields collects the root fields of a selection set, expanding the
// fragments spread at the root. Each named fragment is expanded once, so
// cycles (which the spec forbids but a client can send) end.
type rootFields struct {
	frags  ast.FragmentDefinitionList
	byName map[string]*ast.FragmentDefinition
	spread map[string]bool
	out    []string
}

func (r *rootFields) add(ss ast.SelectionSet) {
	for _, s := range ss {
		if len(r.out) == maxRootFields {
			return
		}
		switch s := s.(type) {
		case *ast.Field:
			r.field(s.Name)
		case *ast.InlineFragment:
			r.add(s.SelectionSet)
		case *ast.FragmentSpread:
			if r.spread[s.Name] {
				continue
			}
			if r.spread == nil {
				r.spread = map[string]bool{}
				r.byName = make(map[string]*ast.FragmentDefinition, len(r.frags))
				for _, f := range r.frags {
					if _, dup := r.byName[f.Name]; !dup {
						r.byName[f.Name] = f
					}
				}
			}
			r.spread[s.Name] = true
			if f := r.byName[s.Name]; f != nil {
				r.add(f.SelectionSet)
			}
		}
	}
}

func (r *rootFields) field(name string) {
	for _, f := range r.out {
		if f == name {
			return
		}
	}
	r.out = append(r.out, name)
}

// gqlTooDeep reports whether doc nests selection sets, lists and objects
// ({ and [, outside strings and comments) deeper than limit. It is a
// linear scan that allocates nothing, so a hostile document is turned
// away before any AST is built.
func gqlTooDeep(doc string, limit int) bool {
	depth := 0
	for i := 0; i < len(doc); i++ {
		switch doc[i] {
		case '{', '[':
			if depth++; depth > limit {
				return true
			}
		case '}', ']':
			if depth > 0 {
				depth--
			}
		case '#':
			for i < len(doc) && doc[i] != '\n' && doc[i] != '\r' {
				i++
			}
		case '"':
			i = gqlStringEnd(doc, i)
		}
	}
	return false
}

// gqlStringEnd returns the index of the last byte of the string (or block
// string) that starts at doc[i].
func gqlStringEnd(doc string, i int) int {
	if len(doc)-i >= 3 && doc[i+1] == '"' && doc[i+2] == '"' {
		for j := i + 3; j < len(doc); j++ {
			switch {
			case doc[j] == '\\' && len(doc)-j >= 4 && doc[j+1] == '"' && doc[j+2] == '"' && doc[j+3] == '"':
				j += 3 // \""" is an escaped delimiter
			case doc[j] == '"' && len(doc)-j >= 3 && doc[j+1] == '"' && doc[j+2] == '"':
				return j + 2
			}
		}
		return len(doc)
	}
	for j := i + 1; j < len(doc); j++ {
		switch doc[j] {
		case '\\':
			j++
		case '"', '\n', '\r':
			return j
		}
	}
	return len(doc)
}
