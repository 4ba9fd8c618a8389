package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// FuzzListQuery sends arbitrary query strings to the list routes: the
// answer is always a list (200) or a client error (400) in the SPEC error
// shape, never a server error.
func FuzzListQuery(f *testing.F) {
	for _, q := range []string{
		"", "limit=10", "limit=0", "limit=99999999999999999999", "decision=block&since=15m",
		"since=2026-01-17T12:00:00Z", "since=2026-01-17T12:00:00%2B01:00", "since=-1h", "since=1e9h",
		"cursor=WyJldjEiLDEsMl0", "cursor=WyJlcDEiLCJhIiwiYiIsImMiXQ", "cursor=%00%ff", "cursor=" + string(make([]byte, 5000)),
		"type=alert", "type=transaction", "endpoint=/products/{parameter}", "status=shadow", "status=x", "host=%zz",
		"limit=1&limit=2", ";;&&==",
	} {
		f.Add(q)
	}
	st, err := store.Open(context.Background(), "sqlite", f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	var evs []event.Event
	for i := range 5 {
		evs = append(evs, txn(fmt.Sprint("f", i), time.Now().Add(-time.Duration(i)*time.Minute), event.DecisionAllow, "/products"))
	}
	if _, err := st.InsertEvents(context.Background(), evs); err != nil {
		f.Fatal(err)
	}
	if err := st.UpsertEndpoints(context.Background(), []store.Endpoint{{Host: "a", Method: "GET", Path: "/a"}}); err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	(&Server{Store: st, Token: testToken, Log: slog.New(slog.DiscardHandler)}).Register(mux)
	f.Fuzz(func(t *testing.T, q string) {
		for _, path := range []string{"/api/v1/events", "/api/v1/endpoints"} {
			req := httptest.NewRequest(http.MethodGet, "http://vigil"+path, nil)
			req.URL.RawQuery = q
			req.Header.Set("Authorization", "Bearer "+testToken)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			var body map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("%s?%q: %d, body not JSON: %q", path, q, rec.Code, rec.Body.String())
			}
			switch rec.Code {
			case http.StatusOK:
				if body["items"] == nil || string(body["items"]) == "null" {
					t.Fatalf("%s?%q: 200 without items: %s", path, q, rec.Body)
				}
			case http.StatusBadRequest:
				if body["error"] == nil {
					t.Fatalf("%s?%q: 400 without error: %s", path, q, rec.Body)
				}
			default:
				t.Fatalf("%s?%q: status %d: %s", path, q, rec.Code, rec.Body)
			}
		}
	})
}

// FuzzParseSince: parseSince never panics, and whatever it accepts is not
// in the future.
func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"", "15m", "1h30m", "0s", "-5m", "2026-01-17T12:51:03Z", "2026-01-17T12:51:03.123456+02:00",
		"2026-01-17", "9999999999h", "1.5h", "15"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 17, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSince(s, now)
		if err != nil {
			return
		}
		if _, perr := time.Parse(time.RFC3339Nano, s); perr != nil && got.After(now) {
			t.Fatalf("duration %q gives %v, after now", s, got)
		}
	})
}
