package shop

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func startShop(t testing.TB, opts Options) *Shop {
	t.Helper()
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

type result struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request and returns the status, headers and body.
func do(t testing.TB, c *http.Client, method, url, token string, body any) result {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader: // sent chunked, without Content-Length
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, data}
}

func decode[T any](t testing.TB, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

// errorCode returns the code of a {"error":{"code":..}} body, failing the
// test when the body is not that shape.
func errorCode(t testing.TB, r result) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error content type %q, body %q", ct, r.body)
	}
	e := decode[struct {
		Error struct{ Code, Message string }
	}](t, r)
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body without code/message: %s", r.body)
	}
	return e.Error.Code
}

func login(t testing.TB, s *Shop, user, password string) LoginResponse {
	t.Helper()
	r := do(t, nil, "POST", s.Users+"/login", "", map[string]string{"username": user, "password": password})
	if r.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return decode[LoginResponse](t, r)
}

func validOrder(card string) OrderRequest {
	return OrderRequest{
		ShippingAddress: Address{Street: "1 Market St", City: "San Francisco", Zip: "94105", Country: "US"},
		Payment:         Card{Number: card, ExpMonth: 12, ExpYear: time.Now().Year() + 3, CVC: "123", Name: "Alice Martin"},
	}
}

func TestFrontend(t *testing.T) {
	s := startShop(t, Options{})
	tests := []struct {
		path, contentType, contains string
		status                      int
	}{
		{"/", "text/html; charset=utf-8", "Holy Socks", 200},
		{"/static/app.js", "text/javascript; charset=utf-8", "fetch(", 200},
		{"/static/style.css", "text/css; charset=utf-8", "font-family", 200},
		{"/healthz", "application/json", `"ok"`, 200},
		{"/nope", "application/json", `"not_found"`, 404},
		{"/static/missing.js", "application/json", `"not_found"`, 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := do(t, nil, "GET", s.Frontend+tt.path, "", nil)
			if r.status != tt.status || r.header.Get("Content-Type") != tt.contentType || !bytes.Contains(r.body, []byte(tt.contains)) {
				t.Fatalf("GET %s = %d %q %.80q; want %d %q containing %q", tt.path, r.status, r.header.Get("Content-Type"), r.body, tt.status, tt.contentType, tt.contains)
			}
		})
	}
}

func TestCatalog(t *testing.T) {
	s := startShop(t, Options{})
	type page struct {
		Items []struct {
			ID       int
			Name     string
			Category string
			Price    float64
		}
		Total, Page, Limit int
	}
	tests := []struct {
		name      string
		query     string
		wantItems int
		wantTotal int
	}{
		{"default page", "", 10, 30},
		{"category", "?category=socks", 8, 8},
		{"category any case", "?category=SOCKS&limit=3", 3, 8},
		{"second page", "?page=2&limit=25", 5, 30},
		{"past the end", "?page=9", 0, 30},
		{"unknown category", "?category=" + url.QueryEscape("' OR 1=1--"), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, nil, "GET", s.Catalog+"/products"+tt.query, "", nil)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			p := decode[page](t, r)
			if len(p.Items) != tt.wantItems || p.Total != tt.wantTotal {
				t.Fatalf("got %d items of %d, want %d of %d", len(p.Items), p.Total, tt.wantItems, tt.wantTotal)
			}
			for _, it := range p.Items {
				if it.ID == 0 || it.Name == "" || it.Price <= 0 {
					t.Fatalf("incomplete product %+v", it)
				}
			}
		})
	}
	errs := []struct {
		path   string
		status int
		code   string
	}{
		{"/products?limit=0", 400, "bad_parameter"},
		{"/products?limit=500", 400, "bad_parameter"},
		{"/products?page=x", 400, "bad_parameter"},
		{"/products/999", 404, "product_not_found"},
		{"/products/abc", 404, "product_not_found"},
		{"/catalogue", 404, "not_found"},
	}
	for _, tt := range errs {
		t.Run(tt.path, func(t *testing.T) {
			r := do(t, nil, "GET", s.Catalog+tt.path, "", nil)
			if r.status != tt.status || errorCode(t, r) != tt.code {
				t.Fatalf("GET %s = %d %s; want %d %s", tt.path, r.status, r.body, tt.status, tt.code)
			}
		})
	}
	r := do(t, nil, "GET", s.Catalog+"/products/3", "", nil)
	p := decode[productView](t, r)
	if r.status != 200 || p.Name != "Colourful Socks" || p.Price != 18.00 {
		t.Fatalf("GET /products/3 = %d %+v", r.status, p)
	}
}

