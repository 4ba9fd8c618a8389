package audit

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

var backends = []struct {
	name  string
	newDB storetest.NewDB
}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}}

// db is one test database: the store and a raw connection to tamper with.
type db struct {
	dsn, dir string
	st       store.Store
}

func openDB(t *testing.T, newDB storetest.NewDB) *db {
	t.Helper()
	dsn, dir := newDB(t)
	return &db{dsn: dsn, dir: dir, st: openStore(t, dsn, dir)}
}

func openStoreB(t testing.TB, dsn, dir string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openStore(t *testing.T, dsn, dir string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// raw runs a statement on the database behind the store's back; q uses
// $1, $2... (rewritten to ? for SQLite).
func (d *db) raw(t *testing.T, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	if strings.HasPrefix(d.dsn, "postgres") {
		c, err := pgx.Connect(ctx, d.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return
	}
	c, err := sql.Open("sqlite", filepath.Join(d.dir, "vigil.db")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := len(args); i >= 1; i-- {
		q = strings.ReplaceAll(q, fmt.Sprintf("$%d", i), "?")
	}
	if _, err := c.ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func newKey(t testing.TB, name string) *Key {
	t.Helper()
	k, _, err := GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.UTC)

// records makes n transaction records with keys prefix-0000...
func records(prefix string, n int) []Record {
	rs := make([]Record, n)
	for i := range rs {
		ev := event.Event{TxnID: fmt.Sprintf("%s-%04d", prefix, i), Time: t0.Add(time.Duration(i) * time.Millisecond),
			Placement: "gateway", Mode: "enforce", Decision: event.DecisionAllow,
			Source:      event.Source{IP: "10.0.0.7"},
			Destination: event.Destination{Host: "shop.local"},
			Request:     event.Request{Method: "GET", Path: fmt.Sprintf("/products/%d", i), Endpoint: "/products/{parameter}"},
			Identity:    &event.Identity{Sub: "user-17", TokenID: "sha256:abcd", Scopes: []string{"cart"}},
		}
		if i%5 == 3 {
			ev.Decision = event.DecisionBlock
			ev.Findings = []event.Finding{{Stage: "waf", RuleID: "942100", Kind: "sqli"}, {Stage: "bot", Kind: "scanner"}}
		}
		rs[i], _ = FromEvent(&ev)
	}
	return rs
}

func mustAppend(t testing.TB, l *Log, rs []Record) []int64 {
	t.Helper()
	idx, err := l.Append(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func mustCheckpoint(t testing.TB, l *Log) Checkpoint {
	t.Helper()
	c, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// refRoot is the RFC 6962 root of leaves computed the textbook way.
func refRoot(leaves [][]byte) []byte {
	h := rfc6962.DefaultHasher
	switch len(leaves) {
	case 0:
		return h.EmptyRoot()
	case 1:
		return h.HashLeaf(leaves[0])
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return h.HashChildren(refRoot(leaves[:k]), refRoot(leaves[k:]))
}

func allLeaves(t *testing.T, st store.Store) [][]byte {
	t.Helper()
	var out [][]byte
	for from := uint64(0); ; {
		es, err := st.ListAuditEntries(context.Background(), from, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return out
		}
		for _, e := range es {
			out = append(out, e.Data)
		}
		from = es[len(es)-1].Index + 1
	}
}

func TestAppendRootAndProofs(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := openDB(t, b.newDB)
			l, err := New(d.st, newKey(t, "vigil.audit/test"), "vigil.audit/test")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rs := records("txn", 45)
			var cps []Checkpoint
			empty := mustCheckpoint(t, l)
			if empty.Size != 0 || string(empty.Root) != string(rfc6962.DefaultHasher.EmptyRoot()) {
				t.Fatalf("empty log checkpoint = size %d root %x", empty.Size, empty.Root)
			}
			for _, n := range []int{1, 1, 2, 3, 8, 1, 13, 16} { // sizes 1 2 4 7 15 16 29 45
				idx := mustAppend(t, l, rs[:n])
				for i, x := range idx {
					if x < 0 {
						t.Fatalf("fresh record %s reported as a repeat", rs[i].Key)
					}
				}
				rs = rs[n:]
				cps = append(cps, mustCheckpoint(t, l))
			}
			leaves := allLeaves(t, d.st)
			if len(leaves) != 45 {
				t.Fatalf("%d entries stored, want 45", len(leaves))
			}
			for _, c := range cps {
				if want := refRoot(leaves[:c.Size]); string(c.Root) != string(want) {
					t.Errorf("checkpoint at %d: root %x, want %x", c.Size, c.Root, want)
				}
				if _, err := OpenCheckpoint(c.Note, []PublicKey{l.Key().Public()}); err != nil {
					t.Errorf("checkpoint at %d does not open: %v", c.Size, err)
				}
				for i := range c.Size {
					hs, err := InclusionHashes(ctx, d.st, i, c.Size)
					if err != nil {
						t.Fatal(err)
					}
					if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, c.Size, rfc6962.DefaultHasher.HashLeaf(leaves[i]), hs, c.Root); err != nil {
						t.Errorf("inclusion of %d in %d: %v", i, c.Size, err)
					}
				}
			}
			for _, a := range cps {
				for _, c := range cps {
					if a.Size > c.Size {
						continue
					}
					hs, err := ConsistencyHashes(ctx, d.st, a.Size, c.Size)
					if err != nil {
						t.Fatal(err)
					}
					if err := proof.VerifyConsistency(rfc6962.DefaultHasher, a.Size, c.Size, hs, a.Root, c.Root); err != nil {
						t.Errorf("consistency %d -> %d: %v", a.Size, c.Size, err)
					}
				}
			}
			// Prove: against the latest checkpoint, verified by the library.
			p, err := l.Prove(ctx, 44)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Verify(); err != nil || p.Size != 45 {
				t.Errorf("Prove(44) = size %d, verify %v", p.Size, err)
			}
			if _, err := l.Prove(ctx, 45); err == nil {
				t.Error("Prove beyond the log succeeded")
			}
		})
	}
}

func TestAppendIdempotent(t *testing.T) {
	tests := []struct {
		name    string
		batches [][]Record
		want    uint64
	}{
		{"same batch twice", [][]Record{records("a", 5), records("a", 5)}, 5},
		{"repeat inside a batch", [][]Record{append(records("b", 4), records("b", 2)...)}, 4},
		{"overlap", [][]Record{records("c", 3), records("c", 6)}, 6},
	}
	for _, b := range backends {
		for _, tc := range tests {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				d := openDB(t, b.newDB)
				l, _ := New(d.st, newKey(t, "k"), "")
				var fresh uint64
				for _, batch := range tc.batches {
					for _, x := range mustAppend(t, l, batch) {
						if x >= 0 {
							fresh++
						}
					}
				}
				h, err := d.st.AuditHead(context.Background())
				if err != nil || h.Size != tc.want || fresh != tc.want {
					t.Errorf("size %d, %d fresh (%v); want %d", h.Size, fresh, err, tc.want)
				}
			})
		}
	}
}

// seedLog makes a log of 20 entries with checkpoints at 8 and 20.
func seedLog(t *testing.T, d *db) (*Log, VerifyOptions) {
	t.Helper()
	l, _ := New(d.st, newKey(t, "vigil.audit/test"), "vigil.audit/test")
	rs := records("txn", 20)
	mustAppend(t, l, rs[:8])
	mustCheckpoint(t, l)
	mustAppend(t, l, rs[8:])
	mustCheckpoint(t, l)
	return l, VerifyOptions{Origin: "vigil.audit/test", Keys: []PublicKey{l.Key().Public()}}
}

func TestVerifyFindsTampering(t *testing.T) {
	other := newKey(t, "vigil.audit/test")
	tests := []struct {
		name   string
		tamper func(t *testing.T, d *db, l *Log, o *VerifyOptions)
		// wantIndex is the first problem's entry (-1: the log's own).
		wantIndex int64
		wantWhat  string
	}{
		{"untouched", func(*testing.T, *db, *Log, *VerifyOptions) {}, 0, ""},
		{"modified record", func(t *testing.T, d *db, _ *Log, _ *VerifyOptions) {
			es, err := d.st.ListAuditEntries(context.Background(), 5, 1)
			if err != nil {
				t.Fatal(err)
			}
			d.raw(t, "UPDATE audit_entries SET data = $1 WHERE idx = 5", []byte(strings.Replace(string(es[0].Data), "user-17", "user-18", 1)))
		}, 5, "signature"},
		{"record re-signed by an untrusted key", func(t *testing.T, d *db, _ *Log, _ *VerifyOptions) {
			r := records("txn", 20)[11]
			data, _ := Sign(other, r)
			d.raw(t, "UPDATE audit_entries SET data = $1 WHERE idx = 11", data)
		}, 11, "not trusted"},
		{"deleted record", func(t *testing.T, d *db, _ *Log, _ *VerifyOptions) {
			d.raw(t, "DELETE FROM audit_entries WHERE idx = 3")
		}, 3, "missing"},
		{"two records swapped", func(t *testing.T, d *db, _ *Log, _ *VerifyOptions) {
			d.raw(t, "UPDATE audit_entries SET idx = -1 WHERE idx = 6")
			d.raw(t, "UPDATE audit_entries SET idx = 6 WHERE idx = 7")
			d.raw(t, "UPDATE audit_entries SET idx = 7 WHERE idx = -1")
		}, 6, "leaf hash changed"},
		{"indexed column changed", func(t *testing.T, d *db, _ *Log, _ *VerifyOptions) {
			d.raw(t, "UPDATE audit_entries SET parent_txn_id = 'forged' WHERE idx = 9")
		}, 9, "indexed columns"},
		{"tail truncated", func(t *testing.T, d *db, _ *Log, _ *VerifyOptions) {
			d.raw(t, "DELETE FROM audit_entries WHERE idx >= 17")
		}, 17, "truncated"},
		{"tail truncated cleanly, caught by a seen checkpoint", func(t *testing.T, d *db, l *Log, o *VerifyOptions) {
			latest, err := l.Latest(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			o.Seen = []Seen{{Size: latest.Size, Root: latest.Root}}
			// Everything from entry 8 on removed, nodes, head and
			// checkpoints too: a consistent log of 8.
			hs, err := d.st.AuditNodes(context.Background(), []store.AuditNodeID{{Level: 3, Index: 0}})
			if err != nil {
				t.Fatal(err)
			}
			d.raw(t, "DELETE FROM audit_entries WHERE idx >= 8")
			d.raw(t, "DELETE FROM audit_nodes WHERE (level = 0 AND idx >= 8) OR (level = 1 AND idx >= 4) OR (level = 2 AND idx >= 2) OR (level = 3 AND idx >= 1) OR level >= 4")
			d.raw(t, "UPDATE audit_head SET size = 8, frontier = $1", hs[0])
			d.raw(t, "DELETE FROM audit_checkpoints WHERE size > 8")
		}, 8, "truncated"},
		{"checkpoint replaced by one of an untrusted key", func(t *testing.T, d *db, _ *Log, _ *VerifyOptions) {
			l2, _ := New(d.st, other, "vigil.audit/test")
			c := mustCheckpoint(t, l2)
			d.raw(t, "DELETE FROM audit_checkpoints WHERE key_id = $1", other.ID)
			d.raw(t, "UPDATE audit_checkpoints SET note = $1 WHERE size = 20", c.Note)
		}, -1, "signature does not verify"},
		{"forged checkpoint signature", func(t *testing.T, d *db, l *Log, _ *VerifyOptions) {
			c, _ := l.Latest(context.Background())
			i := strings.LastIndex(c.Note, " ")
			sig := []byte(c.Note[i+1:])
			sig[10] ^= 1
			if sig[10] == '\n' || sig[10] == '+' || sig[10] == '/' {
				sig[10] = 'A'
			}
			d.raw(t, "UPDATE audit_checkpoints SET note = $1 WHERE size = 20", c.Note[:i+1]+string(sig))
		}, -1, "signature does not verify"},
		{"checkpoint with a wrong root, validly signed", func(t *testing.T, d *db, l *Log, _ *VerifyOptions) {
			n := forgeCheckpoint(t, l.Key(), "vigil.audit/test", 8, make([]byte, 32))
			d.raw(t, "UPDATE audit_checkpoints SET note = $1 WHERE size = 8", n)
		}, -1, "checkpoint at size 8: its root is not the root"},
	}
	for _, b := range backends {
		for _, tc := range tests {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				d := openDB(t, b.newDB)
				l, o := seedLog(t, d)
				tc.tamper(t, d, l, &o)
				rep, err := Verify(context.Background(), d.st, o)
				if err != nil {
					t.Fatal(err)
				}
				if tc.wantWhat == "" {
					if !rep.OK() || rep.Entries != 20 || rep.Latest == nil || rep.Latest.Size != 20 {
						t.Fatalf("untouched log: %+v", rep)
					}
					return
				}
				p, ok := rep.First()
				if !ok {
					t.Fatalf("tampering not detected: %+v", rep)
				}
				if p.Index != tc.wantIndex || !strings.Contains(p.What, tc.wantWhat) {
					t.Errorf("first problem = %v; want entry %d, %q (all: %v)", p, tc.wantIndex, tc.wantWhat, rep.Problems)
				}
			})
		}
	}
}

func forgeCheckpoint(t *testing.T, k *Key, origin string, size uint64, root []byte) string {
	t.Helper()
	l := &Log{key: k, origin: origin}
	msg, err := signText(l, checkpointText(origin, size, root))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestVerifyConsistencyWithSeen(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := openDB(t, b.newDB)
			l, o := seedLog(t, d)
			ctx := context.Background()
			rep, err := Verify(ctx, d.st, o)
			if err != nil || !rep.OK() {
				t.Fatalf("verify: %v %v", err, rep.Problems)
			}
			var st State
			st.Remember(*rep.Latest)
			path := filepath.Join(t.TempDir(), "seen.json")
			if err := st.Save(path); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, l, records("more", 13))
			mustCheckpoint(t, l)
			st, err = LoadState(path)
			if err != nil || len(st.Seen) != 1 {
				t.Fatalf("LoadState = %+v, %v", st, err)
			}
			o.Seen = st.Seen
			rep, err = Verify(ctx, d.st, o)
			if err != nil || !rep.OK() || rep.Latest.Size != 33 {
				t.Fatalf("grown log: %v %+v", err, rep)
			}
			// A seen checkpoint of another history is caught.
			o.Seen = []Seen{{Size: 20, Root: make([]byte, 32)}}
			rep, _ = Verify(ctx, d.st, o)
			if p, ok := rep.First(); !ok || !strings.Contains(p.What, "seen before at size 20") {
				t.Errorf("foreign seen checkpoint: %v", rep.Problems)
			}
		})
	}
}

