package audit

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Batch signatures. Signing each record (Ed25519, ~25 µs) was most of the
// CPU an audited request cost; records are now signed in batches: the
// signer builds the RFC 6962 tree of the batch's canonical records (leaf
// hash SHA-256(0x00 || record)) and signs one statement over its size and
// root. Each record keeps the signature and its inclusion path in the
// batch (BatchPath), so every record stays verifiable on its own: hash
// it, walk the path to the root, check the signature of the statement.
// A batch of one record is signed as before (recordDomain over the
// record) and carries no path.

// BatchMax is the largest batch one signature covers: the path of a
// record is at most log2(BatchMax) = 5 hashes.
const BatchMax = 32

// batchDomain separates batch statements from record signatures and
// notes made with the same key.
const batchDomain = "vigil.audit.batch.v1\n"

// BatchPath is a record's place in the batch it was signed with.
type BatchPath struct {
	Size  uint64   `json:"size"`
	Index uint64   `json:"index"`
	Path  [][]byte `json:"path"` // base64 in JSON, leaf upwards
}

// batchStatement is what a batch signature signs: the domain, the size
// (8 bytes, big endian) and the 32-byte root.
func batchStatement(size uint64, root []byte) []byte {
	b := make([]byte, 0, len(batchDomain)+8+len(root))
	b = append(b, batchDomain...)
	b = binary.BigEndian.AppendUint64(b, size)
	return append(b, root...)
}

// batchTree is the RFC 6962 root of leaf hashes hs and, for each leaf,
// its inclusion path (leaf upwards), as proof.VerifyInclusion takes it.
func batchTree(hs [][]byte) (root []byte, paths [][][]byte) {
	paths = make([][][]byte, len(hs))
	var rec func(lo, hi int) []byte
	rec = func(lo, hi int) []byte {
		if hi-lo == 1 {
			return hs[lo]
		}
		k := 1
		for k<<1 < hi-lo {
			k <<= 1
		}
		left, right := rec(lo, lo+k), rec(lo+k, hi)
		for i := lo; i < lo+k; i++ {
			paths[i] = append(paths[i], right)
		}
		for i := lo + k; i < hi; i++ {
			paths[i] = append(paths[i], left)
		}
		return rfc6962.DefaultHasher.HashChildren(left, right)
	}
	if len(hs) == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	return rec(0, len(hs)), paths
}

// signBatch signs canonical records recs (at most BatchMax) with k: one
// signature, and each record's path (nil for a batch of one, signed as a
// single record).
func signBatch(k *Key, recs [][]byte) (sig []byte, paths []*BatchPath) {
	paths = make([]*BatchPath, len(recs))
	if len(recs) == 1 {
		return k.sign(recs[0]), paths
	}
	hs := make([][]byte, len(recs))
	for i, r := range recs {
		hs[i] = rfc6962.DefaultHasher.HashLeaf(r)
	}
	root, ps := batchTree(hs)
	sig = ed25519.Sign(k.priv, batchStatement(uint64(len(recs)), root))
	for i := range recs {
		paths[i] = &BatchPath{Size: uint64(len(recs)), Index: uint64(i), Path: ps[i]}
	}
	return sig, paths
}

// signEach signs every non-nil canonical record of canon with k, BatchMax
// at a time in order, and calls set with each one's index, its batch's
// signature and its path; it returns how many it signed.
func signEach(k *Key, canon [][]byte, set func(i int, sig []byte, p *BatchPath)) int {
	var todo []int
	for i, c := range canon {
		if c != nil {
			todo = append(todo, i)
		}
	}
	for lo := 0; lo < len(todo); lo += BatchMax {
		chunk := todo[lo:min(lo+BatchMax, len(todo))]
		recs := make([][]byte, len(chunk))
		for j, i := range chunk {
			recs[j] = canon[i]
		}
		sig, paths := signBatch(k, recs)
		for j, i := range chunk {
			set(i, sig, paths[j])
		}
	}
	return len(todo)
}

// batchRoot is the root that record's path leads to.
func batchRoot(record []byte, b *BatchPath) ([]byte, error) {
	if b.Size < 2 || b.Size > 1<<16 || b.Index >= b.Size {
		return nil, fmt.Errorf("batch index %d of size %d", b.Index, b.Size)
	}
	for _, h := range b.Path {
		if len(h) != rfc6962.DefaultHasher.Size() {
			return nil, errors.New("batch path: a hash is not 32 bytes")
		}
	}
	return proof.RootFromInclusionProof(rfc6962.DefaultHasher, b.Index, b.Size, rfc6962.DefaultHasher.HashLeaf(record), b.Path)
}

// batchSeen remembers the batch statements that verified (key id, size,
// root), so a verifier checks one Ed25519 signature per batch, not per
// record. Bounded.
type batchSeen struct {
	mu sync.Mutex
	ok map[string]bool
}

const maxBatchSeen = 1 << 14

// verifySigned checks a leaf's signature by pk: the record's own, or its
// batch's through its path.
func (p PublicKey) verifySigned(record, sig []byte, b *BatchPath, seen *batchSeen) bool {
	if b == nil {
		return p.verify(record, sig)
	}
	root, err := batchRoot(record, b)
	if err != nil {
		return false
	}
	st := batchStatement(b.Size, root)
	id := p.ID + string(st) + string(sig)
	if seen != nil {
		seen.mu.Lock()
		ok := seen.ok[id]
		seen.mu.Unlock()
		if ok {
			return true
		}
	}
	if !ed25519.Verify(p.pub, st, sig) {
		return false
	}
	if seen != nil {
		seen.mu.Lock()
		if seen.ok == nil || len(seen.ok) >= maxBatchSeen {
			seen.ok = map[string]bool{}
		}
		seen.ok[id] = true
		seen.mu.Unlock()
	}
	return true
}
