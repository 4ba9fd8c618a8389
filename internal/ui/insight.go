package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// insightRoutes are the overview, findings, events, risk and audit pages
// (UI-insight owns this file).
func (s *Server) insightRoutes() []route {
	return []route{
		{pattern: "GET /ui/{$}", fn: s.overview},
		{pattern: "GET /ui/overview/live", fn: s.overviewLive, fragment: true},
		{pattern: "GET /ui/findings", fn: s.findings},
		{pattern: "GET /ui/events/{txn_id}", fn: s.eventPage},
		{pattern: "GET /ui/risk", fn: s.riskPage},
		{pattern: "GET /ui/connections", fn: func(w http.ResponseWriter, r *http.Request) error {
			http.Redirect(w, r, "/ui/risk", http.StatusSeeOther)
			return nil
		}},
		{pattern: "GET /ui/audit", fn: s.auditPage},
		{pattern: "POST /ui/audit/checkpoint", fn: s.checkpointNow},
		{pattern: "GET /ui/audit/lineage", fn: s.lineageSearch},
		{pattern: "GET /ui/audit/lineage/{txn_id}", fn: s.lineagePage},
	}
}

// maxParam bounds a filter value.
const maxParam = 256

// textParam is query parameter name, trimmed and checked: at most
// maxParam bytes of printable UTF-8.
func textParam(v url.Values, name string) (string, error) {
	s := strings.TrimSpace(v.Get(name))
	if len(s) > maxParam {
		return "", badParam(name, "longer than %d characters", maxParam)
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "", badParam(name, "must be printable text")
	}
	return s, nil
}

// decisions are the values of a decision filter.
var decisions = []string{"allow", "block", "challenge", "step_up"}

func decisionParam(v url.Values) (string, error) {
	d := v.Get("decision")
	if d == "" {
		return "", nil
	}
	for _, x := range decisions {
		if d == x {
			return d, nil
		}
	}
	return "", badParam("decision", "must be allow, block, challenge or step_up")
}

// maxWindow bounds how far back a page looks.
const maxWindow = 30 * 24 * time.Hour

// windows are the since values the pages offer.
var windows = []string{"15m", "1h", "6h", "24h", "7d"}

// sinceParam reads since: a duration back from now ("15m", "1h", "7d")
// or an RFC 3339 time, at most maxWindow ago; def when empty.
func sinceParam(v url.Values, now time.Time, def string) (time.Time, string, error) {
	raw := strings.TrimSpace(v.Get("since"))
	if raw == "" {
		raw = def
	}
	bad := badParam("since", "must be a duration back from now such as 15m, 1h or 7d (at most 30d), or an RFC 3339 time")
	if t, err := time.Parse(time.RFC3339, raw); err == nil {
		if now.Sub(t) > maxWindow || !t.Before(now) {
			return time.Time{}, "", bad
		}
		return t, raw, nil
	}
	d, err := parseAgo(raw)
	if err != nil || d <= 0 || d > maxWindow {
		return time.Time{}, "", bad
	}
	return now.Add(-d), raw, nil
}

// parseAgo is time.ParseDuration plus a day suffix ("7d").
func parseAgo(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days > 366 {
			return 0, strconv.ErrSyntax
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// steps are the chart bucket widths, narrowest first.
var steps = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 24 * time.Hour}

// stepFor is the narrowest bucket giving at most 60 buckets over d.
func stepFor(d time.Duration) time.Duration {
	for _, s := range steps {
		if d/s <= 60 {
			return s
		}
	}
	return steps[len(steps)-1]
}

// query renders a query string from name/value pairs, leaving out the
// empty ones (stable order: as given).
func query(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(pairs[i]) + "=" + url.QueryEscape(pairs[i+1]))
	}
	return b.String()
}
