//go:build bench10m

package audit

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// BenchmarkProveLarge measures inclusion-proof generation (Log.Prove:
// the latest checkpoint, O(log n) node reads, the entry) as the log grows
// to each size of VIGIL_BENCH_AUDIT_SIZES (default 10000,100000,1000000,
// 10000000). The log is built as fast as the store's API allows: leaves
// are appended with Store.AppendAudit in batches of 10,000 without
// signing (a proof does not read signatures, and signing is most of an
// append's cost, measured by BenchmarkAppend). Build tag bench10m: not
// run in CI.
//
//	go test -tags bench10m -run '^$' -bench BenchmarkProveLarge -benchtime 2000x ./internal/audit/
func BenchmarkProveLarge(b *testing.B) {
	sizes := []uint64{10_000, 100_000, 1_000_000, 10_000_000}
	if v := os.Getenv("VIGIL_BENCH_AUDIT_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				b.Fatalf("VIGIL_BENCH_AUDIT_SIZES: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			dsn, dir := be.newDB(b)
			st := openStoreB(b, dsn, dir)
			l, _ := New(st, newKey(b, "bench"), "")
			var size uint64
			for _, n := range sizes {
				start := time.Now()
				grown := n - size
				for size < n {
					m := min(10_000, n-size)
					leaves := make([]store.AuditLeaf, m)
					for i := range leaves {
						k := fmt.Sprintf("big-%d", size+uint64(i))
						leaves[i] = store.AuditLeaf{Key: k, Kind: "transaction", TxnID: k, Time: t0,
							Data: fmt.Appendf(nil, `{"record":{"v":1,"kind":"transaction","key":%q},"sig":""}`, k)}
					}
					if _, _, err := st.AppendAudit(ctx, leaves); err != nil {
						b.Fatal(err)
					}
					size += m
				}
				el := time.Since(start)
				b.Logf("%s: grew to %d entries in %v (%.0f leaves/s)", be.name, n, el.Round(time.Millisecond), float64(grown)/el.Seconds())
				if _, err := l.Checkpoint(ctx); err != nil {
					b.Fatal(err)
				}
				b.Run(strconv.FormatUint(n, 10), func(b *testing.B) {
					for i := uint64(0); b.Loop(); i++ {
						p, err := l.Prove(ctx, (i*7919+13)%n)
						if err != nil {
							b.Fatal(err)
						}
						if i == 0 {
							if err := p.Verify(); err != nil {
								b.Fatal(err)
							}
						}
					}
				})
			}
		})
	}
}
