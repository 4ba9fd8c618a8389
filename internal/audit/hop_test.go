package audit

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

// hopEvent is a transaction event as a data plane fills it: nanosecond
// time, and (bad) invalid UTF-8 and a NUL in what the client sent.
func hopEvent(txn string, bad bool) *event.Event {
	ev := &event.Event{TxnID: txn, ParentTxnID: "parent-1", TraceID: "0af7651916cd43dd8448eb211c80319c",
		Time: time.Date(2026, 12, 8, 0, 30, 1, 123456789, time.UTC), Placement: "gateway", Mode: "enforce",
		Source:      event.Source{IP: "10.0.0.7", Workload: "spiffe://demo.local/cart"},
		Destination: event.Destination{Host: "shop.local", Upstream: "http://127.0.0.1:9"},
		Request:     event.Request{Method: "POST", Path: "/orders/42", Endpoint: "/orders/{id}", Query: "a=1"},
		Response:    event.Response{Status: 201},
		Identity:    &event.Identity{Sub: "user-17", TokenID: "sha256:abcd"},
		Findings:    []event.Finding{{Stage: "waf", RuleID: "942100", Kind: "sqli"}, {Stage: "bot", Kind: "scanner"}},
		Decision:    event.DecisionAllow,
	}
	if bad {
		ev.Request.Path = "/x/\xff\xfe/\x00y"
		ev.Request.Query = "q=\xc3"
		ev.Identity.Sub = "u\xed\xa0\x80"
		ev.Findings[1].Kind = "k\xff"
	}
	return ev
}

