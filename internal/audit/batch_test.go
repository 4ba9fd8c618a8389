package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

func TestBatchTree(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 8, 13, 31, 32, 33} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			recs := make([][]byte, n)
			hs := make([][]byte, n)
			for i := range recs {
				recs[i] = fmt.Appendf(nil, "record %d", i)
				hs[i] = rfc6962.DefaultHasher.HashLeaf(recs[i])
			}
			root, paths := batchTree(hs)
			if want := refRoot(recs); string(root) != string(want) {
				t.Fatalf("root %x, want %x", root, want)
			}
			for i := range recs {
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(n), hs[i], paths[i], root); err != nil {
					t.Errorf("path of %d: %v", i, err)
				}
			}
		})
	}
}

// signedLeaf decodes entry idx's leaf.
func signedLeaf(t *testing.T, d *db, idx uint64) Signed {
	t.Helper()
	es, err := d.st.ListAuditEntries(context.Background(), idx, 1)
	if err != nil || len(es) != 1 {
		t.Fatalf("entry %d: %v", idx, err)
	}
	var s Signed
	if err := json.Unmarshal(es[0].Data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBatchSignatures(t *testing.T) {
	tests := []struct {
		name      string
		tamper    func(t *testing.T, d *db)
		wantIndex int64
		wantWhat  string
	}{
		{"untouched", func(*testing.T, *db) {}, 0, ""},
		{"batch path changed", func(t *testing.T, d *db) {
			s := signedLeaf(t, d, 40)
			s.Batch.Path[0][3] ^= 1
			b, _ := json.Marshal(s)
			d.raw(t, "UPDATE audit_entries SET data = $1 WHERE idx = 40", b)
		}, 40, "batch path"},
		{"batch index changed", func(t *testing.T, d *db) {
			s := signedLeaf(t, d, 41)
			s.Batch.Index ^= 1
			b, _ := json.Marshal(s)
			d.raw(t, "UPDATE audit_entries SET data = $1 WHERE idx = 41", b)
		}, 41, "batch path"},
		{"batch signature replaced by another batch's", func(t *testing.T, d *db) {
			other := signedLeaf(t, d, 2)
			s := signedLeaf(t, d, 50)
			s.Sig = other.Sig
			b, _ := json.Marshal(s)
			d.raw(t, "UPDATE audit_entries SET data = $1 WHERE idx = 50", b)
		}, 50, "batch path"},
		{"path stripped, batch signature kept", func(t *testing.T, d *db) {
			s := signedLeaf(t, d, 60)
			s.Batch = nil
			b, _ := json.Marshal(s)
			d.raw(t, "UPDATE audit_entries SET data = $1 WHERE idx = 60", b)
		}, 60, "does not verify"},
	}
	for _, b := range backends {
		for _, tc := range tests {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				d := openDB(t, b.newDB)
				l, _ := New(d.st, newKey(t, "vigil.audit/test"), "vigil.audit/test")
				rs := records("b", 75)
				mustAppend(t, l, rs[:1]) // a batch of one: signed as a single record
				mustAppend(t, l, rs[1:])
				mustCheckpoint(t, l)
				if s := signedLeaf(t, d, 0); s.Batch != nil {
					t.Fatalf("a batch of one carries a path: %+v", s.Batch)
				}
				// 74 records: batches of 32, 32 and 10.
				for idx, want := range map[uint64]BatchPath{1: {Size: 32, Index: 0}, 40: {Size: 32, Index: 7}, 70: {Size: 10, Index: 5}} {
					s := signedLeaf(t, d, idx)
					if s.Batch == nil || s.Batch.Size != want.Size || s.Batch.Index != want.Index {
						t.Fatalf("entry %d: batch %+v, want size %d index %d", idx, s.Batch, want.Size, want.Index)
					}
				}
				tc.tamper(t, d)
				rep, err := Verify(context.Background(), d.st, VerifyOptions{Origin: "vigil.audit/test", Keys: []PublicKey{l.Key().Public()}})
				if err != nil {
					t.Fatal(err)
				}
				if tc.wantWhat == "" {
					if !rep.OK() || rep.Entries != 75 {
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

func BenchmarkSignBatch(b *testing.B) {
	k := newKey(b, "vigil.audit/bench")
	rs := records("sb", BatchMax)
	canon := make([][]byte, len(rs))
	for i, r := range rs {
		canon[i], _ = Canonical(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		signBatch(k, canon)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*BatchMax), "ns/record")
}

func TestAppendLeafIsJSONMarshal(t *testing.T) {
	k := newKey(t, "vigil.audit/test")
	for _, n := range []int{1, 2, 7} {
		canon := make([][]byte, n)
		for i, r := range records("leaf", n) {
			r.Signer = k.ID
			canon[i], _ = Canonical(r)
		}
		sig, paths := signBatch(k, canon)
		for i := range canon {
			want, err := json.Marshal(Signed{Record: canon[i], Sig: sig, Batch: paths[i]})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendLeaf(nil, canon[i], sig, paths[i]); string(got) != string(want) {
				t.Errorf("batch of %d, leaf %d:\n got %s\nwant %s", n, i, got, want)
			}
		}
	}
}
