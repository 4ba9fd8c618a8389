package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// BenchmarkListEvents measures one page of 100 events through the whole
// handler (auth, query, JSON) on SQLite.
func BenchmarkListEvents(b *testing.B) {
	st, err := store.Open(context.Background(), "sqlite", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	evs := make([]event.Event, 0, 1000)
	at := time.Date(2026, 1, 17, 12, 0, 0, 0, time.UTC)
	for i := range 1000 {
		evs = append(evs, txn(fmt.Sprintf("b%04d", i), at.Add(time.Duration(i)*time.Millisecond), event.DecisionAllow, "/products/{parameter}"))
	}
	if _, err := st.InsertEvents(context.Background(), evs); err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	(&Server{Store: st, Token: testToken}).Register(mux)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "http://vigil/api/v1/events?limit=100&decision=allow", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}