func TestCart(t *testing.T) {
	s := startShop(t, Options{})
	base := s.Cart + "/cart"
	if r := do(t, nil, "POST", base+"/item/add/17", "", map[string]int{"product_id": 1, "quantity": 2}); r.status != 201 {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	if r := do(t, nil, "POST", base+"/item/add/17", "", map[string]int{"product_id": 15}); r.status != 201 {
		t.Fatalf("add default quantity: %d %s", r.status, r.body)
	}
	items := decode[struct{ Items []CartLine }](t, do(t, nil, "GET", base+"/items/17", "", nil))
	if len(items.Items) != 2 || items.Items[0].ProductID != 1 || items.Items[0].Quantity != 2 || items.Items[1].Quantity != 1 {
		t.Fatalf("items = %+v", items.Items)
	}
	total := decode[CartTotal](t, do(t, nil, "GET", base+"/total/17", "", nil))
	if total.TotalCents != 2*999+12900 || total.Items != 3 || total.Total != 148.98 {
		t.Fatalf("total = %+v", total)
	}
	if other := decode[CartTotal](t, do(t, nil, "GET", base+"/total/23", "", nil)); other.TotalCents != 0 {
		t.Fatalf("user 23 sees user 17's cart: %+v", other)
	}
	if r := do(t, nil, "GET", base+"/clear/17", "", nil); r.status != 200 {
		t.Fatalf("clear: %d", r.status)
	}
	if total := decode[CartTotal](t, do(t, nil, "GET", base+"/total/17", "", nil)); total.TotalCents != 0 || total.Items != 0 {
		t.Fatalf("total after clear = %+v", total)
	}

	errs := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"bad json", "POST", "/item/add/17", `{"product_id":`, 400, "bad_json"},
		{"empty body", "POST", "/item/add/17", "", 400, "bad_json"},
		{"wrong type", "POST", "/item/add/17", `{"product_id":"one"}`, 400, "bad_json"},
		{"unknown product", "POST", "/item/add/17", `{"product_id":404,"quantity":1}`, 404, "product_not_found"},
		{"negative quantity", "POST", "/item/add/17", `{"product_id":1,"quantity":-3}`, 400, "bad_quantity"},
		{"too many", "POST", "/item/add/17", `{"product_id":1,"quantity":100}`, 400, "bad_quantity"},
		{"bad user id", "GET", "/items/alice", nil, 400, "bad_parameter"},
		{"zero user id", "GET", "/total/0", nil, 400, "bad_parameter"},
		{"oversized body", "POST", "/item/add/17", `{"product_id":1,"note":"` + strings.Repeat("A", MaxBodyBytes) + `"}`, 413, "body_too_large"},
		{"oversized chunked body", "POST", "/item/add/17", io.MultiReader(strings.NewReader(`{"product_id":1,"note":"`), strings.NewReader(strings.Repeat("A", MaxBodyBytes))), 413, "body_too_large"},
		{"wrong method", "DELETE", "/items/17", nil, 405, "method_not_allowed"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, nil, tt.method, base+tt.path, "", tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %.200s", r.status, tt.status, r.body)
			}
			if tt.code != "" && errorCode(t, r) != tt.code {
				t.Fatalf("code %q, want %q", errorCode(t, r), tt.code)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	s := startShop(t, Options{})
	creds := DemoCredentials()
	if len(creds) < 10 {
		t.Fatalf("only %d demo users", len(creds))
	}
	for _, c := range creds {
		lr := login(t, s, c.Username, c.Password)
		if lr.UserID != c.UserID || lr.TokenType != "Bearer" || lr.ExpiresIn != 3600 {
			t.Fatalf("login %s = %+v", c.Username, lr)
		}
		// The token is a real HS256 JWT, verifiable with the JWKS key.
		var claims Claims
		tok, err := jwt.ParseWithClaims(lr.Token, &claims, func(*jwt.Token) (any, error) { return s.tokens.key, nil })
		if err != nil || tok.Method.Alg() != "HS256" || tok.Header["kid"] != TokenKeyID {
			t.Fatalf("token %q: %v", lr.Token, err)
		}
		exp, _ := claims.GetExpirationTime()
		if claims.Subject != "user-"+strconv.Itoa(c.UserID) || claims.Scope != TokenScope || exp == nil || time.Until(exp.Time) < 59*time.Minute {
			t.Fatalf("claims = %+v", claims)
		}
	}
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"wrong password", `{"username":"alice","password":"guess"}`, 401, "invalid_credentials"},
		{"unknown user", `{"username":"root","password":"toor"}`, 401, "invalid_credentials"},
		{"other user's password", `{"username":"alice","password":"builder-2024"}`, 401, "invalid_credentials"},
		{"missing password", `{"username":"alice"}`, 400, "bad_request"},
		{"bad json", `{"username":alice}`, 400, "bad_json"},
		{"xss in username", `{"username":"<script>alert(1)</script>","password":"x"}`, 401, "invalid_credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, nil, "POST", s.Users+"/login", "", tt.body)
			if r.status != tt.status || errorCode(t, r) != tt.code {
				t.Fatalf("= %d %s; want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
}

func TestProfile(t *testing.T) {
	s := startShop(t, Options{})
	alice := login(t, s, "alice", "wonderland-42")
	bob := login(t, s, "bob", "builder-2024")
	expired, err := s.tokens.sign(17, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other := newTokenIssuer([]byte("another key, same claims........"), time.Hour)
	forged, _ := other.sign(17, time.Now())
	tests := []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", 401, "unauthorized"},
		{"garbage token", "not.a.jwt", 401, "invalid_token"},
		{"expired", expired, 401, "invalid_token"},
		{"wrong signing key", forged, 401, "invalid_token"},
		{"none algorithm", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTE3Iiwic2NvcGUiOiJwcm9maWxlIn0.", 401, "invalid_token"},
		{"another user's token", bob.Token, 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, nil, "GET", s.Users+"/users/17", tt.token, nil)
			if r.status != tt.status || errorCode(t, r) != tt.code {
				t.Fatalf("= %d %s; want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
	r := do(t, nil, "GET", s.Users+"/users/17", alice.Token, nil)
	p := decode[Profile](t, r)
	if r.status != 200 || p.Email != "alice.martin@example.com" || p.Phone == "" || p.Address.Street == "" {
		t.Fatalf("profile = %d %+v", r.status, p)
	}
	if bytes.Contains(r.body, []byte("wonderland")) {
		t.Fatalf("profile leaks the password: %s", r.body)
	}
}

func TestCheckout(t *testing.T) {
	s := startShop(t, Options{})
	alice := login(t, s, "alice", "wonderland-42")
	for _, it := range []map[string]int{{"product_id": 7, "quantity": 2}, {"product_id": 26, "quantity": 1}} {
		if r := do(t, nil, "POST", s.Cart+"/cart/item/add/17", "", it); r.status != 201 {
			t.Fatalf("add: %d %s", r.status, r.body)
		}
	}
	want := int64(2*1299 + 1500)
	if total := decode[CartTotal](t, do(t, nil, "GET", s.Cart+"/cart/total/17", "", nil)); total.TotalCents != want {
		t.Fatalf("total = %+v, want %d cents", total, want)
	}
	r := do(t, nil, "POST", s.Order+"/order/add/17", alice.Token, validOrder("4111111111111111"))
	if r.status != http.StatusCreated {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	o := decode[OrderResponse](t, r)
	if o.Status != "paid" || o.TotalCents != want || o.CardLast4 != "1111" || !strings.HasPrefix(o.ChargeID, "ch_") || !strings.HasPrefix(o.OrderID, "ord_") {
		t.Fatalf("order = %+v", o)
	}
	if bytes.Contains(r.body, []byte("4111111111111111")) {
		t.Fatalf("order response echoes the card number: %s", r.body)
	}
	charges := s.Charges()
	if len(charges) != 1 || charges[0].ID != o.ChargeID || charges[0].AmountCents != want || charges[0].APIKey != DefaultPaymentKey || charges[0].Last4 != "1111" {
		t.Fatalf("charges = %+v", charges)
	}
	if total := decode[CartTotal](t, do(t, nil, "GET", s.Cart+"/cart/total/17", "", nil)); total.TotalCents != 0 {
		t.Fatalf("cart not cleared after order: %+v", total)
	}
}

func TestOrderFailures(t *testing.T) {
	s := startShop(t, Options{})
	alice := login(t, s, "alice", "wonderland-42")
	bob := login(t, s, "bob", "builder-2024")
	fill := func(t *testing.T) {
		if r := do(t, nil, "POST", s.Cart+"/cart/item/add/17", "", map[string]int{"product_id": 1, "quantity": 1}); r.status != 201 {
			t.Fatalf("add: %d", r.status)
		}
	}
	noAddress := validOrder("4111111111111111")
	noAddress.ShippingAddress = Address{}
	expiredCard := validOrder("4111111111111111")
	expiredCard.Payment.ExpYear = 2001
	tests := []struct {
		name   string
		fill   bool
		token  string
		body   any
		status int
		code   string
	}{
		{"no token", true, "", validOrder("4111111111111111"), 401, "unauthorized"},
		{"another user's token", true, bob.Token, validOrder("4111111111111111"), 403, "forbidden"},
		{"empty cart", false, alice.Token, validOrder("4111111111111111"), 409, "cart_empty"},
		{"declined card", true, alice.Token, validOrder(DeclinedCard), 402, "payment_declined"},
		{"luhn failure", true, alice.Token, validOrder("4111111111111112"), 400, "invalid_number"},
		{"expired card", true, alice.Token, expiredCard, 400, "invalid_expiry"},
		{"no address", true, alice.Token, noAddress, 400, "bad_address"},
		{"bad json", true, alice.Token, `{"payment":`, 400, "bad_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			do(t, nil, "GET", s.Cart+"/cart/clear/17", "", nil)
			if tt.fill {
				fill(t)
			}
			r := do(t, nil, "POST", s.Order+"/order/add/17", tt.token, tt.body)
			if r.status != tt.status || errorCode(t, r) != tt.code {
				t.Fatalf("= %d %s; want %d %s", r.status, r.body, tt.status, tt.code)
			}
			if total := decode[CartTotal](t, do(t, nil, "GET", s.Cart+"/cart/total/17", "", nil)); tt.fill && total.Items != 1 {
				t.Fatalf("a failed order changed the cart: %+v", total)
			}
		})
	}
	if n := len(s.Charges()); n != 0 {
		t.Fatalf("%d charges after failed orders", n)
	}
}

// TestPayment checks the provider directly: TLS with PaymentCA, secret key.
func TestPayment(t *testing.T) {
	s := startShop(t, Options{PaymentKey: "sk_test_custom"})
	c := newClient(s.PaymentCA)
	t.Cleanup(c.CloseIdleConnections)
	body := chargeRequest{AmountCents: 500, Currency: "usd", Source: validOrder("5555555555554444").Payment}
	tests := []struct {
		name, key string
		status    int
	}{
		{"no key", "", 401},
		{"publishable key", "pk_test_custom", 401},
		{"wrong secret key", "sk_test_other", 401},
		{"right key", "sk_test_custom", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := do(t, c, "POST", s.Payment+"/v1/charges", tt.key, body); r.status != tt.status {
				t.Fatalf("= %d %s; want %d", r.status, r.body, tt.status)
			}
		})
	}
	if !strings.HasPrefix(s.Payment, "https://") {
		t.Fatalf("payment URL %q is not HTTPS", s.Payment)
	}
	// A client that does not trust PaymentCA is refused.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", s.Payment+"/v1/charges", nil)
	if _, err := http.DefaultClient.Do(req); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted client: err = %v, want a certificate error", err)
	}
}

// recordingProxy is a loopback reverse proxy that records each request.
type recordingProxy struct {
	mu   sync.Mutex
	seen []string
}

func (p *recordingProxy) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, s)
}

func (p *recordingProxy) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// TestEgress routes the order service's east-west call through a proxy (as a
// sidecar would) after Start.
func TestEgress(t *testing.T) {
	s := startShop(t, Options{})
	cartURL, _ := url.Parse(s.Cart)
	rec := &recordingProxy{}
	rp := httputil.NewSingleHostReverseProxy(cartURL)
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r.Method + " " + r.URL.Path + " " + r.Header.Get("Traceparent"))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(sidecar.Close)
	s.SetEgress(Egress{CartURL: sidecar.URL})

	alice := login(t, s, "alice", "wonderland-42")
	do(t, nil, "POST", s.Cart+"/cart/item/add/17", "", map[string]int{"product_id": 2, "quantity": 1})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", s.Order+"/order/add/17", strings.NewReader(mustJSON(t, validOrder("4111111111111111"))))
	req.Header.Set("Authorization", "Bearer "+alice.Token)
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req.Header.Set("Traceparent", tp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("order through sidecar: %d", resp.StatusCode)
	}
	want := []string{"GET /cart/total/17 " + tp, "GET /cart/clear/17 " + tp}
	if got := rec.list(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("sidecar saw %q, want %q", got, want)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRoutes checks that every SPEC endpoint is served by the upstream its
// route names.
func TestRoutes(t *testing.T) {
	s := startShop(t, Options{})
	route := func(path string) Route {
		for _, r := range s.Routes() {
			if strings.HasPrefix(path, r.PathPrefix) {
				return r
			}
		}
		t.Fatalf("no route for %s", path)
		return Route{}
	}
	tok := login(t, s, "alice", "wonderland-42").Token
	tests := []struct {
		method, path, service string
		body                  any
		want                  int
	}{
		{"GET", "/", "frontend", nil, 200},
		{"GET", "/static/app.js", "frontend", nil, 200},
		{"GET", "/products", "catalog", nil, 200},
		{"GET", "/products/5", "catalog", nil, 200},
		{"POST", "/cart/item/add/17", "cart", map[string]int{"product_id": 5}, 201},
		{"GET", "/cart/items/17", "cart", nil, 200},
		{"GET", "/cart/total/17", "cart", nil, 200},
		{"POST", "/login", "users", map[string]string{"username": "bob", "password": "builder-2024"}, 200},
		{"GET", "/users/17", "users", nil, 200},
		{"POST", "/order/add/17", "order", validOrder("4111111111111111"), 201},
		{"GET", "/cart/clear/17", "cart", nil, 200},
	}
	for _, tt := range tests {
		rt := route(tt.path)
		if rt.Name != tt.service {
			t.Fatalf("%s routes to %s, want %s", tt.path, rt.Name, tt.service)
		}
		if r := do(t, nil, tt.method, rt.Upstream+tt.path, tok, tt.body); r.status != tt.want {
			t.Fatalf("%s %s via %s: %d %s", tt.method, tt.path, rt.Name, r.status, r.body)
		}
	}
}

// TestJWKS checks that the published key verifies issued tokens.
func TestJWKS(t *testing.T) {
	s := startShop(t, Options{SigningKey: []byte("0123456789abcdef0123456789abcdef")})
	var set struct {
		Keys []map[string]string
	}
	if err := json.Unmarshal(s.JWKS(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", s.JWKS(), err)
	}
	if k := set.Keys[0]; k["kty"] != "oct" || k["alg"] != "HS256" || k["kid"] != TokenKeyID || k["k"] != "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY" {
		t.Fatalf("key = %v", k)
	}
}

// TestClose checks that Close and context cancellation stop every listener
// and leave no goroutine behind.
func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	alice := login(t, s, "alice", "wonderland-42")
	do(t, nil, "POST", s.Cart+"/cart/item/add/17", "", map[string]int{"product_id": 1})
	if r := do(t, nil, "POST", s.Order+"/order/add/17", alice.Token, validOrder("4111111111111111")); r.status != 201 {
		t.Fatalf("order: %d", r.status)
	}
	cancel()
	// Close after cancellation waits for the shutdown the context started.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
	for _, u := range []string{s.Frontend, s.Catalog, s.Cart, s.Users, s.Order} {
		if _, err := http.Get(u + "/healthz"); err == nil {
			t.Fatalf("%s still answers after Close", u)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before Start, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestLuhn(t *testing.T) {
	tests := []struct {
		number string
		want   bool
	}{
		{"4111111111111111", true},
		{"5555555555554444", true},
		{"378282246310005", true},
		{"4111111111111112", false},
		{"411111111111", false},
		{"41111111111111a1", false},
		{"", false},
		{strings.Repeat("0", 20), false},
	}
	for _, tt := range tests {
		if got := luhn(tt.number); got != tt.want {
			t.Errorf("luhn(%q) = %v, want %v", tt.number, got, tt.want)
		}
	}
}
