// Package api is the control plane's REST API under /api/v1 (SPEC "REST
// API"): bearer-token auth, JSON errors {"error":{"code","message"}},
// lists as {"items":[...],"next_cursor":"..."} paged with limit/cursor.
// Handlers return errors; one place turns them into responses.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/bearer"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// ConfigPublisher distributes a configuration overlay to the data planes.
type ConfigPublisher interface {
	// PublishConfig validates and distributes the YAML overlay, returning
	// its revision. A rejected overlay (a key that is not distributable,
	// an invalid value) is an error with an InvalidConfig() bool method
	// returning true (422); any other error is the server's (500).
	PublishConfig(ctx context.Context, yaml []byte) (int64, error)
	// CurrentConfig returns the overlay in force (nil if none) and revision.
	CurrentConfig(ctx context.Context) ([]byte, int64, error)
}

// Server serves the API.
type Server struct {
	// Store holds events and the inventory.
	Store store.Store
	// Discovery, when set, gives richer endpoint detail (learned schemas)
	// and the reconstructed OpenAPI documents; otherwise the store's rows.
	Discovery *discovery.Engine
	// Config distributes configuration; nil disables /api/v1/config.
	Config ConfigPublisher
	// Consents keeps consent grants; nil disables /api/v1/consents.
	Consents ConsentService
	// Graph serves the call graph and the risk scores; nil disables
	// /api/v1/connections and /api/v1/risk.
	Graph GraphService
	// Audit serves the audit log; nil disables /api/v1/audit.
	Audit AuditService
	// Token is the bearer token (required).
	Token string
	Log   *slog.Logger
}

// Error is an API error with its status and code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

type handler func(w http.ResponseWriter, r *http.Request) error

//go:embed openapi.json
var selfSpec []byte

// route is one registered pattern and its handler.
type route struct {
	pattern string
	fn      handler
}

// routes is the API's route table: Register mounts it, and the tests walk
// it (every route authenticated, every route in the published spec).
func (s *Server) routes() []route {
	rs := []route{
		{"GET /api/v1/endpoints", s.listEndpoints},
		{"GET /api/v1/endpoints/{id}", s.getEndpoint},
		{"GET /api/v1/openapi", s.openapi},
		{"GET /api/v1/events", s.listEvents},
		{"GET /api/v1/config", s.getConfig},
		{"PUT /api/v1/config", s.putConfig},
		{"POST /api/v1/consents", s.grantConsent},
		{"GET /api/v1/consents", s.listConsents},
		{"GET /api/v1/consents/{id}", s.getConsent},
		{"DELETE /api/v1/consents/{id}", s.revokeConsent},
		{"GET /api/v1/spec", func(w http.ResponseWriter, _ *http.Request) error {
			w.Header().Set("Content-Type", "application/json")
			_, err := w.Write(selfSpec)
			return err
		}},
	}
	rs = append(rs, route{"GET /api/v1/connections", s.listConnections}, route{"GET /api/v1/risk", s.listRisk})
	rs = append(rs, route{"GET /api/v1/audit/checkpoint", s.auditCheckpoint}, route{"GET /api/v1/audit/proof", s.auditProof},
		route{"GET /api/v1/audit/lineage/{txn_id}", s.auditLineage}, route{"GET /api/v1/audit/consistency", s.auditConsistency},
		route{"POST /api/v1/audit/checkpoint/cosigned", s.auditCosigned})
	return append(rs, route{"/api/v1/", func(http.ResponseWriter, *http.Request) error {
		return errorf(http.StatusNotFound, "not_found", "no such API route")
	}})
}

// Register mounts the API on mux.
func (s *Server) Register(mux *http.ServeMux) {
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.wrap(rt.fn))
	}
}

