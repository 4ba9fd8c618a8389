package audit

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// Per-hop signing. A data plane signs the record of each transaction it
// handled (HopSigner, an event sink on the event queue's writer goroutine)
// and the signature travels in the event (event.AuditSig). The control
// plane rebuilds the same record from the event it received (HopRecord),
// checks the signature and logs the record with the hop's signature
// (Log.AppendEvents); the first record by a key it has not logged before is
// preceded by a "key" record, signed by the control plane, that registers
// the hop's public key in the log. A verifier trusting the control plane's
// key therefore trusts the hop keys registered in the log before the
// records they sign (trust on first use), or only those it pins
// (VerifyOptions.RequirePinned).

// HopRecord is the record of ev as the control plane rebuilds it from the
// event's JSON, signed by keyID as its hop: built from the event as
// AppendJSON encodes it (the time at microseconds, invalid UTF-8 replaced
// byte by byte), so the data plane that signs the event before it is
// encoded and the control plane that decodes it build the same record.
// ok is false for events that are not audited (alerts, stage failures).
func HopRecord(ev *event.Event, keyID string) (r Record, ok bool) {
	v := wireView(ev)
	if r, ok = FromEvent(&v); !ok || r.Kind != KindTransaction {
		return Record{}, false
	}
	r.SignedBy, r.Signer = SignedByHop, keyID
	return r, true
}

// HopSigner signs a data plane's records. It is an event.Sink: installed
// before the sinks that encode the events (the bus publisher, the events
// file), it sets ev.Audit on every transaction event of the batch, off the
// request path.
type HopSigner struct {
	key    *Key
	signed atomic.Uint64
	failed atomic.Uint64
}

// NewHopSigner signs with k.
func NewHopSigner(k *Key) *HopSigner { return &HopSigner{key: k} }

// Key is the signing key.
func (s *HopSigner) Key() *Key { return s.key }

// Sign sets ev.Audit to the signature of its record (HopRecord) and
// reports whether it did (not for events that are not audited).
func (s *HopSigner) Sign(ev *event.Event) bool {
	return s.signBatch([]*event.Event{ev}) == 1
}

// WriteEvents implements event.Sink: it signs the batch in place, one
// signature per BatchMax records (signBatch), the records' canonical
// JSON on every core when the batch is large.
func (s *HopSigner) WriteEvents(batch []*event.Event) error {
	s.signBatch(batch)
	return nil
}

// signBatch signs the audited events of evs, BatchMax records per
// signature; it returns how many it signed.
func (s *HopSigner) signBatch(evs []*event.Event) int {
	canon := make([][]byte, len(evs))
	parallel(len(evs), func(i int) {
		r, ok := HopRecord(evs[i], s.key.ID)
		if !ok {
			return
		}
		c, err := Canonical(r)
		if err != nil {
			s.failed.Add(1)
			return
		}
		canon[i] = c
	})
	n := signEach(s.key, canon, func(i int, sig []byte, p *BatchPath) {
		a := &event.AuditSig{KeyID: s.key.ID, PublicKey: s.key.Verifier, Sig: base64.StdEncoding.EncodeToString(sig)}
		if p != nil {
			a.Batch = &event.AuditBatch{Size: p.Size, Index: p.Index, Path: make([]string, len(p.Path))}
			for k, h := range p.Path {
				a.Batch.Path[k] = base64.StdEncoding.EncodeToString(h)
			}
		}
		evs[i].Audit = a
	})
	s.signed.Add(uint64(n))
	return n
}

// Signed counts the events signed.
func (s *HopSigner) Signed() uint64 { return s.signed.Load() }

// wireView is ev as it is after a round trip through its JSON: the fields
// FromEvent reads, with the time truncated to microseconds and invalid
// UTF-8 replaced as encoding/json replaces it. Nothing is copied when the
// strings are valid (the usual case).
func wireView(ev *event.Event) event.Event {
	v := *ev
	v.Time = ev.Time.Truncate(time.Microsecond)
	for _, p := range []*string{&v.Type, &v.TxnID, &v.ParentTxnID, &v.TraceID, &v.Placement, &v.Mode, &v.Decision,
		&v.Source.IP, &v.Source.Workload, &v.Destination.Host, &v.Destination.Workload,
		&v.Request.Method, &v.Request.Path, &v.Request.RawPath, &v.Request.Endpoint, &v.Request.Query} {
		*p = wireString(*p)
	}
	if id := ev.Identity; id != nil && !(utf8.ValidString(id.Sub) && utf8.ValidString(id.ClientID) && utf8.ValidString(id.TokenID)) {
		c := *id
		c.Sub, c.ClientID, c.TokenID = wireString(c.Sub), wireString(c.ClientID), wireString(c.TokenID)
		v.Identity = &c
	}
	for i := range ev.Findings {
		f := &ev.Findings[i]
		if utf8.ValidString(f.RuleID) && utf8.ValidString(f.Stage) && utf8.ValidString(f.Kind) {
			continue
		}
		fs := make([]event.Finding, len(ev.Findings))
		for j, f := range ev.Findings {
			fs[j] = event.Finding{RuleID: wireString(f.RuleID), Stage: wireString(f.Stage), Kind: wireString(f.Kind)}
		}
		v.Findings = fs
		break
	}
	return v
}

