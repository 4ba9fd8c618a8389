package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// sqlitePlan is the EXPLAIN QUERY PLAN of q, joined.
func sqlitePlan(t *testing.T, s *sqliteStore, q string, args []any) string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

// TestSQLiteFindingsUseIndexes: every findings filter pages newest first
// through an index (no sort of the matching rows), and the overview reads
// index ranges of its window, never the events table.
func TestSQLiteFindingsUseIndexes(t *testing.T) {
	s, err := openSQLite(context.Background(), memoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	since := time.Unix(1000, 0)
	cur := encodeCursor([]any{cursorFindings, 5, 5})
	tests := []struct {
		name string
		f    FindingFilter
		uses string
	}{
		{"since", FindingFilter{Since: since}, "findings_time"},
		{"page", FindingFilter{Since: since, Cursor: cur}, "findings_time"},
		{"stage", FindingFilter{Since: since, Stage: "waf"}, "findings_stage"},
		{"rule", FindingFilter{Since: since, RuleID: "942100", Cursor: cur}, "findings_rule"},
		{"source", FindingFilter{Since: since, Source: "203.0.113.7"}, "findings_source"},
		{"identity", FindingFilter{Since: since, Identity: "alice"}, "findings_identity"},
		{"endpoint", FindingFilter{Since: since, Endpoint: "/login"}, "findings_endpoint"},
		{"decision", FindingFilter{Since: since, Decision: "block"}, "findings_decision"},
	}
	for _, tc := range tests {
		q, args, none, err := findingsQuery(sqlitePH, tc.f, 50)
		if err != nil || none {
			t.Fatal(err, none)
		}
		if p := sqlitePlan(t, s, q, args); strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, tc.uses) {
			t.Errorf("%s: plan %q, want %s without a sort", tc.name, p, tc.uses)
		}
	}
	qm, qe, qo := overviewQueries(sqlitePH)
	for _, q := range []string{qm, qe} {
		if p := sqlitePlan(t, s, q, []any{1, 2, 10}[:strings.Count(q, "?")]); !strings.Contains(p, "SEARCH traffic_minutes") {
			t.Errorf("overview query does not search the rollup's key: %q", p)
		}
	}
	if p := sqlitePlan(t, s, qo, []any{1, 2, 10}); !strings.Contains(p, "SEARCH") || !strings.Contains(p, "findings_") {
		t.Errorf("offenders plan %q", p)
	}
}
