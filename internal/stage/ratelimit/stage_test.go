package ratelimit

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

func TestRateLimit(t *testing.T) {
	st, err := New([]config.RateLimit{
		{Name: "login", PathPrefix: "/login", Method: "POST", Key: "ip", Requests: 3, Per: time.Minute},
		{Name: "api-key", PathPrefix: "/api", Key: "header:X-Api-Key", Requests: 2, Per: time.Second, Burst: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Stage)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	req := func(method, path, ip, key string) pipeline.Verdict {
		r := httptest.NewRequest(method, path, nil)
		if key != "" {
			r.Header.Set("X-Api-Key", key)
		}
		tx := pipeline.NewTxn(r, now, "")
		tx.ClientIPText = ip
		v, err := s.Request(context.Background(), tx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// 3 logins a minute per address.
	for i := range 3 {
		if v := req("POST", "/login", "1.1.1.1", ""); v.Action != pipeline.Allow {
			t.Fatalf("login %d blocked", i)
		}
	}
	v := req("POST", "/login", "1.1.1.1", "")
	if v.Action != pipeline.Block || v.HTTPStatus() != 429 || v.RuleID != "login" || v.RetryAfter != 20*time.Second {
		t.Fatalf("4th login: %+v", v)
	}
	if req("POST", "/login", "2.2.2.2", "").Action != pipeline.Allow {
		t.Fatal("another address shares the bucket")
	}
	if req("GET", "/login", "1.1.1.1", "").Action != pipeline.Allow {
		t.Fatal("GET counted by a POST-only limit")
	}
	now = now.Add(20 * time.Second) // one token back
	if req("POST", "/login", "1.1.1.1", "").Action != pipeline.Allow {
		t.Fatal("token not refilled after 20s")
	}
	// Per header key, with burst.
	for i := range 3 {
		if req("GET", "/api/x", "9.9.9.9", "k1").Action != pipeline.Allow {
			t.Fatalf("api call %d blocked", i)
		}
	}
	if req("GET", "/api/x", "9.9.9.9", "k1").Action != pipeline.Block {
		t.Fatal("api key k1 not limited")
	}
	if req("GET", "/api/x", "9.9.9.9", "k2").Action != pipeline.Allow {
		t.Fatal("api key k2 limited by k1's bucket")
	}
	// Without the header, clients are counted by address, not together.
	for i := range 3 {
		if req("GET", "/api/x", "8.8.8.8", "").Action != pipeline.Allow {
			t.Fatalf("keyless call %d blocked", i)
		}
	}
	if req("GET", "/api/x", "7.7.7.7", "").Action != pipeline.Allow {
		t.Fatal("keyless clients share one bucket")
	}
}

func TestRateLimitMemoryBounded(t *testing.T) {
	st, _ := New([]config.RateLimit{{Name: "all", Key: "ip", Requests: 10, Per: time.Second}})
	s := st.(*Stage)
	now := time.Now()
	for i := range 300000 {
		s.limits[0].allow(fmt.Sprint(i), now)
	}
	total := 0
	for i := range s.limits[0].shards {
		total += len(s.limits[0].shards[i].buckets)
	}
	if total > shards*maxKeys {
		t.Fatalf("%d buckets kept", total)
	}
}

func BenchmarkRateLimit(b *testing.B) {
	st, _ := New([]config.RateLimit{{Name: "all", Key: "ip", Requests: 1 << 30, Per: time.Second}})
	tx := pipeline.NewTxn(httptest.NewRequest("GET", "/", nil), time.Now(), "")
	tx.ClientIPText = "192.0.2.1"
	b.ReportAllocs()
	for b.Loop() {
		_, _ = st.Request(context.Background(), tx)
	}
}
