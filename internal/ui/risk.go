package ui

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/store"
)

// The connections and risk page: the call graph with the TLS facts of
// every edge, the edges as a table, and the residual-risk score of every
// workload API with its reasons (Options.Graph).

const (
	// maxEdgesListed bounds the edges the table lists (one store page);
	// maxEdgesDrawn those the graph draws, busiest first.
	maxEdgesListed = store.MaxLimit
	maxEdgesDrawn  = 60
)

type edgeRow struct {
	risk.Edge
	G    GraphEdge
	Risk int
}

type riskData struct {
	Available bool
	Graph     template.HTML
	Edges     []edgeRow
	Drawn     int
	More      bool // more edges are stored than listed
	Scores    []scoreRow
}

// scoreRow is a score with the badge class of its level (the badge
// colours the stylesheet has: red, amber, green).
type scoreRow struct {
	risk.Score
	Badge string
}

func levelBadge(level string) string {
	switch level {
	case "critical", "high":
		return "badge-zombie"
	case "medium":
		return "badge-shadow"
	}
	return "badge-documented"
}

// graphEdge is what the graph shows of a stored edge.
func graphEdge(e risk.Edge) GraphEdge {
	return GraphEdge{Source: e.Source, Destination: e.Destination, Requests: e.Requests, TLS: e.TLSVersion, Group: e.Group,
		MTLS: e.Requests > 0 && e.MTLS == e.Requests, Plaintext: e.Plaintext > 0, Legacy: e.LegacyTLS > 0, Intercepted: e.Intercepted > 0}
}

func (s *Server) riskPage(w http.ResponseWriter, r *http.Request) error {
	d := riskData{Available: s.o.Graph != nil}
	if !d.Available {
		d.Graph = CallGraph(nil)
		return s.render(w, r, "risk", d)
	}
	page, err := s.o.Graph.Connections(r.Context(), store.ConnectionFilter{Limit: maxEdgesListed})
	if err != nil {
		return err
	}
	d.More = page.NextCursor != ""
	for _, e := range page.Items {
		d.Edges = append(d.Edges, edgeRow{Edge: e, G: graphEdge(e), Risk: risk.EdgeRisk(e)})
	}
	// The table: riskiest first, then busiest; the graph: the busiest.
	slices.SortStableFunc(d.Edges, func(a, b edgeRow) int {
		return cmp.Or(cmp.Compare(b.Risk, a.Risk), cmp.Compare(b.Requests, a.Requests), strings.Compare(a.ID, b.ID))
	})
	drawn := slices.Clone(d.Edges)
	slices.SortStableFunc(drawn, func(a, b edgeRow) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), strings.Compare(a.ID, b.ID))
	})
	drawn = drawn[:min(len(drawn), maxEdgesDrawn)]
	ges := make([]GraphEdge, len(drawn))
	for i, e := range drawn {
		ges[i] = e.G
	}
	slices.SortFunc(ges, func(a, b GraphEdge) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Destination, b.Destination))
	})
	d.Graph, d.Drawn = CallGraph(ges), len(ges)
	scores, err := s.o.Graph.Risk(r.Context())
	if err != nil {
		return err
	}
	for _, sc := range scores {
		d.Scores = append(d.Scores, scoreRow{sc, levelBadge(sc.Level)})
	}
	return s.render(w, r, "risk", d)
}
