package ui

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-sec/vigil/internal/audit"
)

// The audit pages: the latest signed checkpoint and whether it verifies,
// a form that signs one now (admin), and the lineage of a transaction hop
// by hop, each hop checked against the log.
//
// "Verifies" here is what a page can check in a few milliseconds: the
// checkpoint's signature by the log's key, and that the stored tree still
// extends it (an RFC 6962 consistency proof from the stored nodes to the
// current head); for a hop, its leaf's inclusion proof against a
// checkpoint whose signature verifies. `vigil audit verify` re-reads
// every entry.

// keyed is what *audit.Log offers beyond AuditSource: its signing key,
// whose public half the pages verify with.
type keyed interface{ Key() *audit.Key }

// maxHopsChecked bounds the inclusion proofs one lineage page checks.
const maxHopsChecked = 50

type auditData struct {
	Available  bool
	Checkpoint audit.Checkpoint
	Root       string
	Verified   bool
	Status     string
	Head       uint64
	Written    bool
	Err        string
}

// verifyKeys are the keys the pages trust: the log's own.
func (s *Server) verifyKeys() ([]audit.PublicKey, error) {
	k, ok := s.o.Audit.(keyed)
	if !ok || k.Key() == nil {
		return nil, errors.New("the audit source offers no key to verify with")
	}
	return []audit.PublicKey{k.Key().Public()}, nil
}

// verifyCheckpoint checks c's signature and that the stored log extends
// it; it returns the head's size and a sentence starting with "verified"
// or "FAILED".
func (s *Server) verifyCheckpoint(ctx context.Context, c audit.Checkpoint) (bool, uint64, string) {
	keys, err := s.verifyKeys()
	if err != nil {
		return false, 0, "FAILED: " + err.Error()
	}
	opened, err := audit.OpenCheckpoint(c.Note, keys)
	if err != nil {
		return false, 0, "FAILED: the checkpoint's signature does not verify with the log's key " + keys[0].ID + ": " + err.Error()
	}
	head, err := s.o.Store.AuditHead(ctx)
	if err != nil {
		return false, 0, "FAILED: cannot read the log's head: " + err.Error()
	}
	if head.Size < opened.Size {
		return false, head.Size, fmt.Sprintf("FAILED: the log holds %d entries, fewer than the %d the checkpoint signed (truncated)", head.Size, opened.Size)
	}
	root, err := head.Root()
	if err != nil {
		return false, head.Size, "FAILED: the log's head is corrupt: " + err.Error()
	}
	if head.Size == opened.Size {
		if !bytes.Equal(root, opened.Root) {
			return false, head.Size, "FAILED: the stored tree's root differs from the signed one"
		}
		return true, head.Size, fmt.Sprintf("verified: signed by the log's key %s; the stored tree of %d entries has the signed root", keys[0].ID, head.Size)
	}
	hashes, err := audit.ConsistencyHashes(ctx, s.o.Store, opened.Size, head.Size)
	if err == nil {
		err = proof.VerifyConsistency(rfc6962.DefaultHasher, opened.Size, head.Size, hashes, opened.Root, root)
	}
	if err != nil {
		return false, head.Size, "FAILED: the stored log does not extend the checkpoint: " + err.Error()
	}
	return true, head.Size, fmt.Sprintf("verified: signed by the log's key %s; the stored log (%d entries) extends it (consistency proof checked)", keys[0].ID, head.Size)
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) error {
	d := auditData{Available: s.o.Audit != nil, Written: r.URL.Query().Get("written") == "1"}
	if !d.Available {
		return s.render(w, r, "audit", d)
	}
	c, err := s.o.Audit.Latest(r.Context())
	if err != nil {
		d.Status = "FAILED: no checkpoint: " + err.Error()
		return s.render(w, r, "audit", d)
	}
	d.Checkpoint, d.Root = c, base64.StdEncoding.EncodeToString(c.Root)
	d.Verified, d.Head, d.Status = s.verifyCheckpoint(r.Context(), c)
	return s.render(w, r, "audit", d)
}

