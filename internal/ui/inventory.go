package ui

import (
	"net/http"

	"github.com/vigil-sec/vigil/internal/store"
)

// inventoryData is what inventory.html shows.
type inventoryData struct {
	Items []store.Endpoint
}

func (s *Server) inventory(w http.ResponseWriter, r *http.Request) error {
	p, err := s.o.Store.ListEndpoints(r.Context(), store.EndpointFilter{})
	if err != nil {
		return err
	}
	return s.render(w, r, "inventory", inventoryData{Items: p.Items})
}

func (s *Server) inventoryRows(w http.ResponseWriter, r *http.Request) error {
	p, err := s.o.Store.ListEndpoints(r.Context(), store.EndpointFilter{})
	if err != nil {
		return err
	}
	return s.renderFragment(w, r, "inventory", "rows", inventoryData{Items: p.Items})
}
