// Package audit is Vigil's tamper-evident audit log: one signed record per
// transaction hop, consent change and configuration change, appended to a
// Merkle tree (RFC 6962/9162 hashing, github.com/transparency-dev/merkle)
// in the control plane's store, with signed checkpoints in the standard
// checkpoint format (golang.org/x/mod/sumdb/note), inclusion and
// consistency proofs, and a verifier that recomputes everything from the
// stored records. See docs/audit.md.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Record kinds.
const (
	KindTransaction = "transaction"
	KindConsent     = "consent"
	KindConfig      = "config"
	// KindKey registers a data plane's signing key in the log the first
	// time the control plane sees a record signed by it (trust on first
	// use): records signed by that key later in the log are then
	// verifiable by anyone who trusts the control plane's key (hop.go).
	KindKey = "key"
)

// Who signed a record (Record.SignedBy), and why the control plane signed
// a transaction record instead of its hop (Record.HopSignature).
const (
	SignedByHop     = "hop"
	SignedByControl = "control"

	HopSigMissing  = "missing"
	HopSigInvalid  = "invalid"
	HopSigUnpinned = "unpinned"
)

// recordVersion is Record.V.
const recordVersion = 1

// Record is the security-relevant part of an event: who called what,
// through which placement, as whom, and what Vigil decided. It never holds
// a secret or a body: the identity is the subject, client id and token
// hash the event already carries, and the request line only as a hash.
// Its JSON encoding (Canonical) is what gets signed and logged.
type Record struct {
	V    int    `json:"v"`
	Kind string `json:"kind"`
	// Key is what makes an append idempotent: the txn_id of a transaction
	// event (a redelivery is not logged again), "consent-<id>-<action>",
	// "config-<revision>".
	Key         string       `json:"key"`
	Time        string       `json:"time"` // RFC 3339, UTC, nanoseconds
	TxnID       string       `json:"txn_id,omitempty"`
	ParentTxnID string       `json:"parent_txn_id,omitempty"`
	TraceID     string       `json:"trace_id,omitempty"`
	Placement   string       `json:"placement,omitempty"`
	Mode        string       `json:"mode,omitempty"`
	Source      *Source      `json:"source,omitempty"`
	Destination *Destination `json:"destination,omitempty"`
	Method      string       `json:"method,omitempty"`
	Endpoint    string       `json:"endpoint,omitempty"`
	// RequestHash is "sha256:" and the hex SHA-256 of the request line as
	// the event records it: method, space, path (as the client spelled
	// it), "?" and the (masked) query when there is one.
	RequestHash string    `json:"request_hash,omitempty"`
	Status      int       `json:"status,omitempty"`
	Identity    *Identity `json:"identity,omitempty"`
	Decision    string    `json:"decision,omitempty"`
	// Rules are the findings' rule ids (stage/kind for a finding without
	// one), in the order found, without repeats.
	Rules   []string `json:"rules,omitempty"`
	Consent *Consent `json:"consent,omitempty"`
	Config  *Config  `json:"config,omitempty"`
	// RegisteredKey is the data-plane key a "key" record registers.
	RegisteredKey *RegisteredKey `json:"registered_key,omitempty"`
	// HopSignature is set on a transaction record that the control plane
	// signed instead of the data plane that handled the hop: "missing"
	// (the event carried no signature: audit off at the hop, or an older
	// data plane), "invalid" (it carried one that does not verify over
	// the record: the event changed after the hop signed it, or the
	// signature was forged) or "unpinned" (a valid signature by a key
	// not in audit.trusted_keys while audit.require_pinned is set).
	HopSignature string `json:"hop_signature,omitempty"`
	// HopKey is the key id the rejected hop signature claimed.
	HopKey string `json:"hop_key,omitempty"`
	// SignedBy is "hop" when the data plane that handled the hop signed
	// the record (Signer is its key); empty when the control plane did.
	SignedBy string `json:"signed_by,omitempty"`
	// Signer is the id of the key that signs the record (KeyID).
	Signer string `json:"signer"`
}

// RegisteredKey is a data plane's record-signing key, as first seen.
type RegisteredKey struct {
	ID string `json:"id"`
	// Verifier is the note verifier key (name+hash+base64).
	Verifier string `json:"verifier"`
	// Placement and FirstTxnID are the placement and txn_id of the first
	// event seen signed by the key.
	Placement  string `json:"placement,omitempty"`
	FirstTxnID string `json:"first_txn_id,omitempty"`
}

// Source is the calling side.
type Source struct {
	IP       string `json:"ip,omitempty"`
	Workload string `json:"workload,omitempty"`
}

// Destination is the called side.
type Destination struct {
	Host     string `json:"host,omitempty"`
	Workload string `json:"workload,omitempty"`
}

