package discovery

import (
	"slices"
	"testing"
)

func TestParseGraphQL(t *testing.T) {
	for _, tc := range []struct {
		doc, want, typ, name string
		fields               []string
	}{
		{`query GetUser($id: ID!) { user(id: $id) { name } viewer { id } }`, "", "query", "GetUser", []string{"user", "viewer"}},
		{`{ products(first: 10) { edges { node { id } } } }`, "", "query", "", []string{"products"}},
		{`mutation AddToCart { addItem(sku: "a,b") { id } }`, "", "mutation", "AddToCart", []string{"addItem"}},
		{`query A { a } query B { b1 alias: b2 }`, "B", "query", "B", []string{"b1", "b2"}},
		{`fragment F on User { id } query Q @live { me { ...F } }`, "", "query", "Q", []string{"me"}},
		{`subscription OnOrder { orderPlaced { id } } # comment`, "", "subscription", "OnOrder", []string{"orderPlaced"}},
		{`query Q { ... on Query { hidden } visible }`, "", "query", "Q", []string{"hidden", "visible"}},
	} {
		op := ParseGraphQL(tc.doc, tc.want)
		if op.Type != tc.typ || op.Name != tc.name || !slices.Equal(op.RootFields, tc.fields) {
			t.Errorf("%q: %+v, want %s %s %v", tc.doc, op, tc.typ, tc.name, tc.fields)
		}
	}
}

func FuzzParseGraphQL(f *testing.F) {
	f.Add(`query GetUser($id: ID!) { user(id: $id) { name } }`, "")
	f.Add(`{ a { b { c } } }`, "x")
	f.Add(`"""block""" query { a(s: "\"") }`, "")
	f.Add(`query (((((`, "")
	f.Fuzz(func(t *testing.T, doc, name string) {
		op := ParseGraphQL(doc, name)
		if len(op.RootFields) > 32 {
			t.Fatalf("%d root fields kept", len(op.RootFields))
		}
	})
}
