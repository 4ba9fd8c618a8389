package ui

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// The overview: requests/s, decisions, top endpoints, top offenders,
// recent alerts and plane health over the last hour, refreshed in place
// every 5 s (static/live.js polls /ui/overview/live).

// overviewWindow is what the overview covers; rateWindow what its
// requests/s figure averages over.
const (
	overviewWindow = time.Hour
	rateWindow     = 5 * time.Minute
	overviewTop    = 10
	overviewAlerts = 10
)

type overviewData struct {
	Window    string
	Rate      float64 // requests/s over rateWindow
	Requests  int64
	Refused   int64
	Chart     template.HTML
	Decisions []decisionShare
	Endpoints []endpointRow
	Offenders []store.Offender
	Alerts    []event.Event
	Health    *Health
	HealthOK  bool
	Lag       string // the event lag, rounded
}

// endpointRow is a top endpoint with the id of its inventory row.
type endpointRow struct {
	store.EndpointCount
	ID string
}

type decisionShare struct {
	Decision string
	Requests int64
	Percent  float64
}

func (s *Server) overviewData(ctx context.Context) (overviewData, error) {
	now := s.o.Now()
	o, err := s.o.Store.Overview(ctx, store.OverviewFilter{Since: now.Add(-overviewWindow), Until: now, Top: overviewTop})
	if err != nil {
		return overviewData{}, err
	}
	alerts, err := s.o.Store.ListEvents(ctx, store.EventFilter{Type: "alert", Limit: overviewAlerts})
	if err != nil {
		return overviewData{}, err
	}
	d := overviewData{Window: "last hour", Requests: o.Requests(), Offenders: o.TopOffenders, Alerts: alerts.Items}
	for _, e := range o.TopEndpoints {
		d.Endpoints = append(d.Endpoints, endpointRow{e, store.EndpointID(e.Host, e.Method, e.Endpoint)})
	}
	for _, c := range o.Decisions {
		if c.Decision != event.DecisionAllow {
			d.Refused += c.Requests
		}
		share := decisionShare{Decision: c.Decision, Requests: c.Requests}
		if d.Requests > 0 {
			share.Percent = 100 * float64(c.Requests) / float64(d.Requests)
		}
		d.Decisions = append(d.Decisions, share)
	}
	// Requests/s: the minutes since rateWindow ago (the current one
	// partly), divided by the seconds they span.
	first := now.Add(-rateWindow).Truncate(time.Minute)
	var recent int64
	for _, m := range o.Minutes {
		if !m.Start.Before(first) {
			recent += m.Requests
		}
	}
	if secs := now.Sub(first).Seconds(); secs > 0 {
		d.Rate = float64(recent) / secs
	}
	// The chart starts a minute before the first traffic of the window
	// (a fresh start is not a spike at the right edge), spanning at
	// least minChartSpan.
	start := now.Add(-overviewWindow).Truncate(time.Minute)
	if len(o.Minutes) > 0 && o.Minutes[0].Start.Add(-time.Minute).After(start) {
		start = o.Minutes[0].Start.Add(-time.Minute)
	}
	if latest := now.Add(-minChartSpan).Truncate(time.Minute); start.After(latest) {
		start = latest
	}
	d.Chart = rateChart(o.Minutes, start, now)
	if s.o.Health != nil {
		h := s.o.Health()
		d.Health = &h
		d.Lag = h.EventLag.Round(time.Millisecond).String()
		if h.EventLag >= 10*time.Second {
			d.Lag = h.EventLag.Round(time.Second).String()
		}
		d.HealthOK = h.DataPlanes != 0 && h.DroppedEvents == 0 && h.EventLag < time.Minute
	}
	return d, nil
}

// rateChart draws requests/s per minute and decision.
func rateChart(ms []store.MinuteCount, start, now time.Time) template.HTML {
	n := int(now.Sub(start)/time.Minute) + 1
	by := map[string][]float64{}
	for _, m := range ms {
		i := int(m.Start.Sub(start) / time.Minute)
		if i < 0 || i >= n {
			continue
		}
		if by[m.Decision] == nil {
			by[m.Decision] = make([]float64, n)
		}
		by[m.Decision][i] = float64(m.Requests) / 60
	}
	names := make([]string, 0, len(by))
	for k := range by {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return decisionRank(a) - decisionRank(b) })
	c := Chart{ID: "rps-chart", Title: "Requests per second by decision, per minute, since " + start.UTC().Format("15:04") + " UTC", Unit: "requests/s",
		Start: start, Step: time.Minute, Height: 220}
	for _, name := range names {
		c.Series = append(c.Series, Series{Name: name, Values: by[name]})
	}
	return LineChart(c)
}

// decisionRank orders decisions allow, block, challenge, step_up, others.
func decisionRank(d string) int {
	if i := slices.Index(decisions, d); i >= 0 {
		return i
	}
	return len(decisions)
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) error {
	d, err := s.overviewData(r.Context())
	if err != nil {
		return err
	}
	return s.render(w, r, "overview", d)
}

func (s *Server) overviewLive(w http.ResponseWriter, r *http.Request) error {
	d, err := s.overviewData(r.Context())
	if err != nil {
		return err
	}
	return s.renderFragment(w, r, "overview", "panels", d)
}