// wireString is s as encoding/json (and event.AppendJSON) encodes it: each
// byte that is not part of valid UTF-8 becomes U+FFFD.
func wireString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// hopTrust is what a Log knows of hop keys.
type hopTrust struct {
	mu sync.Mutex
	// parsed caches the verifier keys events carry (a few per data
	// plane); bounded.
	parsed map[string]PublicKey
	// logged are the hop keys whose "key" record this process saw
	// committed.
	logged map[string]bool
	// pinned are the keys of audit.trusted_keys; with requirePinned only
	// they sign hop records.
	pinned        map[string]bool
	requirePinned bool
	// batches are the hop batch signatures that verified: one Ed25519
	// check per batch, not per record.
	batches batchSeen
}

const maxParsedKeys = 4096

func (h *hopTrust) parse(vkey string) (PublicKey, error) {
	h.mu.Lock()
	pk, ok := h.parsed[vkey]
	h.mu.Unlock()
	if ok {
		return pk, nil
	}
	pk, err := ParsePublicKey(vkey)
	if err != nil {
		return PublicKey{}, err
	}
	h.mu.Lock()
	if h.parsed == nil || len(h.parsed) >= maxParsedKeys {
		h.parsed = map[string]PublicKey{}
	}
	h.parsed[vkey] = pk
	h.mu.Unlock()
	return pk, nil
}

// TrustHopKeys sets the pinned hop keys (audit.trusted_keys); with
// requirePinned, a valid hop signature by any other key is not logged as
// the hop's: the control plane signs the record, marked "unpinned".
func (l *Log) TrustHopKeys(pinned []PublicKey, requirePinned bool) {
	l.hops.mu.Lock()
	defer l.hops.mu.Unlock()
	l.hops.pinned = map[string]bool{}
	for _, k := range pinned {
		l.hops.pinned[k.ID] = true
	}
	l.hops.requirePinned = requirePinned
}

// RejectedHop is a hop signature the control plane did not log as the
// hop's: the record was logged signed by the control plane instead,
// marked with Status.
type RejectedHop struct {
	Index  int64  `json:"index"` // the record's entry
	TxnID  string `json:"txn_id"`
	KeyID  string `json:"key_id"`
	Status string `json:"status"` // invalid, unpinned
	Reason string `json:"reason"`
}

// EventsAppended is what AppendEvents did.
type EventsAppended struct {
	// Index[i] is the entry of evs[i]'s record; -1 when it has none (not
	// audited) or it was logged before.
	Index []int64
	// HopSigned counts the new entries signed by their hop.
	HopSigned int
	// Rejected are the new entries whose hop signature was rejected.
	Rejected []RejectedHop
	// Registered are the hop keys registered by this append.
	Registered []string
}

