package ui

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// The findings page: every layer's findings over time (a chart with one
// line per stage and decision), filters, and the newest findings with a
// link to each one's event.

// minChartSpan is the narrowest a chart zooms to.
const minChartSpan = 5 * time.Minute

// findingsPerPage is the number of rows a page shows.
const findingsPerPage = 50

// findingsQuery is the page's checked query string.
type findingsQuery struct {
	Endpoint, Identity, Source, RuleID, Stage, Decision string
	Since                                               string // as given ("1h")
	Cursor                                              string
}

// encode renders q as a query string (without the cursor unless withCursor).
func (q findingsQuery) encode(withCursor bool) string {
	c := ""
	if withCursor {
		c = q.Cursor
	}
	return query("endpoint", q.Endpoint, "identity", q.Identity, "source", q.Source, "rule_id", q.RuleID,
		"stage", q.Stage, "decision", q.Decision, "since", q.Since, "cursor", c)
}

type findingsData struct {
	Q        findingsQuery
	Since    time.Time
	Windows  []string
	Stages   []string
	Decision []string
	Chart    template.HTML
	Total    int64
	Items    []store.FindingRow
	NextURL  string
	FirstURL string
	Filtered bool
	// CustomSince: since is not one of Windows.
	CustomSince bool
}

func parseFindingsQuery(v url.Values, now time.Time) (findingsQuery, time.Time, error) {
	var q findingsQuery
	var err error
	for _, p := range []struct {
		name string
		dst  *string
	}{{"endpoint", &q.Endpoint}, {"identity", &q.Identity}, {"source", &q.Source}, {"rule_id", &q.RuleID}, {"stage", &q.Stage}} {
		if *p.dst, err = textParam(v, p.name); err != nil {
			return q, time.Time{}, err
		}
	}
	if q.Decision, err = decisionParam(v); err != nil {
		return q, time.Time{}, err
	}
	since, raw, err := sinceParam(v, now, "1h")
	if err != nil {
		return q, time.Time{}, err
	}
	q.Since = raw
	if c := v.Get("cursor"); c != "" {
		if len(c) > 512 {
			return q, time.Time{}, badParam("cursor", "not a cursor of this list")
		}
		q.Cursor = c
	}
	return q, since, nil
}

func (s *Server) findings(w http.ResponseWriter, r *http.Request) error {
	now := s.o.Now()
	q, since, err := parseFindingsQuery(r.URL.Query(), now)
	if err != nil {
		return err
	}
	f := store.FindingFilter{Endpoint: q.Endpoint, Identity: q.Identity, Source: q.Source, RuleID: q.RuleID,
		Stage: q.Stage, Decision: q.Decision, Since: since, Until: now}
	step := stepFor(now.Sub(since))
	start := since.Truncate(step)
	sf := f
	sf.Since = start
	counts, err := s.o.Store.FindingSeries(r.Context(), sf, step)
	if err != nil {
		return err
	}
	f.Limit, f.Cursor = findingsPerPage, q.Cursor
	page, err := s.o.Store.ListFindings(r.Context(), f)
	if err != nil {
		return err
	}
	d := findingsData{Q: q, Since: since, Windows: windows, Decision: decisions, Items: page.Items,
		Filtered: q.encode(false) != query("since", q.Since), CustomSince: !slices.Contains(windows, q.Since)}
	var stages []string
	_, stages, d.Total = findingsChart(counts, start, now, step, q)
	// When the findings began late in the window (a fresh start), the
	// chart zooms in on them: from a bucket before the first, at least
	// 5 minutes, in finer buckets.
	if len(counts) > 0 {
		if zw := now.Sub(counts[0].Start) + step; zw < now.Sub(start)/3 {
			zw = max(zw, minChartSpan)
			zstep := stepFor(zw)
			zs := f
			zs.Since = now.Add(-zw).Truncate(zstep)
			if zc, err := s.o.Store.FindingSeries(r.Context(), zs, zstep); err == nil {
				counts, start, step = zc, zs.Since, zstep
			} else {
				return err
			}
		}
	}
	d.Chart, _, _ = findingsChart(counts, start, now, step, q)
	d.Stages = stages
	if page.NextCursor != "" {
		next := q
		next.Cursor = page.NextCursor
		d.NextURL = "/ui/findings?" + next.encode(true)
	}
	if q.Cursor != "" {
		d.FirstURL = "/ui/findings?" + q.encode(false)
	}
	return s.render(w, r, "findings", d)
}

// findingsChart draws one line per stage and decision; it also returns
// the stages seen (for the filter) and the total.
func findingsChart(counts []store.FindingCount, start, now time.Time, step time.Duration, q findingsQuery) (template.HTML, []string, int64) {
	n := int(now.Sub(start)/step) + 1
	by := map[string][]float64{}
	var stages []string
	var total int64
	for _, c := range counts {
		i := int(c.Start.Sub(start) / step)
		if i < 0 || i >= n {
			continue
		}
		name := c.Stage + " · " + c.Decision
		if by[name] == nil {
			by[name] = make([]float64, n)
		}
		by[name][i] += float64(c.Findings)
		total += c.Findings
		if !slices.Contains(stages, c.Stage) {
			stages = append(stages, c.Stage)
		}
	}
	names := make([]string, 0, len(by))
	for k := range by {
		names = append(names, k)
	}
	slices.Sort(names)
	slices.Sort(stages)
	title := "Findings per " + stepName(step) + " by layer and decision"
	if q.encode(false) != query("since", q.Since) {
		title += " (filtered)"
	}
	c := Chart{ID: "findings-chart-svg", Title: title, Unit: "findings", Start: start, Step: step}
	for _, name := range names {
		c.Series = append(c.Series, Series{Name: name, Values: by[name]})
	}
	return LineChart(c), stages, total
}

// stepName reads a bucket width ("10 s", "5 min", "1 h").
func stepName(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return strconv.Itoa(int(d/time.Second)) + " s"
}
