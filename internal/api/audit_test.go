package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/event"
)

func auditServer(t *testing.T) (string, *audit.Log) {
	t.Helper()
	st := newStore(t)
	k, _, err := audit.GenerateKey("vigil.audit/api")
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.New(st, k, "vigil.audit/api")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var recs []audit.Record
	for i, h := range []struct{ txn, parent, placement, decision string }{
		{"order", "cart", "sidecar", "allow"}, {"gw", "", "gateway", "allow"}, {"cart", "gw", "sidecar", "block"},
	} {
		ev := event.Event{TxnID: h.txn, ParentTxnID: h.parent, TraceID: "trace-1", Time: t0.Add(time.Duration(i) * time.Second),
			Placement: h.placement, Decision: h.decision, Identity: &event.Identity{Sub: "user-17"},
			Request: event.Request{Method: "GET", Path: "/" + h.txn}}
		r, _ := audit.FromEvent(&ev)
		recs = append(recs, r)
	}
	if _, err := l.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return serve(t, &Server{Store: st, Audit: l, Token: testToken}), l
}

func TestAuditRoutes(t *testing.T) {
	base, l := auditServer(t)
	keys := []audit.PublicKey{l.Key().Public()}

	r := get(t, base+"/api/v1/audit/checkpoint")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("checkpoint: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	c, err := audit.OpenCheckpoint(string(r.body), keys)
	if err != nil || c.Size != 3 || c.Origin != "vigil.audit/api" {
		t.Fatalf("checkpoint note %q: %+v, %v", r.body, c, err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/audit/checkpoint", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var jc audit.Checkpoint
	if err := json.NewDecoder(resp.Body).Decode(&jc); err != nil || jc.Size != 3 || jc.Note != string(r.body) {
		t.Errorf("checkpoint as JSON: %+v, %v", jc, err)
	}
	resp.Body.Close()

	for i := range 3 {
		r := get(t, base+"/api/v1/audit/proof?index="+string(rune('0'+i)))
		var p audit.InclusionProof
		if r.status != http.StatusOK || json.Unmarshal(r.body, &p) != nil {
			t.Fatalf("proof %d: %d %s", i, r.status, r.body)
		}
		if err := p.Verify(); err != nil || p.Size != 3 {
			t.Errorf("proof %d does not verify: %v", i, err)
		}
	}
	for _, tc := range []struct {
		query  string
		status int
		code   string
	}{
		{"", http.StatusBadRequest, "bad_index"},
		{"?index=-1", http.StatusBadRequest, "bad_index"},
		{"?index=x", http.StatusBadRequest, "bad_index"},
		{"?index=3", http.StatusNotFound, "not_found"},
	} {
		r := get(t, base+"/api/v1/audit/proof"+tc.query)
		if r.status != tc.status || r.errCode(t) != tc.code {
			t.Errorf("proof%s: %d %s; want %d %s", tc.query, r.status, r.body, tc.status, tc.code)
		}
	}

	r = get(t, base+"/api/v1/audit/lineage/cart")
	var lin struct {
		TxnID string      `json:"txn_id"`
		Hops  []audit.Hop `json:"hops"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &lin) != nil {
		t.Fatalf("lineage: %d %s", r.status, r.body)
	}
	var got []string
	for _, h := range lin.Hops {
		got = append(got, h.Record.TxnID+":"+h.Record.Decision+":"+h.Record.Identity.Sub)
	}
	if want := "gw:allow:user-17 cart:block:user-17 order:allow:user-17"; strings.Join(got, " ") != want {
		t.Errorf("lineage = %v, want %s", got, want)
	}
	if r := get(t, base+"/api/v1/audit/lineage/nope"); r.status != http.StatusNotFound || r.errCode(t) != "not_found" {
		t.Errorf("unknown lineage: %d %s", r.status, r.body)
	}
}

func TestAuditRoutesWithoutLog(t *testing.T) {
	base := serve(t, &Server{Store: newStore(t), Token: testToken})
	for _, p := range []string{"/api/v1/audit/checkpoint", "/api/v1/audit/proof?index=0", "/api/v1/audit/lineage/x"} {
		if r := get(t, base+p); r.status != http.StatusNotImplemented || r.errCode(t) != "no_audit" {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
}
