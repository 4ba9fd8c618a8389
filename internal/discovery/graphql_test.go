package discovery

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseGraphQL(t *testing.T) {
	deep := func(n int) string { return "{" + strings.Repeat("a{", n-1) + "x" + strings.Repeat("}", n) }
	tests := []struct {
		name      string
		doc, want string
		typ, op   string // typ "" means no operation
		fields    []string
		vars      []string
	}{
		{name: "named query with variables",
			doc: `query GetUser($id: ID!, $withPosts: Boolean = false) { user(id: $id) { name posts @include(if: $withPosts) { id } } viewer { id } }`,
			typ: "query", op: "GetUser", fields: []string{"user", "viewer"}, vars: []string{"id", "withPosts"}},
		{name: "anonymous shorthand",
			doc: `{ products(first: 10) { edges { node { id } } } }`,
			typ: "query", fields: []string{"products"}},
		{name: "anonymous query keyword",
			doc: `query ($q: String) { search(q: $q) { id } }`,
			typ: "query", fields: []string{"search"}, vars: []string{"q"}},
		{name: "mutation with a comma in a string",
			doc: `mutation AddToCart { addItem(sku: "a,b}{") { id } }`,
			typ: "mutation", op: "AddToCart", fields: []string{"addItem"}},
		{name: "subscription with a comment",
			doc: "subscription OnOrder($shop: ID!) { orderPlaced(shop: $shop) { id } } # { trailing",
			typ: "subscription", op: "OnOrder", fields: []string{"orderPlaced"}, vars: []string{"shop"}},
		{name: "aliases resolve to the field, deduplicated",
			doc: `query Two { first: user(id: 1) { name } second: user(id: 2) { name } me: viewer { id } user(id: 3) { id } }`,
			typ: "query", op: "Two", fields: []string{"user", "viewer"}},
		{name: "named fragment spread at the root expands",
			doc: `query Home { ...RootFields banner } fragment RootFields on Query { viewer { id } cart: basket { id } }`,
			typ: "query", op: "Home", fields: []string{"viewer", "basket", "banner"}},
		{name: "fragment spread below the root does not",
			doc: `fragment F on User { id email } query Q @live { me { ...F } }`,
			typ: "query", op: "Q", fields: []string{"me"}},
		{name: "inline fragments at the root, with and without a type",
			doc: `query Q { ... on Query { hidden } visible ... @include(if: true) { extra } }`,
			typ: "query", op: "Q", fields: []string{"hidden", "visible", "extra"}},
		{name: "nested and cyclic fragments end",
			doc: `query Q { ...A } fragment A on Query { a ...B ... on Query { ...A c } } fragment B on Query { b ...A ...Missing }`,
			typ: "query", op: "Q", fields: []string{"a", "b", "c"}},
		{name: "introspection",
			doc: `query IntrospectionQuery { __schema { queryType { name } types { ...FullType } } } fragment FullType on __Type { kind name }`,
			typ: "query", op: "IntrospectionQuery", fields: []string{"__schema"}},
		{name: "operationName picks among several",
			doc:  `query A { a } query B($x: Int) { b1 alias: b2 } mutation C { c }`,
			want: "B", typ: "query", op: "B", fields: []string{"b1", "b2"}, vars: []string{"x"}},
		{name: "operationName picks a mutation",
			doc:  `query A { a } mutation C($in: CartInput!) { checkout(input: $in) { id } }`,
			want: "C", typ: "mutation", op: "C", fields: []string{"checkout"}, vars: []string{"in"}},
		{name: "operationName of the only operation",
			doc:  `query Only { x }`,
			want: "Only", typ: "query", op: "Only", fields: []string{"x"}},
		{name: "unknown operationName",
			doc: `query A { a } query B { b }`, want: "C"},
		{name: "unknown operationName with one operation",
			doc: `query A { a }`, want: "B"},
		{name: "operationName against an anonymous operation",
			doc: `{ a }`, want: "A"},
		{name: "several operations and no operationName",
			doc: `query A { a } query B { b }`},
		{name: "fragments only",
			doc: `fragment F on Query { a }`},
		{name: "empty", doc: ``},
		{name: "not GraphQL", doc: `{"query": "x"}`},
		{name: "unclosed selection set", doc: `query Q { a { b }`},
		{name: "unclosed arguments", doc: `query (((((`},
		{name: "unterminated string", doc: `{ a(s: "abc) }`},
		{name: "unknown keyword", doc: `update Q { a }`},
		{name: "depth within bounds",
			doc: deep(100), typ: "query", fields: []string{"a"}},
		{name: "braces in strings and comments do not count",
			doc: "{ search(q: \"" + strings.Repeat("{[", 500) + "\", b: \"\"\"" + strings.Repeat("{", 500) + "\"\"\") # " + strings.Repeat("{", 500) + "\n}",
			typ: "query", fields: []string{"search"}},
		{name: "too deep", doc: deep(maxGraphQLDepth + 1)},
		{name: "too deep in a list argument",
			doc: `{ f(a: ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `) }`},
		{name: "deep enough to exhaust the stack",
			doc: strings.Repeat("{", 200_000)},
		{name: "too large",
			doc: `{ a(s: "` + strings.Repeat("x", maxGraphQLBytes) + `") }`},
		{name: "too many tokens",
			doc: "{" + strings.Repeat(" a", maxGraphQLTokens) + " }"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op, vars := parseGraphQL(tc.doc, tc.want)
			if op.Type != tc.typ || op.Name != tc.op || !slices.Equal(op.RootFields, tc.fields) || !slices.Equal(vars, tc.vars) {
				t.Errorf("got %s %q %q vars %q, want %s %q %q vars %q", op.Type, op.Name, op.RootFields, vars, tc.typ, tc.op, tc.fields, tc.vars)
			}
			if got := ParseGraphQL(tc.doc, tc.want); !slices.Equal(got.RootFields, op.RootFields) || got.Type != op.Type || got.Name != op.Name {
				t.Errorf("ParseGraphQL = %+v, parseGraphQL = %+v", got, op)
			}
		})
	}
}

func TestParseGraphQLBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("query Many($v0: Int")
	for i := range 40 {
		b.WriteString(", $v" + itoa(i+1) + ": Int")
	}
	b.WriteString(") {")
	for i := range 40 {
		b.WriteString(" f" + itoa(i))
	}
	b.WriteString(" }")
	op, vars := parseGraphQL(b.String(), "")
	if len(op.RootFields) != maxRootFields || op.RootFields[0] != "f0" || len(vars) != maxVariables || vars[0] != "v0" {
		t.Fatalf("%d root fields, %d variables", len(op.RootFields), len(vars))
	}
}

// TestEngineGraphQLOperations: through the Engine, the operations of a
// GraphQL endpoint are inventoried apart, each with its own hits, type
// and root fields; batches count each operation; bodies that are no
// operation (parse errors, an unknown operationName) are not counted.
func TestEngineGraphQLOperations(t *testing.T) {
	e, err := New(Options{SampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	post := func(body any) {
		t.Helper()
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		e.Observe(&Observation{Time: t0, Host: "shop.local", Method: "POST", Path: "/graphql", Status: 200,
			ReqType: "application/json", RespType: "application/json", ReqBody: b, RespBody: []byte(`{"data":{}}`)})
		t0 = t0.Add(time.Second)
	}
	type req struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName,omitempty"`
		Variables     map[string]any `json:"variables,omitempty"`
	}
	const doc = `query Product($slug: String!) { product(slug: $slug) { ...P } } ` +
		`mutation AddToCart($sku: String!) { shop: cart { add(sku: $sku) { id } } } ` +
		`fragment P on Product { id name }`
	for i := range 5 {
		post(req{Query: doc, OperationName: "Product", Variables: map[string]any{"slug": "socks-" + itoa(i)}})
	}
	for range 3 {
		post(req{Query: doc, OperationName: "AddToCart", Variables: map[string]any{"sku": "a"}})
	}
	post([]req{{Query: `{ viewer { id } }`}, {Query: doc, OperationName: "AddToCart"}})
	post(req{Query: `subscription OnOrder { orderPlaced { id } }`})
	post(req{Query: doc, OperationName: "Nope"})     // unknown operation
	post(req{Query: doc})                            // several operations, no name
	post(req{Query: `query Broken { a { b }`})       // parse error
	post(req{Query: strings.Repeat("{", 200) + "}"}) // too deep
	post([]any{[]req{{Query: `{ nested }`}}})        // not a batch

	eps := e.Full()
	if len(eps) != 1 {
		t.Fatalf("%d endpoints: %+v", len(eps), eps)
	}
	ep := eps[0]
	if ep.Kind != "graphql" || ep.Path != "/graphql" || ep.Hits != 15 || ep.RequestSchema == nil {
		t.Fatalf("endpoint %+v", ep)
	}
	type row struct {
		hits   int64
		fields []string
	}
	want := map[string]row{
		"query Product":        {5, []string{"product"}},
		"mutation AddToCart":   {4, []string{"cart"}},
		"query (anonymous)":    {1, []string{"viewer"}},
		"subscription OnOrder": {1, []string{"orderPlaced"}},
	}
	if len(ep.Operations) != len(want) {
		t.Fatalf("operations %+v", ep.Operations)
	}
	for _, op := range ep.Operations {
		w, ok := want[op.Type+" "+op.Name]
		if !ok || op.Hits != w.hits || !slices.Equal(op.RootFields, w.fields) {
			t.Errorf("operation %+v, want %+v", op, w)
		}
	}
}

