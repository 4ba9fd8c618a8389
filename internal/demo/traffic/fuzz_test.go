package traffic

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/demo/shop"
)

// roundTripFunc answers requests in memory.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func answer(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}
}

// pathOf is the path as sent (the generator sets the request-target through
// URL.Opaque).
func pathOf(r *http.Request) string {
	p, _, _ := strings.Cut(r.URL.RequestURI(), "?")
	return p
}

// FuzzShopperLogin feeds arbitrary answers to a shopper's login and checks
// that the shopper goes on to the cart only after a real token, and then
// only for the user id it was given.
func FuzzShopperLogin(f *testing.F) {
	f.Add(200, `{"token":"eyJ.x.y","token_type":"Bearer","expires_in":3600,"user_id":17}`)
	f.Add(200, `{"token":"","user_id":17}`)
	f.Add(401, `{"error":{"code":"invalid_credentials","message":"no"}}`)
	f.Add(200, `{"token":"t","user_id":-5}`)
	f.Add(200, `{"token":"t","user_id":"17"}`)
	f.Add(500, `<html>`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 999 {
			return
		}
		var mu sync.Mutex
		var after []*http.Request
		loggedIn := false
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			if pathOf(r) == "/login" {
				loggedIn = true
				return answer(status, body), nil
			}
			if loggedIn {
				after = append(after, r)
			}
			return answer(200, `{}`), nil
		})
		g, err := newGenerator(Options{BaseURL: "http://shop.test", Client: &http.Client{Transport: rt}, ThinkTime: -1})
		if err != nil {
			t.Fatal(err)
		}
		s := &shopper{g: g, rng: rand.New(rand.NewPCG(1, 2)), cred: shop.DemoCredentials()[0], ua: "fuzz"}
		s.zipf = rand.NewZipf(s.rng, 1.3, 2, uint64(len(g.popular)-1))
		for i := 0; i < 50 && !loggedIn; i++ {
			s.session(context.Background())
		}
		if !loggedIn {
			t.Fatal("no session reached the login in 50 tries")
		}
		var lr shop.LoginResponse
		valid := status == 200 && json.Unmarshal([]byte(body), &lr) == nil && lr.Token != ""
		for _, r := range after {
			if pathOf(r) == "/login" {
				break // the next session
			}
			if !valid {
				t.Fatalf("after a failed login (%d %q) the shopper sent %s", status, body, pathOf(r))
			}
			if !strings.HasSuffix(pathOf(r), "/"+strconv.Itoa(lr.UserID)) || r.Header.Get("Authorization") != "Bearer "+lr.Token {
				t.Fatalf("after login as %d the shopper sent %s with %q", lr.UserID, pathOf(r), r.Header.Get("Authorization"))
			}
		}
	})
}

// BenchmarkSend measures the generator's own cost per request (building,
// sending to an in-memory transport, reading, counting).
func BenchmarkSend(b *testing.B) {
	rt := roundTripFunc(func(*http.Request) (*http.Response, error) { return answer(200, `{"items":[]}`), nil })
	g, err := newGenerator(Options{BaseURL: "http://shop.test", Client: &http.Client{Transport: rt}})
	if err != nil {
		b.Fatal(err)
	}
	rq := request{scenario: ScenarioProduct, method: http.MethodGet, target: "/products/3", endpoint: "GET /products/{parameter}", userAgent: "bench"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.send(ctx, rq); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordParallel measures the shared counters under contention.
func BenchmarkRecordParallel(b *testing.B) {
	c := newCollector(time.Now())
	rec := Record{Scenario: ScenarioCart, Method: "GET", Endpoint: "GET /cart/items/{parameter}", Status: 200}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.record(rec, false)
		}
	})
}
