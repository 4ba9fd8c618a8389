package trafficgen

import "github.com/vigil-sec/vigil/internal/demo/shop"

// ShopSpec describes the demo shop (internal/demo/shop) as a spec: its
// SPEC endpoint set, with usernames for {userId} and product slugs for
// {id}, the way a shop keyed by names would be called. Its front-end
// assets are its static noise.
func ShopSpec() *Spec {
	q := func(names ...string) []Param {
		var out []Param
		for _, n := range names {
			p := Param{Name: n, Type: "string"}
			if n != "category" {
				p.Type = "integer"
			}
			out = append(out, p)
		}
		return out
	}
	user := []Param{{Name: "userId", Type: "string"}}
	return &Spec{
		Name:  "shop",
		Title: "Vigil demo shop",
		Host:  "shop.example",
		Operations: []Operation{
			{Method: "GET", Path: "/"},
			{Method: "GET", Path: "/healthz"},
			{Method: "GET", Path: "/products", QueryParams: q("category", "page", "limit")},
			{Method: "GET", Path: "/products/{id}", PathParams: []Param{{Name: "id", Type: "string"}}},
			{Method: "POST", Path: "/cart/item/add/{userId}", PathParams: user, HasBody: true},
			{Method: "GET", Path: "/cart/items/{userId}", PathParams: user},
			{Method: "GET", Path: "/cart/total/{userId}", PathParams: user},
			{Method: "GET", Path: "/cart/clear/{userId}", PathParams: user},
			{Method: "POST", Path: "/login", HasBody: true},
			{Method: "GET", Path: "/users/{userId}", PathParams: user},
			{Method: "POST", Path: "/order/add/{userId}", PathParams: user, HasBody: true},
			{Method: "POST", Path: "/v1/charges", HasBody: true},
		},
		Static: []string{"/static/app.js", "/static/style.css"},
	}
}

func shopCatalogNames() []string {
	var out []string
	for _, p := range shop.Catalog() {
		out = append(out, p.Name)
	}
	return out
}

func shopUsernames() []string {
	var out []string
	for _, c := range shop.DemoCredentials() {
		out = append(out, c.Username)
	}
	return out
}
