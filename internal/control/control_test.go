package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/discovery/openapi"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

func newStore(t testing.TB) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", t.TempDir())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newEngine(t testing.TB) *discovery.Engine {
	t.Helper()
	eng, err := discovery.New(discovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func newPlane(t testing.TB, o Options) *Plane {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var t0 = time.Date(2026, 1, 17, 12, 0, 0, 0, time.UTC)

func txn(id, method, host, path string, i int) event.Event {
	return event.Event{TxnID: id, Time: t0.Add(time.Duration(i) * time.Second), Placement: "gateway", Mode: "enforce",
		Destination: event.Destination{Host: host},
		Request:     event.Request{Method: method, Path: path},
		Response:    event.Response{Status: 200}, Decision: event.DecisionAllow}
}

// hitsByPath returns the store's inventory as "METHOD host path" -> hits.
func hitsByPath(t testing.TB, st store.Store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	cursor := ""
	for {
		p, err := st.ListEndpoints(context.Background(), store.EndpointFilter{Limit: store.MaxLimit, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Items {
			out[e.Method+" "+e.Host+" "+e.Path] = e.Hits
		}
		if cursor = p.NextCursor; cursor == "" {
			return out
		}
	}
}

// engineHits is the engine's inventory in the same form.
func engineHits(eng *discovery.Engine) map[string]int64 {
	out := map[string]int64{}
	for _, e := range eng.Endpoints() {
		out[e.Method+" "+e.Host+" "+e.Path] = e.Hits
	}
	return out
}

func equalHits(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestNewNeedsStore(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a store succeeded")
	}
}

func TestIngest(t *testing.T) {
	alert := event.Event{Type: "alert", TxnID: "alert-1", Time: t0, Placement: "control", Mode: "enforce", Decision: "allow",
		Alert: &event.Alert{Kind: "new_endpoint", Host: "shop.local", Method: "GET", Endpoint: "/alerted"}}
	failure := event.Event{Type: "stage_failure", TxnID: "fail-1", Time: t0, Placement: "gateway", Mode: "enforce", Decision: "allow",
		Request: event.Request{Method: "GET", Path: "/failed"}}
	blocked := txn("t3", "POST", "shop.local:8080", "/login", 3)
	blocked.Decision = event.DecisionBlock
	batch := []event.Event{
		txn("t1", "GET", "shop.local:8080", "/products", 1),
		txn("t2", "GET", "shop.local:8080", "/products", 2),
		blocked,
		alert,
		failure,
	}
	tests := []struct {
		name      string
		feed      bool
		wantStore int64
		wantHits  map[string]int64
	}{
		{"feeding the engine", true, 5, map[string]int64{"GET shop.local /products": 2, "POST shop.local /login": 1}},
		{"not feeding the engine", false, 5, map[string]int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, eng := newStore(t), newEngine(t)
			p := newPlane(t, Options{Store: st, Engine: eng, FeedEngine: tc.feed})
			ctx := context.Background()
			if err := p.Ingest(ctx, slices.Clone(batch)); err != nil {
				t.Fatal(err)
			}
			if got := engineHits(eng); !equalHits(got, tc.wantHits) {
				t.Errorf("engine after one batch: %v, want %v (alerts and stage failures are not traffic)", got, tc.wantHits)
			}
			// The bus delivers at least once: the same batch again, to
			// this replica and to another one sharing the store.
			if err := p.Ingest(ctx, slices.Clone(batch)); err != nil {
				t.Fatal(err)
			}
			if got := engineHits(eng); !equalHits(got, tc.wantHits) {
				t.Errorf("engine after a redelivery: %v, want %v (each transaction counts once)", got, tc.wantHits)
			}
			eng2 := newEngine(t)
			p2 := newPlane(t, Options{Store: st, Engine: eng2, FeedEngine: tc.feed})
			if err := p2.Ingest(ctx, slices.Clone(batch)); err != nil {
				t.Fatal(err)
			}
			if got := engineHits(eng2); len(got) != 0 {
				t.Errorf("second replica counted a batch the first had stored: %v", got)
			}
			if n, err := st.CountEvents(ctx); err != nil || n != tc.wantStore {
				t.Errorf("stored %d events (%v), want %d: one row per txn_id", n, err, tc.wantStore)
			}
			page, err := st.ListEvents(ctx, store.EventFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, e := range page.Items {
				if seen[e.TxnID] {
					t.Errorf("txn %s stored twice", e.TxnID)
				}
				seen[e.TxnID] = true
			}
			if tc.feed {
				ep, ok := eng.Endpoint(discovery.EndpointID("shop.local", "POST", "/login"))
				if !ok || !ep.Protected {
					t.Errorf("a blocked request must mark its endpoint protected: %+v", ep)
				}
			}
		})
	}
}

func TestIngestRejectsBatchWithoutTxnID(t *testing.T) {
	st, eng := newStore(t), newEngine(t)
	p := newPlane(t, Options{Store: st, Engine: eng, FeedEngine: true})
	bad := []event.Event{txn("t1", "GET", "h", "/a", 1), txn("", "GET", "h", "/b", 2)}
	if err := p.Ingest(context.Background(), bad); err == nil {
		t.Fatal("a batch with an event without txn_id was accepted")
	}
	// The bus redelivers a failed batch: nothing may have been counted yet.
	if eng.Len() != 0 {
		t.Errorf("engine fed from a batch that failed to store: %v", engineHits(eng))
	}
}

// TestFlushSendsDeltas: rounds of traffic with flushes in between; after
// each flush the store holds exactly the engine's hits, not a multiple.
func TestFlushSendsDeltas(t *testing.T) {
	rounds := []map[string]int{ // path -> requests in this round
		{"/products": 3, "/cart": 2},
		{"/products": 2},
		{}, // a flush with no new traffic
		{"/cart": 1, "/login": 4},
	}
	st, eng := newStore(t), newEngine(t)
	p := newPlane(t, Options{Store: st, Engine: eng})
	ctx := context.Background()
	i := 0
	first := map[string]time.Time{}
	for r, traffic := range rounds {
		for path, n := range traffic {
			for range n {
				i++
				at := t0.Add(time.Duration(i) * time.Second)
				if _, ok := first[path]; !ok {
					first[path] = at
				}
				eng.Observe(&discovery.Observation{Time: at, Host: "shop.local", Method: "GET", Path: path, Status: 200})
			}
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := hitsByPath(t, st), engineHits(eng); !equalHits(got, want) {
			t.Fatalf("after round %d: store %v, engine %v", r, got, want)
		}
	}
	want := map[string]int64{"GET shop.local /products": 5, "GET shop.local /cart": 3, "GET shop.local /login": 4}
	if got := hitsByPath(t, st); !equalHits(got, want) {
		t.Errorf("final store %v, want %v", got, want)
	}
	e, err := st.GetEndpoint(ctx, store.EndpointID("shop.local", "GET", "/products"))
	if err != nil {
		t.Fatal(err)
	}
	if !e.FirstSeen.Equal(first["/products"]) || !e.LastSeen.After(e.FirstSeen) || len(e.Detail) == 0 {
		t.Errorf("row times/detail: first %v last %v detail %d bytes", e.FirstSeen, e.LastSeen, len(e.Detail))
	}
}

// TestFlushReplicasAddUp: two control planes with their own engines share
// one store; the store holds the sum.
func TestFlushReplicasAddUp(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	var engines []*discovery.Engine
	var planes []*Plane
	for range 2 {
		eng := newEngine(t)
		engines = append(engines, eng)
		planes = append(planes, newPlane(t, Options{Store: st, Engine: eng}))
	}
	for round := range 3 {
		for r, eng := range engines {
			for range r + 1 {
				eng.Observe(&discovery.Observation{Time: t0, Host: "shop.local", Method: "GET", Path: "/products", Status: 200})
			}
			if err := planes[r].Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		want := int64(3 * (round + 1)) // 1 + 2 per round
		if got := hitsByPath(t, st)["GET shop.local /products"]; got != want {
			t.Fatalf("round %d: store hits %d, want %d", round, got, want)
		}
	}
}

// TestFlushRetiresMergedRows: rows flushed before a template change (one
// per report, or the templater's own merge of them) are replaced by the
// row of the new template, which carries every hit. The change comes from
// a spec whose template covers them all, so that the test does not hang
// on the templater's evidence thresholds.
func TestFlushRetiresMergedRows(t *testing.T) {
	st, eng := newStore(t), newEngine(t)
	p := newPlane(t, Options{Store: st, Engine: eng})
	ctx := context.Background()
	reports := []string{"daily", "weekly", "monthly", "yearly", "hourly"}
	observe := func(rounds int) {
		for range rounds {
			for _, r := range reports {
				eng.Observe(&discovery.Observation{Time: t0, Host: "shop.local", Method: "GET", Path: "/reports/" + r, Status: 200})
			}
		}
	}
	observe(40)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Whether the templater has merged the reports by itself by now is its
	// business: the store must hold exactly what the engine holds.
	if before, inEngine := hitsByPath(t, st), engineHits(eng); !equalHits(before, inEngine) || len(before) == 0 {
		t.Fatalf("before the spec: store %v, engine %v", before, inEngine)
	}
	eng.SetSpecs([]*openapi.Spec{getSpec(t, "/reports/{period}", "period")})
	observe(40)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := hitsByPath(t, st)
	want := map[string]int64{"GET shop.local /reports/{period}": 400}
	if !equalHits(got, want) {
		t.Fatalf("after the merge the store holds %v, want %v", got, want)
	}
	// Nothing new: a further flush changes nothing.
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := hitsByPath(t, st); !equalHits(got, want) {
		t.Fatalf("idle flush changed the store: %v", got)
	}
}

// flakyStore fails UpsertEndpoints on chosen calls.
type flakyStore struct {
	store.Store
	calls  atomic.Int64
	failOn int64
}

func (f *flakyStore) UpsertEndpoints(ctx context.Context, eps []store.Endpoint) error {
	if f.calls.Add(1) == f.failOn {
		return errors.New("database went away")
	}
	return f.Store.UpsertEndpoints(ctx, eps)
}

// TestFlushPartialFailure: a flush whose second chunk fails must not send
// the first chunk's hits again on the next flush.
func TestFlushPartialFailure(t *testing.T) {
	st := &flakyStore{Store: newStore(t), failOn: 2}
	eng := newEngine(t)
	for i := range 620 { // more than one 500-row chunk
		eng.Observe(&discovery.Observation{Time: t0, Host: fmt.Sprintf("h%03d.local", i), Method: "GET", Path: "/", Status: 200})
	}
	p := newPlane(t, Options{Store: st, Engine: eng})
	ctx := context.Background()
	if err := p.Flush(ctx); err == nil {
		t.Fatal("flush with a failing store reported no error")
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, want := hitsByPath(t, st), engineHits(eng)
	if !equalHits(got, want) {
		var diff []string
		for k, v := range want {
			if got[k] != v {
				diff = append(diff, fmt.Sprintf("%s: store %d engine %d", k, got[k], v))
			}
		}
		slices.Sort(diff)
		t.Fatalf("%d rows differ after a retried flush, e.g. %v", len(diff), diff[:min(3, len(diff))])
	}
}

// TestRunRetention: Run prunes the event store at start (and on its
// ticker) and flushes the inventory when it stops.
func TestRunRetention(t *testing.T) {
	now := time.Now().UTC()
	tests := []struct {
		name      string
		retention config.Retention
		want      []string // txn ids kept, newest first
	}{
		{"max count", config.Retention{MaxCount: 3}, []string{"e00", "e01", "e02"}},
		{"max age", config.Retention{MaxAge: 90 * time.Minute}, []string{"e00", "e01"}},
		{"both", config.Retention{MaxAge: 90 * time.Minute, MaxCount: 1}, []string{"e00"}},
		{"none", config.Retention{}, []string{"e00", "e01", "e02", "e03", "e04", "e05"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, eng := newStore(t), newEngine(t)
			var evs []event.Event
			for i := range 6 { // e00 is now, e01 an hour ago, ...
				e := txn(fmt.Sprintf("e%02d", i), "GET", "shop.local", "/products", 0)
				e.Time = now.Add(-time.Duration(i) * time.Hour)
				evs = append(evs, e)
			}
			p := newPlane(t, Options{Store: st, Engine: eng, FeedEngine: true, Retention: tc.retention, FlushEvery: time.Hour})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := p.Ingest(ctx, evs); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			deadline := time.Now().Add(10 * time.Second)
			for {
				n, err := st.CountEvents(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if n == int64(len(tc.want)) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d events stored, want %d", n, len(tc.want))
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			page, err := st.ListEvents(context.Background(), store.EventFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range page.Items {
				got = append(got, e.TxnID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
			// Run flushed on the way out even though its ticker never fired.
			if h := hitsByPath(t, st)["GET shop.local /products"]; h != 6 {
				t.Errorf("inventory hits after Run %d, want 6", h)
			}
		})
	}
}

func TestPublishConfig(t *testing.T) {
	st := newStore(t)
	p := newPlane(t, Options{Store: st})
	ctx := context.Background()

	if doc, rev, err := p.CurrentConfig(ctx); err != nil || doc != nil || rev != 0 {
		t.Fatalf("initial config: %q %d %v", doc, rev, err)
	}
	tests := []struct {
		name    string
		overlay string
		wantRev int64  // 0: rejected
		mention string // in the error
	}{
		{"mode", "mode: monitor\n", 1, ""},
		{"empty overlay", "", 2, ""},
		{"local key", "listen: {http: 0.0.0.0:80}\n", 0, "listen"},
		{"data_dir", "data_dir: /tmp\n", 0, "data_dir"},
		{"bad value", "mode: off\n", 0, "mode"},
		{"scalar", "monitor\n", 0, "mapping"},
		{"routes", "routes:\n  - name: a\n    match: {host: \"*\", path_prefix: /}\n    upstream: http://127.0.0.1:9\n", 3, ""},
	}
	lastGood := []byte(nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev, err := p.PublishConfig(ctx, []byte(tc.overlay))
			if tc.wantRev == 0 {
				if err == nil {
					t.Fatalf("accepted, revision %d", rev)
				}
				if !strings.Contains(err.Error(), tc.mention) {
					t.Errorf("error %q does not name %q", err, tc.mention)
				}
				var ce *ConfigError
				if !errors.As(err, &ce) || !ce.InvalidConfig() {
					t.Errorf("a rejected overlay must be a *ConfigError (the API answers 422): %T", err)
				}
			} else {
				if err != nil || rev != tc.wantRev {
					t.Fatalf("revision %d, %v; want %d", rev, err, tc.wantRev)
				}
				lastGood = []byte(tc.overlay)
			}
			doc, rev, err := p.CurrentConfig(ctx)
			if err != nil || string(doc) != string(lastGood) {
				t.Errorf("current %q rev %d %v, want %q", doc, rev, err, lastGood)
			}
		})
	}
}

func TestHostOnly(t *testing.T) {
	tests := []struct{ in, want string }{
		{"shop.local", "shop.local"},
		{"shop.local:8080", "shop.local"},
		{"10.0.0.7:443", "10.0.0.7"},
		{"[::1]:8443", "::1"},
		{"[::1]", "::1"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := hostOnly(tc.in); got != tc.want {
			t.Errorf("hostOnly(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
