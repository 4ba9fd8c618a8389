package ui_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/ui"
)

// BenchmarkInsightWindows measures the findings and overview pages over
// the widest windows they offer, on the store of BenchmarkPages (10,000
// endpoints, 1,000,000 events over a day):
//
//	go test -run '^$' -bench BenchmarkInsightWindows -benchtime 10x ./internal/ui
func BenchmarkInsightWindows(b *testing.B) {
	benchPagesOn(b, []benchPage{
		{"overview_live", "/ui/overview/live"},
		{"findings_24h", "/ui/findings?since=24h"},
		{"findings_7d", "/ui/findings?since=7d"},
		{"findings_7d_waf_block", "/ui/findings?since=7d&stage=waf&decision=block"},
		{"findings_7d_source", "/ui/findings?since=7d&source=10.0.1.3"},
		{"findings_7d_bot", "/ui/findings?since=7d&stage=bot"},
		{"findings_24h_rule", "/ui/findings?since=24h&rule_id=930120"},
		{"findings_24h_identity", "/ui/findings?since=24h&identity=user-7"},
		{"findings_24h_hot_endpoint", "/ui/findings?since=24h&endpoint=" + "%2Fv1%2Fres0007%2F%7Bparameter%7D"},
	})
}

// BenchmarkRiskPage measures the connections and risk page on a control
// plane whose store holds 10,000 endpoints on 20 hosts and 400 call-graph
// edges into them (the plane scores every host from its inventory):
//
//	go test -run '^$' -bench BenchmarkRiskPage -benchtime 10x ./internal/ui
func BenchmarkRiskPage(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	eps := make([]store.Endpoint, 0, 500)
	for e := range benchEndpoints {
		eps = append(eps, benchEndpoint(e, now))
		if len(eps) == cap(eps) {
			if err := st.UpsertEndpoints(ctx, eps); err != nil {
				b.Fatal(err)
			}
			eps = eps[:0]
		}
	}
	var edges []risk.Edge
	for i := range 400 {
		e := risk.Edge{Source: fmt.Sprintf("spiffe://bench/caller-%03d", i), Destination: benchHost(i), Requests: 100,
			Authenticated: int64(i % 100), MTLS: int64(i % 100), TLS13: 90, LegacyTLS: 10, FirstSeen: now, LastSeen: now,
			TLSVersion: "1.3", Group: "X25519MLKEM768"}
		if i%7 == 0 {
			e.Plaintext, e.TLSVersion, e.Group = 100, "", ""
		}
		edges = append(edges, e)
	}
	if err := st.UpsertConnections(ctx, edges); err != nil {
		b.Fatal(err)
	}
	plane, err := control.New(control.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	s, err := ui.New(ui.Options{Store: st, Graph: plane, Token: benchToken, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := signIn(b, srv.URL)
	b.ReportAllocs()
	get(b, c, srv.URL+"/ui/risk")
	for b.Loop() {
		get(b, c, srv.URL+"/ui/risk")
	}
}
