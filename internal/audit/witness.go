package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-sec/vigil/internal/store"
)

// Witnessing. A witness is an independent key (its own file, on a machine
// the log's operator does not control) that co-signs a checkpoint only
// after checking that it is signed by the log, and that the log only grew
// since the last checkpoint the witness co-signed (a consistency proof
// between the two): a log that was rewritten, or that shows different
// histories to different readers, cannot get both co-signed. The
// co-signature is one more signature line on the checkpoint note
// (golang.org/x/mod/sumdb/note); the co-signed note is stored with the
// log's checkpoints, and `vigil audit verify --witness-key` requires one
// by each named witness.

// ErrInconsistent is returned when a witness refuses a checkpoint: it
// does not extend the one the witness co-signed last.
var ErrInconsistent = errors.New("audit: witness: the checkpoint is not consistent with the last one this witness co-signed")

// WitnessState is what a witness keeps: the last checkpoint it co-signed.
type WitnessState = State

// ConsistencyFunc returns the consistency proof between the log's trees of
// size from and to (from <= to): from the store (ConsistencyHashes) or
// the API.
type ConsistencyFunc func(ctx context.Context, from, to uint64) ([][]byte, error)

// Cosign checks checkpoint note msg as witness w and returns it with w's
// signature line added: msg must be signed by one of logKeys and carry
// origin (when not empty); when last is not nil (the checkpoint w
// co-signed before), the new one must be at least as large and a
// consistency proof from last to it (from consistency) must verify, else
// ErrInconsistent. Signature lines of other keys (other witnesses) are
// kept.
func Cosign(ctx context.Context, w *Key, msg string, logKeys []PublicKey, origin string, last *Seen, consistency ConsistencyFunc) (string, Checkpoint, error) {
	c, err := OpenCheckpoint(msg, logKeys)
	if err != nil {
		return "", Checkpoint{}, fmt.Errorf("audit: witness: the checkpoint is not signed by the log's key: %w", err)
	}
	if origin != "" && c.Origin != origin {
		return "", Checkpoint{}, fmt.Errorf("audit: witness: checkpoint of log %q, not %q", c.Origin, origin)
	}
	if last != nil {
		switch {
		case c.Size < last.Size:
			return "", Checkpoint{}, fmt.Errorf("%w: size %d is smaller than the %d co-signed before (the log was truncated or rolled back)", ErrInconsistent, c.Size, last.Size)
		case c.Size == last.Size && !bytes.Equal(c.Root, last.Root):
			return "", Checkpoint{}, fmt.Errorf("%w: size %d with another root than the one co-signed before (a fork)", ErrInconsistent, c.Size)
		case c.Size > last.Size && last.Size > 0:
			if consistency == nil {
				return "", Checkpoint{}, errors.New("audit: witness: no way to get a consistency proof")
			}
			p, err := consistency(ctx, last.Size, c.Size)
			if err != nil {
				return "", Checkpoint{}, fmt.Errorf("audit: witness: consistency proof %d..%d: %w", last.Size, c.Size, err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, last.Size, c.Size, p, last.Root, c.Root); err != nil {
				return "", Checkpoint{}, fmt.Errorf("%w: %d..%d: %v", ErrInconsistent, last.Size, c.Size, err)
			}
		}
	}
	vs := make([]note.Verifier, 0, len(logKeys)+1)
	for _, k := range logKeys {
		vs = append(vs, k.note)
	}
	n, err := note.Open([]byte(msg), note.VerifierList(vs...))
	if err != nil {
		return "", Checkpoint{}, fmt.Errorf("audit: witness: %w", err)
	}
	n.Sigs = append(n.Sigs, n.UnverifiedSigs...) // other witnesses' lines stay
	out, err := note.Sign(n, w.signer)
	if err != nil {
		return "", Checkpoint{}, fmt.Errorf("audit: witness: sign: %w", err)
	}
	c.Note = string(out)
	return c.Note, c, nil
}

// CosignWithState is Cosign with the witness's state file: the last
// co-signed checkpoint is read from it and the new one saved to it (mode
// 0600) once signed.
func CosignWithState(ctx context.Context, w *Key, statePath, msg string, logKeys []PublicKey, origin string, consistency ConsistencyFunc) (string, Checkpoint, error) {
	st, err := LoadState(statePath)
	if err != nil {
		return "", Checkpoint{}, err
	}
	if st.Origin != "" && origin != "" && st.Origin != origin {
		return "", Checkpoint{}, fmt.Errorf("audit: witness: %s is the state of log %q, not %q", statePath, st.Origin, origin)
	}
	var last *Seen
	if len(st.Seen) > 0 {
		last = &st.Seen[len(st.Seen)-1]
	}
	out, c, err := Cosign(ctx, w, msg, logKeys, origin, last, consistency)
	if err != nil {
		return "", Checkpoint{}, err
	}
	st.Origin = c.Origin
	st.Remember(c)
	if err := st.Save(statePath); err != nil {
		return "", Checkpoint{}, fmt.Errorf("audit: witness: co-signed, but the state is not saved: %w", err)
	}
	return out, c, nil
}

// Witnessed reports whether msg carries a valid signature by witness w
// (an error when it carries an invalid one).
func Witnessed(msg string, w PublicKey) (bool, error) {
	_, err := note.Open([]byte(msg), note.VerifierList(w.note))
	var unknown *note.UnverifiedNoteError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &unknown):
		return false, nil
	}
	return false, err
}