// Identity is the identity used: never the token, only its hash.
type Identity struct {
	Sub      string `json:"sub,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	TokenID  string `json:"token_id,omitempty"`
}

// Consent is a consent grant or revocation.
type Consent struct {
	Action    string `json:"action"`
	ID        string `json:"id"`
	Subject   string `json:"subject,omitempty"`
	Grantee   string `json:"grantee,omitempty"`
	Scope     string `json:"scope,omitempty"`
	Resource  string `json:"resource,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

// Config is a configuration overlay distributed to the data planes.
type Config struct {
	Revision int64  `json:"revision"`
	SHA256   string `json:"sha256"` // hex SHA-256 of the overlay's bytes
}

// FromEvent is the record of a transaction or consent event; other event
// types (alerts, stage failures) are not audited (ok false).
func FromEvent(ev *event.Event) (r Record, ok bool) {
	r = Record{V: recordVersion, Key: ev.TxnID, Time: formatTime(ev.Time), TxnID: ev.TxnID, ParentTxnID: ev.ParentTxnID,
		TraceID: ev.TraceID, Placement: ev.Placement, Mode: ev.Mode, Decision: ev.Decision}
	switch ev.Type {
	case "":
		r.Kind = KindTransaction
	case "consent":
		if ev.Consent == nil {
			return Record{}, false
		}
		r.Kind = KindConsent
		c := *ev.Consent
		r.Consent = &Consent{Action: c.Action, ID: c.ID, Subject: c.Subject, Grantee: c.Grantee, Scope: c.Scope,
			Resource: c.Resource, ExpiresAt: c.ExpiresAt}
		return r, ev.TxnID != ""
	default:
		return Record{}, false
	}
	if ev.TxnID == "" {
		return Record{}, false
	}
	if s := (Source{IP: ev.Source.IP, Workload: ev.Source.Workload}); s != (Source{}) {
		r.Source = &s
	}
	if d := (Destination{Host: ev.Destination.Host, Workload: ev.Destination.Workload}); d != (Destination{}) {
		r.Destination = &d
	}
	r.Method, r.Endpoint, r.Status = ev.Request.Method, ev.Request.Endpoint, ev.Response.Status
	if r.Endpoint == "" {
		r.Endpoint = ev.Request.Path
	}
	r.RequestHash = RequestHash(ev)
	if id := ev.Identity; id != nil && (id.Sub != "" || id.ClientID != "" || id.TokenID != "") {
		r.Identity = &Identity{Sub: id.Sub, ClientID: id.ClientID, TokenID: id.TokenID}
	}
	for _, f := range ev.Findings {
		rule := f.RuleID
		if rule == "" {
			rule = f.Stage + "/" + f.Kind
		}
		if !slices.Contains(r.Rules, rule) {
			r.Rules = append(r.Rules, rule)
		}
	}
	return r, true
}

// ConfigRecord is the record of a configuration overlay.
func ConfigRecord(revision int64, overlay []byte, at time.Time) Record {
	sum := sha256.Sum256(overlay)
	return Record{V: recordVersion, Kind: KindConfig, Key: fmt.Sprintf("config-%d", revision), Time: formatTime(at),
		Placement: "control", Decision: event.DecisionAllow, Config: &Config{Revision: revision, SHA256: hex.EncodeToString(sum[:])}}
}

// RequestHash is the request line's hash of Record.RequestHash.
func RequestHash(ev *event.Event) string {
	if ev.Request.Method == "" && ev.Request.Path == "" {
		return ""
	}
	p := ev.Request.RawPath
	if p == "" {
		p = ev.Request.Path
	}
	line := ev.Request.Method + " " + p
	if ev.Request.Query != "" {
		line += "?" + ev.Request.Query
	}
	sum := sha256.Sum256([]byte(line))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ParseTime reads Record.Time.
func (r *Record) ParseTime() (time.Time, error) { return time.Parse(time.RFC3339Nano, r.Time) }

// Canonical is the record's signed form: its JSON with the fields in
// declaration order, empty ones left out, no HTML escaping, no trailing
// newline, and every string valid UTF-8. Decoding it and encoding again
// gives the same bytes (Verify checks that).
func Canonical(r Record) ([]byte, error) {
	sanitize(&r)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// sanitize replaces invalid UTF-8 (which encoding/json would replace on
// the way out, so that a decoded record would encode differently) and NUL.
func sanitize(r *Record) {
	// r is a copy; what its pointers and slices share with the caller's
	// record is copied before it is changed.
	r.Rules = slices.Clone(r.Rules)
	for _, p := range []any{&r.Source, &r.Destination, &r.Identity, &r.Consent, &r.Config, &r.RegisteredKey} {
		switch p := p.(type) {
		case **RegisteredKey:
			if *p != nil {
				v := **p
				*p = &v
			}
		case **Source:
			if *p != nil {
				v := **p
				*p = &v
			}
		case **Destination:
			if *p != nil {
				v := **p
				*p = &v
			}
		case **Identity:
			if *p != nil {
				v := **p
				*p = &v
			}
		case **Consent:
			if *p != nil {
				v := **p
				*p = &v
			}
		case **Config:
			if *p != nil {
				v := **p
				*p = &v
			}
		}
	}
	fix := func(s *string) {
		*s = strings.ReplaceAll(strings.ToValidUTF8(*s, "\uFFFD"), "\x00", "\uFFFD")
	}
	for _, s := range []*string{&r.Kind, &r.Key, &r.Time, &r.TxnID, &r.ParentTxnID, &r.TraceID, &r.Placement, &r.Mode,
		&r.Method, &r.Endpoint, &r.RequestHash, &r.Decision, &r.HopSignature, &r.HopKey, &r.SignedBy, &r.Signer} {
		fix(s)
	}
	if r.Source != nil {
		fix(&r.Source.IP)
		fix(&r.Source.Workload)
	}
	if r.Destination != nil {
		fix(&r.Destination.Host)
		fix(&r.Destination.Workload)
	}
	if r.Identity != nil {
		fix(&r.Identity.Sub)
		fix(&r.Identity.ClientID)
		fix(&r.Identity.TokenID)
	}
	for i := range r.Rules {
		fix(&r.Rules[i])
	}
	if k := r.RegisteredKey; k != nil {
		for _, s := range []*string{&k.ID, &k.Verifier, &k.Placement, &k.FirstTxnID} {
			fix(s)
		}
	}
	if c := r.Consent; c != nil {
		for _, s := range []*string{&c.Action, &c.ID, &c.Subject, &c.Grantee, &c.Scope, &c.Resource, &c.ExpiresAt} {
			fix(s)
		}
	}
}
