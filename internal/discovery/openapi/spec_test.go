package openapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func findOp(t *testing.T, s *Spec, method, path string) Operation {
	t.Helper()
	for _, op := range s.Operations {
		if op.Method == method && op.Path == path {
			return op
		}
	}
	t.Fatalf("%s: no operation %s %s; have %v", s.Source, method, path, opKeys(s.Operations))
	return Operation{}
}

func opKeys(ops []Operation) []string {
	out := make([]string, 0, len(ops))
	for _, op := range ops {
		out = append(out, op.Method+" "+op.Path)
	}
	return out
}

func dig(t *testing.T, m map[string]any, keys ...string) any {
	t.Helper()
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("dig %v: %q is under a %T, not an object", keys, k, cur)
		}
		cur = mm[k]
	}
	return cur
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file     string
		openapi  string
		title    string
		hosts    []string
		basePath string
		ops      []string
		check    func(t *testing.T, s *Spec)
	}{
		{
			file: "petstore-2.0.yaml", openapi: "2.0", title: "Swagger Petstore",
			hosts: []string{"petstore.example.com"}, basePath: "/v1",
			ops: []string{"GET /v1/pets", "POST /v1/pets", "GET /v1/pets/{petId}", "DELETE /v1/pets/{petId}"},
			check: func(t *testing.T, s *Spec) {
				list := findOp(t, s, "GET", "/v1/pets")
				if list.OperationID != "listPets" || list.APIVersion != "v1" {
					t.Errorf("listPets = %+v", list)
				}
				if len(list.Params) != 2 || list.Params[0].Name != "limit" || list.Params[0].In != "query" ||
					dig(t, list.Params[0].Schema, "type") != "integer" {
					t.Errorf("listPets params = %+v", list.Params)
				}
				// $ref to Pets → array of Pet → Pet.category → Category, all inlined.
				if got := dig(t, list.ResponseSchemas["200"], "items", "properties", "category", "properties", "name", "type"); got != "string" {
					t.Errorf("nested ref not resolved: %v", got)
				}
				create := findOp(t, s, "POST", "/v1/pets")
				if dig(t, create.RequestSchema, "properties", "id", "type") != "integer" {
					t.Errorf("body parameter not turned into a request schema: %v", create.RequestSchema)
				}
				if _, ok := create.ResponseSchemas["201"]; !ok {
					t.Errorf("201 without body must still be listed: %v", create.ResponseSchemas)
				}
				del := findOp(t, s, "DELETE", "/v1/pets/{petId}")
				if !del.Deprecated {
					t.Error("deletePet must be deprecated")
				}
				// Path-item parameter is inherited, operation header added.
				if len(del.Params) != 2 || del.Params[0].Name != "petId" || !del.Params[0].Required || del.Params[1].In != "header" {
					t.Errorf("delete params = %+v", del.Params)
				}
			},
		},
		{
			file: "shop-3.0.yaml", openapi: "3.0.3", title: "Shop API",
			hosts: []string{"eu.shop.example.com"}, basePath: "/api",
			ops: []string{
				"GET /api/v2/admin/reports", "GET /api/v2/categories", "POST /api/v2/orders",
				"GET /api/v2/orders/{orderId}", "DELETE /api/v2/orders/{orderId}", "GET /api/v2/products",
				"GET /api/v2/products/featured", "GET /api/v2/products/{productId}", "PUT /api/v2/products/{productId}",
			},
			check: func(t *testing.T, s *Spec) {
				create := findOp(t, s, "POST", "/api/v2/orders")
				// requestBodies $ref → schema $ref → array of $ref.
				if got := dig(t, create.RequestSchema, "properties", "items", "items", "properties", "productId", "type"); got != "integer" {
					t.Errorf("request body refs not resolved: %v", got)
				}
				// allOf members resolved too.
				if got := dig(t, create.ResponseSchemas["201"], "allOf"); len(got.([]any)) != 2 {
					t.Errorf("allOf = %v", got)
				}
				// 400 uses application/problem+json: still JSON.
				if create.ResponseSchemas["400"] == nil {
					t.Error("problem+json response schema missing")
				}
				prod := findOp(t, s, "GET", "/api/v2/products/{productId}")
				if prod.Params[0].Name != "productId" || dig(t, prod.Params[0].Schema, "type") != "integer" {
					t.Errorf("component parameter not resolved: %+v", prod.Params)
				}
				// nullable: true → type [string, null].
				if got := dig(t, prod.ResponseSchemas["200"], "properties", "description", "type"); !reflect.DeepEqual(got, []any{"string", "null"}) {
					t.Errorf("nullable not normalized: %v", got)
				}
				if prod.ResponseSchemas["404"] == nil {
					t.Error("component response not resolved")
				}
				// A recursive schema stops at the recursion with a $ref.
				cats := findOp(t, s, "GET", "/api/v2/categories")
				if got := dig(t, cats.ResponseSchemas["200"], "properties", "children", "items", "$ref"); got != "#/components/schemas/Category" {
					t.Errorf("recursive ref = %v", got)
				}
				if !findOp(t, s, "DELETE", "/api/v2/orders/{orderId}").Deprecated {
					t.Error("cancelOrder must be deprecated")
				}
				if _, ok := findOp(t, s, "GET", "/api/v2/admin/reports").ResponseSchemas["200"]; !ok {
					t.Error("text/csv response must be listed without schema")
				}
			},
		},
		{
			file: "users-3.1.yaml", openapi: "3.1.0", title: "Users API",
			hosts: []string{"users.example.com"}, basePath: "",
			ops: []string{"GET /v3/users", "POST /v3/users", "GET /v3/users/{userId}"},
			check: func(t *testing.T, s *Spec) {
				get := findOp(t, s, "GET", "/v3/users/{userId}")
				if get.APIVersion != "v3" {
					t.Errorf("APIVersion = %q", get.APIVersion)
				}
				user := get.ResponseSchemas["200"]
				if got := dig(t, user, "properties", "nickname", "type"); !reflect.DeepEqual(got, []any{"string", "null"}) {
					t.Errorf("type array lost: %v", got)
				}
				if got := dig(t, user, "properties", "age", "exclusiveMinimum"); got != float64(0) {
					t.Errorf("3.1 numeric exclusiveMinimum lost: %v", got)
				}
				if got := dig(t, user, "properties", "manager", "$ref"); got != "#/components/schemas/User" {
					t.Errorf("self reference = %v", got)
				}
				if _, ok := get.ResponseSchemas["4XX"]; !ok {
					t.Errorf("range status missing: %v", get.ResponseSchemas)
				}
				list := findOp(t, s, "GET", "/v3/users")
				if len(list.Params) != 2 || list.Params[1].In != "header" || !list.Params[1].Required {
					t.Errorf("params = %+v", list.Params)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := Load(context.Background(), "testdata/"+tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if s.OpenAPI != tt.openapi || s.Title != tt.title || s.BasePath != tt.basePath || !reflect.DeepEqual(s.Hosts, tt.hosts) {
				t.Errorf("got openapi=%q title=%q base=%q hosts=%v", s.OpenAPI, s.Title, s.BasePath, s.Hosts)
			}
			got := map[string]bool{}
			for _, k := range opKeys(s.Operations) {
				got[k] = true
			}
			if len(got) != len(tt.ops) {
				t.Errorf("operations = %v, want %v", opKeys(s.Operations), tt.ops)
			}
			for _, k := range tt.ops {
				if !got[k] {
					t.Errorf("missing operation %s", k)
				}
			}
			tt.check(t, s)
		})
	}
}

func TestParseJSONAndYAMLAgree(t *testing.T) {
	y := "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200': {description: ok}\n"
	j := `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"ok"}}}}}}`
	a, err := Parse([]byte(y), "y")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(j), "j")
	if err != nil {
		t.Fatal(err)
	}
	a.Source, b.Source = "", ""
	if !reflect.DeepEqual(a, b) {
		t.Errorf("YAML %+v != JSON %+v", a, b)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "empty document"},
		{"not yaml", "{{{", "not YAML or JSON"},
		{"scalar", "42", "not an OpenAPI document"},
		{"no version", "info: {title: x}\npaths: {}\n", `neither "openapi" nor "swagger"`},
		{"swagger 1.2", "swagger: '1.2'\n", `unsupported swagger version "1.2"`},
		{"openapi 4", "openapi: 4.0.0\n", "unsupported openapi version"},
		{"missing info", "openapi: 3.0.3\npaths: {}\n", "info"},
		{"dangling ref", "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Nope'}\n", "Nope"},
		{"external ref", "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: 'other.yaml#/Pet'}\n", "other.yaml"},
		{"path param undeclared", "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a/{id}:\n    get:\n      responses:\n        '200': {description: ok}\n", "id"},
		{"bad swagger host", "swagger: '2.0'\ninfo: {title: t, version: '1'}\nhost: https://x/y\npaths: {}\n", "invalid host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "bad.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "bad.yaml") {
				t.Errorf("error %q does not name %q and the source", err, tt.want)
			}
		})
	}
}

