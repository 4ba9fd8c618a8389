package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSQLiteListUsesIndexes guards the keyset queries against plans that
// sort the whole table per page (a "TEMP B-TREE" in SQLite's plan), which
// would make every dashboard page cost O(events).
func TestSQLiteListUsesIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := openSQLite(ctx, memoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cur := encodeEventCursor(eventCursor{TimeNS: 1, Seq: 1})
	tests := []struct {
		name string
		f    EventFilter
		uses string
	}{
		{"all", EventFilter{Cursor: cur}, "events_time"},
		{"decision", EventFilter{Decision: "block", Cursor: cur}, "events_decision"},
		{"endpoint", EventFilter{Endpoint: "/login", Cursor: cur}, "events_endpoint"},
		{"type", EventFilter{Type: "alert", Cursor: cur}, "events_type"},
		{"since", EventFilter{Since: time.Unix(1, 0)}, "events_time"},
	}
	for _, tc := range tests {
		q, args, err := eventsQuery(sqlitePH, tc.f, 10)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, tc.uses) {
			t.Errorf("%s: plan %q, want %s without a sort", tc.name, p, tc.uses)
		}
	}
}

// TestSQLiteFileSettings checks the tuning a new data_dir database gets:
// WAL (readers never wait for the writer), synchronous=NORMAL, 16 KiB pages.
func TestSQLiteFileSettings(t *testing.T) {
	ctx := context.Background()
	s, err := openSQLite(ctx, t.TempDir()+"/sub/vigil.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "1"},
		{"page_size", "16384"},
		{"wal_autocheckpoint", "4000"},
	}
	for _, tc := range tests {
		var got string
		if err := s.w.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	if _, err := s.r.ExecContext(ctx, "DELETE FROM settings"); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestSQLiteConnectionListUsesIndexes: ListConnections pages in id order
// through an index, filtered or not.
func TestSQLiteConnectionListUsesIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := openSQLite(ctx, memoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cur := encodeConnectionCursor("0123456789abcdef")
	tests := []struct {
		name string
		f    ConnectionFilter
		uses string
	}{
		{"all", ConnectionFilter{Cursor: cur}, "sqlite_autoindex_connections_1"},
		{"source", ConnectionFilter{Source: "web", Cursor: cur}, "connections_source"},
		{"destination", ConnectionFilter{Destination: "orders", Cursor: cur}, "connections_destination"},
		{"both", ConnectionFilter{Source: "web", Destination: "orders"}, "connections_"},
	}
	for _, tc := range tests {
		q, args, none, err := connectionsQuery(sqlitePH, tc.f, 10)
		if err != nil || none {
			t.Fatal(err, none)
		}
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, tc.uses) {
			t.Errorf("%s: plan %q, want %s without a sort", tc.name, p, tc.uses)
		}
	}
}
