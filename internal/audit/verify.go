package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-sec/vigil/internal/store"
)

// Seen is a checkpoint a verifier has seen verify before: the log must
// still contain the tree of that size and root.
type Seen struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root_hash"`
	Note string `json:"note,omitempty"`
}

// VerifyOptions say what a verification trusts and remembers.
type VerifyOptions struct {
	// Origin every checkpoint must carry.
	Origin string
	// Keys are the trusted public keys: a record or checkpoint signed by
	// any other key is a problem, whatever the store's key table says,
	// except a transaction record signed by its hop with a key that a
	// "key" record signed by a trusted key registered earlier in the log
	// (trust on first use; see RequirePinned).
	Keys []PublicKey
	// RequirePinned trusts hop keys only when they are among Keys (pinned
	// in audit.trusted_keys), not because the log registered them: a
	// control plane's key could register a key of its own making.
	RequirePinned bool
	// Seen are checkpoints verified before (kept by the caller).
	Seen []Seen
	// Witnesses are witness keys: each must have co-signed a stored
	// checkpoint that verifies (Report.Witnessed).
	Witnesses []PublicKey
	// Page is how many entries are read at once (default 1000).
	Page int
}

// Problem is one thing wrong with the log. Index is the entry concerned,
// or -1 for the log as a whole (a checkpoint, the head, a truncation).
type Problem struct {
	Index int64  `json:"index"`
	What  string `json:"what"`
}

func (p Problem) String() string {
	if p.Index < 0 {
		return p.What
	}
	return fmt.Sprintf("entry %d: %s", p.Index, p.What)
}

// Report is the outcome of Verify.
type Report struct {
	// Entries is the number of entries read; Size the head's size.
	Entries     uint64 `json:"entries"`
	Size        uint64 `json:"size"`
	Root        []byte `json:"root_hash"`
	Checkpoints int    `json:"checkpoints"`
	// Latest is the latest checkpoint that verified (nil if none).
	Latest *Checkpoint `json:"latest,omitempty"`
	// HopSigned counts the records signed by the hop that handled them;
	// HopKeys are the hop keys the log registered (id: verifier key).
	HopSigned uint64            `json:"hop_signed"`
	HopKeys   map[string]string `json:"hop_keys,omitempty"`
	// Witnessed is, per witness key id of VerifyOptions.Witnesses, the
	// largest checkpoint it co-signed that verifies.
	Witnessed map[string]uint64 `json:"witnessed,omitempty"`
	Problems  []Problem         `json:"problems"`
}

// OK reports whether nothing was wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// First is the first problem: the lowest entry, then the log's own.
func (r *Report) First() (Problem, bool) {
	if len(r.Problems) == 0 {
		return Problem{}, false
	}
	return r.Problems[0], true
}

// maxProblems bounds a report.
const maxProblems = 100

