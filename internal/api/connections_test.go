package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/store"
)

func TestConnectionsAndRisk(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	plane, err := control.New(control.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, &Server{Store: st, Graph: plane, Token: testToken})
	if p := decodePage[connectionRow](t, get(t, base+"/api/v1/connections")); len(p.Items) != 0 {
		t.Fatalf("an empty graph lists %+v", p.Items)
	}

	now := time.Now().UTC()
	var evs []event.Event
	for i := range 10 { // cart → orders over mTLS 1.3 with a verified peer
		evs = append(evs, event.Event{TxnID: fmt.Sprint("m", i), Time: now, Placement: "sidecar", Decision: "allow",
			Source: event.Source{IP: "10.0.0.4", Workload: "spiffe://shop.local/cart"}, Destination: event.Destination{Host: "orders.internal"},
			TLS: &event.TLS{Version: "1.3", Cipher: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768", MTLS: true}})
	}
	for i := range 4 { // the internet → shop.example in plaintext, anonymous
		evs = append(evs, event.Event{TxnID: fmt.Sprint("p", i), Time: now, Placement: "gateway", Decision: "allow",
			Source: event.Source{IP: "203.0.113.9"}, Destination: event.Destination{Host: "shop.example"}})
	}
	evs = append(evs, event.Event{Type: "alert", TxnID: "alert-1", Time: now, Destination: event.Destination{Host: "shop.example"}})
	if err := plane.Ingest(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := plane.Ingest(ctx, evs[:3]); err != nil { // a redelivery is counted once
		t.Fatal(err)
	}
	if err := st.UpsertEndpoints(ctx, []store.Endpoint{
		{Host: "shop.example", Method: "GET", Path: "/users/{id}", Hits: 4, FirstSeen: now, LastSeen: now, Status: "shadow", Sensitive: []string{"email"}},
		{Host: "shop.example", Method: "GET", Path: "/products", Hits: 1, FirstSeen: now, LastSeen: now, Status: "shadow", Protected: true},
	}); err != nil {
		t.Fatal(err)
	}
	if err := plane.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	rows := decodePage[connectionRow](t, get(t, base+"/api/v1/connections")).Items
	by := map[string]connectionRow{}
	for _, r := range rows {
		by[r.Source+" → "+r.Destination] = r
	}
	mesh, edge := by["spiffe://shop.local/cart → orders.internal"], by[risk.External+" → shop.example"]
	if len(rows) != 2 || mesh.Requests != 10 || !mesh.MTLS || mesh.TLSVersion != "1.3" || mesh.Group != "X25519MLKEM768" || mesh.Risk != 0 {
		t.Fatalf("mesh edge %+v (rows %d)", mesh, len(rows))
	}
	if edge.Requests != 4 || edge.MTLS || edge.Plaintext != 4 || edge.Risk < 50 {
		t.Fatalf("edge %+v", edge)
	}
	if p := decodePage[connectionRow](t, get(t, base+"/api/v1/connections?destination=shop.example")); len(p.Items) != 1 {
		t.Fatalf("filter by destination: %+v", p.Items)
	}

	scores := decodePage[risk.Score](t, get(t, base+"/api/v1/risk")).Items
	if len(scores) != 2 || scores[0].Workload != "shop.example" || scores[1].Workload != "orders.internal" {
		t.Fatalf("scores %+v, want shop.example (riskier) then orders.internal", scores)
	}
	var codes []string
	for _, r := range scores[0].Reasons {
		codes = append(codes, r.Code)
	}
	for _, want := range []string{"unauthenticated", "plaintext", "edge_exposure", "sensitive_data", "unprotected_endpoints"} {
		if !slices.Contains(codes, want) {
			t.Errorf("shop.example reasons %v lack %s", codes, want)
		}
	}
	if scores[0].Endpoints != 2 || !slices.Equal(scores[0].Sensitive, []string{"email"}) || scores[1].Score != 0 || scores[1].Level != "low" {
		t.Errorf("scores %+v", scores)
	}

	for _, q := range []string{"?limit=0", "?cursor=nope"} {
		if r := get(t, base+"/api/v1/connections"+q); r.status != http.StatusBadRequest {
			t.Errorf("connections%s: %d %s", q, r.status, r.body)
		}
	}
	bare := serve(t, &Server{Store: st, Token: testToken})
	for _, p := range []string{"/api/v1/connections", "/api/v1/risk"} {
		if r := get(t, bare+p); r.status != http.StatusNotImplemented || r.errCode(t) != "no_graph" {
			t.Errorf("%s without a graph: %d %s", p, r.status, r.body)
		}
	}
}
