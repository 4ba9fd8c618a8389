package guard

import (
	"strings"
	"testing"
)

func TestAnalyzeGraphQL(t *testing.T) {
	cases := []struct {
		name          string
		query, op     string
		vars          map[string]any
		depth         int
		aliases, cost int64
		intro         bool
		err           string
	}{
		{name: "flat", query: `{ me { id name } }`, depth: 2, cost: 3},
		{name: "nested", query: `{ a { b { c { d } } } }`, depth: 4, cost: 4},
		{name: "list multiplier", query: `{ users(first: 100) { id name } }`, depth: 2, cost: 300},
		{name: "nested lists", query: `{ users(first: 10) { posts(last: 10) { id } } }`, depth: 3, cost: 10 * (1 + 10*2)},
		{name: "variable size", query: `query Q($n: Int) { users(limit: $n) { id } }`, vars: map[string]any{"n": 1000.0}, depth: 2, cost: 2000},
		{name: "default variable", query: `query Q($n: Int = 50) { users(first: $n) { id } }`, depth: 2, cost: 100},
		{name: "aliases", query: `{ a: me { id } b: me { id } c: me { x: id } me { id } }`, depth: 2, aliases: 4, cost: 8},
		{name: "fragment depth and aliases", query: `{ me { ...F } } fragment F on User { friends { a1: id a2: id } }`, depth: 3, aliases: 2, cost: 4},
		{name: "fragment spread many times", query: `{ a: me { ...F } b: me { ...F } } fragment F on User { x: id y: id }`, depth: 2, aliases: 6, cost: 6},
		{name: "inline fragment", query: `{ node { ... on User { posts { id } } } }`, depth: 3, cost: 3},
		{name: "introspection", query: `{ __schema { types { name } } }`, depth: 3, cost: 3, intro: true},
		{name: "introspection in fragment", query: `{ ...I } fragment I on Query { __type(name: "User") { name } }`, depth: 2, cost: 2, intro: true},
		{name: "typename is not introspection", query: `{ me { __typename id } }`, depth: 2, cost: 3},
		{name: "operation picked", query: `query A { a { b { c } } } query B { x }`, op: "B", depth: 1, cost: 1},
		{name: "all operations", query: `query A { a { b { c } } } query B { x }`, depth: 3, cost: 4},
		{name: "cycle", query: `{ ...A } fragment A on Q { ...B } fragment B on Q { ...A }`, err: "cycle"},
		{name: "self cycle", query: `{ ...A } fragment A on Q { x { ...A } }`, err: "cycle"},
		{name: "unknown fragment", query: `{ ...Nope }`, err: "unknown fragment"},
		{name: "unknown operation", query: `query A { x }`, op: "B", err: "no operation"},
		{name: "syntax", query: `{ me { id `, err: "Expected"},
		{name: "huge list", query: `{ users(first: 99999999999999999999) { id } }`, depth: 2, cost: maxCount},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := AnalyzeGraphQL(tc.query, tc.op, tc.vars, nil)
			if tc.err != "" {
				if r.Err == nil || !strings.Contains(r.Err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", r.Err, tc.err)
				}
				return
			}
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if r.Depth != tc.depth || r.Aliases != tc.aliases || r.Cost != tc.cost || r.Introspection != tc.intro {
				t.Errorf("got depth %d aliases %d cost %d introspection %v, want %d %d %d %v",
					r.Depth, r.Aliases, r.Cost, r.Introspection, tc.depth, tc.aliases, tc.cost, tc.intro)
			}
		})
	}
}

// TestAnalyzeGraphQLExplosion: fragments that double at every level (the
// "billion laughs" of GraphQL) are measured in linear time and saturate.
func TestAnalyzeGraphQLExplosion(t *testing.T) {
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := range 60 {
		b.WriteString("fragment F" + itoa(i) + " on Q { a: x { ...F" + itoa(i+1) + " } b: x { ...F" + itoa(i+1) + " } }\n")
	}
	b.WriteString("fragment F60 on Q { id }\n")
	r := AnalyzeGraphQL(b.String(), "", nil, nil)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Depth != 61 || r.Aliases < 1<<40 || r.Cost < 1<<40 {
		t.Errorf("depth %d aliases %d cost %d", r.Depth, r.Aliases, r.Cost)
	}
	deep := strings.Repeat("{a", 100000) + strings.Repeat("}", 100000)
	if r := AnalyzeGraphQL(deep, "", nil, nil); r.Depth < 1000 {
		t.Errorf("100000 levels reported as depth %d (err %v)", r.Depth, r.Err)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func FuzzAnalyzeGraphQL(f *testing.F) {
	for _, s := range []string{`{ me { id } }`, `{ a: x { ...F } } fragment F on Q { b: y(first: 10) { z } }`,
		`{ ...A } fragment A on Q { ...A }`, `query Q($n: Int = 5) { u(first: $n) { id } }`, `{ __schema { types { name } } }`,
		`{ a(s: "}}}") { b # }}}
 } }`, `"""{{{""" { x }`, `{`, `}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := AnalyzeGraphQL(q, "", nil, nil)
		if r.Depth < 0 || r.Aliases < 0 || r.Cost < 0 {
			t.Fatalf("negative measure %+v", r)
		}
	})
}
