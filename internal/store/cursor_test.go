package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCursorRoundTrip(t *testing.T) {
	evs := []eventCursor{{0, 0}, {time.Date(2026, 1, 17, 12, 51, 3, 123456789, time.UTC).UnixNano(), 42}, {-1, 1 << 62}}
	for _, c := range evs {
		got, err := decodeEventCursor(encodeEventCursor(c))
		if err != nil || got != c {
			t.Errorf("event cursor %+v -> %+v, %v", c, got, err)
		}
	}
	eps := []endpointCursor{{}, {"shop.example", "/products/{parameter}", "GET"}, {"h|x", "/a\"b\\c", "ü"}}
	for _, c := range eps {
		got, err := decodeEndpointCursor(encodeEndpointCursor(c))
		if err != nil || got != c {
			t.Errorf("endpoint cursor %+v -> %+v, %v", c, got, err)
		}
	}
	for _, id := range []string{"", "0123456789abcdef", "h|x\"ü"} {
		got, err := decodeConnectionCursor(encodeConnectionCursor(id))
		if err != nil || got != id {
			t.Errorf("connection cursor %q -> %q, %v", id, got, err)
		}
	}
}

func TestConnectionCursorRejects(t *testing.T) {
	for _, c := range []string{
		"!!!", "W10", "e30",
		encodeEventCursor(eventCursor{TimeNS: 5, Seq: 9}),
		encodeEndpointCursor(endpointCursor{Host: "h", Path: "/p", Method: "GET"}),
		encodeCursor([]any{cursorConsents, "cs_1"}),
		encodeCursor([]any{cursorConnections, 1}),
		encodeCursor([]any{cursorConnections, "a", "b"}),
		encodeCursor([]any{cursorConnections, "a\x00"}),
		encodeConnectionCursor("0123456789abcdef")[:10],
	} {
		if _, err := decodeConnectionCursor(c); !errors.Is(err, ErrBadCursor) {
			t.Errorf("decodeConnectionCursor(%q) error = %v, want ErrBadCursor", c, err)
		}
	}
}

