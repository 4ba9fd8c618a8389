package guard

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// DefaultListArgs are the field arguments read as a list size by the
// GraphQL cost: first: 100 makes the field's subtree count 100 times.
var DefaultListArgs = []string{"first", "last", "limit", "page_size", "pageSize", "per_page", "perPage", "count", "take", "top"}

// GraphQLReport is what AnalyzeGraphQL measured of one document.
type GraphQLReport struct {
	// Depth is the deepest field nesting (fragments expanded): { a { b } }
	// is 2.
	Depth int
	// Aliases counts fields given an alias other than their name, with
	// every fragment spread expanded.
	Aliases int64
	// Cost is Σ over fields of list-size × (1 + the cost of its
	// selection), list-size being the largest of the field's list
	// arguments (first, last, limit...), 1 without one.
	Cost int64
	// MaxList is the largest list argument seen, and ListField the field
	// that asked for it.
	MaxList   int64
	ListField string
	// Introspection is set when the document selects __schema or __type
	// (__typename is not introspection).
	Introspection bool
	// Err is why the document cannot be analyzed: a syntax error, an
	// unknown or cyclic fragment, an unknown operation name.
	Err error
}

// maxCount saturates counts so that fragment expansion cannot overflow.
const maxCount = math.MaxInt64 / 4

// prescanDepth is the brace nesting at which a document is reported as
// too deep without being parsed (gqlparser itself refuses 1000).
const prescanDepth = 512

// AnalyzeGraphQL parses a GraphQL query document (no schema needed) and
// measures it. operationName picks the operation when the document has
// several ("" measures them all: the worst is what a server could run).
// vars supplies list sizes given as variables (JSON-decoded values).
// listArgs are the argument names read as list sizes (DefaultListArgs
// when nil).
func AnalyzeGraphQL(query, operationName string, vars map[string]any, listArgs []string) GraphQLReport {
	var r GraphQLReport
	if d := braceDepth(query); d > prescanDepth {
		r.Depth = d
		return r
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		r.Err = err
		return r
	}
	if listArgs == nil {
		listArgs = DefaultListArgs
	}
	a := &gqlAnalyzer{doc: doc, vars: vars, listArgs: listArgs, r: &r, memo: map[string]*fragStat{}}
	ops := doc.Operations
	if operationName != "" {
		op := doc.Operations.ForName(operationName)
		if op == nil {
			r.Err = fmt.Errorf("no operation named %q", operationName)
			return r
		}
		ops = ast.OperationList{op}
	}
	if len(ops) == 0 {
		r.Err = errors.New("the document has no operation")
		return r
	}
	for _, op := range ops {
		a.op = op
		st := a.set(op.SelectionSet)
		if a.err != nil {
			r.Err = a.err
			return r
		}
		r.Depth = max(r.Depth, st.depth)
		r.Aliases = sat(r.Aliases + st.aliases)
		r.Cost = sat(r.Cost + st.cost)
	}
	return r
}

type stat struct {
	depth         int
	aliases, cost int64
	visiting      bool
}

type fragStat = stat

type gqlAnalyzer struct {
	doc      *ast.QueryDocument
	op       *ast.OperationDefinition
	vars     map[string]any
	listArgs []string
	r        *GraphQLReport
	memo     map[string]*fragStat
	err      error
}

func sat(v int64) int64 {
	if v > maxCount || v < 0 {
		return maxCount
	}
	return v
}

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > maxCount/b {
		return maxCount
	}
	return a * b
}

func (a *gqlAnalyzer) set(ss ast.SelectionSet) stat {
	var st stat
	for _, sel := range ss {
		if a.err != nil {
			return st
		}
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				a.r.Introspection = true
			}
			child := a.set(s.SelectionSet)
			st.depth = max(st.depth, 1+child.depth)
			st.aliases = sat(st.aliases + child.aliases)
			if s.Alias != "" && s.Alias != s.Name {
				st.aliases = sat(st.aliases + 1)
			}
			m := a.listSize(s)
			if m > a.r.MaxList {
				a.r.MaxList, a.r.ListField = m, s.Name
			}
			st.cost = sat(st.cost + satMul(max(m, 1), sat(1+child.cost)))
		case *ast.InlineFragment:
			child := a.set(s.SelectionSet)
			st.depth = max(st.depth, child.depth)
			st.aliases = sat(st.aliases + child.aliases)
			st.cost = sat(st.cost + child.cost)
		case *ast.FragmentSpread:
			child := a.fragment(s.Name)
			st.depth = max(st.depth, child.depth)
			st.aliases = sat(st.aliases + child.aliases)
			st.cost = sat(st.cost + child.cost)
		}
	}
	return st
}

// fragment measures a fragment once (memoized: a fragment spread a
// thousand times costs one walk); a spread that reaches its own fragment
// again is a cycle, which GraphQL forbids.
func (a *gqlAnalyzer) fragment(name string) stat {
	if m, ok := a.memo[name]; ok {
		if m.visiting {
			a.err = fmt.Errorf("fragment %q spreads itself (a cycle)", name)
			return stat{}
		}
		return *m
	}
	def := a.doc.Fragments.ForName(name)
	if def == nil {
		a.err = fmt.Errorf("unknown fragment %q", name)
		return stat{}
	}
	m := &fragStat{visiting: true}
	a.memo[name] = m
	st := a.set(def.SelectionSet)
	*m = st
	return st
}

// listSize is the largest list argument of a field (0 when it has none):
// an integer literal, a numeric string, or a variable from the request's
// variables or the operation's default.
func (a *gqlAnalyzer) listSize(f *ast.Field) int64 {
	var n int64
	for _, arg := range f.Arguments {
		if arg.Value == nil || !a.isListArg(arg.Name) {
			continue
		}
		n = max(n, a.valueSize(arg.Value))
	}
	return n
}

func (a *gqlAnalyzer) isListArg(name string) bool {
	for _, l := range a.listArgs {
		if l == name {
			return true
		}
	}
	return false
}

func (a *gqlAnalyzer) valueSize(v *ast.Value) int64 {
	switch v.Kind {
	case ast.IntValue, ast.FloatValue, ast.StringValue:
		return numSize(v.Raw)
	case ast.Variable:
		if x, ok := a.vars[v.Raw]; ok {
			switch x := x.(type) {
			case float64:
				return floatSize(x)
			case string:
				return numSize(x)
			case int:
				return int64(x)
			case int64:
				return x
			}
			return 0
		}
		if a.op != nil {
			if d := a.op.VariableDefinitions.ForName(v.Raw); d != nil && d.DefaultValue != nil {
				return a.valueSize(d.DefaultValue)
			}
		}
	}
	return 0
}

func numSize(s string) int64 {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return max(n, 0)
	} else if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-") {
		return maxCount
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return floatSize(f)
	}
	return 0
}

func floatSize(f float64) int64 {
	switch {
	case f != f || f <= 0:
		return 0
	case f >= float64(maxCount):
		return maxCount
	}
	return int64(f)
}

// braceDepth is the deepest { nesting of a GraphQL document, strings and
// comments skipped; a cheap bound on the depth, checked before parsing.
func braceDepth(q string) int {
	depth, deepest := 0, 0
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case '"':
			if strings.HasPrefix(q[i:], `"""`) {
				end := strings.Index(q[i+3:], `"""`)
				if end < 0 {
					return deepest
				}
				i += 3 + end + 2
				continue
			}
			for i++; i < len(q) && q[i] != '"' && q[i] != '\n'; i++ {
				if q[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}
