package tokenbucket

import (
	"testing"
	"time"
)

func TestTake(t *testing.T) {
	now := time.Unix(0, 0)
	b := New(2, now)
	for i := range 2 {
		if ok, _ := b.Take(now, 1, 2); !ok {
			t.Fatalf("token %d refused", i)
		}
	}
	ok, wait := b.Take(now, 1, 2)
	if ok || wait != time.Second {
		t.Fatalf("empty bucket: %v %v", ok, wait)
	}
	if ok, _ := b.Take(now.Add(time.Second), 1, 2); !ok {
		t.Fatal("not refilled after 1s")
	}
	if ok, _ := b.Take(now.Add(time.Hour), 1, 2); !ok {
		t.Fatal("not refilled after an hour")
	}
	if ok, _ := b.Take(now.Add(time.Hour), 1, 2); !ok {
		t.Fatal("refill not capped at burst... second token should exist")
	}
	if ok, _ := b.Take(now.Add(time.Hour), 1, 2); ok {
		t.Fatal("refill exceeded the burst")
	}
}
