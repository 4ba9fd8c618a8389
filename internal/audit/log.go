package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-sec/vigil/internal/store"
)

// Log is the audit log over a store: records are signed with Key and
// appended in order; checkpoints are signed notes of the tree's size and
// root. Safe for concurrent use, also by several processes sharing the
// store (the store serialises appends).
type Log struct {
	st         store.Store
	key        *Key
	origin     string
	registered atomic.Bool
	hops       hopTrust
}

// DefaultOrigin is the checkpoint origin line unless audit.origin says
// otherwise.
const DefaultOrigin = "vigil.audit/default"

// New makes a Log appending to st, signing with key; origin is the first
// line of every checkpoint (DefaultOrigin when empty).
func New(st store.Store, key *Key, origin string) (*Log, error) {
	if st == nil || key == nil {
		return nil, errors.New("audit: a store and a key are required")
	}
	if origin == "" {
		origin = DefaultOrigin
	}
	if strings.ContainsAny(origin, "\n") {
		return nil, errors.New("audit: origin must be one line")
	}
	return &Log{st: st, key: key, origin: origin}, nil
}

// Key is the log's signing key.
func (l *Log) Key() *Key { return l.key }

// Origin is the checkpoints' origin line.
func (l *Log) Origin() string { return l.origin }

// Signed is a leaf of the tree: a canonical record and its signature.
// Without Batch, Sig is the record's own signature (Ed25519 over
// recordDomain and the record). With Batch, the record was signed as one
// of a batch: Sig is the signature of the batch statement (batch.go) over
// the RFC 6962 root of the batch's records, and Batch the record's place
// in the batch and its inclusion path to that root.
type Signed struct {
	Record json.RawMessage `json:"record"`
	Sig    []byte          `json:"sig"` // base64 in JSON
	Batch  *BatchPath      `json:"batch,omitempty"`
}

// Sign signs r with k (setting r.Signer) and returns the leaf bytes.
func Sign(k *Key, r Record) ([]byte, error) {
	r.Signer = k.ID
	c, err := Canonical(r)
	if err != nil {
		return nil, fmt.Errorf("audit: record %s: %w", r.Key, err)
	}
	return json.Marshal(Signed{Record: c, Sig: k.sign(c)})
}

// appendLeaf appends the leaf of a canonical record: what json.Marshal
// makes of Signed{record, sig, batch}, without its reflection and its
// re-validation of the record (a twentieth of an append's CPU).
func appendLeaf(b, record, sig []byte, batch *BatchPath) []byte {
	b = append(b, `{"record":`...)
	b = append(b, record...)
	b = append(b, `,"sig":"`...)
	b = base64.StdEncoding.AppendEncode(b, sig)
	b = append(b, '"')
	if batch != nil {
		b = append(b, `,"batch":{"size":`...)
		b = strconv.AppendUint(b, batch.Size, 10)
		b = append(b, `,"index":`...)
		b = strconv.AppendUint(b, batch.Index, 10)
		b = append(b, `,"path":[`...)
		for i, h := range batch.Path {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, h)
			b = append(b, '"')
		}
		b = append(b, "]}"...)
	}
	return append(b, '}')
}

func (l *Log) register(ctx context.Context) error {
	if l.registered.Load() {
		return nil
	}
	if err := l.st.PutAuditKey(ctx, store.AuditKey{ID: l.key.ID, Verifier: l.key.Verifier, Created: time.Now()}); err != nil {
		return err
	}
	l.registered.Store(true)
	return nil
}

// Append signs and appends records in order, idempotently by Record.Key:
// index[i] is the entry of recs[i], or -1 when its key was logged before
// (or earlier in recs). The entries are committed when Append returns.
func (l *Log) Append(ctx context.Context, recs []Record) (index []int64, err error) {
	ents := make([]entry, len(recs))
	for i, r := range recs {
		ents[i].rec = r
	}
	return l.append(ctx, ents)
}

// entry is a record to append: signed by the log's key when sig is nil,
// otherwise already signed (by its hop): canon are the canonical bytes
// that sig signs, rec their record.
type entry struct {
	rec   Record
	canon []byte
	sig   []byte
	batch *BatchPath
	hop   bool // signed by the hop that handled it
}