// Verify recomputes the tree from the stored records and checks it: every
// entry present in order, its signature by a trusted key, its indexed
// columns agreeing with the record, its leaf hash the one stored when it
// was appended; every checkpoint signed by a trusted key, with the
// origin, and the root of the recomputed tree at its size; the head; and
// every seen checkpoint contained in the current tree (recomputed root at
// its size, and a consistency proof from the stored nodes to the latest
// checkpoint, checked with the merkle library). An error is returned only
// when the store cannot be read.
func Verify(ctx context.Context, st store.Store, o VerifyOptions) (*Report, error) {
	if o.Page <= 0 {
		o.Page = 1000
	}
	rep := &Report{}
	add := func(idx int64, format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, Problem{Index: idx, What: fmt.Sprintf(format, args...)})
		}
	}
	keys := map[string]PublicKey{}
	for _, k := range o.Keys {
		keys[k.ID] = k
	}
	hops := map[string]hopKey{}
	var batches batchSeen

	// Checkpoints: signature and origin now, roots while recomputing.
	cps, err := st.ListAuditCheckpoints(ctx)
	if err != nil {
		return nil, err
	}
	rep.Checkpoints = len(cps)
	type want struct {
		root []byte
		what string
	}
	wants := map[uint64][]want{}
	var good []Checkpoint
	for _, sc := range cps {
		c, err := OpenCheckpoint(sc.Note, o.Keys)
		switch {
		case err != nil:
			add(-1, "checkpoint at size %d (key %s): signature does not verify with a trusted key: %v", sc.Size, sc.KeyID, err)
			continue
		case c.Size != sc.Size:
			add(-1, "checkpoint stored at size %d says size %d", sc.Size, c.Size)
			continue
		case o.Origin != "" && c.Origin != o.Origin:
			add(-1, "checkpoint at size %d: origin %q, want %q", c.Size, c.Origin, o.Origin)
			continue
		}
		wants[c.Size] = append(wants[c.Size], want{c.Root, fmt.Sprintf("checkpoint at size %d", c.Size)})
		good = append(good, c)
	}
	for _, s := range o.Seen {
		wants[s.Size] = append(wants[s.Size], want{s.Root, fmt.Sprintf("checkpoint seen before at size %d", s.Size)})
	}

	head, err := st.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	rep.Size = head.Size

	rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	checkRoot := func() {
		ws := wants[rng.End()]
		if len(ws) == 0 {
			return
		}
		root, _ := rng.GetRootHash(nil)
		for _, w := range ws {
			if !bytes.Equal(root, w.root) {
				add(-1, "%s: its root is not the root of the stored entries 0..%d (an entry before it was changed, removed or reordered)",
					w.what, rng.End()-1)
			}
		}
	}
	// Entries appended after the head was read (the log is live) are
	// left for the next run: the head was read after the checkpoints, so
	// every checkpoint is within it.
	var next uint64
	for next < head.Size {
		es, err := st.ListAuditEntries(ctx, next, o.Page)
		if err != nil {
			return nil, err
		}
		for len(es) > 0 && es[len(es)-1].Index >= head.Size {
			es = es[:len(es)-1]
		}
		if len(es) == 0 {
			break
		}
		ids := make([]store.AuditNodeID, len(es))
		for i, e := range es {
			ids[i] = store.AuditNodeID{Level: 0, Index: e.Index}
		}
		stored, nerr := leafNodes(ctx, st, ids)
		if nerr != nil {
			return nil, nerr
		}
		for i, e := range es {
			if e.Index != next {
				add(int64(next), "missing (the next stored entry is %d)", e.Index)
			}
			idx := int64(e.Index)
			if what := checkEntry(&e, keys, hops, o.RequirePinned, rep, &batches); what != "" {
				add(idx, "%s", what)
			}
			lh := rfc6962.DefaultHasher.HashLeaf(e.Data)
			if h := stored[i]; h == nil {
				add(idx, "its leaf hash is not stored")
			} else if !bytes.Equal(h, lh) {
				add(idx, "the record differs from the one appended at this index (leaf hash changed: modified or moved)")
			}
			// The tree is rebuilt at the stored positions, so a gap
			// leaves the entries after it where they were.
			for rng.End() < e.Index {
				_ = rng.Append(make([]byte, 32), nil)
			}
			_ = rng.Append(lh, nil)
			next = e.Index + 1
			checkRoot()
		}
	}
	rep.Entries = next
	if root, _ := rng.GetRootHash(nil); root != nil {
		rep.Root = root
	} else {
		rep.Root = rfc6962.DefaultHasher.EmptyRoot()
	}
	if wants[0] != nil {
		for _, w := range wants[0] {
			if !bytes.Equal(w.root, rfc6962.DefaultHasher.EmptyRoot()) {
				add(-1, "%s: not the empty tree's root", w.what)
			}
		}
	}
	switch {
	case next < head.Size:
		add(int64(next), "missing: the log's head says %d entries, %d are stored (the tail was truncated)", head.Size, next)
	default:
		if hr, err := head.Root(); err != nil || !bytes.Equal(hr, rep.Root) {
			add(-1, "the log's head (its compact range) does not match the stored entries")
		}
	}
	for size, ws := range wants {
		if size > next {
			for _, w := range ws {
				add(int64(next), "missing: %s, but only %d entries are stored (the tail was truncated)", w.what, next)
			}
		}
	}

	// The latest trusted checkpoint, and consistency from every seen one.
	slices.SortStableFunc(good, func(a, b Checkpoint) int { return cmpU64(a.Size, b.Size) })
	for i := len(good) - 1; i >= 0; i-- {
		c := good[i]
		if c.Size <= next && rootMatches(rep, c) {
			rep.Latest = &c
			break
		}
	}
	checkWitnesses(rep, cps, good, o.Witnesses, add)
	if rep.Latest != nil {
		for _, s := range o.Seen {
			if s.Size > rep.Latest.Size {
				add(-1, "checkpoint seen before at size %d is newer than the latest checkpoint (size %d)", s.Size, rep.Latest.Size)
				continue
			}
			p, err := ConsistencyHashes(ctx, st, s.Size, rep.Latest.Size)
			if err == nil {
				err = proof.VerifyConsistency(rfc6962.DefaultHasher, s.Size, rep.Latest.Size, p, s.Root, rep.Latest.Root)
			}
			if err != nil {
				add(-1, "checkpoint seen before at size %d is not consistent with the latest (size %d): %v", s.Size, rep.Latest.Size, err)
			}
		}
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int {
		switch {
		case a.Index >= 0 && b.Index >= 0:
			return cmpU64(uint64(a.Index), uint64(b.Index))
		case a.Index >= 0:
			return -1
		case b.Index >= 0:
			return 1
		}
		return 0
	})
	return rep, nil
}

