package traffic

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/vigil-sec/vigil/internal/demo/shop"
)

// browserAgents are the User-Agent strings shoppers use.
func browserAgents() []string {
	return []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	}
}

// Test cards a shopper pays with; most succeed, one is always declined.
func testCards() []string {
	return []string{"4111111111111111", "4111111111111111", "5555555555554444", "4242424242424242", "378282246310005", shop.DeclinedCard}
}

// shopper is one virtual shopper's loop of sessions.
type shopper struct {
	g    *generator
	rng  *rand.Rand
	zipf *rand.Zipf
	cred shop.Credentials
	ua   string
	ip   string
}

func (g *generator) shopper(ctx context.Context, id int, rng *rand.Rand) {
	agents := browserAgents()
	s := &shopper{
		g:    g,
		rng:  rng,
		zipf: rand.NewZipf(rng, 1.3, 2, uint64(len(g.popular)-1)),
		cred: g.opts.Users[id%len(g.opts.Users)],
		ua:   agents[rng.IntN(len(agents))],
		ip:   fmt.Sprintf("198.51.100.%d", 10+id%240),
	}
	for ctx.Err() == nil {
		s.session(ctx)
	}
}

// think pauses like a person reading a page.
func (s *shopper) think(ctx context.Context) bool {
	mean := s.g.opts.ThinkTime
	if mean <= 0 {
		return ctx.Err() == nil
	}
	d := time.Duration(s.rng.ExpFloat64() * float64(mean))
	return sleep(ctx, min(d, 5*mean))
}

func (s *shopper) get(ctx context.Context, scenario, target, endpoint, token string) (response, bool) {
	r, err := s.g.send(ctx, request{scenario: scenario, method: http.MethodGet, target: target, endpoint: endpoint, token: token, userAgent: s.ua, clientIP: s.ip})
	return r, err == nil
}

func (s *shopper) post(ctx context.Context, scenario, target, endpoint, token string, body any) (response, bool) {
	b, _ := json.Marshal(body)
	r, err := s.g.send(ctx, request{scenario: scenario, method: http.MethodPost, target: target, endpoint: endpoint, token: token, userAgent: s.ua, body: b, contentType: "application/json", clientIP: s.ip})
	return r, err == nil
}

func (s *shopper) product() shop.Product { return s.g.popular[s.zipf.Uint64()] }

// session is one visit: browse, maybe log in and fill a cart, maybe pay.
// It returns early when ctx ends.
func (s *shopper) session(ctx context.Context) {
	rng := s.rng
	if rng.Float64() < 0.5 {
		if _, ok := s.get(ctx, ScenarioBrowse, "/", "GET /", ""); !ok {
			return
		}
		s.get(ctx, ScenarioBrowse, "/static/style.css", "GET /static/style.css", "")
		s.get(ctx, ScenarioBrowse, "/static/app.js", "GET /static/app.js", "")
		if !s.think(ctx) {
			return
		}
	}
	cats := shop.Categories()
	var list string
	switch rng.IntN(4) {
	case 0:
		list = "/products"
	case 1:
		list = "/products?category=" + cats[rng.IntN(len(cats))]
	case 2:
		list = fmt.Sprintf("/products?category=%s&page=1&limit=%d", cats[rng.IntN(len(cats))], 5+rng.IntN(6))
	default:
		list = fmt.Sprintf("/products?page=%d&limit=10", 1+rng.IntN(3))
	}
	if _, ok := s.get(ctx, ScenarioBrowse, list, "GET /products", ""); !ok || !s.think(ctx) {
		return
	}
	for range 1 + rng.IntN(4) {
		id := s.product().ID
		if rng.Float64() < 0.03 {
			id = 900 + rng.IntN(100) // a stale link: 404
		}
		if _, ok := s.get(ctx, ScenarioProduct, "/products/"+strconv.Itoa(id), "GET /products/{parameter}", ""); !ok || !s.think(ctx) {
			return
		}
	}
	if rng.Float64() < 0.25 {
		return // window shopper
	}

	password := s.cred.Password
	if rng.Float64() < 0.03 {
		password += "x" // a typo: 401, the shopper gives up
	}
	r, ok := s.post(ctx, ScenarioLogin, "/login", "POST /login", "", map[string]string{"username": s.cred.Username, "password": password})
	if !ok || r.status != http.StatusOK {
		return
	}
	var lr shop.LoginResponse
	if json.Unmarshal(r.body, &lr) != nil || lr.Token == "" {
		return
	}
	uid := strconv.Itoa(lr.UserID)
	if !s.think(ctx) {
		return
	}
	if rng.Float64() < 0.3 {
		if _, ok := s.get(ctx, ScenarioProfile, "/users/"+uid, "GET /users/{parameter}", lr.Token); !ok || !s.think(ctx) {
			return
		}
	}
	for range 1 + rng.IntN(3) {
		item := map[string]int{"product_id": s.product().ID, "quantity": 1 + rng.IntN(2)}
		if _, ok := s.post(ctx, ScenarioCart, "/cart/item/add/"+uid, "POST /cart/item/add/{parameter}", lr.Token, item); !ok || !s.think(ctx) {
			return
		}
	}
	if _, ok := s.get(ctx, ScenarioCart, "/cart/items/"+uid, "GET /cart/items/{parameter}", lr.Token); !ok {
		return
	}
	if _, ok := s.get(ctx, ScenarioCart, "/cart/total/"+uid, "GET /cart/total/{parameter}", lr.Token); !ok || !s.think(ctx) {
		return
	}
	switch p := rng.Float64(); {
	case p < 0.5:
		cards := testCards()
		now := time.Now()
		order := map[string]any{
			"items":            []map[string]int{},
			"shipping_address": map[string]string{"street": fmt.Sprintf("%d Main St", 1+rng.IntN(999)), "city": "Springfield", "zip": fmt.Sprintf("%05d", rng.IntN(100000)), "country": "US"},
			"payment":          map[string]any{"number": cards[rng.IntN(len(cards))], "exp_month": 1 + rng.IntN(12), "exp_year": now.Year() + 1 + rng.IntN(4), "cvc": fmt.Sprintf("%03d", rng.IntN(1000)), "name": s.cred.Username},
			"email":            s.cred.Username + "@example.com",
		}
		s.post(ctx, ScenarioCheckout, "/order/add/"+uid, "POST /order/add/{parameter}", lr.Token, order)
	case p < 0.8:
		s.get(ctx, ScenarioCart, "/cart/clear/"+uid, "GET /cart/clear/{parameter}", lr.Token)
	}
	s.think(ctx)
}
