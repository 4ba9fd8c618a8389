package shop

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// newTestShop builds a Shop's state without listeners, for handler-level
// fuzzing and benchmarks.
func newTestShop() *Shop {
	s := &Shop{products: Catalog(), users: users(), carts: newCartStore(), charges: &chargeStore{},
		tokens: newTokenIssuer([]byte("fuzz-key-fuzz-key-fuzz-key-fuzz!"), time.Hour), PaymentKey: DefaultPaymentKey}
	s.byID = make(map[int]Product)
	for _, p := range s.products {
		s.byID[p.ID] = p
	}
	return s
}

// checkJSONAnswer fails unless the recorder holds an allowed status and, for
// errors, the JSON error shape.
func checkJSONAnswer(t *testing.T, rec *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	ok := false
	for _, a := range allowed {
		ok = ok || rec.Code == a
	}
	if !ok {
		t.Fatalf("status %d not in %v: %s", rec.Code, allowed, rec.Body)
	}
	if rec.Code >= 400 {
		var e struct{ Error struct{ Code string } }
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
			t.Fatalf("error body %q is not the JSON error shape", rec.Body)
		}
	}
}

func FuzzLogin(f *testing.F) {
	f.Add(`{"username":"alice","password":"wonderland-42"}`)
	f.Add(`{"username":"alice","password":"x"}`)
	f.Add(`{"username":"<script>alert(1)</script>","password":""}`)
	f.Add(`{"username":`)
	f.Add(`[]`)
	f.Add(`null`)
	s := newTestShop()
	h := s.usersHandler()
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/login", strings.NewReader(body)))
		checkJSONAnswer(t, rec, 200, 400, 401, 413)
		if rec.Code == 200 {
			var lr LoginResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &lr); err != nil {
				t.Fatal(err)
			}
			if _, err := s.tokens.verify(lr.Token); err != nil {
				t.Fatalf("issued token does not verify: %v", err)
			}
		}
	})
}

func FuzzAddItem(f *testing.F) {
	f.Add("17", `{"product_id":1,"quantity":2}`)
	f.Add("0", `{"product_id":1}`)
	f.Add("-1", `{"product_id":-1,"quantity":-1}`)
	f.Add("17", `{"product_id":1e99}`)
	f.Add("abc", `{}`)
	s := newTestShop()
	h := s.cartHandler()
	f.Fuzz(func(t *testing.T, user, body string) {
		if user == "" || user == "." || user == ".." {
			return // not a path segment
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/cart/item/add/"+url.PathEscape(user), strings.NewReader(body)))
		checkJSONAnswer(t, rec, 201, 400, 404, 413, 503)
	})
}

func FuzzOrder(f *testing.F) {
	s := newTestShop()
	tok, err := s.tokens.sign(17, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(validOrder("4111111111111111"))
	f.Add(string(good))
	f.Add(`{"payment":{"number":"4111111111111111"}}`)
	f.Add(`{"shipping_address":{"street":"x","city":"y","country":"z"},"payment":{"number":"0000000000000","exp_month":13}}`)
	f.Add(`{`)
	// Egress points nowhere: a request that passes validation fails with 502.
	s.egress = Egress{CartURL: "http://127.0.0.1:1", PaymentURL: "http://127.0.0.1:1", Client: &http.Client{Timeout: time.Second}}
	h := s.orderHandler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/order/add/17", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkJSONAnswer(t, rec, 400, 413, 502)
	})
}

func FuzzVerifyToken(f *testing.F) {
	s := newTestShop()
	tok, _ := s.tokens.sign(17, time.Now())
	f.Add(tok)
	f.Add(tok[:len(tok)-2])
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTE3In0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := s.tokens.verify(raw)
		if err != nil {
			return
		}
		// Only a token signed with the key can verify; the fuzzer cannot
		// forge one, so any accepted token must carry our claims.
		if c.Subject != "user-17" || c.Issuer != TokenIssuer {
			t.Fatalf("accepted a token with claims %+v", c)
		}
	})
}

func BenchmarkListProducts(b *testing.B) {
	h := newTestShop().catalogHandler()
	req := httptest.NewRequest("GET", "/products?category=socks&limit=10", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkAddItem(b *testing.B) {
	s := newTestShop()
	h := s.cartHandler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/cart/item/add/17", strings.NewReader(`{"product_id":3,"quantity":1}`)))
		if rec.Code != 201 && rec.Code != 400 { // 400 once the line reaches maxQuantity
			b.Fatal(rec.Code, rec.Body)
		}
		if rec.Code == 400 {
			s.carts.clear(17)
		}
	}
}

func BenchmarkVerifyToken(b *testing.B) {
	s := newTestShop()
	tok, _ := s.tokens.sign(17, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.tokens.verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