func TestConcurrentAppendsTwoHandles(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn, dir := b.newDB(t)
			k1, k2 := newKey(t, "r1"), newKey(t, "r2")
			l1, _ := New(openStore(t, dsn, dir), k1, "o")
			l2, _ := New(openStore(t, dsn, dir), k2, "o")
			const workers, batches, per = 4, 10, 7
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := []*Log{l1, l2}[w%2]
					for i := range batches {
						// Every record is delivered by two workers, one per handle.
						rs := records(fmt.Sprintf("w%d-%d", w/2, i), per)
						if _, err := l.Append(context.Background(), rs); err != nil {
							errs <- err
							return
						}
						if i%3 == 0 {
							if _, err := l.Checkpoint(context.Background()); err != nil {
								errs <- err
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			rep, err := Verify(context.Background(), l1.st, VerifyOptions{Origin: "o", Keys: []PublicKey{k1.Public(), k2.Public()}})
			if err != nil {
				t.Fatal(err)
			}
			if want := uint64(workers / 2 * batches * per); !rep.OK() || rep.Entries != want || rep.Size != want {
				t.Fatalf("after concurrent appends: %d entries, size %d (want %d), problems %v", rep.Entries, rep.Size, want, rep.Problems)
			}
		})
	}
}

func TestLineageOrder(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := openDB(t, b.newDB)
			l, _ := New(d.st, newKey(t, "k"), "")
			hop := func(txn, parent, trace, placement, host string, ms int, decision string) Record {
				ev := event.Event{TxnID: txn, ParentTxnID: parent, TraceID: trace, Time: t0.Add(time.Duration(ms) * time.Millisecond),
					Placement: placement, Decision: decision, Destination: event.Destination{Host: host},
					Source:   event.Source{Workload: "spiffe://demo.local/" + placement},
					Request:  event.Request{Method: "POST", Path: "/" + host},
					Identity: &event.Identity{Sub: "user-17"}}
				r, _ := FromEvent(&ev)
				return r
			}
			// Appended out of call order, with an unrelated transaction.
			mustAppend(t, l, []Record{
				hop("pay", "order", "T1", "egress", "payments.example", 30, "allow"),
				hop("other", "", "T2", "gateway", "shop", 1, "allow"),
				hop("cart", "gw", "T1", "sidecar-cart", "cart", 10, "allow"),
				hop("gw", "", "T1", "gateway", "shop", 0, "allow"),
				hop("order", "cart", "T1", "sidecar-order", "order", 20, "block"),
				hop("audit-side", "cart", "", "sidecar-cart", "users", 15, "allow"),
			})
			tests := []struct{ txn string }{{"gw"}, {"order"}, {"pay"}, {"audit-side"}}
			want := []string{"gw/0", "cart/1", "audit-side/2", "order/2", "pay/3"}
			for _, tc := range tests {
				hops, err := Lineage(context.Background(), d.st, tc.txn)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, h := range hops {
					got = append(got, fmt.Sprintf("%s/%d", h.Record.TxnID, h.Depth))
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("Lineage(%s) = %v, want %v", tc.txn, got, want)
				}
			}
			if hops, err := Lineage(context.Background(), d.st, "nope"); err != nil || len(hops) != 0 {
				t.Errorf("Lineage(unknown) = %v, %v", hops, err)
			}
		})
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", KeyFile)
	k1, err := LoadOrCreateKey(path, "vigil.audit/test")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	k2, err := LoadOrCreateKey(path, "ignored")
	if err != nil || k2.ID != k1.ID || k2.Name() != "vigil.audit/test" {
		t.Fatalf("second load: %v, id %s vs %s", err, k2.ID, k1.ID)
	}
	if len(k1.ID) != 32 {
		t.Errorf("key id %q: want 32 hex digits", k1.ID)
	}
	pub, err := ParsePublicKey(k1.Verifier)
	if err != nil || pub.ID != k1.ID {
		t.Fatalf("ParsePublicKey = %+v, %v", pub, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path, "x"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key accepted: %v", err)
	}
}

func TestCanonicalDeterministic(t *testing.T) {
	r := records("c", 4)[3]
	r.Endpoint = "/a<b>&\xff\x00"
	a, err := Canonical(r)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Canonical(r)
	if string(a) != string(b) {
		t.Fatal("two encodings differ")
	}
	if strings.Contains(string(a), `\u003c`) {
		t.Errorf("HTML escaped: %s", a)
	}
	// No secrets: the token's hash only, never the scopes' token.
	if !strings.Contains(string(a), `"token_id":"sha256:abcd"`) || !strings.Contains(string(a), `"rules":["942100","bot/scanner"]`) {
		t.Errorf("record: %s", a)
	}
}
