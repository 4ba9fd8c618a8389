package tokenbucket

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestGCRAMatchesBucket replays one sequence of arrivals through the token
// bucket and its GCRA form: every decision, and every wait, is the same.
func TestGCRAMatchesBucket(t *testing.T) {
	cases := []struct {
		name  string
		rate  float64
		burst int64
		gap   time.Duration // mean time between arrivals
	}{
		{"5/m burst 5", 5.0 / 60, 5, 7 * time.Second},
		{"100/s burst 150", 100, 150, 8 * time.Millisecond},
		{"1/s burst 1", 1, 1, 900 * time.Millisecond},
		{"2/s burst 3", 2, 3, 300 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			start := time.Unix(1_700_000_000, 0)
			b := New(float64(c.burst), start)
			g := NewGCRA(c.rate, c.burst)
			var tat int64
			now := start
			allowed := 0
			for i := range 5000 {
				// Bursts of arrivals at one instant, then gaps; offsets in
				// odd microseconds keep clear of exact refill instants,
				// where float and integer arithmetic may round apart.
				if rng.IntN(3) != 0 {
					now = now.Add(time.Duration(rng.Int64N(int64(2*c.gap))) + 7*time.Microsecond)
				}
				okB, waitB := b.Take(now, c.rate, float64(c.burst))
				d, next := g.Take(tat, now.UnixNano())
				tat = next
				if okB != d.Allowed {
					t.Fatalf("arrival %d at +%s: bucket %v, gcra %v", i, now.Sub(start), okB, d.Allowed)
				}
				if diff := waitB - d.RetryAfter; diff < -time.Microsecond || diff > time.Microsecond {
					t.Fatalf("arrival %d: bucket waits %s, gcra %s", i, waitB, d.RetryAfter)
				}
				if okB {
					allowed++
					// Remaining is the bucket's whole tokens after the take.
					if want := int64(b.tokens + 1e-9); d.Remaining != want {
						t.Fatalf("arrival %d: remaining %d, bucket holds %.6f", i, d.Remaining, b.tokens)
					}
				}
			}
			if allowed == 0 || allowed == 5000 {
				t.Fatalf("sequence never exercised both outcomes (%d allowed)", allowed)
			}
		})
	}
}

func TestGCRAFullAndNextToken(t *testing.T) {
	g := NewGCRA(5.0/60, 5) // 5/m: a token every 12s
	now := time.Unix(100, 0).UnixNano()
	var tat int64
	for i := range 5 {
		d, next := g.Take(tat, now)
		tat = next
		if !d.Allowed || d.Remaining != int64(4-i) || d.Full != time.Duration(i+1)*12*time.Second {
			t.Fatalf("take %d: %+v", i, d)
		}
	}
	d, _ := g.Take(tat, now)
	if d.Allowed || d.RetryAfter != 12*time.Second || d.Full != 60*time.Second {
		t.Fatalf("6th: %+v", d)
	}
	if nt := g.NextToken(25 * time.Second); nt != time.Second {
		t.Fatalf("next token in %s, want 1s", nt)
	}
	if nt := g.NextToken(24 * time.Second); nt != 12*time.Second {
		t.Fatalf("next token in %s, want 12s", nt)
	}
	if g.NextToken(0) != 0 {
		t.Fatal("a full bucket waits for a token")
	}
	// After a minute of silence the bucket is full: a stored TAT in the
	// past decides like no TAT at all.
	later := now + int64(61*time.Second)
	a, _ := g.Take(tat, later)
	b, _ := g.Take(0, later)
	if a != b {
		t.Fatalf("idle key %+v, new key %+v", a, b)
	}
}