// overTheBus is what the control plane receives: the event's JSON as the
// publisher writes it, decoded as the consumer decodes it.
func overTheBus(t testing.TB, ev *event.Event) event.Event {
	t.Helper()
	var got event.Event
	if err := json.Unmarshal(ev.AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

func readRecord(t *testing.T, st store.Store, index int64) (Record, Signed) {
	t.Helper()
	es, err := st.ListAuditEntries(context.Background(), uint64(index), 1)
	if err != nil || len(es) != 1 {
		t.Fatalf("entry %d: %v", index, err)
	}
	var s Signed
	var r Record
	if json.Unmarshal(es[0].Data, &s) != nil || json.Unmarshal(s.Record, &r) != nil {
		t.Fatalf("entry %d: %s", index, es[0].Data)
	}
	return r, s
}

// TestHopSignatures: a record signed by its data plane is logged with the
// hop's signature after a "key" record registering the key; verify trusts
// it through that record (or only pinned with RequirePinned); a record
// changed between the hop and the control plane, a forged key id and an
// unsigned event are logged signed by the control plane, marked; lineage
// names the signer of each hop.
func TestHopSignatures(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t, be.newDB)
			ctl, hop := newKey(t, "control"), newKey(t, "gateway-1")
			l, err := New(d.st, ctl, "")
			if err != nil {
				t.Fatal(err)
			}
			signer := NewHopSigner(hop)

			signedEv := hopEvent("t-signed", false)
			oddEv := hopEvent("t-odd", true)
			tamperedEv := hopEvent("t-tampered", false)
			forgedEv := hopEvent("t-forged", false)
			for _, ev := range []*event.Event{signedEv, oddEv, tamperedEv, forgedEv} {
				if !signer.Sign(ev) || ev.Audit == nil || ev.Audit.KeyID != hop.ID {
					t.Fatalf("not signed: %+v", ev.Audit)
				}
			}
			if alert := (&event.Event{Type: "alert", TxnID: "a", Alert: &event.Alert{Kind: "k"}}); signer.Sign(alert) || alert.Audit != nil {
				t.Fatal("an alert was signed")
			}
			evs := []event.Event{overTheBus(t, signedEv), overTheBus(t, oddEv), overTheBus(t, tamperedEv), overTheBus(t, forgedEv),
				overTheBus(t, hopEvent("t-unsigned", false))}
			evs[2].Decision = event.DecisionBlock // changed after the hop signed it
			evs[3].Audit.KeyID = ctl.ID           // claims another key
			res, err := l.AppendEvents(ctx, evs)
			if err != nil {
				t.Fatal(err)
			}
			// entry 0 registers the key, then one entry per event.
			if want := []int64{1, 2, 3, 4, 5}; !eqIndex(res.Index, want) || res.HopSigned != 2 || len(res.Registered) != 1 ||
				res.Registered[0] != hop.ID || len(res.Rejected) != 2 {
				t.Fatalf("append: %+v", res)
			}
			if rj := res.Rejected[0]; rj.TxnID != "t-tampered" || rj.Status != HopSigInvalid || rj.Index != 3 || !strings.Contains(rj.Reason, "does not verify") {
				t.Fatalf("rejected: %+v", rj)
			}
			if rj := res.Rejected[1]; rj.TxnID != "t-forged" || rj.KeyID != ctl.ID || !strings.Contains(rj.Reason, "key id") {
				t.Fatalf("rejected: %+v", rj)
			}
			kr, _ := readRecord(t, d.st, 0)
			if kr.Kind != KindKey || kr.Signer != ctl.ID || kr.RegisteredKey == nil || kr.RegisteredKey.Verifier != hop.Verifier ||
				kr.RegisteredKey.FirstTxnID != "t-signed" || kr.RegisteredKey.Placement != "gateway" {
				t.Fatalf("key record: %+v", kr)
			}
			for i, want := range []struct {
				signer, by, hopSig string
			}{{hop.ID, SignedByHop, ""}, {hop.ID, SignedByHop, ""}, {ctl.ID, "", HopSigInvalid}, {ctl.ID, "", HopSigInvalid},
				{ctl.ID, "", HopSigMissing}} {
				r, _ := readRecord(t, d.st, int64(i+1))
				if r.Signer != want.signer || r.SignedBy != want.by || r.HopSignature != want.hopSig || r.TxnID != evs[i].TxnID {
					t.Fatalf("entry %d: %+v, want %+v", i+1, r, want)
				}
			}
			if r, _ := readRecord(t, d.st, 3); r.Decision != event.DecisionBlock || r.HopKey != hop.ID {
				t.Fatalf("tampered: the record is what the control plane received: %+v", r)
			}
			// A redelivery appends nothing, registers nothing.
			if res, err := l.AppendEvents(ctx, evs); err != nil || !eqIndex(res.Index, []int64{-1, -1, -1, -1, -1}) || len(res.Rejected) != 0 ||
				len(res.Registered) != 0 {
				t.Fatalf("redelivery: %+v %v", res, err)
			}
			// A restarted control plane (nothing in memory) registers the
			// key again only as a skipped duplicate.
			l2, _ := New(d.st, ctl, "")
			ev := hopEvent("t-later", false)
			signer.Sign(ev)
			if res, err := l2.AppendEvents(ctx, []event.Event{overTheBus(t, ev)}); err != nil || !eqIndex(res.Index, []int64{6}) || res.HopSigned != 1 {
				t.Fatalf("after restart: %+v %v", res, err)
			}
			mustCheckpoint(t, l)

			rep, err := Verify(ctx, d.st, VerifyOptions{Keys: []PublicKey{ctl.Public()}})
			if err != nil || !rep.OK() || rep.Entries != 7 || rep.HopSigned != 3 || rep.HopKeys[hop.ID] != hop.Verifier {
				t.Fatalf("verify: %v %+v", err, rep)
			}
			rep, _ = Verify(ctx, d.st, VerifyOptions{Keys: []PublicKey{ctl.Public()}, RequirePinned: true})
			if p, _ := rep.First(); rep.OK() || p.Index != 1 || !strings.Contains(p.What, "not pinned") {
				t.Fatalf("require pinned: %+v", rep.Problems)
			}
			if rep, _ := Verify(ctx, d.st, VerifyOptions{Keys: []PublicKey{ctl.Public(), hop.Public()}, RequirePinned: true}); !rep.OK() {
				t.Fatalf("pinned: %+v", rep.Problems)
			}
			hops, err := l.Lineage(ctx, "t-signed")
			if err != nil {
				t.Fatal(err)
			}
			by := map[string]string{}
			for _, h := range hops {
				by[h.Record.TxnID] = h.SignedBy + "/" + h.Record.Signer
			}
			if by["t-signed"] != "hop/"+hop.ID || by["t-tampered"] != "control/"+ctl.ID || by["t-unsigned"] != "control/"+ctl.ID {
				t.Fatalf("lineage signers: %v", by)
			}
		})
	}
}

