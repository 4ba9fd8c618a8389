package audit

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func storeConsistency(d *db) ConsistencyFunc {
	return func(ctx context.Context, from, to uint64) ([][]byte, error) {
		return ConsistencyHashes(ctx, d.st, from, to)
	}
}

func TestWitnessCosign(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := openDB(t, b.newDB)
			l, o := seedLog(t, d)
			w := newKey(t, "witness.example/w1")
			other := newKey(t, "witness.example/w2")
			state := filepath.Join(t.TempDir(), "witness.json")

			// First co-signature: nothing seen before.
			c20, _ := l.Latest(ctx)
			msg, c, err := CosignWithState(ctx, w, state, c20.Note, o.Keys, o.Origin, storeConsistency(d))
			if err != nil {
				t.Fatal(err)
			}
			if c.Size != 20 || !strings.Contains(msg, "— witness.example/w1 ") || !strings.Contains(msg, "— vigil.audit/test ") {
				t.Fatalf("co-signed note:\n%s", msg)
			}
			if _, err := StoreCosigned(ctx, d.st, msg, o.Keys, w.Public()); err != nil {
				t.Fatal(err)
			}
			// The log grows; the witness checks consistency from 20.
			mustAppend(t, l, records("more", 10))
			c30 := mustCheckpoint(t, l)
			msg, _, err = CosignWithState(ctx, w, state, c30.Note, o.Keys, o.Origin, storeConsistency(d))
			if err != nil {
				t.Fatalf("consistent checkpoint refused: %v", err)
			}
			if _, err := StoreCosigned(ctx, d.st, msg, o.Keys, w.Public()); err != nil {
				t.Fatal(err)
			}

			tests := []struct {
				name      string
				witnesses []PublicKey
				wantWhat  string
			}{
				{"good co-signature", []PublicKey{w.Public()}, ""},
				{"wrong witness key", []PublicKey{other.Public()}, "no checkpoint of the log is co-signed by witness " + other.ID},
				{"one of two witnesses missing", []PublicKey{w.Public(), other.Public()}, "co-signed by witness " + other.ID},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					vo := o
					vo.Witnesses = tc.witnesses
					rep, err := Verify(ctx, d.st, vo)
					if err != nil {
						t.Fatal(err)
					}
					if tc.wantWhat == "" {
						if !rep.OK() || rep.Witnessed[w.ID] != 30 {
							t.Fatalf("report: %+v", rep)
						}
						return
					}
					p, bad := rep.First()
					if !bad || !strings.Contains(p.What, tc.wantWhat) {
						t.Fatalf("first problem %v, want %q (%+v)", p, tc.wantWhat, rep)
					}
				})
			}
			// A stored co-signature tampered with (past the key hash, so
			// the line still names the witness).
			line := "— witness.example/w1 "
			i := strings.Index(msg, line) + len(line) + 20
			forged := []byte(msg)
			if forged[i] == 'A' {
				forged[i] = 'B'
			} else {
				forged[i] = 'A'
			}
			d.raw(t, "UPDATE audit_checkpoints SET note = $1 WHERE key_id LIKE 'witness/%' AND size = 30", string(forged))
			vo := o
			vo.Witnesses = []PublicKey{w.Public()}
			rep, err := Verify(ctx, d.st, vo)
			if err != nil {
				t.Fatal(err)
			}
			if p, bad := rep.First(); !bad || !strings.Contains(p.What, "co-signature by witness") {
				t.Fatalf("tampered co-signature: %+v", rep)
			}
		})
	}
}

func TestWitnessRefusesInconsistent(t *testing.T) {
	ctx := context.Background()
	d := openDB(t, backends[0].newDB)
	l, o := seedLog(t, d)
	c20, _ := l.Latest(ctx)
	w := newKey(t, "witness.example/w1")
	last := &Seen{Size: c20.Size, Root: c20.Root}

	// A fork: another log of 30 entries signed by the same key, whose
	// first 20 differ.
	fork := openDB(t, backends[0].newDB)
	fl, _ := New(fork.st, l.Key(), "vigil.audit/test")
	mustAppend(t, fl, records("forked", 30))
	f30 := mustCheckpoint(t, fl)
	// A log of 8: smaller than what the witness saw.
	short := openDB(t, backends[0].newDB)
	sl, _ := New(short.st, l.Key(), "vigil.audit/test")
	mustAppend(t, sl, records("txn", 8))
	s8 := mustCheckpoint(t, sl)
	// Same size, other root.
	same := openDB(t, backends[0].newDB)
	ml, _ := New(same.st, l.Key(), "vigil.audit/test")
	mustAppend(t, ml, records("other", 20))
	m20 := mustCheckpoint(t, ml)
	stranger := newKey(t, "vigil.audit/test")

	tests := []struct {
		name    string
		msg     string
		cons    ConsistencyFunc
		wantErr error
		want    string
	}{
		{"fork, larger", f30.Note, storeConsistency(fork), ErrInconsistent, "20..30"},
		{"rolled back", s8.Note, storeConsistency(short), ErrInconsistent, "smaller"},
		{"same size, other root", m20.Note, storeConsistency(same), ErrInconsistent, "fork"},
		{"not signed by the log", mustCheckpoint(t, func() *Log { x, _ := New(same.st, stranger, "vigil.audit/test"); return x }()).Note,
			storeConsistency(same), nil, "not signed by the log's key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Cosign(ctx, w, tc.msg, o.Keys, o.Origin, last, tc.cons)
			if err == nil {
				t.Fatal("co-signed")
			}
			if (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want %v, %q", err, tc.wantErr, tc.want)
			}
		})
	}
	// A co-signed checkpoint of another tree is not stored.
	msg, _, err := Cosign(ctx, w, f30.Note, o.Keys, o.Origin, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StoreCosigned(ctx, d.st, msg, o.Keys, w.Public()); err == nil || !strings.Contains(err.Error(), "no checkpoint of size 30") {
		t.Fatalf("StoreCosigned of a foreign tree: %v", err)
	}
}

