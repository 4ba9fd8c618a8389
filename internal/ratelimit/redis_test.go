package ratelimit

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-sec/vigil/internal/ratelimit/redistest"
)

func testRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	return redistest.Prefix(t, "vigil-test")
}

// TestRedisMatchesLocal replays one sequence of arrivals, on the same
// clock, through the Lua GCRA in Redis and the local store: same decisions,
// same remaining tokens, same waits to the microsecond.
func TestRedisMatchesLocal(t *testing.T) {
	c, prefix := testRedis(t)
	cases := []struct {
		name  string
		rate  float64
		burst int64
		gap   time.Duration
	}{
		{"5/m burst 5", 5.0 / 60, 5, 7 * time.Second},
		{"20/s burst 30", 20, 30, 4 * time.Millisecond},
		{"1/h burst 2", 1.0 / 3600, 2, 20 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rd := NewRedis(c, prefix+tc.name+":", tc.rate, tc.burst, time.Second, nil)
			rd.LocalClock = true
			lo := NewLocal(tc.rate, tc.burst, 0)
			rng := rand.New(rand.NewPCG(3, 4))
			now := time.Unix(1_700_000_000, 0)
			allowed := 0
			for i := range 300 {
				if rng.IntN(3) != 0 {
					now = now.Add(time.Duration(rng.Int64N(int64(2*tc.gap))) + 3*time.Microsecond)
				}
				key := "k" + strconv.Itoa(rng.IntN(3))
				want, _ := lo.Allow(context.Background(), key, now)
				got, err := rd.Allow(context.Background(), key, now)
				if err != nil {
					t.Fatal(err)
				}
				if got.Allowed != want.Allowed || got.Remaining != want.Remaining ||
					absDur(got.RetryAfter-want.RetryAfter) > time.Microsecond || absDur(got.Full-want.Full) > time.Microsecond {
					t.Fatalf("arrival %d (%s): redis %+v, local %+v", i, key, got, want)
				}
				if got.Allowed {
					allowed++
				}
			}
			if allowed == 0 || allowed == 300 {
				t.Fatalf("sequence never exercised both outcomes (%d allowed)", allowed)
			}
		})
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// TestRedisSharedAndExpiring: two limiters on the same Redis (two gateways)
// share one bucket per key; the key expires when the bucket is full again
// and never holds the raw key.
func TestRedisSharedAndExpiring(t *testing.T) {
	c, prefix := testRedis(t)
	a := NewRedis(c, prefix+"login:", 5.0/60, 5, time.Second, nil)
	b := NewRedis(c, prefix+"login:", 5.0/60, 5, time.Second, nil)
	ctx := context.Background()
	now := time.Now()
	for i := range 5 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if r, err := l.Allow(ctx, "198.51.100.7", now); err != nil || !r.Allowed {
			t.Fatalf("request %d: %+v %v", i+1, r, err)
		}
	}
	for _, l := range []*Redis{a, b} {
		r, err := l.Allow(ctx, "198.51.100.7", now)
		if err != nil || r.Allowed || r.RetryAfter <= 11*time.Second || r.RetryAfter > 12*time.Second {
			t.Fatalf("6th request: %+v %v", r, err)
		}
	}
	if r, _ := b.Allow(ctx, "198.51.100.8", now); !r.Allowed {
		t.Fatal("another key shares the bucket")
	}
	ttl, err := c.PTTL(ctx, a.Key("198.51.100.7")).Result()
	if err != nil || ttl <= 58*time.Second || ttl > 60*time.Second {
		t.Fatalf("TTL %s (%v), want the minute until the bucket is full", ttl, err)
	}
	keys, _ := c.Keys(ctx, prefix+"*").Result()
	for _, k := range keys {
		if len(k) != len(prefix+"login:")+32 {
			t.Fatalf("key %q is not prefix + hash", k)
		}
	}
}

