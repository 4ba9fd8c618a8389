package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

// TestHopBatchSignatures: a data plane's queue batch is signed with one
// signature per BatchMax records; the control plane logs every record
// with its hop's batch signature and path, rejects only the record that
// changed (or whose path did), and the log verifies.
func TestHopBatchSignatures(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t, be.newDB)
			ctl, hop := newKey(t, "control"), newKey(t, "gateway-1")
			l, _ := New(d.st, ctl, "vigil.audit/test")
			s := NewHopSigner(hop)
			batch := make([]*event.Event, 40)
			for i := range batch {
				batch[i] = hopEvent(fmt.Sprintf("t-%02d", i), i == 5)
			}
			alert := &event.Event{Type: "alert", TxnID: "a", Alert: &event.Alert{Kind: "k"}}
			if err := s.WriteEvents(append(batch[:20:20], append([]*event.Event{alert}, batch[20:]...)...)); err != nil {
				t.Fatal(err)
			}
			if alert.Audit != nil || s.Signed() != 40 {
				t.Fatalf("signed %d, alert %+v", s.Signed(), alert.Audit)
			}
			for i, ev := range batch {
				want := map[bool]uint64{true: 32, false: 8}[i < 32]
				if a := ev.Audit; a == nil || a.Batch == nil || a.Batch.Size != want || a.Sig != batch[i/32*32].Audit.Sig {
					t.Fatalf("event %d: %+v", i, ev.Audit)
				}
			}
			evs := make([]event.Event, len(batch))
			for i, ev := range batch {
				evs[i] = overTheBus(t, ev)
			}
			evs[7].Decision = event.DecisionBlock // changed after signing
			evs[33].Audit.Batch.Index = 2         // moved within its batch
			// Delivered in two bus batches that cut across the hop's.
			var res EventsAppended
			for _, part := range [][]event.Event{evs[:13], evs[13:]} {
				r, err := l.AppendEvents(ctx, part)
				if err != nil {
					t.Fatal(err)
				}
				res.HopSigned += r.HopSigned
				res.Rejected = append(res.Rejected, r.Rejected...)
			}
			if res.HopSigned != 38 || len(res.Rejected) != 2 || res.Rejected[0].TxnID != "t-07" || res.Rejected[1].TxnID != "t-33" {
				t.Fatalf("appended: hop-signed %d, rejected %+v", res.HopSigned, res.Rejected)
			}
			mustCheckpoint(t, l)
			rep, err := Verify(ctx, d.st, VerifyOptions{Origin: "vigil.audit/test", Keys: []PublicKey{ctl.Public()}})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.HopSigned != 38 || rep.Entries != 41 {
				t.Fatalf("verify: %+v", rep)
			}
			// A hop-signed leaf whose batch path is altered in the store.
			r, sg := readRecord(t, d.st, 2)
			if r.SignedBy != SignedByHop || sg.Batch == nil {
				t.Fatalf("entry 2: %+v %+v", r, sg.Batch)
			}
			sg.Batch.Path[1][0] ^= 1
			d.raw(t, "UPDATE audit_entries SET data = $1 WHERE idx = 2", appendLeaf(nil, sg.Record, sg.Sig, sg.Batch))
			rep, err = Verify(ctx, d.st, VerifyOptions{Origin: "vigil.audit/test", Keys: []PublicKey{ctl.Public()}})
			if err != nil {
				t.Fatal(err)
			}
			if p, bad := rep.First(); !bad || p.Index != 2 || !strings.Contains(p.What, "batch path") {
				t.Fatalf("altered path: %+v", rep.Problems)
			}
		})
	}
}

// BenchmarkHopCheckBatch is the control plane's per-event cost of
// checking hop signatures made in batches (one Ed25519 verification per
// batch, then a path per record).
func BenchmarkHopCheckBatch(b *testing.B) {
	dsn, dir := storetest.SQLite(b)
	l, _ := New(openStoreB(b, dsn, dir), newKey(b, "control"), "")
	s := NewHopSigner(newKey(b, "gateway"))
	batch := make([]*event.Event, 512)
	for i := range batch {
		batch[i] = hopEvent(fmt.Sprint("t", i), false)
	}
	_ = s.WriteEvents(batch)
	evs := make([]event.Event, len(batch))
	for i, ev := range batch {
		evs[i] = overTheBus(b, ev)
	}
	b.ReportAllocs()
	for b.Loop() {
		l.hops.batches = batchSeen{} // every batch signature checked once per round
		for i := range evs {
			if _, _, _, _, _, reason := l.checkHop(&evs[i]); reason != "" {
				b.Fatal(reason)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
