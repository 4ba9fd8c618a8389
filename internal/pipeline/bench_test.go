package pipeline_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/stage"
)

type discard struct{}

func (discard) WriteEvents([]*event.Event) error { return nil }

// BenchmarkHotPath measures the pipeline's own per-request work: a
// transaction from the pool, the route's chain (ip_rules and rate_limit
// configured), the event built and queued. net/http's work is excluded.
// Target: at most 5 allocations per request.
func BenchmarkHotPath(b *testing.B) {
	cfg, err := config.Parse([]byte(`
listen: {http: 127.0.0.1:0}
routes: [{name: bench, upstream: "http://127.0.0.1:1"}]
protect:
  ip_rules: {deny: [203.0.113.0/24, 198.51.100.0/24]}
  rate_limits: [{name: all, requests: 1000000000, per: 1s}]
`), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	set, err := stage.New(cfg, stage.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	chain, _ := set.Chain(&cfg.Routes[0], nil)
	if chain.Len() != 2 {
		b.Fatalf("chain has %d stages", chain.Len())
	}
	q := event.NewQueue(event.QueueOptions{Capacity: 1 << 16, Flush: time.Second}, discard{})
	defer q.Close(context.Background())
	r := httptest.NewRequest("GET", "http://shop.local/products/42?x=1", nil)
	r.Header.Set("User-Agent", "bench")
	w := httptest.NewRecorder()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		tx := pipeline.NewTxn(r, now, "")
		tx.Writer(w, 0)
		tx.Mode = "enforce"
		tx.ClientIPText = "192.0.2.1"
		if v := chain.Run(ctx, tx); v.Action != pipeline.Allow {
			b.Fatal("blocked")
		}
		tx.Resp.Status = 200
		ev := event.Get()
		tx.FillEvent(ev, now)
		q.Enqueue(ev)
		tx.Release()
	}
	b.StopTimer()
	if q.Dropped() > 0 {
		b.Logf("queue dropped %d of %d", q.Dropped(), b.N)
	}
}
