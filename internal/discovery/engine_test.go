package discovery

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestEngineInventory(t *testing.T) {
	var alerts []Alert
	e, err := New(Options{SampleRate: 1, Alerts: func(a Alert) { alerts = append(alerts, a) }})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	obs := func(method, path, query, reqType string, body string, status int, respBody string) {
		o := Observation{Time: t0, Host: "shop.local", Method: method, Path: path, Query: query, Status: status,
			Latency: 2 * time.Millisecond, ReqType: reqType, RespType: "application/json", Auth: "bearer_jwt"}
		if body != "" {
			o.ReqBody = []byte(body)
		}
		if respBody != "" {
			o.RespBody = []byte(respBody)
		}
		e.Observe(&o)
		t0 = t0.Add(time.Second)
	}
	for i := range 40 {
		obs("POST", "/login", "", "application/json", `{"username":"u`+fmt.Sprint(i)+`","password":"hunter2!"}`, 200,
			`{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"}`)
		obs("POST", fmt.Sprintf("/order/add/%d", 100+i), "coupon=X", "application/json",
			`{"card":"4111 1111 1111 1111","items":[{"sku":"a","qty":1}]}`, 201, `{"order_id":12}`)
		obs("GET", fmt.Sprintf("/products/%d", i), "", "", "", 200, `{"id":1,"name":"socks","price":9.5}`)
	}
	eps := e.Endpoints()
	got := map[string]Endpoint{}
	for _, ep := range eps {
		got[ep.Method+" "+ep.Path] = ep
	}
	for _, want := range []string{"POST /login", "POST /order/add/{parameter}", "GET /products/{parameter}"} {
		if _, ok := got[want]; !ok {
			t.Fatalf("missing %s in %v", want, eps)
		}
	}
	if len(eps) != 3 {
		t.Fatalf("%d endpoints: %+v", len(eps), eps)
	}
	login := got["POST /login"]
	if !slices.Contains(login.Sensitive, "password") || !slices.Contains(login.Sensitive, "jwt") {
		t.Errorf("login sensitive %v", login.Sensitive)
	}
	order := got["POST /order/add/{parameter}"]
	if !slices.Contains(order.Sensitive, "card_number") {
		t.Errorf("order sensitive %v", order.Sensitive)
	}
	full, ok := e.Endpoint(order.ID)
	if !ok || full.RequestSchema == nil || full.StatusCodes[201] != 40 || len(full.QueryParams) != 1 || !full.QueryParams[0].Required {
		t.Fatalf("order detail %+v", full)
	}
	e.Evaluate(t0.Add(time.Hour))
	if len(alerts) != 3 {
		t.Fatalf("alerts %+v", alerts)
	}
	e.Evaluate(t0.Add(2 * time.Hour))
	if len(alerts) != 3 {
		t.Fatal("alerts repeated")
	}
	// A new sensitive class on a known endpoint alerts once.
	obs("GET", "/products/7", "email=a@b.example", "", "", 200, "")
	e.Evaluate(t0.Add(3 * time.Hour))
	e.Evaluate(t0.Add(4 * time.Hour))
	if len(alerts) != 4 || alerts[3].Kind != "new_sensitive" || alerts[3].Detail != "email" {
		t.Fatalf("alerts %+v", alerts)
	}
}

// TestQueryParamTypes: query parameters are typed like form fields, so the
// inventory (and the reconstructed OpenAPI) says page is an integer.
func TestQueryParamTypes(t *testing.T) {
	e, err := New(Options{SampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		q := fmt.Sprintf("page=%d&active=%v&q=shoe%d&price=%d.5&code=00%d&email=u%d@example.com", i+1, i%2 == 0, i, i, i, i)
		e.Observe(&Observation{Time: t0, Host: "shop.local", Method: "GET", Path: "/search", Query: q, Status: 200})
	}
	eps := e.Endpoints()
	if len(eps) != 1 {
		t.Fatalf("endpoints %+v", eps)
	}
	full, _ := e.Endpoint(eps[0].ID)
	got := map[string]map[string]any{}
	for _, p := range full.QueryParams {
		got[p.Name] = p.Schema
	}
	tests := []struct{ param, typ, format string }{
		{"page", "integer", ""},
		{"active", "boolean", ""},
		{"q", "string", ""},
		{"price", "number", ""},
		{"code", "string", ""}, // leading zeros: a code, not a number
		{"email", "string", "email"},
	}
	for _, tc := range tests {
		s := got[tc.param]
		if s == nil {
			t.Errorf("%s: no schema (have %v)", tc.param, got)
			continue
		}
		if s["type"] != tc.typ {
			t.Errorf("%s: type %v, want %s (schema %v)", tc.param, s["type"], tc.typ, s)
		}
		if tc.format != "" && s["format"] != tc.format {
			t.Errorf("%s: format %v, want %s", tc.param, s["format"], tc.format)
		}
	}
}
