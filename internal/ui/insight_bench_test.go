package ui_test

import (
	"net/http/httptest"
	"testing"

	"github.com/vigil-sec/vigil/internal/store"
)

// BenchmarkInsightWindows measures the findings and overview pages over
// the widest windows they offer, on the store of BenchmarkPages (10,000
// endpoints, 1,000,000 events over a day):
//
//	go test -run '^$' -bench BenchmarkInsightWindows -benchtime 10x ./internal/ui
func BenchmarkInsightWindows(b *testing.B) {
	for _, backend := range []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"sqlite", openBenchSQLite},
		{"postgres", openBenchPostgres},
	} {
		b.Run(backend.name, func(b *testing.B) {
			st := backend.open(b)
			seeded := seedBench(b, st)
			srv := httptest.NewServer(benchMux(b, st, seeded))
			defer srv.Close()
			c := signIn(b, srv.URL)
			for _, p := range []struct{ name, path string }{
				{"overview_live", "/ui/overview/live"},
				{"findings_24h", "/ui/findings?since=24h"},
				{"findings_7d", "/ui/findings?since=7d"},
				{"findings_7d_waf_block", "/ui/findings?since=7d&stage=waf&decision=block"},
				{"findings_7d_source", "/ui/findings?since=7d&source=10.0.1.3"},
				{"findings_7d_bot", "/ui/findings?since=7d&stage=bot"},
				{"findings_24h_rule", "/ui/findings?since=24h&rule_id=930120"},
				{"findings_24h_identity", "/ui/findings?since=24h&identity=user-7"},
				{"findings_24h_hot_endpoint", "/ui/findings?since=24h&endpoint=" + "%2Fv1%2Fres0007%2F%7Bparameter%7D"},
			} {
				b.Run(p.name, func(b *testing.B) {
					b.ReportAllocs()
					get(b, c, srv.URL+p.path)
					for b.Loop() {
						get(b, c, srv.URL+p.path)
					}
				})
			}
		})
	}
}