// TestHopKeyLimits: a hop key is trusted only after its registration and
// only for its hop's transaction records; records it signs before a key
// record, or of another kind, are named by verify.
func TestHopKeyLimits(t *testing.T) {
	ctx := context.Background()
	d := openDB(t, storetest.SQLite)
	ctl, hop := newKey(t, "control"), newKey(t, "gateway-1")
	l, _ := New(d.st, ctl, "")
	early := hopEvent("t-early", false)
	hr, _ := HopRecord(early, hop.ID)
	leaf := func(r Record) store.AuditLeaf {
		data, err := Sign(hop, r)
		if err != nil {
			t.Fatal(err)
		}
		tm, _ := r.ParseTime()
		return store.AuditLeaf{Key: r.Key, Kind: r.Kind, TxnID: r.TxnID, ParentTxnID: r.ParentTxnID, TraceID: r.TraceID, Time: tm, Data: data}
	}
	// Entry 0: signed by the hop key before anything registered it.
	if _, _, err := d.st.AppendAudit(ctx, []store.AuditLeaf{leaf(hr)}); err != nil {
		t.Fatal(err)
	}
	ev := hopEvent("t-ok", false)
	NewHopSigner(hop).Sign(ev)
	if _, err := l.AppendEvents(ctx, []event.Event{overTheBus(t, ev)}); err != nil { // entries 1 (key) and 2
		t.Fatal(err)
	}
	// Entry 3: a config record signed by the (now registered) hop key.
	cr := ConfigRecord(7, []byte("mode: monitor\n"), time.Now())
	if _, _, err := d.st.AppendAudit(ctx, []store.AuditLeaf{leaf(cr)}); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, d.st, VerifyOptions{Keys: []PublicKey{ctl.Public()}})
	if err != nil || len(rep.Problems) != 2 || rep.Problems[0].Index != 0 || !strings.Contains(rep.Problems[0].What, "not trusted") ||
		rep.Problems[1].Index != 3 || !strings.Contains(rep.Problems[1].What, "only transaction records") {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
}

// TestHopRecordWire: the record a data plane signs is the one the control
// plane rebuilds from the decoded event, whatever the event holds.
func TestHopRecordWire(t *testing.T) {
	for _, bad := range []bool{false, true} {
		ev := hopEvent("t", bad)
		a, _ := HopRecord(ev, "k")
		got := overTheBus(t, ev)
		b, _ := HopRecord(&got, "k")
		ca, _ := Canonical(a)
		cb, _ := Canonical(b)
		if string(ca) != string(cb) {
			t.Fatalf("bad=%v:\n hop     %s\n control %s", bad, ca, cb)
		}
	}
}

func FuzzHopRecordWire(f *testing.F) {
	f.Add("/orders/42", "a=1", "user", "sqli", int64(123456789))
	f.Add("/x/\xff\xfe", "\xc3", "\xed\xa0\x80", "\x00", int64(1))
	f.Fuzz(func(t *testing.T, path, query, sub, kind string, nanos int64) {
		ev := hopEvent("t", false)
		ev.Request.Path, ev.Request.RawPath, ev.Request.Query, ev.Identity.Sub, ev.Findings[1].Kind = path, path+"~", query, sub, kind
		ev.Time = ev.Time.Add(time.Duration(nanos % int64(time.Hour)))
		a, _ := HopRecord(ev, "k")
		got := overTheBus(t, ev)
		b, _ := HopRecord(&got, "k")
		ca, _ := Canonical(a)
		cb, _ := Canonical(b)
		if string(ca) != string(cb) {
			t.Fatalf("hop %s\ncontrol %s", ca, cb)
		}
	})
}

func eqIndex(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BenchmarkHopSign is the data plane's per-event cost: build the record,
// encode it canonically, sign it (Ed25519).
func BenchmarkHopSign(b *testing.B) {
	s := NewHopSigner(newKey(b, "gateway"))
	ev := hopEvent("t", false)
	b.ReportAllocs()
	for b.Loop() {
		ev.Audit = nil
		s.Sign(ev)
	}
}

// BenchmarkHopCheck is the control plane's per-event cost of checking a
// hop signature (the key parsed once, cached).
func BenchmarkHopCheck(b *testing.B) {
	dsn, dir := storetest.SQLite(b)
	st := openStoreB(b, dsn, dir)
	l, _ := New(st, newKey(b, "control"), "")
	ev := hopEvent("t", false)
	NewHopSigner(newKey(b, "gateway")).Sign(ev)
	got := overTheBus(b, ev)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, _, _, reason := l.checkHop(&got); reason != "" {
			b.Fatal(reason)
		}
	}
}

// BenchmarkHopSignBatch signs queue batches of 512 events (the queue's
// largest) through the sink: events per second of one data plane.
func BenchmarkHopSignBatch(b *testing.B) {
	s := NewHopSigner(newKey(b, "gateway"))
	batch := make([]*event.Event, 512)
	for i := range batch {
		batch[i] = hopEvent("t", false)
	}
	for b.Loop() {
		for _, ev := range batch {
			ev.Audit = nil
		}
		_ = s.WriteEvents(batch)
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}
