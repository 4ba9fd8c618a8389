package ratelimit

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/ratelimit/redistest"
)

// redisStore is protect.redis on the local Redis under a prefix of the
// test's own; skipped without a Redis (failed under CI).
func redisStore(t testing.TB) *config.RateLimitRedis {
	t.Helper()
	_, prefix := redistest.Prefix(t, "vigil-stage-test")
	return &config.RateLimitRedis{URL: redistest.URL, Prefix: prefix, Timeout: time.Second, BreakerFailures: 3, BreakerCooldown: time.Second}
}

func deadStore(t *testing.T, onError string) *config.RateLimitRedis {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &config.RateLimitRedis{URL: "redis://" + addr, Prefix: "x:", Timeout: 20 * time.Millisecond, OnError: onError,
		BreakerFailures: 3, BreakerCooldown: time.Minute}
}

// Two stages on one Redis are two gateways: one budget.
func TestRedisStageShared(t *testing.T) {
	rd := redisStore(t)
	cfg := config.RateLimit{Name: "login", Match: config.RateLimitMatch{Endpoint: "POST /login"}, Key: "sub", Rate: "5/m", Redis: rd}
	a, b := newHarness(t, cfg), newHarness(t, cfg)
	if !a.s.Blocking() {
		t.Fatal("a stage waiting on Redis is not Blocking")
	}
	login := req{method: "POST", target: "/login", header: map[string]string{"Authorization": "Bearer secret-token-1"}}
	for i := range 5 {
		h := a
		if i%2 == 1 {
			h = b
		}
		if !h.allowed(login) {
			t.Fatalf("login %d blocked", i+1)
		}
	}
	for _, h := range []*harness{a, b} {
		v, _ := h.do(login)
		if v.HTTPStatus() != 429 || v.RetryAfter < 11*time.Second || v.RetryAfter > 12*time.Second {
			t.Fatalf("6th login: %+v", v)
		}
	}
	keys, _ := a.s.client.Keys(context.Background(), rd.Prefix+"*").Result()
	if len(keys) != 1 || !strings.HasPrefix(keys[0], rd.Prefix+"rl:login:") || strings.Contains(keys[0], "secret") {
		t.Fatalf("Redis keys %q", keys)
	}
}

func TestRedisStageDown(t *testing.T) {
	cases := []struct {
		onError string
		status  int // of the 7th request, after 6 in a 5/m bucket
		finding bool
	}{
		{"fail_open", 0, true},
		{"fail_closed", 503, false},
		{"local", 429, true},
	}
	for _, tc := range cases {
		t.Run(tc.onError, func(t *testing.T) {
			h := newHarness(t, config.RateLimit{Name: "login", Rate: "5/m", Redis: deadStore(t, tc.onError)})
			var v pipeline.Verdict
			var tx *pipeline.Txn
			start := time.Now()
			for range 7 {
				v, tx = h.do(req{method: "POST", target: "/login"})
			}
			if time.Since(start) > time.Second {
				t.Fatalf("7 requests took %s against a dead Redis", time.Since(start))
			}
			if v.Status != tc.status {
				t.Fatalf("7th request: %+v", v)
			}
			if got := len(tx.Findings) == 1 && tx.Findings[0].Kind == "store_unavailable" && tx.Findings[0].Layer == "ratelimit" &&
				strings.Contains(tx.Findings[0].Message, "circuit open"); got != tc.finding {
				t.Fatalf("findings %+v", tx.Findings)
			}
			if tc.status == 503 && (v.Kind != "store_unavailable" || v.RetryAfter != time.Second) {
				t.Fatalf("fail_closed verdict %+v", v)
			}
		})
	}
}

func BenchmarkRequestRedis(b *testing.B) {
	rd := redisStore(b)
	st, err := New([]config.RateLimit{{Name: "all", Key: "ip", Rate: "1000000000/s", Redis: rd}})
	if err != nil {
		b.Fatal(err)
	}
	defer st.(*Stage).Close()
	tx := pipeline.NewTxn(httptest.NewRequest("POST", "/login", nil), time.Now(), "")
	tx.ClientIPText = "192.0.2.1"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := st.Request(ctx, tx); v.Action != pipeline.Allow {
			b.Fatal("blocked")
		}
	}
}
