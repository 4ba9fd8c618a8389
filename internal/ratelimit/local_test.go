package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestLocalLimitsPerKey(t *testing.T) {
	l := NewLocal(5.0/60, 5, 0)
	now := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		if r, _ := l.Allow(context.Background(), "203.0.113.1", now); !r.Allowed || r.Remaining != int64(4-i) {
			t.Fatalf("request %d: %+v", i+1, r)
		}
	}
	r, _ := l.Allow(context.Background(), "203.0.113.1", now)
	if r.Allowed || r.RetryAfter != 12*time.Second {
		t.Fatalf("6th request: %+v", r)
	}
	if r, _ := l.Allow(context.Background(), "203.0.113.2", now); !r.Allowed {
		t.Fatal("another key shares the bucket")
	}
	if r, _ := l.Allow(context.Background(), "203.0.113.1", now.Add(12*time.Second)); !r.Allowed {
		t.Fatal("no token back after 12s")
	}
}

// TestLocalEvictionBound: an attacker rotating keys (addresses, junk
// header values) fills the store; memory stays bounded and the buckets it
// throws out are the idle ones, so a client it already limited stays
// limited.
func TestLocalEvictionBound(t *testing.T) {
	const maxKeys = 64 * 256
	cases := []struct {
		name   string
		spread time.Duration // how far apart the sprayed keys arrive
	}{
		{"all at once", 0},
		{"over ten minutes", 10 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewLocal(5.0/60, 5, maxKeys)
			start := int64(1_700_000_000) * int64(time.Second)
			for range 5 {
				l.Take("victim", start)
			}
			if l.Take("victim", start).Allowed {
				t.Fatal("victim not limited")
			}
			const spray = 20 * maxKeys
			now := start
			for i := range spray {
				now = start + int64(c.spread)*int64(i)/spray
				l.Take("spray-"+strconv.Itoa(i), now)
				if i%4096 == 0 && l.Len() > maxKeys {
					t.Fatalf("%d keys held after %d sprayed, bound %d", l.Len(), i, maxKeys)
				}
			}
			if n := l.Len(); n > maxKeys || n < maxKeys/2 {
				t.Fatalf("%d keys held, bound %d", n, maxKeys)
			}
			if c.spread == 0 && l.Take("victim", now).Allowed {
				t.Fatal("spraying keys reset the victim's empty bucket")
			}
		})
	}
}

func TestLocalEvictsIdleFirst(t *testing.T) {
	l := NewLocal(1, 1, 64) // one key per shard
	now := int64(time.Hour)
	for i := range 1000 {
		l.Take(strconv.Itoa(i), now)
	}
	if n := l.Len(); n > 64 {
		t.Fatalf("%d keys held, bound 64", n)
	}
	// A second later every bucket is full again: idle, so dropped first.
	for i := range 1000 {
		l.Take("later-"+strconv.Itoa(i), now+int64(2*time.Second))
	}
	if n := l.Len(); n > 64 {
		t.Fatalf("%d keys held, bound 64", n)
	}
}

func BenchmarkLocal(b *testing.B) {
	l := NewLocal(1e9, 1e9, 0)
	now := time.Now().UnixNano()
	b.ReportAllocs()
	for b.Loop() {
		l.Take("192.0.2.1", now)
	}
}
