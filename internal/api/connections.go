package api

import (
	"context"
	"net/http"

	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/store"
)

// GraphService serves the observed call graph and the residual
// connectivity risk of each workload API (the control plane).
type GraphService interface {
	Connections(ctx context.Context, f store.ConnectionFilter) (store.Page[risk.Edge], error)
	Risk(ctx context.Context) ([]risk.Score, error)
}

// connectionRow is an edge as GET /api/v1/connections lists it: the
// edge's counters and TLS facts, whether all of its traffic was mutual
// TLS, and the risk of its traffic alone.
type connectionRow struct {
	risk.Edge
	MTLS bool `json:"mtls"`
	Risk int  `json:"risk"`
}

func (s *Server) graph() (GraphService, error) {
	if s.Graph == nil {
		return nil, errorf(http.StatusNotImplemented, "no_graph", "this node does not keep the call graph")
	}
	return s.Graph, nil
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) error {
	g, err := s.graph()
	if err != nil {
		return err
	}
	limit, cursor, err := paging(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	page, err := g.Connections(r.Context(), store.ConnectionFilter{Source: q.Get("source"), Destination: q.Get("destination"),
		Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	rows := make([]connectionRow, 0, len(page.Items))
	for _, e := range page.Items {
		rows = append(rows, connectionRow{Edge: e, MTLS: e.Requests > 0 && e.MTLS == e.Requests, Risk: risk.EdgeRisk(e)})
	}
	return writeJSON(w, http.StatusOK, list[connectionRow]{Items: rows, NextCursor: page.NextCursor})
}

func (s *Server) listRisk(w http.ResponseWriter, r *http.Request) error {
	g, err := s.graph()
	if err != nil {
		return err
	}
	scores, err := g.Risk(r.Context())
	if err != nil {
		return err
	}
	if scores == nil {
		scores = []risk.Score{}
	}
	return writeJSON(w, http.StatusOK, list[risk.Score]{Items: scores})
}
