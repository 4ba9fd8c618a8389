package audit

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAppend appends batches of 1000 signed records (one database
// transaction each), as the control plane does per bus batch; it reports
// records appended per second.
func BenchmarkAppend(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			dsn, dir := be.newDB(b)
			st := openStoreB(b, dsn, dir)
			l, _ := New(st, newKey(b, "bench"), "")
			const batch = 1000
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := l.Append(context.Background(), records(fmt.Sprintf("b%d", i), batch)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkProve measures an inclusion proof (O(log n) node reads) in a
// log of 100,000 entries.
func BenchmarkProve(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			dsn, dir := be.newDB(b)
			st := openStoreB(b, dsn, dir)
			l, _ := New(st, newKey(b, "bench"), "")
			const n, batch = 100_000, 5000
			for i := range n / batch {
				if _, err := l.Append(context.Background(), records(fmt.Sprintf("p%d", i), batch)); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := l.Checkpoint(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := l.Prove(context.Background(), uint64(i*7919)%n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