func FuzzParseGraphQL(f *testing.F) {
	// Seeds beyond these are in testdata/fuzz/FuzzParseGraphQL.
	f.Add(`query GetUser($id: ID!) { user(id: $id) { name } }`, "")
	f.Add(`{ a { b { c } } }`, "x")
	f.Add(`"""block""" query { a(s: "\"") }`, "")
	f.Add(`query (((((`, "")
	f.Fuzz(func(t *testing.T, doc, name string) {
		op, vars := parseGraphQL(doc, name)
		if len(op.RootFields) > maxRootFields || len(vars) > maxVariables {
			t.Fatalf("%d root fields, %d variables kept", len(op.RootFields), len(vars))
		}
		switch op.Type {
		case "":
			if op.Name != "" || op.RootFields != nil || vars != nil {
				t.Fatalf("no operation, yet %+v %q", op, vars)
			}
			return
		case "query", "mutation", "subscription":
		default:
			t.Fatalf("type %q", op.Type)
		}
		if name != "" && op.Name != name {
			t.Fatalf("asked for %q, got %q", name, op.Name)
		}
		for i, f := range op.RootFields {
			if !isGraphQLName(f) || slices.Contains(op.RootFields[:i], f) {
				t.Fatalf("root fields %q", op.RootFields)
			}
		}
		for _, v := range vars {
			if !isGraphQLName(v) {
				t.Fatalf("variables %q", vars)
			}
		}
	})
}