// wrap adds auth and the one error-to-response mapping.
func (s *Server) wrap(fn handler) http.Handler {
	tok := bearer.New(s.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		err := func() error {
			if !tok.Valid(r) {
				bearer.Challenge(w)
				return errorf(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
			}
			return fn(w, r)
		}()
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = errorf(http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, store.ErrBadCursor):
		ae = errorf(http.StatusBadRequest, "bad_cursor", "the cursor is not valid for this list")
	case errors.Is(err, context.Canceled):
		return
	default:
		if s.Log != nil {
			s.Log.Error("api error", "path", r.URL.Path, "err", err)
		}
		ae = errorf(http.StatusInternalServerError, "internal", "internal error")
	}
	writeJSON(w, ae.Status, map[string]any{"error": map[string]string{"code": ae.Code, "message": ae.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

// list is the SPEC list shape.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func paging(r *http.Request) (limit int, cursor string, err error) {
	q := r.URL.Query()
	if l := q.Get("limit"); l != "" {
		n, perr := strconv.Atoi(l)
		if perr != nil || n < 1 || n > store.MaxLimit {
			return 0, "", errorf(http.StatusBadRequest, "bad_limit", "limit must be an integer from 1 to %d", store.MaxLimit)
		}
		limit = n
	}
	return limit, q.Get("cursor"), nil
}

// parseSince accepts RFC 3339 times and relative durations ("15m").
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errorf(http.StatusBadRequest, "bad_since", "since must be an RFC 3339 time or a duration like 15m")
}

// endpointRow is the SPEC inventory row.
type endpointRow struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Hits      int64     `json:"hits"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Protected bool      `json:"protected"`
	Status    string    `json:"status"`
	Sensitive []string  `json:"sensitive"`
}

func rowOf(e store.Endpoint) endpointRow {
	sens := e.Sensitive
	if sens == nil {
		sens = []string{}
	}
	return endpointRow{ID: e.ID, Host: e.Host, Method: e.Method, Path: e.Path, Hits: e.Hits, FirstSeen: e.FirstSeen,
		LastSeen: e.LastSeen, Protected: e.Protected, Status: e.Status, Sensitive: sens}
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := paging(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if st := q.Get("status"); st != "" && st != "documented" && st != "shadow" && st != "zombie" {
		return errorf(http.StatusBadRequest, "bad_status", "status must be documented, shadow or zombie")
	}
	page, err := s.Store.ListEndpoints(r.Context(), store.EndpointFilter{Host: q.Get("host"), Status: q.Get("status"), Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	out := list[endpointRow]{Items: make([]endpointRow, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, e := range page.Items {
		out.Items = append(out.Items, rowOf(e))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if s.Discovery != nil {
		if ep, ok := s.Discovery.Endpoint(id); ok {
			return writeJSON(w, http.StatusOK, ep)
		}
	}
	e, err := s.Store.GetEndpoint(r.Context(), id)
	if err != nil {
		return err
	}
	out := map[string]any{}
	if len(e.Detail) > 0 {
		_ = json.Unmarshal(e.Detail, &out)
	}
	row, _ := json.Marshal(rowOf(e))
	_ = json.Unmarshal(row, &out)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	if s.Discovery == nil {
		return errorf(http.StatusServiceUnavailable, "no_inventory", "no inventory is available on this node")
	}
	doc, err := s.Discovery.OpenAPI(r.URL.Query().Get("host"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(doc)
	return err
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := paging(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	since, err := parseSince(q.Get("since"), time.Now())
	if err != nil {
		return err
	}
	switch d := q.Get("decision"); d {
	case "", event.DecisionAllow, event.DecisionBlock, event.DecisionChallenge, event.DecisionStepUp:
	default:
		return errorf(http.StatusBadRequest, "bad_decision", "decision must be allow, block, challenge or step_up")
	}
	page, err := s.Store.ListEvents(r.Context(), store.EventFilter{Decision: q.Get("decision"), Endpoint: q.Get("endpoint"),
		Type: q.Get("type"), Since: since, Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []event.Event{}
	}
	return writeJSON(w, http.StatusOK, list[event.Event]{Items: page.Items, NextCursor: page.NextCursor})
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) error {
	if s.Config == nil {
		return errorf(http.StatusNotImplemented, "no_config_distribution", "this node does not distribute configuration")
	}
	doc, rev, err := s.Config.CurrentConfig(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"revision": rev, "yaml": string(doc)})
}

func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) error {
	if s.Config == nil {
		return errorf(http.StatusNotImplemented, "no_config_distribution", "this node does not distribute configuration")
	}
	body := http.MaxBytesReader(w, r.Body, 1<<20)
	var buf strings.Builder
	if _, err := copyN(&buf, body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "too_large", "config documents are limited to 1 MiB")
		}
		return errorf(http.StatusBadRequest, "bad_body", "could not read the request body")
	}
	rev, err := s.Config.PublishConfig(r.Context(), []byte(buf.String()))
	var inv interface{ InvalidConfig() bool }
	if errors.As(err, &inv) && inv.InvalidConfig() {
		return errorf(http.StatusUnprocessableEntity, "invalid_config", "%v", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"revision": rev})
}
