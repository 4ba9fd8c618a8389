package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

func auditPlane(t *testing.T, st store.Store) (*Plane, *audit.Log) {
	t.Helper()
	cfg := &config.Config{DataDir: t.TempDir(), Audit: config.Audit{Origin: "vigil.audit/control-test"}}
	l, err := OpenAudit(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := filepath.Glob(filepath.Join(cfg.DataDir, "audit.key")); err != nil || len(fi) != 1 {
		t.Fatalf("no key generated in data_dir: %v", err)
	}
	return newPlane(t, Options{Store: st, Audit: l, AuditCheckpointEvery: 20 * time.Millisecond}), l
}

func auditEntries(t *testing.T, st store.Store) []store.AuditEntry {
	t.Helper()
	es, err := st.ListAuditEntries(context.Background(), 0, store.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// flakyAudit fails AppendAudit once.
type flakyAudit struct {
	store.Store
	fail bool
}

func (f *flakyAudit) AppendAudit(ctx context.Context, ls []store.AuditLeaf) ([]int64, store.AuditHead, error) {
	if f.fail {
		f.fail = false
		return nil, store.AuditHead{}, errors.New("database went away")
	}
	return f.Store.AppendAudit(ctx, ls)
}

func TestIngestAudits(t *testing.T) {
	st := &flakyAudit{Store: newStore(t)}
	p, l := auditPlane(t, st)
	ctx := context.Background()
	alert := txn("alert-1", "GET", "shop", "/x", 9)
	alert.Type = "alert"
	batch := []event.Event{txn("t1", "GET", "shop", "/a", 1), txn("t2", "POST", "shop", "/b", 2), alert}
	tests := []struct {
		name      string
		batch     []event.Event
		failAudit bool
		wantErr   bool
		want      []string
	}{
		{"audit append fails: the batch is redelivered", batch, true, true, nil},
		{"redelivery logs it", batch, false, false, []string{"t1", "t2"}},
		{"another redelivery logs nothing again", batch, false, false, []string{"t1", "t2"}},
		{"a new transaction", []event.Event{txn("t3", "GET", "shop", "/c", 3), batch[0]}, false, false, []string{"t1", "t2", "t3"}},
	}
	for _, tc := range tests {
		st.fail = tc.failAudit
		err := p.Ingest(ctx, tc.batch)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%s: Ingest error %v, want error %v", tc.name, err, tc.wantErr)
		}
		var got []string
		for _, e := range auditEntries(t, st) {
			got = append(got, e.TxnID)
		}
		if len(got) != len(tc.want) || (len(got) > 0 && got[len(got)-1] != tc.want[len(tc.want)-1]) {
			t.Errorf("%s: audit log %v, want %v", tc.name, got, tc.want)
		}
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []audit.PublicKey{l.Key().Public()}})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}

func TestConsentAndConfigAudited(t *testing.T) {
	st := newStore(t)
	p, _ := auditPlane(t, st)
	ctx := context.Background()
	g, err := p.GrantConsent(ctx, consent.Grant{Subject: "u1", Grantee: "tax-app", Scope: "orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.RevokeConsent(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	rev, err := p.PublishConfig(ctx, []byte("mode: monitor\n"))
	if err != nil {
		t.Fatal(err)
	}
	es := auditEntries(t, st)
	want := []struct{ kind, key string }{
		{audit.KindConsent, "consent-" + g.ID + "-grant"}, {audit.KindConsent, "consent-" + g.ID + "-revoke"},
		{audit.KindConfig, fmt.Sprintf("config-%d", rev)},
	}
	if len(es) != len(want) {
		t.Fatalf("%d audit entries, want %d", len(es), len(want))
	}
	for i, w := range want {
		if es[i].Kind != w.kind || es[i].Key != w.key {
			t.Errorf("entry %d: %s %s, want %s %s", i, es[i].Kind, es[i].Key, w.kind, w.key)
		}
	}
}

func TestRunCheckpoints(t *testing.T) {
	st := newStore(t)
	p, l := auditPlane(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	// The empty log's checkpoint at start comes first.
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if cps, _ := st.ListAuditCheckpoints(context.Background()); len(cps) > 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("no checkpoint at start")
		}
	}
	if err := p.Ingest(ctx, []event.Event{txn("c1", "GET", "shop", "/a", 1)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := st.LatestAuditCheckpoint(context.Background())
		if err == nil && c.Size == 1 {
			if _, err := audit.OpenCheckpoint(c.Note, []audit.PublicKey{l.Key().Public()}); err != nil {
				t.Fatalf("checkpoint does not verify: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size 1 within 5s: %+v %v", c, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	cps, _ := st.ListAuditCheckpoints(context.Background())
	if len(cps) != 2 { // the empty log at start, then size 1; idle ticks sign nothing
		t.Errorf("%d checkpoints, want 2 (sizes 0 and 1)", len(cps))
	}
}

// TestIngestHopSignatures: events signed by their data plane are logged
// with the hop's signature (the key registered first); an event changed on
// the way is logged signed by the control plane, marked invalid, and
// raises an audit_bad_signature alert; an unsigned one falls back.
func TestIngestHopSignatures(t *testing.T) {
	st := newStore(t)
	p, l := auditPlane(t, st)
	ctx := context.Background()
	hopKey, _, err := audit.GenerateKey("gateway-1")
	if err != nil {
		t.Fatal(err)
	}
	signer := audit.NewHopSigner(hopKey)
	wire := func(ev event.Event) event.Event {
		signer.Sign(&ev)
		var got event.Event
		if err := json.Unmarshal(ev.AppendJSON(nil), &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	good, bad := wire(txn("h1", "GET", "shop", "/a", 1)), wire(txn("h2", "POST", "shop", "/orders", 2))
	bad.Response.Status = 500 // changed between the data plane and here
	if err := p.Ingest(ctx, []event.Event{good, bad, txn("h3", "GET", "shop", "/c", 3)}); err != nil {
		t.Fatal(err)
	}
	type leaf struct{ kind, txn, signer, by, hopSig string }
	var got []leaf
	for _, e := range auditEntries(t, st) {
		var s audit.Signed
		var r audit.Record
		if json.Unmarshal(e.Data, &s) != nil || json.Unmarshal(s.Record, &r) != nil {
			t.Fatalf("entry %d: %s", e.Index, e.Data)
		}
		got = append(got, leaf{r.Kind, r.TxnID, r.Signer, r.SignedBy, r.HopSignature})
	}
	want := []leaf{{audit.KindKey, "", l.Key().ID, "", ""}, {audit.KindTransaction, "h1", hopKey.ID, audit.SignedByHop, ""},
		{audit.KindTransaction, "h2", l.Key().ID, "", audit.HopSigInvalid}, {audit.KindTransaction, "h3", l.Key().ID, "", audit.HopSigMissing}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entries:\n got  %v\n want %v", got, want)
	}
	alerts, err := st.ListEvents(ctx, store.EventFilter{Type: "alert"})
	if err != nil || len(alerts.Items) != 1 || alerts.Items[0].Alert.Kind != AlertAuditBadSignature ||
		!strings.Contains(alerts.Items[0].Alert.Detail, "h2") {
		t.Fatalf("alerts: %+v %v", alerts.Items, err)
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []audit.PublicKey{l.Key().Public()}})
	if err != nil || !rep.OK() || rep.HopSigned != 1 {
		t.Fatalf("verify: %v %+v", err, rep)
	}

	// audit.require_pinned: an unpinned hop key is not logged as the hop's.
	l.TrustHopKeys(nil, true)
	if err := p.Ingest(ctx, []event.Event{wire(txn("h4", "GET", "shop", "/d", 4))}); err != nil {
		t.Fatal(err)
	}
	es := auditEntries(t, st)
	var s audit.Signed
	var r audit.Record
	_ = json.Unmarshal(es[len(es)-1].Data, &s)
	_ = json.Unmarshal(s.Record, &r)
	if r.TxnID != "h4" || r.HopSignature != audit.HopSigUnpinned || r.Signer != l.Key().ID {
		t.Fatalf("unpinned: %+v", r)
	}
	l.TrustHopKeys([]audit.PublicKey{hopKey.Public()}, true)
	if err := p.Ingest(ctx, []event.Event{wire(txn("h5", "GET", "shop", "/e", 5))}); err != nil {
		t.Fatal(err)
	}
	es = auditEntries(t, st)
	_ = json.Unmarshal(es[len(es)-1].Data, &s)
	_ = json.Unmarshal(s.Record, &r)
	if r.TxnID != "h5" || r.SignedBy != audit.SignedByHop || r.Signer != hopKey.ID {
		t.Fatalf("pinned: %+v", r)
	}
}