func (l *Log) append(ctx context.Context, ents []entry) (index []int64, err error) {
	if len(ents) == 0 {
		return nil, nil
	}
	if err := l.register(ctx); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	leaves := make([]store.AuditLeaf, len(ents))
	errs := make([]error, len(ents))
	canon := make([][]byte, len(ents))
	prep := func(i int) {
		r := ents[i].rec
		if r.Key == "" {
			errs[i] = fmt.Errorf("audit: record %d has no key", i)
			return
		}
		if r.V == 0 {
			r.V = recordVersion
		}
		t, err := r.ParseTime()
		if err != nil {
			errs[i] = fmt.Errorf("audit: record %s: time: %w", r.Key, err)
			return
		}
		if ents[i].sig == nil {
			r.Signer = l.key.ID
			if canon[i], err = Canonical(r); err != nil {
				errs[i] = fmt.Errorf("audit: record %s: %w", r.Key, err)
				return
			}
		}
		sanitize(&r)
		leaves[i] = store.AuditLeaf{Key: r.Key, Kind: r.Kind, TxnID: r.TxnID, ParentTxnID: r.ParentTxnID, TraceID: r.TraceID,
			Time: t}
	}
	parallel(len(ents), prep)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The records this log signs are signed in batches: one Ed25519
	// signature per batch (the costly part of an append was one per
	// record), each leaf carrying its inclusion path in the batch.
	signEach(l.key, canon, func(i int, sig []byte, p *BatchPath) {
		ents[i].canon, ents[i].sig, ents[i].batch = canon[i], sig, p
	})
	for i := range ents {
		leaves[i].Data = appendLeaf(nil, ents[i].canon, ents[i].sig, ents[i].batch)
	}
	index, _, err = l.st.AppendAudit(ctx, leaves)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return index, nil
}

// parallel runs f(0..n-1), on every core when n is large.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/64)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// Checkpoint is a signed statement of the tree at one size.
type Checkpoint struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   []byte `json:"root_hash"` // base64 in JSON
	// Note is the signed note: the checkpoint text, a blank line, the
	// signature lines.
	Note  string `json:"note"`
	KeyID string `json:"key_id,omitempty"`
}

// checkpointText is the checkpoint format: origin, size, base64 root.
func checkpointText(origin string, size uint64, root []byte) string {
	return origin + "\n" + strconv.FormatUint(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root) + "\n"
}

// ParseCheckpointText reads the text of a checkpoint note (extension
// lines after the root are allowed and ignored).
func ParseCheckpointText(text string) (origin string, size uint64, root []byte, err error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return "", 0, nil, errors.New("checkpoint: want origin, size and root hash lines")
	}
	if lines[0] == "" {
		return "", 0, nil, errors.New("checkpoint: empty origin")
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return "", 0, nil, fmt.Errorf("checkpoint: bad size %q", lines[1])
	}
	root, err = base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != store.AuditHashSize {
		return "", 0, nil, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	return lines[0], size, root, nil
}

// OpenCheckpoint verifies a signed checkpoint note with the given keys and
// reads it: at least one signature must be by one of them.
func OpenCheckpoint(msg string, keys []PublicKey) (Checkpoint, error) {
	vs := make([]note.Verifier, len(keys))
	for i, k := range keys {
		vs[i] = k.note
	}
	n, err := note.Open([]byte(msg), note.VerifierList(vs...))
	if err != nil {
		return Checkpoint{}, err
	}
	origin, size, root, err := ParseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{Origin: origin, Size: size, Root: root, Note: msg}
	for _, s := range n.Sigs {
		for _, k := range keys {
			if k.note.Name() == s.Name && k.note.KeyHash() == s.Hash {
				c.KeyID = k.ID
			}
		}
	}
	return c, nil
}

// Checkpoint signs and stores a checkpoint of the tree as it is now (or
// returns the one this key already signed at this size).
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if err := l.register(ctx); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: %w", err)
	}
	head, err := l.st.AuditHead(ctx)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: %w", err)
	}
	root, err := head.Root()
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: head: %w", err)
	}
	msg, err := signText(l, checkpointText(l.origin, head.Size, root))
	if err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{Origin: l.origin, Size: head.Size, Root: root, Note: msg, KeyID: l.key.ID}
	inserted, err := l.st.InsertAuditCheckpoint(ctx, store.AuditCheckpoint{Size: head.Size, KeyID: l.key.ID, Note: c.Note, Time: time.Now()})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: %w", err)
	}
	// Not inserted: this key signed this size before, and Ed25519
	// signatures are deterministic, so the stored note is this one.
	_ = inserted
	return c, nil
}

