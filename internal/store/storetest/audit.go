package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-sec/vigil/internal/store"
)

// auditLeaves makes n leaves keyed prefix-0000...
func auditLeaves(prefix string, n int) []store.AuditLeaf {
	ls := make([]store.AuditLeaf, n)
	for i := range ls {
		k := fmt.Sprintf("%s-%04d", prefix, i)
		ls[i] = store.AuditLeaf{Key: k, Kind: "transaction", TxnID: k, Time: consentT0.Add(time.Duration(i)),
			Data: []byte(`{"leaf":"` + k + `"}`)}
	}
	return ls
}

// auditRoot is the RFC 6962 root of data, computed the textbook way.
func auditRoot(data [][]byte) []byte {
	h := rfc6962.DefaultHasher
	switch len(data) {
	case 0:
		return h.EmptyRoot()
	case 1:
		return h.HashLeaf(data[0])
	}
	k := 1
	for k*2 < len(data) {
		k *= 2
	}
	return h.HashChildren(auditRoot(data[:k]), auditRoot(data[k:]))
}

func auditData(t *testing.T, s store.Store) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	for from := uint64(0); ; {
		es, err := s.ListAuditEntries(ctxT(t), from, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return out
		}
		out = append(out, es...)
		from = es[len(es)-1].Index + 1
	}
}

