package bus

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkPublish measures end-to-end publish throughput through the
// embedded bus: b.N events from Publish to the JetStream ack.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name     string
		maxBatch int
	}{{"batch=1", 1}, {"batch=64", 64}, {"batch=256", 256}} {
		b.Run(bc.name, func(b *testing.B) {
			bus := openEmbedded(b, b.TempDir(), Options{})
			evs := testEvents(b, 1024)
			p := NewPublisher(bus, PublisherOptions{MaxBatch: bc.maxBatch, BufferSize: 8192})
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				ev := evs[i%len(evs)]
				ev.TxnID = "" // distinct lone events must not dedupe
				for !p.Publish(&ev) {
					runtime.Gosched() // buffer full: wait for the sender, as a benchmark only
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := p.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(p.Published())/time.Since(start).Seconds(), "events/s")
		})
	}
}