// StoreCosigned stores a co-signed checkpoint among the log's: it must be
// signed by one of logKeys, by witness w, and be a checkpoint of the tree
// in st (its root the root at its size: a stored checkpoint of that size
// with the same root).
func StoreCosigned(ctx context.Context, st store.Store, msg string, logKeys []PublicKey, w PublicKey) (Checkpoint, error) {
	c, err := OpenCheckpoint(msg, logKeys)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: co-signed checkpoint: not signed by the log's key: %w", err)
	}
	if ok, err := Witnessed(msg, w); err != nil || !ok {
		return Checkpoint{}, fmt.Errorf("audit: co-signed checkpoint: no valid signature by witness %s (%v)", w.ID, err)
	}
	if err := knownCheckpoint(ctx, st, c, logKeys); err != nil {
		return Checkpoint{}, err
	}
	if _, err := st.InsertAuditCheckpoint(ctx, store.AuditCheckpoint{Size: c.Size, KeyID: witnessRowID(w.note.Name(), w.note.KeyHash()), Note: msg, Time: time.Now()}); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: %w", err)
	}
	return c, nil
}

// witnessRowID is the key_id a co-signed checkpoint is stored under: the
// witness's note key name and hash (one row per size and witness).
func witnessRowID(name string, hash uint32) string { return fmt.Sprintf("witness/%s+%08x", name, hash) }

// knownCheckpoint checks that c is of the tree in st: a checkpoint of c's
// size that the log signed has c's root.
func knownCheckpoint(ctx context.Context, st store.Store, c Checkpoint, logKeys []PublicKey) error {
	cps, err := st.ListAuditCheckpoints(ctx)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	for _, sc := range cps {
		if sc.Size != c.Size {
			continue
		}
		if k, err := OpenCheckpoint(sc.Note, logKeys); err == nil && bytes.Equal(k.Root, c.Root) {
			return nil
		}
	}
	return fmt.Errorf("audit: co-signed checkpoint: the log holds no checkpoint of size %d with that root", c.Size)
}

// LoadWitnessKey reads a witness's public key: a file holding its
// verifier key (name+hash+base64, what `vigil audit witness keygen`
// prints), or its private key file.
func LoadWitnessKey(path string) (PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return PublicKey{}, err
	}
	if k, err := ParsePublicKey(string(b)); err == nil {
		return k, nil
	}
	k, err := LoadKey(path)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s: neither a verifier key nor a key file: %w", path, err)
	}
	return k.Public(), nil
}

// Consistency is the consistency proof between the log's trees of size
// from and to (0 < from <= to <= the log's size), for a witness.
func (l *Log) Consistency(ctx context.Context, from, to uint64) ([][]byte, error) {
	h, err := l.st.AuditHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if from == 0 || from > to || to > h.Size {
		return nil, fmt.Errorf("%w: a consistency proof needs 0 < from <= to <= %d (the log's size)", ErrNoEntry, h.Size)
	}
	return ConsistencyHashes(ctx, l.st, from, to)
}

// maxWitnessSigs bounds the co-signatures one note may add.
const maxWitnessSigs = 8

// AddCosigned stores checkpoint note msg, co-signed by witnesses, among
// the log's checkpoints: it must be signed by this log's key, be a
// checkpoint of this tree (a stored one of its size has its root), and
// carry at least one other signature line. The log cannot check the
// witnesses' signatures (it does not know their keys): a verifier that
// does (`vigil audit verify --witness-key`) does. It returns the names of
// the witness lines stored.
func (l *Log) AddCosigned(ctx context.Context, msg string) (Checkpoint, []string, error) {
	if len(msg) > 1<<16 {
		return Checkpoint{}, nil, errors.New("audit: co-signed checkpoint: larger than 64 KiB")
	}
	own := []PublicKey{l.key.Public()}
	n, err := note.Open([]byte(msg), note.VerifierList(own[0].note))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("audit: co-signed checkpoint: not signed by this log's key: %w", err)
	}
	c, err := OpenCheckpoint(msg, own)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("audit: co-signed checkpoint: %w", err)
	}
	if c.Origin != l.origin {
		return Checkpoint{}, nil, fmt.Errorf("audit: co-signed checkpoint: origin %q, not %q", c.Origin, l.origin)
	}
	if len(n.UnverifiedSigs) == 0 {
		return Checkpoint{}, nil, errors.New("audit: co-signed checkpoint: no signature line besides the log's")
	}
	if len(n.UnverifiedSigs) > maxWitnessSigs {
		return Checkpoint{}, nil, fmt.Errorf("audit: co-signed checkpoint: more than %d co-signatures", maxWitnessSigs)
	}
	if err := knownCheckpoint(ctx, l.st, c, own); err != nil {
		return Checkpoint{}, nil, err
	}
	var names []string
	for _, s := range n.UnverifiedSigs {
		if _, err := l.st.InsertAuditCheckpoint(ctx, store.AuditCheckpoint{Size: c.Size, KeyID: witnessRowID(s.Name, s.Hash), Note: msg, Time: time.Now()}); err != nil {
			return Checkpoint{}, nil, fmt.Errorf("audit: %w", err)
		}
		names = append(names, s.Name)
	}
	return c, names, nil
}