// checkWitnesses fills rep.Witnessed: for each witness, the largest
// checkpoint among good (signed by the log, root checked) whose stored
// note it co-signed; a witness without one, or an invalid co-signature,
// is a problem.
func checkWitnesses(rep *Report, cps []store.AuditCheckpoint, good []Checkpoint, ws []PublicKey, add func(int64, string, ...any)) {
	if len(ws) == 0 {
		return
	}
	rep.Witnessed = map[string]uint64{}
	ok := map[string]bool{} // notes signed by the log whose root matched
	for _, c := range good {
		if rootMatches(rep, c) {
			ok[c.Note] = true
		}
	}
	for _, w := range ws {
		found := false
		for _, sc := range cps {
			signed, err := Witnessed(sc.Note, w)
			if err != nil {
				add(-1, "checkpoint at size %d: the co-signature by witness %s does not verify: %v", sc.Size, w.ID, err)
				continue
			}
			if !signed || !ok[sc.Note] {
				continue
			}
			if !found || sc.Size > rep.Witnessed[w.ID] {
				rep.Witnessed[w.ID] = sc.Size
			}
			found = true
		}
		if !found {
			add(-1, "no checkpoint of the log is co-signed by witness %s (%s)", w.ID, w.Name)
		}
	}
}

// rootMatches reports whether no problem names checkpoint c.
func rootMatches(rep *Report, c Checkpoint) bool {
	prefix := fmt.Sprintf("checkpoint at size %d:", c.Size)
	for _, p := range rep.Problems {
		if len(p.What) >= len(prefix) && p.What[:len(prefix)] == prefix {
			return false
		}
	}
	return true
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// leafNodes reads the stored leaf hashes of ids; nil where one is missing.
func leafNodes(ctx context.Context, st store.Store, ids []store.AuditNodeID) ([][]byte, error) {
	hs, err := st.AuditNodes(ctx, ids)
	if err == nil {
		return hs, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		if h, err := st.AuditNodes(ctx, []store.AuditNodeID{id}); err == nil {
			out[i] = h[0]
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return out, nil
}

// hopKey is a hop key a "key" record registered, at entry index.
type hopKey struct {
	PublicKey
	index uint64
}

// checkEntry returns what is wrong with one entry, or "". A "key" record
// signed by a trusted key adds its key to hops; rep counts the hop-signed
// records.
func checkEntry(e *store.AuditEntry, keys map[string]PublicKey, hops map[string]hopKey, requirePinned bool, rep *Report, batches *batchSeen) string {
	var s Signed
	if err := json.Unmarshal(e.Data, &s); err != nil {
		return fmt.Sprintf("not a signed record: %v", err)
	}
	var r Record
	if err := json.Unmarshal(s.Record, &r); err != nil {
		return fmt.Sprintf("not a record: %v", err)
	}
	if c, err := Canonical(r); err != nil || !bytes.Equal(c, s.Record) {
		return "the record is not in canonical form"
	}
	k, ok := keys[r.Signer]
	if !ok {
		hk, registered := hops[r.Signer]
		switch {
		case !registered:
			return fmt.Sprintf("signed by key %s, which is not trusted", r.Signer)
		case requirePinned:
			return fmt.Sprintf("signed by hop key %s (registered at entry %d), which is not pinned (audit.trusted_keys)", r.Signer, hk.index)
		case r.Kind != KindTransaction || r.SignedBy != SignedByHop:
			return fmt.Sprintf("signed by hop key %s, which signs only transaction records of its hop", r.Signer)
		}
		k = hk.PublicKey
	}
	if !k.verifySigned(s.Record, s.Sig, s.Batch, batches) {
		if s.Batch != nil {
			return fmt.Sprintf("the signature by key %s does not verify over the record and its batch path (the record or its batch path was modified)", r.Signer)
		}
		return fmt.Sprintf("the signature by key %s does not verify (the record was modified)", r.Signer)
	}
	switch {
	case r.SignedBy != "" && (r.SignedBy != SignedByHop || r.Kind != KindTransaction):
		return fmt.Sprintf("signed_by %q on a %s record", r.SignedBy, r.Kind)
	case r.Kind == KindKey:
		rk := r.RegisteredKey
		if rk == nil {
			return "a key record without registered_key"
		}
		pk, err := ParsePublicKey(rk.Verifier)
		if err != nil || pk.ID != rk.ID || r.Key != "key-"+rk.ID {
			return "a key record whose key, id and record key disagree"
		}
		if _, dup := hops[pk.ID]; !dup {
			hops[pk.ID] = hopKey{pk, e.Index}
			if rep.HopKeys == nil {
				rep.HopKeys = map[string]string{}
			}
			rep.HopKeys[pk.ID] = pk.Verifier
		}
	}
	if r.SignedBy == SignedByHop {
		rep.HopSigned++
	}
	t, err := r.ParseTime()
	switch {
	case err != nil:
		return fmt.Sprintf("bad time %q", r.Time)
	case r.Key != e.Key || r.Kind != e.Kind || r.TxnID != e.TxnID || r.ParentTxnID != e.ParentTxnID || r.TraceID != e.TraceID ||
		!t.Equal(e.Time):
		return "the indexed columns (key, kind, txn_id, parent_txn_id, trace_id, time) disagree with the signed record"
	}
	return ""
}

// State is what `vigil audit verify` keeps between runs: the checkpoints
// it has seen verify, to check that the log only ever grew from them.
type State struct {
	Origin string `json:"origin"`
	Seen   []Seen `json:"seen"`
}

// maxSeen bounds the checkpoints a State keeps (the newest).
const maxSeen = 32

// LoadState reads a state file; a missing file is an empty state.
func LoadState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Remember adds a verified checkpoint to the state.
func (s *State) Remember(c Checkpoint) {
	for _, x := range s.Seen {
		if x.Size == c.Size && bytes.Equal(x.Root, c.Root) {
			return
		}
	}
	s.Seen = append(s.Seen, Seen{Size: c.Size, Root: c.Root, Note: c.Note})
	slices.SortFunc(s.Seen, func(a, b Seen) int { return cmpU64(a.Size, b.Size) })
	if len(s.Seen) > maxSeen {
		s.Seen = s.Seen[len(s.Seen)-maxSeen:]
	}
}

// Save writes the state atomically (mode 0600).
func (s State) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp-" + fmt.Sprint(time.Now().UnixNano())
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