// TestRedisDown: a Redis that does not answer fails fast, opens the
// circuit, and while it is open no call waits on the network.
func TestRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a closed port: connection refused
	cases := []struct {
		name string
		url  string
	}{
		{"closed port", "redis://" + addr + "/0"},
	}
	// A listener that accepts and never answers: each call waits out the
	// timeout, which is what the breaker exists to stop.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	cases = append(cases, struct{ name, url string }{"silent server", "redis://" + silent.Addr().String() + "/0"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewRedisClient(RedisOptions{URL: tc.url, Timeout: 30 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := &Breaker{Failures: 3, Cooldown: 200 * time.Millisecond}
			rd := NewRedis(c, "vigil-test:", 10, 10, 30*time.Millisecond, br)
			ctx := context.Background()
			for i := range 3 {
				start := time.Now()
				_, err := rd.Allow(ctx, "k", time.Now())
				if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrCircuitOpen) {
					t.Fatalf("call %d: %v", i, err)
				}
				if d := time.Since(start); d > 500*time.Millisecond {
					t.Fatalf("call %d took %s with a 30ms timeout", i, d)
				}
			}
			if !br.Open() {
				t.Fatal("circuit still closed after 3 failures")
			}
			start := time.Now()
			for range 1000 {
				if _, err := rd.Allow(ctx, "k", time.Now()); !errors.Is(err, ErrCircuitOpen) {
					t.Fatalf("open circuit: %v", err)
				}
			}
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Fatalf("1000 calls on an open circuit took %s", d)
			}
			time.Sleep(250 * time.Millisecond)
			// Cooldown over: one probe goes out (and fails), the circuit
			// opens again.
			if _, err := rd.Allow(ctx, "k", time.Now()); errors.Is(err, ErrCircuitOpen) || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("probe: %v", err)
			}
			if _, err := rd.Allow(ctx, "k", time.Now()); !errors.Is(err, ErrCircuitOpen) {
				t.Fatalf("after a failed probe: %v", err)
			}
		})
	}
}

func TestBreakerRecovers(t *testing.T) {
	br := &Breaker{Failures: 2, Cooldown: time.Second}
	now := time.Unix(0, 0)
	br.Failure(now)
	if !br.Allow(now) {
		t.Fatal("open after one failure of two")
	}
	br.Failure(now)
	if br.Allow(now.Add(500 * time.Millisecond)) {
		t.Fatal("closed during the cooldown")
	}
	later := now.Add(1500 * time.Millisecond)
	if !br.Allow(later) {
		t.Fatal("no probe after the cooldown")
	}
	if br.Allow(later) {
		t.Fatal("two probes at once")
	}
	br.Success()
	if br.Open() || !br.Allow(later) || !br.Allow(later) {
		t.Fatal("a successful probe did not close the circuit")
	}
	var zero *Breaker
	zero.Failure(now)
	if !zero.Allow(now) {
		t.Fatal("a nil breaker refuses")
	}
}

func BenchmarkRedis(b *testing.B) {
	c, prefix := testRedis(b)
	rd := NewRedis(c, prefix+"bench:", 1e9, 1e9, time.Second, &Breaker{Failures: 3, Cooldown: time.Second})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rd.Allow(ctx, "192.0.2.1", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrentTakes: many callers at once on one key, through two
// gateways' limiters, get exactly the burst and not one token more (the
// Lua step is atomic; the local store's shard lock is too).
func TestConcurrentTakes(t *testing.T) {
	c, prefix := testRedis(t)
	const burst, callers = 25, 200
	slow := 1.0 / 3600 // no refill during the test
	cases := []struct {
		name string
		lims []Limiter
	}{
		{"local", []Limiter{NewLocal(slow, burst, 0)}},
		{"redis, two gateways", []Limiter{NewRedis(c, prefix+"c:", slow, burst, time.Second, nil), NewRedis(c, prefix+"c:", slow, burst, time.Second, nil)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			results := make(chan bool, callers)
			for i := range callers {
				go func() {
					r, err := tc.lims[i%len(tc.lims)].Allow(context.Background(), "one-key", time.Now())
					results <- err == nil && r.Allowed
				}()
			}
			allowed := 0
			for range callers {
				if <-results {
					allowed++
				}
			}
			if allowed != burst {
				t.Fatalf("%d of %d concurrent requests allowed, burst %d", allowed, callers, burst)
			}
		})
	}
}
