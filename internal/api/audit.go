package api

import (
	"context"
	"errors"
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