func TestLoadURL(t *testing.T) {
	spec, err := os.ReadFile("testdata/users-3.1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/spec.yaml", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(spec) })
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	s, err := Load(context.Background(), srv.URL+"/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Title != "Users API" || len(s.Operations) != 3 || s.Source != srv.URL+"/spec.yaml" {
		t.Errorf("loaded %q with %d operations from %q", s.Title, len(s.Operations), s.Source)
	}

	if _, err := Load(context.Background(), srv.URL+"/missing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: err = %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Load(ctx, srv.URL+"/slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow server: err = %v, want deadline exceeded", err)
	}

	f := fetcher{source: srv.URL + "/spec.yaml", maxSize: 100}
	if _, _, err := f.fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Errorf("size cap: err = %v", err)
	}

	if _, err := Load(context.Background(), "testdata/does-not-exist.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestWatch(t *testing.T) {
	v1 := "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200': {description: ok}\n"
	v2 := strings.Replace(v1, "/a:", "/b:", 1)
	var mu sync.Mutex
	body := v1
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hits++
		etag := `"` + strings.Split(body, "\n")[3] + `"`
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	set := func(s string) {
		mu.Lock()
		body = s
		mu.Unlock()
	}

	type call struct {
		path string
		err  error
	}
	calls := make(chan call, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, srv.URL, 10*time.Millisecond, func(s *Spec, err error) {
			c := call{err: err}
			if s != nil {
				c.path = s.Operations[0].Path
			}
			calls <- c
		})
	}()
	next := func() call {
		t.Helper()
		select {
		case c := <-calls:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no callback")
		}
		return call{}
	}
	if c := next(); c.err != nil || c.path != "/a" {
		t.Fatalf("first call = %+v", c)
	}
	// Unchanged for several ticks: no callback.
	select {
	case c := <-calls:
		t.Fatalf("callback without change: %+v", c)
	case <-time.After(80 * time.Millisecond):
	}
	set(v2)
	if c := next(); c.err != nil || c.path != "/b" {
		t.Fatalf("after change = %+v", c)
	}
	set("openapi: 3.1.0\npaths: {}\n")
	if c := next(); c.err == nil {
		t.Fatalf("invalid spec must report an error, got %+v", c)
	}
	// The same broken document is not reported again.
	select {
	case c := <-calls:
		t.Fatalf("repeated error callback: %+v", c)
	case <-time.After(80 * time.Millisecond):
	}
	set(v1)
	if c := next(); c.err != nil || c.path != "/a" {
		t.Fatalf("after recovery = %+v", c)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}
