package openapi

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/pb33f/libopenapi"
)

func demoTraffic() []Observed {
	t0 := time.Date(2026, 1, 17, 12, 0, 0, 0, time.UTC)
	const host = "shop.demo.local"
	user := obj(map[string]any{"id": typ("integer"), "email": map[string]any{"type": "string", "format": "email"},
		"nickname": map[string]any{"type": []any{"string", "null"}}}, "id", "email")
	return []Observed{
		{Host: host, Method: "GET", Path: "/products", Hits: 120, FirstSeen: t0, LastSeen: t0.Add(time.Hour),
			QueryParams: []ObservedParam{{Name: "page", Schema: typ("integer")}, {Name: "q"}},
			Responses:   map[int]ObservedResponse{200: {ContentType: "application/json; charset=utf-8", Count: 120, Schema: arr(obj(map[string]any{"id": typ("integer")}))}},
			Auth:        []string{"none"}},
		{Host: host, Method: "GET", Path: "/products/{parameter}", Hits: 300, LastSeen: t0,
			Responses: map[int]ObservedResponse{200: {ContentType: "application/json", Count: 290}, 404: {ContentType: "text/html", Count: 10}}},
		// Same shape, other parameter name: merged into /products/{parameter}.
		{Host: host, Method: "DELETE", Path: "/products/{id}", Hits: 2, Auth: []string{"bearer_jwt"}},
		{Host: host, Method: "POST", Path: "/login", Hits: 40, RequestContentTypes: []string{"application/x-www-form-urlencoded", "application/json"},
			RequestSchema: obj(map[string]any{"username": typ("string"), "password": typ("string")}, "username", "password"),
			Responses:     map[int]ObservedResponse{200: {ContentType: "application/json", Count: 38, Schema: obj(map[string]any{"token": typ("string")})}, 401: {Count: 2}},
			Sensitive:     []string{"password", "jwt"}},
		{Host: host, Method: "POST", Path: "/cart/item/add/{parameter}", Hits: 10, Auth: []string{"bearer_jwt", "basic"},
			HeaderParams: []ObservedParam{{Name: "X-Cart-Session", Required: true}, {Name: "Authorization", Required: true}, {Name: "Content-Type"}}},
		{Host: host, Method: "GET", Path: "/users/{parameter}/orders/{parameter}", Hits: 5, Auth: []string{"api_key", "mtls"},
			Responses: map[int]ObservedResponse{200: {ContentType: "application/json", Schema: user, Count: 5}}, Sensitive: []string{"email"}},
		{Host: host, Method: "GET", Path: "/users/{parameter}/orders/{parameter}", Hits: 3, LastSeen: t0.Add(2 * time.Hour)},
		{Host: host, Method: "GET", Path: "files/{name}.json?x=1", Hits: 1},
		{Host: host, Method: "CONNECT", Path: "/tunnel", Hits: 1},
		{Host: "other.example", Method: "GET", Path: "/elsewhere", Hits: 9},
	}
}

