package demo

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// TestShopSpec: the embedded spec of the demo shop is valid, every request
// the shoppers make conforms to it, and the contract attacks do not. The
// gateway's openapi stage enforces this spec in the demo, so a shopper
// request it rejected would be a false positive the demo shows as an attack.
func TestShopSpec(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(shopSpec)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("shop-openapi.yaml: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	year := time.Now().Year() + 1
	order := fmt.Sprintf(`{"items":[],"shipping_address":{"street":"12 Main St","city":"Springfield","zip":"01234","country":"US"},`+
		`"payment":{"number":"4111111111111111","exp_month":3,"exp_year":%d,"cvc":"042","name":"alice"},"email":"alice@example.com"}`, year)
	tests := []struct {
		name, method, target, body string
		ok                         bool
	}{
		{"home", "GET", "/", "", true},
		{"script", "GET", "/static/app.js", "", true},
		{"style", "GET", "/static/style.css", "", true},
		{"catalog", "GET", "/products", "", true},
		{"category", "GET", "/products?category=socks", "", true},
		{"page", "GET", "/products?category=home&page=1&limit=7", "", true},
		{"product", "GET", "/products/17", "", true},
		{"stale product link", "GET", "/products/931", "", true},
		{"login", "POST", "/login", `{"username":"alice","password":"wonderland-42"}`, true},
		{"profile", "GET", "/users/17", "", true},
		{"add to cart", "POST", "/cart/item/add/17", `{"product_id":5,"quantity":2}`, true},
		{"cart", "GET", "/cart/items/17", "", true},
		{"total", "GET", "/cart/total/17", "", true},
		{"clear", "GET", "/cart/clear/17", "", true},
		{"checkout", "POST", "/order/add/17", order, true},

		{"mass assignment: role", "POST", "/login", `{"username":"alice","password":"x","role":"admin"}`, false},
		{"mass assignment: price", "POST", "/cart/item/add/17", `{"product_id":1,"quantity":1,"price_cents":1}`, false},
		{"wrong type: body", "POST", "/cart/item/add/17", `{"product_id":"one","quantity":"lots"}`, false},
		{"wrong type: query", "GET", "/products?limit=all", "", false},
		{"wrong type: path", "GET", "/cart/items/me", "", false},
		{"page too large", "GET", "/products?limit=5000", "", false},
		{"undocumented", "GET", "/internal/debug/users/17", "", false},
		{"undocumented method", "POST", "/users/17/role", `{"role":"admin"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://shop.demo.local"+tt.target, strings.NewReader(tt.body))
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			route, params, err := router.FindRoute(req)
			if err == nil {
				err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
					Request: req, PathParams: params, Route: route,
				})
			}
			if (err == nil) != tt.ok {
				t.Fatalf("%s %s: err = %v, want ok = %v", tt.method, tt.target, err, tt.ok)
			}
		})
	}
}
