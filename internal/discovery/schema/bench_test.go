package schema

import (
	"testing"
)

// benchBody is a ~1 KB order response.
const benchBody = `{"id":"550e8400-e29b-41d4-a716-446655440000","number":10042,"status":"paid","created_at":"2024-01-15T10:30:00Z",
"customer":{"id":1842,"name":"Jane Doe","email":"jane.doe@example.com","phone":"+44 20 7946 0958",
"address":{"line1":"221B Baker Street","city":"London","postcode":"NW1 6XE","country":"GB"}},
"items":[{"sku":"SOCK-BLUE-42","name":"Wool socks","qty":2,"unit_price":9.99,"tags":["wool","blue"]},
{"sku":"SOCK-RED-42","name":"Cotton socks","qty":1,"unit_price":7.5,"tags":["cotton","red"]},
{"sku":"HAT-GRY-M","name":"Beanie","qty":1,"unit_price":19,"tags":["winter"]}],
"totals":{"subtotal":46.48,"shipping":4.95,"tax":10.29,"grand_total":61.72,"currency":"EUR"},
"payment":{"method":"card","last4":"1111","brand":"visa","captured":true},
"shipping":{"method":"express","eta_days":2,"tracking_url":"https://track.example.com/1Z999AA10123456784"},
"coupon":null,"gift":false,"notes":"Please leave the parcel with the neighbour if nobody is home."}`

func BenchmarkObserveJSON(b *testing.B) {
	s := New(Options{})
	body := []byte(benchBody)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.ObserveJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONSchema(b *testing.B) {
	s := New(Options{})
	for i := 0; i < 100; i++ {
		_ = s.ObserveJSON([]byte(benchBody))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.JSONSchema()
	}
}
