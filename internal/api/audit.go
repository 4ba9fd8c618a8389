package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/audit"
)

// AuditService is the audit log (audit.Log).
type AuditService interface {
	// Latest is the latest signed checkpoint (one is made if none exists).
	Latest(ctx context.Context) (audit.Checkpoint, error)
	// Prove is the inclusion proof of an entry against the latest
	// checkpoint; audit.ErrNoEntry wrapped for an entry not in the log.
	Prove(ctx context.Context, index uint64) (audit.InclusionProof, error)
	// Lineage is every hop of a transaction in call order.
	Lineage(ctx context.Context, txnID string) ([]audit.Hop, error)
}

var _ AuditService = (*audit.Log)(nil)

func (s *Server) audit() (AuditService, error) {
	if s.Audit == nil {
		return nil, errorf(http.StatusNotImplemented, "no_audit", "this node keeps no audit log")
	}
	return s.Audit, nil
}

// auditCheckpoint serves the latest checkpoint: the signed note as text,
// or as JSON (origin, size, root_hash, note) when the client accepts
// application/json and not text/plain.
func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	a, err := s.audit()
	if err != nil {
		return err
	}
	c, err := a.Latest(r.Context())
	if err != nil {
		return err
	}
	if acc := r.Header.Get("Accept"); strings.Contains(acc, "application/json") && !strings.Contains(acc, "text/plain") {
		return writeJSON(w, http.StatusOK, c)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = w.Write([]byte(c.Note))
	return err
}

func (s *Server) auditProof(w http.ResponseWriter, r *http.Request) error {
	a, err := s.audit()
	if err != nil {
		return err
	}
	v := r.URL.Query().Get("index")
	n, perr := strconv.ParseUint(v, 10, 64)
	if perr != nil {
		return errorf(http.StatusBadRequest, "bad_index", "index must be an entry number (0, 1, ...)")
	}
	p, err := a.Prove(r.Context(), n)
	if errors.Is(err, audit.ErrNoEntry) {
		return errorf(http.StatusNotFound, "not_found", "%v", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// lineageResponse is the body of GET /api/v1/audit/lineage/{txn_id}.
type lineageResponse struct {
	TxnID string      `json:"txn_id"`
	Hops  []audit.Hop `json:"hops"`
}

func (s *Server) auditLineage(w http.ResponseWriter, r *http.Request) error {
	a, err := s.audit()
	if err != nil {
		return err
	}
	id := r.PathValue("txn_id")
	hops, err := a.Lineage(r.Context(), id)
	if err != nil {
		return err
	}
	if len(hops) == 0 {
		return errorf(http.StatusNotFound, "not_found", "no audit record of transaction %q", id)
	}
	return writeJSON(w, http.StatusOK, lineageResponse{TxnID: id, Hops: hops})
}

// AuditWitnessService is what a witness needs of the audit log beyond
// AuditService (audit.Log has both): consistency proofs, and storing the
// checkpoints it co-signed.
type AuditWitnessService interface {
	Consistency(ctx context.Context, from, to uint64) ([][]byte, error)
	AddCosigned(ctx context.Context, note string) (audit.Checkpoint, []string, error)
}

var _ AuditWitnessService = (*audit.Log)(nil)

func (s *Server) auditWitness() (AuditWitnessService, error) {
	a, err := s.audit()
	if err != nil {
		return nil, err
	}
	w, ok := a.(AuditWitnessService)
	if !ok {
		return nil, errorf(http.StatusNotImplemented, "no_audit", "this node's audit log serves no witnesses")
	}
	return w, nil
}

// consistencyResponse is the body of GET /api/v1/audit/consistency.
type consistencyResponse struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes [][]byte `json:"hashes"` // base64
}

// auditConsistency serves the RFC 6962 consistency proof between the
// trees of size from and to, for a witness.
func (s *Server) auditConsistency(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.auditWitness()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	from, ferr := strconv.ParseUint(q.Get("from"), 10, 64)
	to, terr := strconv.ParseUint(q.Get("to"), 10, 64)
	if ferr != nil || terr != nil || from == 0 || from > to {
		return errorf(http.StatusBadRequest, "bad_range", "from and to must be tree sizes with 0 < from <= to")
	}
	hs, err := ws.Consistency(r.Context(), from, to)
	if errors.Is(err, audit.ErrNoEntry) {
		return errorf(http.StatusNotFound, "not_found", "%v", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, consistencyResponse{From: from, To: to, Hashes: hs})
}

// maxCosignedBody bounds a posted co-signed checkpoint.
const maxCosignedBody = 64 << 10

// auditCosigned stores a checkpoint note a witness co-signed (text/plain).
func (s *Server) auditCosigned(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.auditWitness()
	if err != nil {
		return err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/plain") {
		return errorf(http.StatusUnsupportedMediaType, "bad_content_type", "send the co-signed checkpoint note as text/plain")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCosignedBody))
	if err != nil {
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "a checkpoint note is at most %d bytes", maxCosignedBody)
	}
	c, names, err := ws.AddCosigned(r.Context(), string(b))
	if err != nil {
		return errorf(http.StatusUnprocessableEntity, "bad_checkpoint", "%v", err)
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"size": c.Size, "witnesses": names})
}
