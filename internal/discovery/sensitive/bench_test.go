package sensitive

import (
	"testing"
)

// benchBody is a ~1 KB checkout request: mostly harmless fields, a few
// sensitive ones.
const benchBody = `{"order_id":"ord_8f14e45fceea167a","created_at":"2024-01-15T10:30:00Z","currency":"EUR",
"customer":{"id":1842,"name":"Jane Doe","email":"jane.doe@example.com","phone":"+44 20 7946 0958",
"address":{"line1":"221B Baker Street","city":"London","postcode":"NW1 6XE","country":"GB"}},
"items":[{"sku":"SOCK-BLUE-42","name":"Wool socks","qty":2,"unit_price":9.99,"tags":["wool","blue"]},
{"sku":"SOCK-RED-42","name":"Cotton socks","qty":1,"unit_price":7.5,"tags":["cotton","red"]},
{"sku":"HAT-GRY-M","name":"Beanie","qty":1,"unit_price":19,"tags":["winter"]}],
"payment":{"method":"card","card":{"number":"4111 1111 1111 1111","exp_month":12,"exp_year":2029,"holder":"JANE DOE"},
"billing_iban":"GB82 WEST 1234 5698 7654 32"},
"shipping":{"method":"express","price":4.95,"eta_days":2,"tracking_no":"1Z999AA10123456784"},
"notes":"Please leave the parcel with the neighbour if nobody is home.","coupon":"WINTER24","gift":false,
"metadata":{"client":"web","version":"3.14.1","session":"b1946ac92492d2347c6235b4d2611184"}}`

func BenchmarkScanJSON(b *testing.B) {
	c, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(benchBody)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := c.ScanJSON(body, func(string, Class) { n++ }); err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 {
		b.Fatal("nothing found")
	}
}

func BenchmarkValue(b *testing.B) {
	c, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	values := [][2]string{
		{"name", "Wool socks"}, {"email", "jane.doe@example.com"}, {"number", "4111 1111 1111 1111"},
		{"created_at", "2024-01-15T10:30:00Z"}, {"session", "b1946ac92492d2347c6235b4d2611184"}, {"qty", "2"},
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range values {
			c.Sensitive(v[0], v[1])
		}
	}
}