// signText signs a checkpoint text as a note with the log's key.
func signText(l *Log, text string) (string, error) {
	msg, err := note.Sign(&note.Note{Text: text}, l.key.signer)
	if err != nil {
		return "", fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	return string(msg), nil
}

// Latest returns the latest stored checkpoint, making one when there is
// none yet. It is read as stored: Verify, not Latest, checks it.
func (l *Log) Latest(ctx context.Context) (Checkpoint, error) {
	sc, err := l.st.LatestAuditCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return l.Checkpoint(ctx)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: %w", err)
	}
	origin, size, root, err := ParseCheckpointText(noteText(sc.Note))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: stored checkpoint at size %d: %w", sc.Size, err)
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: sc.Note, KeyID: sc.KeyID}, nil
}

// noteText is the text of a signed note, unverified.
func noteText(msg string) string {
	if i := strings.Index(msg, "\n\n"); i >= 0 {
		return msg[:i+1]
	}
	return msg
}

// Lineage returns every hop of transaction txnID in call order (Lineage).
func (l *Log) Lineage(ctx context.Context, txnID string) ([]Hop, error) {
	return Lineage(ctx, l.st, txnID)
}

// Size is the number of entries in the log.
func (l *Log) Size(ctx context.Context) (uint64, error) {
	h, err := l.st.AuditHead(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	return h.Size, nil
}

// InclusionProof proves that entry index is in the tree of the latest
// checkpoint (a new checkpoint is made when the latest does not cover it
// yet).
type InclusionProof struct {
	Index      uint64     `json:"index"`
	Size       uint64     `json:"size"`
	LeafHash   []byte     `json:"leaf_hash"`
	Hashes     [][]byte   `json:"hashes"`
	Checkpoint Checkpoint `json:"checkpoint"`
	// Leaf is the entry, the signed record's exact bytes (base64 in
	// JSON: re-indenting the JSON must not change them), so a client can
	// hash it and read the record.
	Leaf []byte `json:"leaf"`
}

// ErrNoEntry is returned for an index beyond the log.
var ErrNoEntry = errors.New("audit: no such entry")

// Prove returns the inclusion proof of entry index.
func (l *Log) Prove(ctx context.Context, index uint64) (InclusionProof, error) {
	cp, err := l.Latest(ctx)
	if err != nil {
		return InclusionProof{}, err
	}
	if index >= cp.Size {
		if cp, err = l.Checkpoint(ctx); err != nil {
			return InclusionProof{}, err
		}
		if index >= cp.Size {
			return InclusionProof{}, fmt.Errorf("%w: entry %d of a log of %d", ErrNoEntry, index, cp.Size)
		}
	}
	hashes, err := InclusionHashes(ctx, l.st, index, cp.Size)
	if err != nil {
		return InclusionProof{}, err
	}
	es, err := l.st.ListAuditEntries(ctx, index, 1)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("audit: %w", err)
	}
	if len(es) == 0 || es[0].Index != index {
		return InclusionProof{}, fmt.Errorf("%w: entry %d is not stored", ErrNoEntry, index)
	}
	return InclusionProof{Index: index, Size: cp.Size, LeafHash: rfc6962.DefaultHasher.HashLeaf(es[0].Data), Hashes: hashes,
		Checkpoint: cp, Leaf: es[0].Data}, nil
}

// Verify checks the proof with the merkle library against its checkpoint's
// root (not the checkpoint's signature: OpenCheckpoint does that).
func (p InclusionProof) Verify() error {
	if !bytes.Equal(rfc6962.DefaultHasher.HashLeaf(p.Leaf), p.LeafHash) {
		return errors.New("audit: the leaf does not hash to leaf_hash")
	}
	return proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, p.Size, p.LeafHash, p.Hashes, p.Checkpoint.Root)
}

// InclusionHashes is the RFC 6962 inclusion proof of entry index in the
// tree of size, from the stored nodes.
func InclusionHashes(ctx context.Context, st store.Store, index, size uint64) ([][]byte, error) {
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoEntry, err)
	}
	return rehash(ctx, st, n)
}

// ConsistencyHashes is the RFC 6962 consistency proof between the trees
// of size1 and size2 (size1 <= size2), from the stored nodes.
func ConsistencyHashes(ctx context.Context, st store.Store, size1, size2 uint64) ([][]byte, error) {
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return rehash(ctx, st, n)
}

func rehash(ctx context.Context, st store.Store, n proof.Nodes) ([][]byte, error) {
	ids := make([]store.AuditNodeID, len(n.IDs))
	for i, id := range n.IDs {
		ids[i] = store.AuditNodeID{Level: id.Level, Index: id.Index}
	}
	hs, err := st.AuditNodes(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("audit: proof: %w", err)
	}
	out, err := n.Rehash(hs, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("audit: proof: %w", err)
	}
	if out == nil {
		out = [][]byte{}
	}
	return out, nil
}