func isGraphQLName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// benchDocs are typical GraphQL request bodies: a small named query; a
// query with variables, aliases, inline and named fragments; a mutation
// picked by operationName among several operations.
var benchDocs = []struct{ name, doc, want string }{
	{"small", `query GetUser($id: ID!) { user(id: $id) { id name } }`, ""},
	{"fragments", `query Shop($first: Int = 10, $after: String, $lang: Lang @deprecated) {
  viewer { ...ViewerFields }
  catalog: products(first: $first, after: $after, filter: {tags: ["a", "b"], price: {lt: 100.5}}) {
    edges { node { id ...ProductFields reviews(first: 3) { edges { node { rating body } } } } }
    pageInfo { hasNextPage endCursor }
  }
  ... on Query @include(if: true) { cart { id items { sku qty } } }
  ...RootExtras
}
fragment ViewerFields on User { id name email avatar(size: 64) }
fragment ProductFields on Product { name slug price { amount currency } images(first: 2) { url } }
fragment RootExtras on Query { featured { id } banners: promotions(active: true) { id title } }`, ""},
	{"multi", `query A { a { id } } query B($x: Int) { b(x: $x) { id } }
mutation AddToCart($sku: String!, $qty: Int!) { addItem(sku: $sku, qty: $qty) { id total } }
subscription OnOrder { orderPlaced { id } }`, "AddToCart"},
}

func BenchmarkParseGraphQL(b *testing.B) {
	for _, d := range benchDocs {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(d.doc)))
			for b.Loop() {
				if op := ParseGraphQL(d.doc, d.want); op.Type == "" {
					b.Fatal("no operation")
				}
			}
		})
	}
}