func testAudit(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	ctx := ctxT(t)
	h, err := s.AuditHead(ctx)
	if err != nil || h.Size != 0 {
		t.Fatalf("empty head = %+v, %v", h, err)
	}
	if r, _ := h.Root(); string(r) != string(rfc6962.DefaultHasher.EmptyRoot()) {
		t.Errorf("empty root %x", r)
	}
	ls := auditLeaves("a", 23)
	steps := []struct {
		leaves    []store.AuditLeaf
		wantIndex []int64
		wantSize  uint64
	}{
		{ls[:3], []int64{0, 1, 2}, 3},
		{ls[:3], []int64{-1, -1, -1}, 3},                                    // redelivered
		{append(slices.Clone(ls[2:6]), ls[4]), []int64{-1, 3, 4, 5, -1}, 6}, // overlap, repeat inside
		{ls[6:23], []int64{6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}, 23},
		{nil, []int64{}, 23},
	}
	for i, st := range steps {
		idx, head, err := s.AppendAudit(ctx, st.leaves)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !slices.Equal(idx, st.wantIndex) || head.Size != st.wantSize {
			t.Errorf("step %d: index %v size %d; want %v size %d", i, idx, head.Size, st.wantIndex, st.wantSize)
		}
	}
	es := auditData(t, s)
	var data [][]byte
	for i, e := range es {
		if e.Index != uint64(i) || e.Key != ls[i].Key || e.TxnID != ls[i].TxnID || !e.Time.Equal(ls[i].Time) || e.Time.Location() != time.UTC {
			t.Errorf("entry %d = %+v, want %+v", i, e, ls[i])
		}
		data = append(data, e.Data)
	}
	h, _ = s.AuditHead(ctx)
	if r, _ := h.Root(); string(r) != string(auditRoot(data)) {
		t.Errorf("head root %x, want %x", r, auditRoot(data))
	}
	// Every perfect subtree is stored: the level-2 node over leaves 4..7.
	n, err := s.AuditNodes(ctx, []store.AuditNodeID{{Level: 2, Index: 1}, {Level: 0, Index: 22}})
	if err != nil || string(n[0]) != string(auditRoot(data[4:8])) || string(n[1]) != string(rfc6962.DefaultHasher.HashLeaf(data[22])) {
		t.Errorf("AuditNodes = %x, %v", n, err)
	}
	if _, err := s.AuditNodes(ctx, []store.AuditNodeID{{Level: 0, Index: 23}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("node beyond the tree: %v, want ErrNotFound", err)
	}
	for _, bad := range []store.AuditLeaf{{Key: "", Data: []byte("x"), Time: consentT0}, {Key: "k", Time: consentT0},
		{Key: "k\x00", Data: []byte("x"), Time: consentT0}, {Key: "k", Data: []byte("x")}} {
		if _, _, err := s.AppendAudit(ctx, []store.AuditLeaf{ls[0], bad}); err == nil {
			t.Errorf("AppendAudit accepted %+v", bad)
		}
	}
	// Keys and checkpoints.
	if err := s.PutAuditKey(ctx, store.AuditKey{ID: "k1", Verifier: "v+1+x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAuditKey(ctx, store.AuditKey{ID: "k1", Verifier: "v+1+x"}); err != nil {
		t.Fatal(err)
	}
	if ks, err := s.ListAuditKeys(ctx); err != nil || len(ks) != 1 || ks[0].Verifier != "v+1+x" {
		t.Errorf("ListAuditKeys = %+v, %v", ks, err)
	}
	if _, err := s.LatestAuditCheckpoint(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LatestAuditCheckpoint on none: %v", err)
	}
	for _, c := range []struct {
		size uint64
		key  string
		want bool
	}{{3, "k1", true}, {23, "k1", true}, {23, "k1", false}, {23, "k2", true}, {6, "k1", true}} {
		ok, err := s.InsertAuditCheckpoint(ctx, store.AuditCheckpoint{Size: c.size, KeyID: c.key, Note: fmt.Sprintf("n%d%s", c.size, c.key)})
		if err != nil || ok != c.want {
			t.Errorf("InsertAuditCheckpoint(%d, %s) = %v, %v; want %v", c.size, c.key, ok, err, c.want)
		}
	}
	cps, err := s.ListAuditCheckpoints(ctx)
	if err != nil || len(cps) != 4 || cps[0].Size != 3 || cps[1].Size != 6 || cps[3].Size != 23 {
		t.Errorf("ListAuditCheckpoints = %+v, %v", cps, err)
	}
	if c, err := s.LatestAuditCheckpoint(ctx); err != nil || c.Size != 23 || c.Note != "n23k2" {
		t.Errorf("LatestAuditCheckpoint = %+v, %v", c, err)
	}
	// Retention does not touch the audit log.
	if _, err := s.Prune(ctx, time.Nanosecond, 0); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.AuditHead(ctx); h.Size != 23 || len(auditData(t, s)) != 23 {
		t.Errorf("after Prune the audit log has %d entries", h.Size)
	}
}

func testAuditLineage(t *testing.T, newDB NewDB) {
	s := fresh(t, newDB)
	ctx := ctxT(t)
	leaf := func(txn, parent, trace string) store.AuditLeaf {
		return store.AuditLeaf{Key: txn, Kind: "transaction", TxnID: txn, ParentTxnID: parent, TraceID: trace, Time: consentT0,
			Data: []byte(txn)}
	}
	if _, _, err := s.AppendAudit(ctx, []store.AuditLeaf{leaf("c", "b", ""), leaf("x", "", "T2"), leaf("a", "", "T1"),
		leaf("b", "a", "T1"), leaf("d", "c", ""), leaf("y", "x", "")}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		txn  string
		want []string
	}{{"a", []string{"c", "a", "b", "d"}}, {"d", []string{"c", "a", "b", "d"}}, {"y", []string{"x", "y"}}, {"none", nil}} {
		es, err := s.AuditLineage(ctx, tc.txn)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			got = append(got, e.TxnID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("AuditLineage(%s) = %v, want %v (by index)", tc.txn, got, tc.want)
		}
	}
}

// testAuditConcurrent: four appenders on two replicas, every leaf
// delivered twice, grow one tree: each key once, indexes 0..n-1, the
// root of the stored entries.
func testAuditConcurrent(t *testing.T, newDB NewDB) {
	dsn, dir := newDB(t)
	replicas := []store.Store{open(t, dsn, dir), open(t, dsn, dir)}
	const n = 240
	ls := auditLeaves("c", n)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := slices.Clone(ls)
			if w%2 == 1 {
				slices.Reverse(mine)
			}
			for len(mine) > 0 {
				k := min(len(mine), 7+5*w)
				if _, _, err := replicas[w%2].AppendAudit(context.Background(), mine[:k]); err != nil {
					errs <- err
					return
				}
				mine = mine[k:]
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent AppendAudit: %v", err)
	}
	es := auditData(t, replicas[1])
	keys := map[string]bool{}
	var data [][]byte
	for i, e := range es {
		if e.Index != uint64(i) || keys[e.Key] {
			t.Fatalf("entry %d: index %d key %s (repeat %v)", i, e.Index, e.Key, keys[e.Key])
		}
		keys[e.Key] = true
		data = append(data, e.Data)
	}
	h, err := replicas[0].AuditHead(ctxT(t))
	if err != nil || len(es) != n || h.Size != n {
		t.Fatalf("%d entries, head %d (%v); want %d", len(es), h.Size, err, n)
	}
	if r, _ := h.Root(); string(r) != string(auditRoot(data)) {
		t.Error("head root is not the root of the stored entries")
	}
}