// checkpointNow signs a checkpoint of the log as it is (admin; the route
// wrapper checked the role and the CSRF token).
func (s *Server) checkpointNow(w http.ResponseWriter, r *http.Request) error {
	if s.o.Audit == nil {
		return notFound("audit log")
	}
	c, err := s.o.Audit.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	s.log.Info("ui: audit checkpoint signed", "size", c.Size, "key", c.KeyID)
	http.Redirect(w, r, "/ui/audit?written=1", http.StatusSeeOther)
	return nil
}

// lineageSearch turns the search form's ?txn_id= into the lineage URL.
func (s *Server) lineageSearch(w http.ResponseWriter, r *http.Request) error {
	id, err := textParam(r.URL.Query(), "txn_id")
	if err != nil {
		return err
	}
	if id == "" || len(id) > maxTxnID {
		return badParam("txn_id", "must be a transaction id")
	}
	http.Redirect(w, r, "/ui/audit/lineage/"+url.PathEscape(id), http.StatusSeeOther)
	return nil
}

type hopRow struct {
	audit.Hop
	Indent   string
	Endpoint string
	Identity string
	Signer   string
	Verified bool
	Check    string
}

type lineageData struct {
	TxnID   string
	Hops    []hopRow
	Checked int
}

func (s *Server) lineagePage(w http.ResponseWriter, r *http.Request) error {
	id, err := txnIDParam(r)
	if err != nil {
		return err
	}
	if s.o.Audit == nil {
		return notFound("audit log")
	}
	hops, err := s.o.Audit.Lineage(r.Context(), id)
	if err != nil {
		return err
	}
	if len(hops) == 0 {
		return notFound("transaction in the audit log")
	}
	keys, kerr := s.verifyKeys()
	d := lineageData{TxnID: id}
	for i, h := range hops {
		row := hopRow{Hop: h, Endpoint: h.Record.Method + " " + h.Record.Endpoint}
		for range min(h.Depth, 8) {
			row.Indent += "↳ "
		}
		if dst := h.Record.Destination; dst != nil && dst.Host != "" {
			row.Endpoint = h.Record.Method + " " + dst.Host + h.Record.Endpoint
		}
		if idn := h.Record.Identity; idn != nil {
			row.Identity = idn.Sub
			if row.Identity == "" {
				row.Identity = idn.ClientID
			}
			if idn.TokenID != "" {
				row.Identity += " (token " + idn.TokenID + ")"
			}
		}
		row.Signer = h.Record.Signer + " (" + h.SignedBy + ")"
		switch {
		case kerr != nil:
			row.Check = "FAILED: " + kerr.Error()
		case i >= maxHopsChecked:
			row.Check = "not checked here (vigil audit verify checks every entry)"
		default:
			row.Verified, row.Check = s.verifyHop(r.Context(), h, keys)
			d.Checked++
		}
		d.Hops = append(d.Hops, row)
	}
	return s.render(w, r, "lineage", d)
}

// verifyHop checks a hop's leaf: its inclusion proof against a
// checkpoint signed by the log's key, and that the leaf is the record
// shown.
func (s *Server) verifyHop(ctx context.Context, h audit.Hop, keys []audit.PublicKey) (bool, string) {
	p, err := s.o.Audit.Prove(ctx, h.Index)
	if err != nil {
		return false, "FAILED: no inclusion proof: " + err.Error()
	}
	if err := p.Verify(); err != nil {
		return false, "FAILED: the inclusion proof does not verify: " + err.Error()
	}
	if _, err := audit.OpenCheckpoint(p.Checkpoint.Note, keys); err != nil {
		return false, "FAILED: the checkpoint's signature does not verify"
	}
	var leaf audit.Signed
	var rec audit.Record
	if json.Unmarshal(p.Leaf, &leaf) != nil || json.Unmarshal(leaf.Record, &rec) != nil || rec.Key != h.Record.Key || rec.Signer != h.Record.Signer {
		return false, "FAILED: the logged leaf is not this record"
	}
	msg := fmt.Sprintf("verified: entry %d is in the signed tree of %d entries", h.Index, p.Size)
	switch {
	case h.SignedBy == audit.SignedByHop:
		msg += "; signed by the hop that handled it"
	case h.Record.HopSignature != "":
		msg += "; signed by the control plane (hop signature " + h.Record.HopSignature + ")"
	default:
		msg += "; signed by the control plane"
	}
	return true, msg
}