func TestCursorRejects(t *testing.T) {
	ev := encodeEventCursor(eventCursor{TimeNS: 5, Seq: 9})
	ep := encodeEndpointCursor(endpointCursor{Host: "h", Path: "/p", Method: "GET"})
	tests := []struct {
		name, cursor string
		endpoints    bool
	}{
		{"not base64", "!!!", false},
		{"not json", "bm9wZQ", false}, // "nope"
		{"empty array", "W10", false},
		{"object", "e30", false},
		{"endpoints cursor for events", ep, false},
		{"events cursor for endpoints", ev, true},
		{"truncated", ev[:len(ev)-3], false},
		{"trailing data", encodeCursor([]any{cursorEvents, 1, 2}) + "IA", false},
		{"float seq", encodeCursor([]any{cursorEvents, 1, 2.5}), false},
		{"string time", encodeCursor([]any{cursorEvents, "1", 2}), false},
		{"extra element", encodeCursor([]any{cursorEvents, 1, 2, 3}), false},
		{"too long", strings.Repeat("A", maxCursorLen+4), false},
		{"number host", encodeCursor([]any{cursorEndpoints, 1, "/p", "GET"}), true},
	}
	for _, tc := range tests {
		var err error
		if tc.endpoints {
			_, err = decodeEndpointCursor(tc.cursor)
		} else {
			_, err = decodeEventCursor(tc.cursor)
		}
		if !errors.Is(err, ErrBadCursor) {
			t.Errorf("%s: error = %v, want ErrBadCursor", tc.name, err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeEventCursor(eventCursor{TimeNS: 1768654263123456000, Seq: 7}))
	f.Add(encodeEndpointCursor(endpointCursor{Host: "shop.example", Path: "/cart/items/{parameter}", Method: "GET"}))
	f.Add(encodeConnectionCursor("0123456789abcdef"))
	f.Add("W10")
	f.Add("")
	f.Add("WyJldjEiLDEsMl0")
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := decodeEventCursor(s); err == nil {
			if again, err := decodeEventCursor(encodeEventCursor(c)); err != nil || again != c {
				t.Fatalf("event cursor %q decoded to %+v, which does not round-trip: %+v, %v", s, c, again, err)
			}
		} else if !errors.Is(err, ErrBadCursor) {
			t.Fatalf("event cursor %q: error %v is not ErrBadCursor", s, err)
		}
		if id, err := decodeConnectionCursor(s); err == nil {
			if again, err := decodeConnectionCursor(encodeConnectionCursor(id)); err != nil || again != id {
				t.Fatalf("connection cursor %q decoded to %q, which does not round-trip: %q, %v", s, id, again, err)
			}
		} else if !errors.Is(err, ErrBadCursor) {
			t.Fatalf("connection cursor %q: error %v is not ErrBadCursor", s, err)
		}
		if c, err := decodeEndpointCursor(s); err == nil {
			if again, err := decodeEndpointCursor(encodeEndpointCursor(c)); err != nil || again != c {
				t.Fatalf("endpoint cursor %q decoded to %+v, which does not round-trip: %+v, %v", s, c, again, err)
			}
		} else if !errors.Is(err, ErrBadCursor) {
			t.Fatalf("endpoint cursor %q: error %v is not ErrBadCursor", s, err)
		}
	})
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn, dataDir     string
		kind, target     string
		wantErrSubstring string
	}{
		{"", "/var/lib/vigil", kindSQLite, "/var/lib/vigil/vigil.db", ""},
		{"sqlite", "./vigil-data", kindSQLite, "vigil-data/vigil.db", ""},
		{"sqlite", "", "", "", "needs a data_dir"},
		{"sqlite:///tmp/x/file.db", "ignored", kindSQLite, "/tmp/x/file.db", ""},
		{"sqlite://rel/file.db", "", kindSQLite, "rel/file.db", ""},
		{"sqlite::memory:", "", kindSQLite, memoryPath, ""},
		{"sqlite://:memory:", "", kindSQLite, memoryPath, ""},
		{"sqlite:", "", "", "", "bad sqlite dsn"},
		{"sqlite:///x.db?mode=ro", "", "", "", "bad sqlite dsn"},
		{"postgres://u@h:5432/db?sslmode=disable", "", kindPostgres, "postgres://u@h:5432/db?sslmode=disable", ""},
		{"postgresql://h/db", "", kindPostgres, "postgresql://h/db", ""},
		{"mysql://h/db", "", "", "", "unknown store"},
		{"SQLite", "d", "", "", "unknown store"},
	}
	for _, tc := range tests {
		kind, target, err := parseDSN(tc.dsn, tc.dataDir)
		if tc.wantErrSubstring != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErrSubstring) {
				t.Errorf("parseDSN(%q, %q) error = %v, want one containing %q", tc.dsn, tc.dataDir, err, tc.wantErrSubstring)
			}
			continue
		}
		if err != nil || kind != tc.kind || target != tc.target {
			t.Errorf("parseDSN(%q, %q) = %q, %q, %v; want %q, %q", tc.dsn, tc.dataDir, kind, target, err, tc.kind, tc.target)
		}
	}
}

func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"", "sqlite", "sqlite:///a.db", "sqlite::memory:", "postgres://h/db", "sqlite:?#", "x"} {
		f.Add(s, "/data")
	}
	f.Fuzz(func(t *testing.T, dsn, dataDir string) {
		kind, target, err := parseDSN(dsn, dataDir)
		if err != nil {
			return
		}
		switch kind {
		case kindSQLite:
			if target == "" || strings.ContainsAny(target, "?#\x00") && dsn != "" && dsn != "sqlite" {
				t.Fatalf("parseDSN(%q) gave sqlite target %q", dsn, target)
			}
		case kindPostgres:
			if target != dsn {
				t.Fatalf("parseDSN(%q) changed the postgres dsn to %q", dsn, target)
			}
		default:
			t.Fatalf("parseDSN(%q) gave kind %q", dsn, kind)
		}
	})
}

func TestMigrationsOrdered(t *testing.T) {
	for _, backend := range []string{kindSQLite, kindPostgres} {
		ms, err := migrations(backend)
		if err != nil {
			t.Fatalf("%s: %v", backend, err)
		}
		if len(ms) == 0 || ms[0].version != 1 {
			t.Fatalf("%s: migrations %+v, want a first version 1", backend, ms)
		}
		for i := 1; i < len(ms); i++ {
			if ms[i].version != ms[i-1].version+1 {
				t.Errorf("%s: version %d follows %d: versions must be consecutive", backend, ms[i].version, ms[i-1].version)
			}
		}
	}
	sq, _ := migrations(kindSQLite)
	pg, _ := migrations(kindPostgres)
	if len(sq) != len(pg) {
		t.Errorf("sqlite has %d migrations, postgres %d: every schema change needs both", len(sq), len(pg))
	}
}
