package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/store"
)

// recentFindings is how many findings the endpoint page lists.
const recentFindings = 20

// paramRow is one parameter of an endpoint.
type paramRow struct {
	Name, In, Kind string
	Required       bool
	Seen           int64
}

// sensitiveField is where a data class was seen.
type sensitiveField struct {
	Field   string
	Classes []string
}

// endpointData is what endpoint.html shows.
type endpointData struct {
	EP              discovery.Endpoint
	Params          []paramRow
	RequestSchema   string
	ResponseSchemas string
	Sensitive       []sensitiveField
	Findings        []store.FindingRow
	OpenAPIURL      string
	StatusCodes     []statusCount
}

type statusCount struct {
	Code  int
	Count int64
}

// lookupEndpoint finds an endpoint by id: the engine's live row when this
// node keeps the inventory, else the stored row and its detail.
func (s *Server) lookupEndpoint(r *http.Request, id string) (discovery.Endpoint, error) {
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		return discovery.Endpoint{}, notFound("endpoint")
	}
	if s.o.Discovery != nil {
		if ep, ok := s.o.Discovery.Endpoint(id); ok {
			return ep, nil
		}
	}
	e, err := s.o.Store.GetEndpoint(r.Context(), id)
	if err != nil {
		if err == store.ErrNotFound {
			return discovery.Endpoint{}, notFound("endpoint")
		}
		return discovery.Endpoint{}, err
	}
	var ep discovery.Endpoint
	if len(e.Detail) > 0 {
		_ = json.Unmarshal(e.Detail, &ep) // a detail that is not an endpoint leaves the row's columns
	}
	ep.ID, ep.Host, ep.Method, ep.Path, ep.Hits = e.ID, e.Host, e.Method, e.Path, e.Hits
	ep.FirstSeen, ep.LastSeen, ep.Protected, ep.Status, ep.Sensitive = e.FirstSeen, e.LastSeen, e.Protected, e.Status, e.Sensitive
	return ep, nil
}

func (s *Server) endpoint(w http.ResponseWriter, r *http.Request) error {
	ep, err := s.lookupEndpoint(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	d := endpointData{EP: ep, Params: paramsOf(ep), Sensitive: sensitiveOf(ep)}
	if s.o.Discovery != nil {
		d.OpenAPIURL = "/ui/openapi?" + url.Values{"host": {ep.Host}}.Encode()
	}
	if len(ep.RequestSchema) > 0 {
		d.RequestSchema = indentJSON(ep.RequestSchema)
	}
	if len(ep.ResponseSchemas) > 0 {
		d.ResponseSchemas = indentJSON(ep.ResponseSchemas)
	}
	for code, n := range ep.StatusCodes {
		d.StatusCodes = append(d.StatusCodes, statusCount{code, n})
	}
	sort.Slice(d.StatusCodes, func(i, j int) bool { return d.StatusCodes[i].Code < d.StatusCodes[j].Code })
	if d.Findings, err = s.findingsOf(r, ep); err != nil {
		return err
	}
	return s.render(w, r, "endpoint", d)
}

func indentJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("(not JSON: %v)", err)
	}
	return string(b)
}

// paramsOf lists the path, query and header parameters with their kinds.
func paramsOf(ep discovery.Endpoint) []paramRow {
	var out []paramRow
	for _, p := range ep.PathParams {
		out = append(out, paramRow{Name: p.Name, In: "path", Kind: p.Kind, Required: true, Seen: ep.Hits})
	}
	for _, p := range ep.QueryParams {
		out = append(out, paramRow{Name: p.Name, In: "query", Kind: schemaKind(p.Schema), Required: p.Required, Seen: p.Seen})
	}
	for _, p := range ep.HeaderParams {
		out = append(out, paramRow{Name: p.Name, In: "header", Kind: schemaKind(p.Schema), Required: p.Required, Seen: p.Seen})
	}
	return out
}

// schemaKind is a JSON Schema's format, else its type.
func schemaKind(sch map[string]any) string {
	if f, ok := sch["format"].(string); ok && f != "" {
		return f
	}
	switch t := sch["type"].(type) {
	case string:
		return t
	case []any:
		var parts []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, " | ")
	}
	return "unknown"
}

// sensitiveOf lists the fields where classes were seen, by field.
func sensitiveOf(ep discovery.Endpoint) []sensitiveField {
	out := make([]sensitiveField, 0, len(ep.SensitiveFields))
	for f, cls := range ep.SensitiveFields {
		c := slices.Clone(cls)
		slices.Sort(c)
		out = append(out, sensitiveField{Field: f, Classes: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// findingsOf is the endpoint's most recent findings (its path's, of
// its method and host).
func (s *Server) findingsOf(r *http.Request, ep discovery.Endpoint) ([]store.FindingRow, error) {
	page, err := s.o.Store.ListFindings(r.Context(), store.FindingFilter{Endpoint: ep.Path, Limit: 200})
	if err != nil {
		return nil, err
	}
	out := make([]store.FindingRow, 0, recentFindings)
	for _, f := range page.Items {
		if strings.EqualFold(f.Method, ep.Method) && (f.Host == "" || f.Host == ep.Host) {
			out = append(out, f)
			if len(out) == recentFindings {
				break
			}
		}
	}
	return out, nil
}

// openapi downloads the reconstructed OpenAPI document of a host.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	if s.o.Discovery == nil {
		return &pageError{status: http.StatusNotFound, id: "not-found", msg: "This node keeps no inventory to reconstruct OpenAPI from."}
	}
	host := r.URL.Query().Get("host")
	if len(host) > 256 {
		return badParam("host", "longer than 256 characters")
	}
	doc, err := s.o.Discovery.OpenAPI(host)
	if err != nil {
		return err
	}
	name := "openapi.json"
	if host != "" {
		name = "openapi-" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
				return r
			}
			return '_'
		}, host) + ".json"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, err = w.Write(doc)
	return err
}