// BenchmarkObserveGraphQL is a sampled GraphQL request through the
// Engine (JSON decoding, schema, sensitive scan and the operation), to
// weigh the parser's share.
func BenchmarkObserveGraphQL(b *testing.B) {
	e, err := New(Options{SampleRate: 1})
	if err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{"query": benchDocs[1].doc, "variables": map[string]any{"first": 20, "after": "YXJyYXljb25uZWN0aW9uOjE5"}})
	if err != nil {
		b.Fatal(err)
	}
	o := Observation{Host: "shop.local", Method: "POST", Path: "/graphql", Status: 200, ReqType: "application/json", ReqBody: body}
	b.ReportAllocs()
	for b.Loop() {
		e.Observe(&o)
	}
}

// TestGraphQLOperationSchemas: each operation learns its own variables
// and response schema, batches pair responses item by item, and the
// schemas survive the profile a data plane publishes.
func TestGraphQLOperationSchemas(t *testing.T) {
	e, err := New(Options{SampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	post := func(req, resp string) {
		e.Observe(&Observation{Time: t0, Host: "shop.local", Method: "POST", Path: "/graphql", Status: 200,
			ReqType: "application/json", RespType: "application/json", ReqBody: []byte(req), RespBody: []byte(resp)})
		t0 = t0.Add(time.Second)
	}
	for i := range 3 {
		post(`{"query":"query Product($slug: String!) { product(slug: $slug) { id price } }","variables":{"slug":"socks-`+itoa(i)+`"}}`,
			`{"data":{"product":{"id":`+itoa(i)+`,"price":9.5}}}`)
	}
	post(`[{"query":"mutation AddToCart($sku: String!, $qty: Int) { add(sku: $sku, qty: $qty) { total } }","variables":{"sku":"a","qty":2}},`+
		`{"query":"{ viewer { email } }"}]`,
		`[{"data":{"add":{"total":19}}},{"data":{"viewer":{"email":"jane@example.com"}}}]`)

	check := func(ops []GraphQLOperation) {
		t.Helper()
		byName := map[string]GraphQLOperation{}
		for _, op := range ops {
			byName[op.Type+" "+op.Name] = op
		}
		prop := func(s map[string]any, path ...string) map[string]any {
			for _, p := range path {
				props, _ := s["properties"].(map[string]any)
				s, _ = props[p].(map[string]any)
			}
			return s
		}
		cases := []struct {
			op, side string
			path     []string
			typ      string
		}{
			{"query Product", "vars", []string{"slug"}, "string"},
			{"query Product", "resp", []string{"data", "product", "id"}, "integer"},
			{"query Product", "resp", []string{"data", "product", "price"}, "number"},
			{"mutation AddToCart", "vars", []string{"qty"}, "integer"},
			{"mutation AddToCart", "resp", []string{"data", "add", "total"}, "integer"},
			{"query (anonymous)", "resp", []string{"data", "viewer", "email"}, "string"},
		}
		for _, c := range cases {
			op, ok := byName[c.op]
			if !ok {
				t.Fatalf("no operation %q in %+v", c.op, ops)
			}
			s := op.VariablesSchema
			if c.side == "resp" {
				s = op.ResponseSchema
			}
			if got, _ := prop(s, c.path...)["type"].(string); got != c.typ {
				t.Errorf("%s %s %v: type %q, want %q (schema %v)", c.op, c.side, c.path, got, c.typ, s)
			}
		}
		if an := byName["query (anonymous)"]; an.VariablesSchema != nil {
			t.Errorf("an operation without variables has a variables schema: %v", an.VariablesSchema)
		}
		if p := byName["query Product"]; prop(p.ResponseSchema, "data", "add") != nil {
			t.Error("one operation's response schema holds another's fields")
		}
	}
	eps := e.Full()
	if len(eps) != 1 {
		t.Fatalf("%d endpoints", len(eps))
	}
	check(eps[0].Operations)

	// Through a published profile (scale-out): encoded, decoded, applied.
	ups := e.ProfilesSince(nil)
	if len(ups) != 1 {
		t.Fatalf("%d profiles", len(ups))
	}
	var p Profile
	if err := json.Unmarshal(ups[0].JSON, &p); err != nil {
		t.Fatal(err)
	}
	row := Endpoint{Host: "shop.local", Method: "POST", Path: "/graphql"}
	ApplyProfiles(&row, []*Profile{&p, &p})
	check(row.Operations)
}