// AppendEvents appends the records of the audited events among evs, in
// order and idempotently by txn_id like Append. A transaction event whose
// hop signed it (ev.Audit) is logged with the hop's signature when it
// verifies over the record rebuilt from the event, and the hop's key is
// registered in the log before its first record (a "key" record, signed by
// this log's key). Otherwise the control plane signs the record, marked
// hop_signature "missing", "invalid" or "unpinned"; the invalid and
// unpinned ones are returned in Rejected.
func (l *Log) AppendEvents(ctx context.Context, evs []event.Event) (EventsAppended, error) {
	res := EventsAppended{Index: make([]int64, len(evs))}
	ents := make([]entry, 0, len(evs))
	pos := make([]int, len(evs)) // evs[i] -> ents index, or -1
	type rejected struct {
		ent int
		rej RejectedHop
	}
	var rejects []rejected
	newKeys := map[string]bool{}
	l.hops.mu.Lock()
	requirePinned := l.hops.requirePinned
	l.hops.mu.Unlock()
	// Checking a signature (Ed25519 verify) is the costly part: large
	// batches are checked on every core.
	type check struct {
		r          Record
		canon, sig []byte
		batch      *BatchPath
		pk         PublicKey
		reason     string
	}
	checks := make([]check, len(evs))
	parallel(len(evs), func(i int) {
		if ev := &evs[i]; ev.Audit != nil && ev.Type == "" {
			c := &checks[i]
			c.r, c.canon, c.sig, c.batch, c.pk, c.reason = l.checkHop(ev)
		}
	})
	for i := range evs {
		ev := &evs[i]
		pos[i], res.Index[i] = -1, -1
		r, ok := FromEvent(ev)
		if !ok {
			continue
		}
		if r.Kind != KindTransaction {
			pos[i] = len(ents)
			ents = append(ents, entry{rec: r})
			continue
		}
		if ev.Audit == nil {
			r.HopSignature = HopSigMissing
			pos[i] = len(ents)
			ents = append(ents, entry{rec: r})
			continue
		}
		hr, canon, sig, pk, reason := checks[i].r, checks[i].canon, checks[i].sig, checks[i].pk, checks[i].reason
		status := ""
		switch {
		case reason != "":
			status = HopSigInvalid
		case requirePinned && pk.ID != l.key.ID && !l.pinned(pk.ID):
			status, reason = HopSigUnpinned, "the key is not in audit.trusted_keys (audit.require_pinned)"
		}
		if status != "" {
			r.HopSignature, r.HopKey = status, clip(ev.Audit.KeyID, 64)
			pos[i] = len(ents)
			rejects = append(rejects, rejected{len(ents), RejectedHop{TxnID: ev.TxnID, KeyID: r.HopKey, Status: status, Reason: reason}})
			ents = append(ents, entry{rec: r})
			continue
		}
		if pk.ID != l.key.ID && !newKeys[pk.ID] && !l.logged(pk.ID) {
			newKeys[pk.ID] = true
			ents = append(ents, entry{rec: keyRecord(pk, ev)})
			res.Registered = append(res.Registered, pk.ID)
		}
		pos[i] = len(ents)
		ents = append(ents, entry{rec: hr, canon: canon, sig: sig, batch: checks[i].batch, hop: true})
	}
	idx, err := l.append(ctx, ents)
	if err != nil {
		return EventsAppended{}, err
	}
	for i, p := range pos {
		if p >= 0 {
			res.Index[i] = idx[p]
			if idx[p] >= 0 && ents[p].hop {
				res.HopSigned++
			}
		}
	}
	for _, rj := range rejects {
		if idx[rj.ent] >= 0 {
			rj.rej.Index = idx[rj.ent]
			res.Rejected = append(res.Rejected, rj.rej)
		}
	}
	if len(newKeys) > 0 {
		l.hops.mu.Lock()
		if l.hops.logged == nil {
			l.hops.logged = map[string]bool{}
		}
		for id := range newKeys {
			l.hops.logged[id] = true
		}
		l.hops.mu.Unlock()
		for i := range ents {
			if k := ents[i].rec.RegisteredKey; k != nil {
				// The key table lists every key seen; trust comes from
				// the log (or the verifier's pins), not from it.
				_ = l.st.PutAuditKey(ctx, store.AuditKey{ID: k.ID, Verifier: k.Verifier, Created: time.Now()})
			}
		}
	}
	return res, nil
}

func (l *Log) pinned(id string) bool {
	l.hops.mu.Lock()
	defer l.hops.mu.Unlock()
	return l.hops.pinned[id]
}

func (l *Log) logged(id string) bool {
	l.hops.mu.Lock()
	defer l.hops.mu.Unlock()
	return l.hops.logged[id]
}

// checkHop checks ev's hop signature over the record rebuilt from ev:
// reason is "" when it verifies.
func (l *Log) checkHop(ev *event.Event) (r Record, canon, sig []byte, batch *BatchPath, pk PublicKey, reason string) {
	a := ev.Audit
	pk, err := l.hops.parse(a.PublicKey)
	if err != nil {
		return Record{}, nil, nil, nil, PublicKey{}, fmt.Sprintf("public key: %v", err)
	}
	if pk.ID != a.KeyID {
		return Record{}, nil, nil, nil, PublicKey{}, fmt.Sprintf("key id %.64q is not the id of the public key (%s)", a.KeyID, pk.ID)
	}
	sig, err = base64.StdEncoding.DecodeString(a.Sig)
	if err != nil || len(sig) != 64 {
		return Record{}, nil, nil, nil, PublicKey{}, "the signature is not 64 bytes of base64"
	}
	var bp *BatchPath
	if b := a.Batch; b != nil {
		if len(b.Path) > 16 {
			return Record{}, nil, nil, nil, PublicKey{}, "the batch path is longer than 16 hashes"
		}
		bp = &BatchPath{Size: b.Size, Index: b.Index, Path: make([][]byte, len(b.Path))}
		for i, h := range b.Path {
			if bp.Path[i], err = base64.StdEncoding.DecodeString(h); err != nil {
				return Record{}, nil, nil, nil, PublicKey{}, "the batch path is not base64"
			}
		}
	}
	r, ok := HopRecord(ev, pk.ID)
	if !ok {
		return Record{}, nil, nil, nil, PublicKey{}, "not an audited event"
	}
	canon, err = Canonical(r)
	if err != nil {
		return Record{}, nil, nil, nil, PublicKey{}, err.Error()
	}
	batch = bp
	if !pk.verifySigned(canon, sig, bp, &l.hops.batches) {
		return Record{}, nil, nil, nil, PublicKey{}, "the signature does not verify over the record rebuilt from the event (changed after the hop signed it, or forged)"
	}
	return r, canon, sig, batch, pk, ""
}

// keyRecord registers hop key pk, first seen on ev.
func keyRecord(pk PublicKey, ev *event.Event) Record {
	return Record{V: recordVersion, Kind: KindKey, Key: "key-" + pk.ID, Time: formatTime(time.Now()), Placement: "control",
		RegisteredKey: &RegisteredKey{ID: pk.ID, Verifier: pk.Verifier, Placement: ev.Placement, FirstTxnID: ev.TxnID}}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
