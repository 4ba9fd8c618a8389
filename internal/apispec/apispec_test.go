package apispec

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func load(t testing.TB) *Validator {
	t.Helper()
	v, err := Load(context.Background(), []string{"testdata/shop30.yaml", "testdata/pets31.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func req(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func TestFind(t *testing.T) {
	v := load(t)
	cases := []struct {
		method, path string
		template     string // "" undocumented
		methodOnly   bool
	}{
		{"GET", "/v1/users/42", "GET /users/{id}", false},
		{"PATCH", "/v1/users/42", "PATCH /users/{id}", false},
		{"DELETE", "/v1/users/42", "", true},
		{"GET", "/v1/admin/users", "", false},
		{"GET", "/users/42", "", false}, // outside the spec's server path
		{"POST", "/pets", "POST /pets", false},
	}
	for _, c := range cases {
		op, undoc, methodOnly := v.Find(httptest.NewRequest(c.method, "http://any.host"+c.path, nil))
		switch {
		case c.template == "" && (op != nil || undoc == nil || undoc.Kind != KindUndocumented || methodOnly != c.methodOnly):
			t.Errorf("%s %s: op %v undoc %v methodOnly %v", c.method, c.path, op, undoc, methodOnly)
		case c.template != "" && (op == nil || op.Template != c.template):
			t.Errorf("%s %s: op %+v, want %s", c.method, c.path, op, c.template)
		}
	}
}

func TestCheckRequest(t *testing.T) {
	v := load(t)
	cases := []struct {
		name, method, target, body string
		kinds                      []string
		field                      string // of the first problem
	}{
		{"valid get", "GET", "/v1/products?limit=10&sort=price", "", nil, ""},
		{"query wrong type", "GET", "/v1/products?limit=ten", "", []string{KindSchema}, "query.limit"},
		{"query above maximum", "GET", "/v1/products?limit=1000", "", []string{KindSchema}, "query.limit"},
		{"query enum", "GET", "/v1/products?sort=rating", "", []string{KindSchema}, "query.sort"},
		{"path param type", "GET", "/v1/users/abc", "", []string{KindSchema}, "path.id"},
		{"valid patch", "PATCH", "/v1/users/42", `{"name":"jane","address":{"city":"Oslo"}}`, nil, ""},
		{"mass assignment", "PATCH", "/v1/users/42", `{"name":"jane","role":"admin"}`, []string{KindMassAssignment}, "body.role"},
		{"nested mass assignment", "PATCH", "/v1/users/42", `{"address":{"city":"Oslo","verified":true}}`, []string{KindMassAssignment}, "body.address.verified"},
		{"allOf valid", "POST", "/v1/cart/item/add/jane", `{"sku":"S1","quantity":2,"note":null}`, nil, ""},
		{"allOf missing required", "POST", "/v1/cart/item/add/jane", `{"sku":"S1"}`, []string{KindSchema}, ""},
		{"allOf wrong type", "POST", "/v1/cart/item/add/jane", `{"sku":"S1","quantity":"two"}`, []string{KindSchema}, ""},
		{"allOf undeclared", "POST", "/v1/cart/item/add/jane", `{"sku":"S1","quantity":1,"price":0}`, []string{KindMassAssignment}, "body.price"},
		{"3.1 null union", "POST", "/pets", `{"name":"rex","tag":null}`, nil, ""},
		{"3.1 missing required", "POST", "/pets", `{"tag":"x"}`, []string{KindSchema}, ""},
		{"not JSON", "POST", "/pets", `{"name":`, []string{KindSchema}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := req(c.method, c.target, c.body)
			op, undoc, _ := v.Find(r)
			if op == nil {
				t.Fatalf("undocumented: %+v", undoc)
			}
			probs := v.CheckRequest(context.Background(), op, r, []byte(c.body), false, 8)
			if len(probs) == 0 && len(c.kinds) > 0 || len(probs) > 0 && len(c.kinds) == 0 {
				t.Fatalf("problems %+v, want kinds %v", probs, c.kinds)
			}
			for i, k := range c.kinds {
				if i >= len(probs) || probs[i].Kind != k {
					t.Fatalf("problems %+v, want kinds %v", probs, c.kinds)
				}
			}
			if c.field != "" && probs[0].Field != c.field {
				t.Errorf("field %q, want %q (%+v)", probs[0].Field, c.field, probs[0])
			}
			for _, p := range probs {
				if strings.Contains(p.Message, "admin") || strings.Contains(p.Message, "ten") && c.name == "query wrong type" {
					t.Errorf("a problem message copies the value: %q", p.Message)
				}
			}
		})
	}
}

func TestCheckResponse(t *testing.T) {
	v := load(t)
	r := req("GET", "/v1/products", "")
	op, _, _ := v.Find(r)
	h := http.Header{"Content-Type": {"application/json"}}
	body := `{"items":[{"id":1,"name":"socks","price":9.5,"cost_price":2.1}],"meta":{"anything":1},"debug":{"sql":"select"}}`
	probs, stripped := v.CheckResponse(context.Background(), op, r, 200, h, []byte(body), true, 8)
	got := map[string]bool{}
	for _, p := range probs {
		if p.Kind == KindExposure {
			got[p.Field] = true
		}
	}
	if !got["$.items[0].cost_price"] || !got["$.debug"] || got["$.meta.anything"] || len(got) != 2 {
		t.Fatalf("exposure problems %+v", probs)
	}
	var doc map[string]any
	if err := json.Unmarshal(stripped, &doc); err != nil {
		t.Fatalf("stripped %q: %v", stripped, err)
	}
	if _, ok := doc["debug"]; ok || strings.Contains(string(stripped), "cost_price") || !strings.Contains(string(stripped), `"price":9.5`) {
		t.Fatalf("stripped body %s", stripped)
	}
	// Without strip the body is left alone; a wrong type is a problem.
	probs, stripped = v.CheckResponse(context.Background(), op, r, 200, h, []byte(`{"items":[{"id":"one"}]}`), false, 8)
	if stripped != nil || len(probs) == 0 || probs[0].Kind != KindResponseSchema {
		t.Fatalf("wrong type: %+v %s", probs, stripped)
	}
	// A user response through a $ref.
	r = req("GET", "/v1/users/7", "")
	op, _, _ = v.Find(r)
	probs, _ = v.CheckResponse(context.Background(), op, r, 200, h, []byte(`{"id":7,"name":"jane","password_hash":"x"}`), false, 8)
	if len(probs) != 1 || probs[0].Field != "$.password_hash" {
		t.Fatalf("user exposure: %+v", probs)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, src := range []string{"testdata/missing.yaml", "apispec.go"} {
		if _, err := Load(context.Background(), []string{src}); err == nil {
			t.Errorf("Load(%s) accepted", src)
		}
	}
}

func FuzzCheckRequest(f *testing.F) {
	v := load(f)
	f.Add("PATCH", "/v1/users/1", `{"name":"a","address":{"city":"b","x":[1,{"y":null}]}}`)
	f.Add("POST", "/v1/cart/item/add/u", `{"sku":"S","quantity":1e400}`)
	f.Add("POST", "/pets", `[[[[[[[[]]]]]]]]`)
	f.Add("GET", "/v1/products?limit=%ff&sort=", "")
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n#") || (method != "GET" && method != "POST" && method != "PATCH") {
			return
		}
		r, err := http.NewRequest(method, "http://h"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", "application/json")
		if op, _, _ := v.Find(r); op != nil {
			_ = v.CheckRequest(context.Background(), op, r, []byte(body), false, 8)
			_, _ = v.CheckResponse(context.Background(), op, r, 200, http.Header{"Content-Type": {"application/json"}}, []byte(body), true, 8)
		}
	})
}

func BenchmarkCheckRequest(b *testing.B) {
	v := load(b)
	var sb strings.Builder
	sb.WriteString(`{"name":"`)
	sb.WriteString(strings.Repeat("jane doe ", 220))
	sb.WriteString(`","address":{"city":"Oslo"}}`)
	body := sb.String()
	for _, c := range []struct{ name, method, target, body string }{
		{"GET", "GET", "/v1/products?limit=10&sort=price", ""},
		{"POST 2KB JSON", "PATCH", "/v1/users/42", body},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := req(c.method, c.target, c.body)
			b.ReportAllocs()
			for b.Loop() {
				op, _, _ := v.Find(r)
				if probs := v.CheckRequest(context.Background(), op, r, []byte(c.body), false, 8); len(probs) > 0 {
					b.Fatal(probs)
				}
			}
		})
	}
}
