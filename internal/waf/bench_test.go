package waf

import (
	"encoding/json"
	"fmt"
	"testing"
)

// benchOrder is bench/waf.sh's 2 KB JSON order: nested objects, an array
// of eight items with options, a note in prose.
func benchOrder() string {
	type opt struct {
		Size   string `json:"size"`
		Colour string `json:"colour"`
	}
	type item struct {
		ProductID  int    `json:"product_id"`
		SKU        string `json:"sku"`
		Quantity   int    `json:"quantity"`
		PriceCents int    `json:"price_cents"`
		Options    opt    `json:"options"`
	}
	items := make([]item, 8)
	for i := range items {
		items[i] = item{1 + i, fmt.Sprintf("SCK-%03d", i+1), 1 + i%3, 999 + 250*i,
			opt{[]string{"S", "M", "L"}[i%3], []string{"navy", "sand", "forest"}[i%3]}}
	}
	order := map[string]any{
		"customer":                 map[string]any{"id": 4711, "name": "Jane Doe", "email": "jane.doe@example.com", "phone": "+1 555 010 2030"},
		"items":                    items,
		"shipping_address":         map[string]string{"street": "742 Evergreen Terrace", "city": "Springfield", "zip": "49007", "country": "US"},
		"billing_same_as_shipping": true, "currency": "USD", "coupon": "SPRING24",
	}
	note := "Please leave the parcel with the neighbour at number 744 if nobody is at home. Thank you very much for the quick service last time, the socks were a great gift."
	for {
		order["note"] = note
		b, _ := json.Marshal(order)
		if len(b) >= 2048 {
			return string(b)
		}
		note += " Thanks again."
	}
}

// BenchmarkEngine: one request through the engine (CRS at PL1, Vigil's
// defaults), the GET and the 2 KB JSON order of bench/waf.sh.
func BenchmarkEngine(b *testing.B) {
	e := pl1(b)
	order := benchOrder()
	for _, c := range []struct{ name, method, target, ct, body string }{
		{"GET", "GET", "/products?category=socks&page=2", "", ""},
		{"JSON_order_2KB", "POST", "/orders", "application/json", order},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				tx := e.Request(req(c.method, c.target, c.ct, c.body))
				if tx.Interruption() != nil {
					b.Fatalf("blocked: %v", tx.Matched())
				}
				tx.Close()
			}
		})
	}
}