func TestReconstructValidates(t *testing.T) {
	out, err := Reconstruct("shop.demo.local", demoTraffic(), ReconstructOptions{GeneratedAt: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}

	// libopenapi: build the 3.1 model without errors.
	ldoc, err := libopenapi.NewDocument(out)
	if err != nil {
		t.Fatalf("libopenapi: %v", err)
	}
	if v := ldoc.GetVersion(); v != "3.1.0" {
		t.Errorf("libopenapi sees version %q", v)
	}
	model, err := ldoc.BuildV3Model()
	if err != nil {
		t.Fatalf("libopenapi BuildV3Model: %v\n%s", err, out)
	}
	if n := model.Model.Paths.PathItems.Len(); n != 6 {
		t.Errorf("libopenapi sees %d paths, want 6", n)
	}

	// kin-openapi: load and validate (kin-openapi validates 3.1 documents,
	// JSON Schema 2020-12 keywords included).
	kdoc, err := openapi3.NewLoader().LoadFromData(out)
	if err != nil {
		t.Fatalf("kin-openapi load: %v", err)
	}
	if err := kdoc.Validate(context.Background()); err != nil {
		t.Fatalf("kin-openapi Validate: %v\n%s", err, out)
	}

	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	paths := doc["paths"].(map[string]any)
	var keys []string
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	wantAll := []string{"/cart/item/add/{parameter}", "/files/{name}.json", "/login", "/products", "/products/{parameter}", "/users/{parameter1}/orders/{parameter2}"}
	if !reflect.DeepEqual(keys, wantAll) {
		t.Errorf("paths = %v, want %v", keys, wantAll)
	}

	users := dig(t, doc, "paths", "/users/{parameter1}/orders/{parameter2}", "get").(map[string]any)
	if users["x-vigil-hits"] != float64(8) || users["x-vigil-last-seen"] != "2026-01-17T14:00:00Z" {
		t.Errorf("merged hits/last seen = %v %v", users["x-vigil-hits"], users["x-vigil-last-seen"])
	}
	if !reflect.DeepEqual(users["x-vigil-sensitive"], []any{"email"}) {
		t.Errorf("x-vigil-sensitive = %v", users["x-vigil-sensitive"])
	}
	if got := dig(t, doc, "components", "securitySchemes", "bearerJWT", "bearerFormat"); got != "JWT" {
		t.Errorf("bearer JWT scheme = %v", got)
	}
	if got := dig(t, doc, "components", "securitySchemes", "mutualTLS", "type"); got != "mutualTLS" {
		t.Errorf("mtls scheme = %v", got)
	}
	if sec := dig(t, doc, "paths", "/products", "get", "security"); !reflect.DeepEqual(sec, []any{}) {
		t.Errorf("public endpoint security = %v, want []", sec)
	}
	cart := dig(t, doc, "paths", "/cart/item/add/{parameter}", "post").(map[string]any)
	if sec := cart["security"].([]any); len(sec) != 2 {
		t.Errorf("cart security = %v", sec)
	}
	var headers []string
	for _, p := range cart["parameters"].([]any) {
		if p.(map[string]any)["in"] == "header" {
			headers = append(headers, p.(map[string]any)["name"].(string))
		}
	}
	if !reflect.DeepEqual(headers, []string{"X-Cart-Session"}) {
		t.Errorf("header params = %v (Authorization and Content-Type must be left out)", headers)
	}
	if got := dig(t, doc, "paths", "/login", "post", "requestBody", "content", "application/json", "schema", "required"); !reflect.DeepEqual(got, []any{"username", "password"}) {
		t.Errorf("login body schema = %v", got)
	}
	if _, ok := paths["/elsewhere"]; ok {
		t.Error("endpoint of another host leaked in")
	}

	ids := map[string]bool{}
	for _, item := range paths {
		for _, op := range item.(map[string]any) {
			id := op.(map[string]any)["operationId"].(string)
			if ids[id] {
				t.Errorf("duplicate operationId %s", id)
			}
			ids[id] = true
		}
	}
}

func TestReconstructRoundTrip(t *testing.T) {
	eps := demoTraffic()
	out, err := Reconstruct("shop.demo.local", eps, ReconstructOptions{Title: "Demo shop", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := Parse(out, "reconstructed")
	if err != nil {
		t.Fatalf("Parse(Reconstruct()) = %v", err)
	}
	if spec.Title != "Demo shop" || spec.OpenAPI != "3.1.0" || !reflect.DeepEqual(spec.Hosts, []string{"shop.demo.local"}) {
		t.Errorf("spec header = %q %q %v", spec.Title, spec.OpenAPI, spec.Hosts)
	}
	got := opKeys(spec.Operations)
	sort.Strings(got)
	want := []string{
		"DELETE /products/{parameter}", "GET /files/{name}.json", "GET /products", "GET /products/{parameter}",
		"GET /users/{parameter1}/orders/{parameter2}", "POST /cart/item/add/{parameter}", "POST /login",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("operations =\n%v\nwant\n%v", got, want)
	}
	login := findOp(t, spec, "POST", "/login")
	if dig(t, login.RequestSchema, "properties", "password", "type") != "string" {
		t.Errorf("request schema lost: %v", login.RequestSchema)
	}
	if dig(t, login.ResponseSchemas["200"], "properties", "token", "type") != "string" {
		t.Errorf("response schema lost: %v", login.ResponseSchemas)
	}
	// Comparing the traffic with its own reconstruction: all documented, no drift.
	var mine []Observed
	for _, ep := range eps {
		if ep.Host == "shop.demo.local" && ep.Method != "CONNECT" {
			mine = append(mine, ep)
		}
	}
	res := Compare([]*Spec{spec}, mine)
	for _, e := range res.Endpoints {
		if e.Status != StatusDocumented {
			t.Errorf("%s %s = %s (%s)", e.Method, e.Path, e.Status, e.Reason)
		}
	}
	if len(res.Unused) != 0 || len(res.Diffs) != 0 {
		t.Errorf("unused = %v, diffs = %+v", opKeys(res.Unused), res.Diffs)
	}
}

func TestReconstructEmpty(t *testing.T) {
	out, err := Reconstruct("", nil, ReconstructOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(out, "empty"); err != nil {
		t.Errorf("empty document does not parse: %v", err)
	}
	if _, err := Reconstruct("nobody.example", demoTraffic(), ReconstructOptions{}); err == nil || !strings.Contains(err.Error(), "nobody.example") {
		t.Errorf("unknown host: err = %v", err)
	}
}

func TestNormalizeTemplate(t *testing.T) {
	tests := []struct {
		in, template, shape string
		params              []string
	}{
		{"/products/{parameter}", "/products/{parameter}", "/products/{}", []string{"parameter"}},
		{"/a/{parameter}/b/{parameter}", "/a/{parameter1}/b/{parameter2}", "/a/{}/b/{}", []string{"parameter1", "parameter2"}},
		{"/a/{p}/{p}/{p1}", "/a/{p2}/{p3}/{p1}", "/a/{}/{}/{}", []string{"p2", "p3", "p1"}},
		{"products/", "/products", "/products", nil},
		{"//favicon.ico", "/favicon.ico", "/favicon.ico", nil},
		{"/", "/", "/", nil},
		{"/x/{}", "/x/{parameter}", "/x/{}", []string{"parameter"}},
		{"/x/{a b}?q=1", "/x/{a_b}", "/x/{}", []string{"a_b"}},
		{"/f/{name}.{ext}", "/f/{name}.{ext}", "/f/{}.{}", []string{"name", "ext"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			tpl, params, shape := normalizeTemplate(tt.in)
			if tpl != tt.template || shape != tt.shape || !reflect.DeepEqual(params, tt.params) {
				t.Errorf("normalizeTemplate(%q) = %q %v %q, want %q %v %q", tt.in, tpl, params, shape, tt.template, tt.params, tt.shape)
			}
		})
	}
}

func BenchmarkReconstruct(b *testing.B) {
	var eps []Observed
	for i := 0; i < 200; i++ {
		for _, ep := range demoTraffic() {
			ep.Path = fmt.Sprintf("/svc%d%s", i, ep.Path)
			eps = append(eps, ep)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Reconstruct("shop.demo.local", eps, ReconstructOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