// TestLogAddCosigned: the log stores a note it signed, of its own tree,
// with a witness line; it refuses other notes.
func TestLogAddCosigned(t *testing.T) {
	ctx := context.Background()
	d := openDB(t, backends[0].newDB)
	l, o := seedLog(t, d)
	c20, _ := l.Latest(ctx)
	w := newKey(t, "witness.example/w1")
	last := &Seen{Size: 8, Root: func() []byte {
		cps, _ := d.st.ListAuditCheckpoints(ctx)
		c, _ := OpenCheckpoint(cps[0].Note, o.Keys)
		return c.Root
	}()}
	// The witness gets its consistency proof from the log (as over the API).
	msg, _, err := Cosign(ctx, w, c20.Note, o.Keys, o.Origin, last, l.Consistency)
	if err != nil {
		t.Fatal(err)
	}
	fork := openDB(t, backends[0].newDB)
	fl, _ := New(fork.st, l.Key(), "vigil.audit/test")
	mustAppend(t, fl, records("forked", 20))
	f20 := mustCheckpoint(t, fl)
	forkMsg, _, err := Cosign(ctx, w, f20.Note, o.Keys, o.Origin, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := New(fork.st, newKey(t, "vigil.audit/test"), "vigil.audit/test")
	tests := []struct {
		name, msg, want string
	}{
		{"co-signed", msg, ""},
		{"the log's own note, no witness line", c20.Note, "no signature line besides the log's"},
		{"another tree", forkMsg, "no checkpoint of size 20 with that root"},
		{"another log's key", mustCheckpoint(t, stranger).Note, "not signed by this log's key"},
		{"not a note", "hello", "not signed by this log's key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, names, err := l.AddCosigned(ctx, tc.msg)
			if tc.want == "" {
				if err != nil || len(names) != 1 || names[0] != "witness.example/w1" {
					t.Fatalf("names %v, err %v", names, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	vo := o
	vo.Witnesses = []PublicKey{w.Public()}
	if rep, err := Verify(ctx, d.st, vo); err != nil || !rep.OK() || rep.Witnessed[w.ID] != 20 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	for _, r := range [][2]uint64{{0, 5}, {9, 8}, {5, 21}} {
		if _, err := l.Consistency(ctx, r[0], r[1]); !errors.Is(err, ErrNoEntry) {
			t.Errorf("Consistency(%d, %d) = %v, want ErrNoEntry", r[0], r[1], err)
		}
	}
}

// FuzzAddCosigned feeds Log.AddCosigned (what POST
// /api/v1/audit/checkpoint/cosigned passes on) arbitrary notes: it never
// panics, and what it accepts is signed by the log, of its tree, with a
// line besides the log's.
func FuzzAddCosigned(f *testing.F) {
	ctx := context.Background()
	dsn, dir := backends[0].newDB(f)
	st := openStoreB(f, dsn, dir)
	l, _ := New(st, newKey(f, "vigil.audit/test"), "vigil.audit/test")
	mustAppend(f, l, records("fz", 5))
	c := mustCheckpoint(f, l)
	w := newKey(f, "witness.example/w1")
	good, _, err := Cosign(ctx, w, c.Note, []PublicKey{l.Key().Public()}, "", nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{good, c.Note, "", "hello\n\n— x y\n", strings.Replace(good, "\n5\n", "\n6\n", 1), good + good} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		got, _, err := l.AddCosigned(ctx, msg)
		if err != nil {
			return
		}
		if oc, oerr := OpenCheckpoint(msg, []PublicKey{l.Key().Public()}); oerr != nil || oc.Size != got.Size || oc.Size > 5 {
			t.Fatalf("accepted %q: %+v (%v)", msg, oc, oerr)
		}
	})
}
