package ui

import (
	"net/http"
)

func (s *Server) endpoint(w http.ResponseWriter, r *http.Request) error {
	e, err := s.o.Store.GetEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, "endpoint", e)
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	if s.o.Discovery == nil {
		return notFound("inventory on this node")
	}
	doc, err := s.o.Discovery.OpenAPI(r.URL.Query().Get("host"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="openapi.json"`)
	_, err = w.Write(doc)
	return err
}
