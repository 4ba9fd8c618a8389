package openapi

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
)

func loadSpecs(t testing.TB, files ...string) []*Spec {
	t.Helper()
	var out []*Spec
	for _, f := range files {
		s, err := Load(context.Background(), "testdata/"+f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func obj(props map[string]any, required ...string) map[string]any {
	m := map[string]any{"type": "object", "properties": props}
	if required != nil {
		r := make([]any, len(required))
		for i, s := range required {
			r[i] = s
		}
		m["required"] = r
	}
	return m
}

func typ(t string) map[string]any { return map[string]any{"type": t} }

func arr(items map[string]any) map[string]any { return map[string]any{"type": "array", "items": items} }

// shopTraffic is what a gateway in front of the shop saw.
func shopTraffic() []Observed {
	const host = "eu.shop.example.com"
	return []Observed{
		{Host: host, Method: "GET", Path: "/api/v2/products", Hits: 900, QueryParams: []ObservedParam{
			{Name: "category", Schema: typ("string")},
			{Name: "limit", Schema: typ("integer")},
			{Name: "sort", Schema: typ("string")},
		}, Responses: map[int]ObservedResponse{200: {ContentType: "application/json", Count: 900,
			Schema: arr(obj(map[string]any{"id": typ("integer"), "name": typ("string"), "price": typ("number"),
				"description": map[string]any{"type": []any{"string", "null"}}}, "id", "name", "price"))}}},
		{Host: host, Method: "GET", Path: "/api/v2/products/{parameter}", Hits: 4000,
			Responses: map[int]ObservedResponse{
				200: {ContentType: "application/json", Count: 3900, Schema: obj(map[string]any{
					"id": typ("integer"), "name": typ("string"), "price": typ("number"), "cost_price": typ("number")}, "id", "name", "price")},
				404: {ContentType: "application/json", Count: 100},
				500: {ContentType: "text/plain", Count: 3},
			}},
		{Host: host, Method: "GET", Path: "/api/v2/products/featured", Hits: 50},
		{Host: host, Method: "POST", Path: "/api/v2/orders/", Hits: 120, RequestContentTypes: []string{"application/json"},
			RequestSchema: obj(map[string]any{
				"items":    arr(obj(map[string]any{"productId": typ("string"), "quantity": typ("integer"), "discount": typ("number")}, "productId", "quantity")),
				"shipping": obj(map[string]any{"street": typ("string"), "zip": typ("string")}, "street", "zip"),
				"giftWrap": typ("boolean"),
			}, "items")},
		{Host: host, Method: "DELETE", Path: "/api/v2/orders/{parameter}", Hits: 7},
		{Host: host, Method: "GET", Path: "/api/v1/orders/{parameter}", Hits: 12},
		{Host: host, Method: "GET", Path: "/api/v1/products/{parameter}", Hits: 3},
		{Host: host, Method: "GET", Path: "/api/v2/internal/debug", Hits: 2},
		{Host: host, Method: "POST", Path: "/api/v2/products", Hits: 1},
	}
}

func TestCompareShop(t *testing.T) {
	specs := loadSpecs(t, "shop-3.0.yaml", "shop-v1-3.0.json")
	res := Compare(specs, shopTraffic())

	want := []struct {
		method, path string
		status       Status
		specPath     string
		reason       string
	}{
		{"GET", "/api/v2/products", StatusDocumented, "/api/v2/products", ""},
		{"GET", "/api/v2/products/{parameter}", StatusDocumented, "/api/v2/products/{productId}", ""},
		{"GET", "/api/v2/products/featured", StatusDocumented, "/api/v2/products/featured", ""},
		{"POST", "/api/v2/orders/", StatusDocumented, "/api/v2/orders", ""},
		{"DELETE", "/api/v2/orders/{parameter}", StatusZombie, "/api/v2/orders/{orderId}", "deprecated"},
		{"GET", "/api/v1/orders/{parameter}", StatusZombie, "/api/v1/orders/{id}", "older spec"},
		{"GET", "/api/v1/products/{parameter}", StatusZombie, "/api/v2/products/{productId}", "superseded by GET /api/v2/products/{productId}"},
		{"GET", "/api/v2/internal/debug", StatusShadow, "", "not in any spec"},
		{"POST", "/api/v2/products", StatusShadow, "", "documented for GET"},
	}
	if len(res.Endpoints) != len(want) {
		t.Fatalf("got %d endpoints, want %d", len(res.Endpoints), len(want))
	}
	for i, w := range want {
		got := res.Endpoints[i]
		if got.Method != w.method || got.Path != w.path || got.Status != w.status || got.SpecPath != w.specPath || !strings.Contains(got.Reason, w.reason) {
			t.Errorf("%s %s = %s spec=%q reason=%q; want %s spec=%q reason~%q",
				got.Method, got.Path, got.Status, got.SpecPath, got.Reason, w.status, w.specPath, w.reason)
		}
	}

	var unused []string
	for _, op := range res.Unused {
		unused = append(unused, op.Method+" "+op.Path)
	}
	sort.Strings(unused)
	wantUnused := []string{
		"GET /api/v1/products", "GET /api/v2/admin/reports", "GET /api/v2/categories",
		"GET /api/v2/orders/{orderId}", "POST /api/v1/orders", "PUT /api/v2/products/{productId}",
	}
	if strings.Join(unused, "\n") != strings.Join(wantUnused, "\n") {
		t.Errorf("unused =\n%s\nwant\n%s", strings.Join(unused, "\n"), strings.Join(wantUnused, "\n"))
	}

	var diffs []string
	for _, d := range res.Diffs {
		diffs = append(diffs, fmt.Sprintf("%s %s %s %s %s", d.Method, d.Path, d.In, d.Kind, d.Name))
	}
	wantDiffs := []string{
		"GET /api/v2/products query undocumented_param sort",
		"GET /api/v2/products/{parameter} response:200 undocumented_field $.cost_price",
		"GET /api/v2/products/{parameter} response:500 undocumented_status 500",
		"POST /api/v2/orders/ body undocumented_field $.giftWrap",
		"POST /api/v2/orders/ body undocumented_field $.items[].discount",
		"POST /api/v2/orders/ body type_mismatch $.items[].productId",
		"POST /api/v2/orders/ body missing_required $.shipping.city",
	}
	if strings.Join(diffs, "\n") != strings.Join(wantDiffs, "\n") {
		t.Errorf("diffs =\n%s\nwant\n%s", strings.Join(diffs, "\n"), strings.Join(wantDiffs, "\n"))
	}
}

func TestCompareHosts(t *testing.T) {
	specs := loadSpecs(t, "petstore-2.0.yaml", "users-3.1.yaml")
	tests := []struct {
		name string
		ep   Observed
		want Status
	}{
		{"host of petstore", Observed{Host: "petstore.example.com", Method: "GET", Path: "/v1/pets/42"}, StatusDocumented},
		{"host with port", Observed{Host: "petstore.example.com:443", Method: "GET", Path: "/v1/pets"}, StatusDocumented},
		{"users path on petstore host", Observed{Host: "petstore.example.com", Method: "GET", Path: "/v3/users"}, StatusShadow},
		{"users host", Observed{Host: "users.example.com", Method: "GET", Path: "/v3/users/{parameter}"}, StatusDocumented},
		{"unknown host falls back to every spec", Observed{Host: "10.0.0.7:8080", Method: "GET", Path: "/v3/users"}, StatusDocumented},
		{"base path honoured", Observed{Host: "petstore.example.com", Method: "GET", Path: "/pets"}, StatusShadow},
		{"deprecated in 2.0", Observed{Host: "petstore.example.com", Method: "DELETE", Path: "/v1/pets/{id}"}, StatusZombie},
		{"method is case-insensitive", Observed{Host: "petstore.example.com", Method: "get", Path: "/v1/pets"}, StatusDocumented},
		{"query string ignored", Observed{Method: "GET", Path: "/v1/pets?limit=3"}, StatusDocumented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Compare(specs, []Observed{tt.ep})
			if got := res.Endpoints[0]; got.Status != tt.want {
				t.Errorf("status = %s (%s), want %s", got.Status, got.Reason, tt.want)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	spec := func(title string, paths ...string) *Spec {
		s := &Spec{Title: title, BasePaths: []string{""}}
		for _, p := range paths {
			v, _ := apiVersion(p)
			s.Operations = append(s.Operations, Operation{Method: "GET", Path: p, RawPath: p, APIVersion: v})
		}
		return s
	}
	tests := []struct {
		name  string
		specs []*Spec
		path  string
		want  Status
	}{
		{"one spec keeps v1 alive", []*Spec{spec("both", "/v1/orders", "/v2/orders")}, "/v1/orders", StatusDocumented},
		{"older spec", []*Spec{spec("old", "/v1/orders"), spec("new", "/v2/orders")}, "/v1/orders", StatusZombie},
		{"dropped in v2", []*Spec{spec("old", "/v1/orders", "/v1/legacy"), spec("new", "/v2/orders")}, "/v1/legacy", StatusZombie},
		{"newest spec", []*Spec{spec("old", "/v1/orders"), spec("new", "/v2/orders")}, "/v2/orders", StatusDocumented},
		{"unrelated APIs", []*Spec{spec("pets", "/v1/pets"), spec("users", "/v3/users")}, "/v1/pets", StatusDocumented},
		{"other prefix", []*Spec{spec("a", "/a/v1/x"), spec("b", "/b/v2/x")}, "/a/v1/x", StatusDocumented},
		{"twin in newer version", []*Spec{spec("new", "/v2/orders/{id}")}, "/v1/orders/{parameter}", StatusZombie},
		{"newer than spec is shadow", []*Spec{spec("new", "/v2/orders/{id}")}, "/v3/orders/{parameter}", StatusShadow},
		{"unversioned", []*Spec{spec("plain", "/orders")}, "/orders", StatusDocumented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(tt.specs, []Observed{{Method: "GET", Path: tt.path}}).Endpoints[0]
			if got.Status != tt.want {
				t.Errorf("%s = %s (%s), want %s", tt.path, got.Status, got.Reason, tt.want)
			}
		})
	}
}

func TestMatchSpecificity(t *testing.T) {
	spec := &Spec{BasePaths: []string{""}}
	for _, p := range []string{"/files/{name}", "/files/{name}.json", "/files/latest", "/{any}/latest", "/a/{x}/c", "/a/b/{y}"} {
		spec.Operations = append(spec.Operations, Operation{Method: "GET", Path: p, RawPath: p})
	}
	tests := []struct{ path, want string }{
		{"/files/latest", "/files/latest"},
		{"/files/report.json", "/files/{name}.json"},
		{"/files/report.csv", "/files/{name}"},
		{"/files/{parameter}", "/files/{name}"},
		{"/dirs/latest", "/{any}/latest"},
		{"/a/b/c", "/a/b/{y}"},
		{"/a/z/c", "/a/{x}/c"},
		{"/a/b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := Compare([]*Spec{spec}, []Observed{{Method: "GET", Path: tt.path}})
			if got := res.Endpoints[0].SpecPath; got != tt.want {
				t.Errorf("matched %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSchemaWalk(t *testing.T) {
	tests := []struct {
		name     string
		obs, doc map[string]any
		want     []string
	}{
		{"equal", obj(map[string]any{"a": typ("string")}), obj(map[string]any{"a": typ("string")}), nil},
		{"integer fits number", obj(map[string]any{"n": typ("integer")}), obj(map[string]any{"n": typ("number")}), nil},
		{"number does not fit integer", obj(map[string]any{"n": typ("number")}), obj(map[string]any{"n": typ("integer")}), []string{"type_mismatch $.n"}},
		{"null needs nullable", obj(map[string]any{"s": map[string]any{"type": []any{"string", "null"}}}), obj(map[string]any{"s": typ("string")}), []string{"type_mismatch $.s"}},
		{"3.1 nullable accepts null", obj(map[string]any{"s": map[string]any{"type": []any{"string", "null"}}}), obj(map[string]any{"s": map[string]any{"type": []any{"string", "null"}}}), nil},
		{"nested undocumented", obj(map[string]any{"a": obj(map[string]any{"b": typ("string")})}), obj(map[string]any{"a": obj(map[string]any{})}), []string{"undocumented_field $.a.b"}},
		{"free-form object", obj(map[string]any{"x": typ("string")}), typ("object"), nil},
		{"additionalProperties false", obj(map[string]any{"x": typ("string")}), map[string]any{"type": "object", "additionalProperties": false}, []string{"undocumented_field $.x"}},
		{"map values checked", obj(map[string]any{"k": typ("string")}), map[string]any{"type": "object", "additionalProperties": typ("integer")}, []string{"type_mismatch $.k"}},
		{"recursive ref accepts all", obj(map[string]any{"x": obj(map[string]any{"y": typ("string")})}), obj(map[string]any{"x": map[string]any{"$ref": "#/x"}}), nil},
		{"allOf merged", obj(map[string]any{"a": typ("string"), "b": typ("integer")}),
			map[string]any{"allOf": []any{obj(map[string]any{"a": typ("string")}), obj(map[string]any{"b": typ("integer")})}}, nil},
		{"oneOf best branch", obj(map[string]any{"card": typ("string")}),
			map[string]any{"oneOf": []any{obj(map[string]any{"iban": typ("string")}), obj(map[string]any{"card": typ("string")})}}, nil},
		{"required sometimes absent", obj(map[string]any{"a": typ("string"), "b": typ("string")}, "a"), obj(map[string]any{"a": typ("string"), "b": typ("string")}, "a", "b"), []string{"missing_required $.b"}},
		{"array of wrong items", arr(typ("string")), arr(typ("integer")), []string{"type_mismatch $[]"}},
		{"top-level type", typ("array"), typ("object"), []string{"type_mismatch $"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := differ{in: "body"}
			d.walk(tt.obs, tt.doc, "$", 0)
			var got []string
			for _, x := range d.diffs {
				got = append(got, x.Kind+" "+x.Name)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("diffs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompareParams(t *testing.T) {
	spec := &Spec{BasePaths: []string{""}, Operations: []Operation{{Method: "GET", Path: "/s", RawPath: "/s", Params: []Param{
		{Name: "q", In: "query", Required: true, Schema: typ("string")},
		{Name: "page", In: "query", Schema: typ("integer")},
		{Name: "X-Tenant", In: "header", Required: true, Schema: typ("string")},
	}}}}
	tests := []struct {
		name string
		ep   Observed
		want []string
	}{
		{"clean", Observed{QueryParams: []ObservedParam{{Name: "q", Required: true, Schema: typ("string")}}}, nil},
		{"numeric value in a string param is fine", Observed{QueryParams: []ObservedParam{{Name: "q", Required: true, Schema: typ("integer")}}}, nil},
		{"text in an integer param", Observed{QueryParams: []ObservedParam{{Name: "q", Required: true}, {Name: "page", Schema: typ("string")}}}, []string{"type_mismatch page"}},
		{"required never sent", Observed{QueryParams: []ObservedParam{{Name: "page", Schema: typ("integer")}}}, []string{"missing_required q"}},
		{"required sometimes absent", Observed{QueryParams: []ObservedParam{{Name: "q"}}}, []string{"missing_required q"}},
		{"undocumented", Observed{QueryParams: []ObservedParam{{Name: "q", Required: true}, {Name: "debug"}}}, []string{"undocumented_param debug"}},
		{"header names are case-insensitive", Observed{QueryParams: []ObservedParam{{Name: "q", Required: true}}, HeaderParams: []ObservedParam{{Name: "x-tenant"}}}, []string{"missing_required X-Tenant"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ep.Method, tt.ep.Path = "GET", "/s"
			res := Compare([]*Spec{spec}, []Observed{tt.ep})
			var got []string
			for _, d := range res.Diffs {
				got = append(got, d.Kind+" "+d.Name)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("diffs = %v, want %v", got, tt.want)
			}
		})
	}
}

func BenchmarkCompare(b *testing.B) {
	specs := loadSpecs(b, "shop-3.0.yaml", "shop-v1-3.0.json", "petstore-2.0.yaml", "users-3.1.yaml")
	// 200 extra operations so that matching has work to do.
	big := &Spec{Title: "big", BasePaths: []string{""}}
	for i := 0; i < 200; i++ {
		p := fmt.Sprintf("/svc%d/items/{id}/parts/{part}", i)
		big.Operations = append(big.Operations, Operation{Method: "GET", Path: p, RawPath: p})
	}
	specs = append(specs, big)
	eps := shopTraffic()
	for i := 0; i < 100; i++ {
		eps = append(eps, Observed{Method: "GET", Path: fmt.Sprintf("/svc%d/items/{parameter}/parts/%d", i*2, i)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Compare(specs, eps)
	}
}
