package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"

	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

const testToken = "s3cret-token"

// newStore opens a real SQLite store in a temporary directory.
func newStore(t testing.TB) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", t.TempDir())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// serve mounts s on a real loopback server and returns its base URL.
func serve(t testing.TB, s *Server) string {
	t.Helper()
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// errCode returns the code of a SPEC error body, failing on any other shape.
func (r reply) errCode(t testing.TB) string {
	t.Helper()
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("status %d: body is not {\"error\":{\"code\",\"message\"}}: %s", r.status, r.body)
	}
	return e.Error.Code
}

func (r reply) errMessage(t testing.TB) string {
	t.Helper()
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("bad error body %s: %v", r.body, err)
	}
	return e.Error.Message
}

// call sends one request; auth is the whole Authorization header ("" for none).
func call(t testing.TB, method, u, auth string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func get(t testing.TB, u string) reply { return call(t, http.MethodGet, u, "Bearer "+testToken, nil) }

// page is the SPEC list shape.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func decodePage[T any](t testing.TB, r reply) page[T] {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("list body: %v: %s", err, r.body)
	}
	if string(raw["items"]) == "null" || raw["items"] == nil {
		t.Fatalf("items must be an array, got %s", r.body)
	}
	if _, ok := raw["next_cursor"]; !ok {
		t.Fatalf("list without next_cursor: %s", r.body)
	}
	var p page[T]
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// concrete turns a route pattern into a method and a path that matches it.
func concrete(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = http.MethodGet, pattern
	}
	path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x")
	return method, path
}

func TestAuth(t *testing.T) {
	st := newStore(t)
	withToken := serve(t, &Server{Store: st, Token: testToken})
	noToken := serve(t, &Server{Store: st, Token: ""})
	tests := []struct {
		name string
		base string
		auth string
		want int
	}{
		{"no header", withToken, "", http.StatusUnauthorized},
		{"wrong scheme", withToken, "Basic " + testToken, http.StatusUnauthorized},
		{"token without scheme", withToken, testToken, http.StatusUnauthorized},
		{"wrong token", withToken, "Bearer nope", http.StatusUnauthorized},
		{"token prefix", withToken, "Bearer " + testToken[:4], http.StatusUnauthorized},
		{"token plus suffix", withToken, "Bearer " + testToken + "x", http.StatusUnauthorized},
		{"empty bearer", withToken, "Bearer ", http.StatusUnauthorized},
		{"empty configured token, empty bearer", noToken, "Bearer ", http.StatusUnauthorized},
		{"empty configured token, some bearer", noToken, "Bearer " + testToken, http.StatusUnauthorized},
		{"right token", withToken, "Bearer " + testToken, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, http.MethodGet, tc.base+"/api/v1/events", tc.auth, nil)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			if tc.want != http.StatusUnauthorized {
				return
			}
			if code := r.errCode(t); code != "unauthorized" {
				t.Errorf("code %q, want unauthorized", code)
			}
			if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
				t.Errorf("WWW-Authenticate %q, want a Bearer challenge", h)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// TestEveryRouteRequiresAuth walks the route table: without a token every
// route answers 401; with it, every route is really mounted (it does not
// fall through to the catch-all).
func TestEveryRouteRequiresAuth(t *testing.T) {
	st := newStore(t)
	eng, err := discovery.New(discovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	plane, err := control.New(control.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: st, Discovery: eng, Config: plane, Consents: plane, Graph: plane, Token: testToken}
	base := serve(t, s)
	routes := s.routes()
	if len(routes) < 10 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		t.Run(rt.pattern, func(t *testing.T) {
			method, path := concrete(rt.pattern)
			var body io.Reader
			if method == http.MethodPut {
				body = strings.NewReader("mode: monitor\n")
			}
			r := call(t, method, base+path, "", body)
			if r.status != http.StatusUnauthorized || r.errCode(t) != "unauthorized" {
				t.Fatalf("without a token: status %d %s, want 401 unauthorized", r.status, r.body)
			}
			if rt.pattern == "/api/v1/" {
				return
			}
			if method == http.MethodPut {
				body = strings.NewReader("mode: monitor\n")
			}
			r = call(t, method, base+path, "Bearer "+testToken, body)
			if r.status == http.StatusUnauthorized {
				t.Fatalf("with the token: 401: %s", r.body)
			}
			if r.status == http.StatusNotFound && strings.Contains(string(r.body), "no such API route") {
				t.Fatalf("route not mounted: %s", r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", r.header.Get("Cache-Control"))
			}
		})
	}
	r := get(t, base+"/api/v1/nope")
	if r.status != http.StatusNotFound || r.errCode(t) != "not_found" {
		t.Errorf("unknown route: %d %s", r.status, r.body)
	}
}

// txn builds a transaction event.
func txn(id string, at time.Time, decision, endpoint string) event.Event {
	return event.Event{TxnID: id, Time: at, Placement: "gateway", Mode: "enforce", Decision: decision,
		Destination: event.Destination{Host: "shop.local:8080"},
		Request:     event.Request{Method: "GET", Path: strings.ReplaceAll(endpoint, "{parameter}", "7"), Endpoint: endpoint},
		Response:    event.Response{Status: 200}}
}

func ids(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.TxnID
	}
	return out
}

func TestListEventsFilters(t *testing.T) {
	st := newStore(t)
	now := time.Now().UTC()
	alert := event.Event{Type: "alert", TxnID: "alert-1", Time: now.Add(-2 * time.Minute), Placement: "control", Mode: "enforce",
		Decision: "allow", Alert: &event.Alert{Kind: "new_endpoint", Host: "shop.local", Method: "GET", Endpoint: "/cart"}}
	evs := []event.Event{
		txn("t-old", now.Add(-2*time.Hour), event.DecisionAllow, "/products"),
		txn("t-30m", now.Add(-30*time.Minute), event.DecisionBlock, "/login"),
		txn("t-10m", now.Add(-10*time.Minute), event.DecisionAllow, "/products/{parameter}"),
		txn("t-5m", now.Add(-5*time.Minute), event.DecisionChallenge, "/products"),
		txn("t-1m", now.Add(-1*time.Minute), event.DecisionStepUp, "/login"),
		alert,
	}
	// No endpoint template: the raw path is what the endpoint filter matches.
	raw := txn("t-raw", now.Add(-3*time.Minute), event.DecisionBlock, "")
	raw.Request.Path = "/admin"
	evs = append(evs, raw)
	if _, err := st.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	base := serve(t, &Server{Store: st, Token: testToken})

	tests := []struct {
		name  string
		query url.Values
		want  []string // newest first
	}{
		{"all", nil, []string{"t-1m", "alert-1", "t-raw", "t-5m", "t-10m", "t-30m", "t-old"}},
		{"decision allow", url.Values{"decision": {"allow"}}, []string{"alert-1", "t-10m", "t-old"}},
		{"decision block", url.Values{"decision": {"block"}}, []string{"t-raw", "t-30m"}},
		{"decision step_up", url.Values{"decision": {"step_up"}}, []string{"t-1m"}},
		{"endpoint template", url.Values{"endpoint": {"/products/{parameter}"}}, []string{"t-10m"}},
		{"endpoint exact, not prefix", url.Values{"endpoint": {"/products"}}, []string{"t-5m", "t-old"}},
		{"endpoint falls back to path", url.Values{"endpoint": {"/admin"}}, []string{"t-raw"}},
		{"since duration", url.Values{"since": {"15m"}}, []string{"t-1m", "alert-1", "t-raw", "t-5m", "t-10m"}},
		{"since RFC 3339", url.Values{"since": {now.Add(-time.Hour).Format(time.RFC3339)}}, []string{"t-1m", "alert-1", "t-raw", "t-5m", "t-10m", "t-30m"}},
		{"since RFC 3339 with offset", url.Values{"since": {now.Add(-4 * time.Minute).In(time.FixedZone("x", 3600)).Format(time.RFC3339Nano)}}, []string{"t-1m", "alert-1", "t-raw"}},
		{"type alert", url.Values{"type": {"alert"}}, []string{"alert-1"}},
		{"type transaction", url.Values{"type": {"transaction"}}, []string{"t-1m", "t-raw", "t-5m", "t-10m", "t-30m", "t-old"}},
		{"combined", url.Values{"decision": {"allow"}, "since": {"1h"}, "type": {"transaction"}}, []string{"t-10m"}},
		{"no match", url.Values{"endpoint": {"/nothing"}}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := decodePage[event.Event](t, get(t, base+"/api/v1/events?"+tc.query.Encode()))
			if got := ids(p.Items); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if p.NextCursor != "" {
				t.Errorf("next_cursor %q on a complete list", p.NextCursor)
			}
		})
	}

	t.Run("event round trip", func(t *testing.T) {
		p := decodePage[event.Event](t, get(t, base+"/api/v1/events?type=alert"))
		if len(p.Items) != 1 || p.Items[0].Alert == nil || p.Items[0].Alert.Endpoint != "/cart" || !p.Items[0].Time.Equal(alert.Time) {
			t.Errorf("alert event changed on the way: %+v", p.Items)
		}
	})
}

func TestListEventsEmptyIsArray(t *testing.T) {
	base := serve(t, &Server{Store: newStore(t), Token: testToken})
	r := get(t, base+"/api/v1/events")
	if !bytes.Contains(r.body, []byte(`"items":[]`)) || !bytes.Contains(r.body, []byte(`"next_cursor":""`)) {
		t.Errorf("empty list: %s", r.body)
	}
	r = get(t, base+"/api/v1/endpoints")
	if !bytes.Contains(r.body, []byte(`"items":[]`)) || !bytes.Contains(r.body, []byte(`"next_cursor":""`)) {
		t.Errorf("empty inventory: %s", r.body)
	}
}

func TestListEventsBadInput(t *testing.T) {
	st := newStore(t)
	if err := st.UpsertEndpoints(context.Background(), []store.Endpoint{{Host: "a", Method: "GET", Path: "/a"}, {Host: "b", Method: "GET", Path: "/b"}}); err != nil {
		t.Fatal(err)
	}
	base := serve(t, &Server{Store: st, Token: testToken})
	// A real cursor from another list must be refused by this one.
	epCursor := decodePage[json.RawMessage](t, get(t, base+"/api/v1/endpoints?limit=1")).NextCursor
	if epCursor == "" {
		t.Fatal("no endpoints cursor")
	}
	tests := []struct {
		query url.Values
		code  string
	}{
		{url.Values{"decision": {"deny"}}, "bad_decision"},
		{url.Values{"decision": {"ALLOW"}}, "bad_decision"},
		{url.Values{"since": {"yesterday"}}, "bad_since"},
		{url.Values{"since": {"-15m"}}, "bad_since"},
		{url.Values{"since": {"2026-01-17"}}, "bad_since"},
		{url.Values{"limit": {"0"}}, "bad_limit"},
		{url.Values{"limit": {"-1"}}, "bad_limit"},
		{url.Values{"limit": {"ten"}}, "bad_limit"},
		{url.Values{"limit": {"1001"}}, "bad_limit"},
		{url.Values{"cursor": {"not-a-cursor!"}}, "bad_cursor"},
		{url.Values{"cursor": {"eyJ4Ijox"}}, "bad_cursor"},
		{url.Values{"cursor": {epCursor}}, "bad_cursor"},
	}
	for _, tc := range tests {
		t.Run(tc.query.Encode(), func(t *testing.T) {
			r := get(t, base+"/api/v1/events?"+tc.query.Encode())
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			if code := r.errCode(t); code != tc.code {
				t.Errorf("code %q, want %q", code, tc.code)
			}
		})
	}
}

func TestListEventsPaging(t *testing.T) {
	st := newStore(t)
	base := time.Date(2026, 1, 17, 12, 0, 0, 0, time.UTC)
	var evs []event.Event
	for i := range 53 {
		// Groups of three share a timestamp: the cursor must split ties.
		evs = append(evs, txn(fmt.Sprintf("t%03d", i), base.Add(time.Duration(i/3)*time.Second), event.DecisionAllow, "/products"))
	}
	if _, err := st.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	u := serve(t, &Server{Store: st, Token: testToken})
	for _, limit := range []int{1, 7, 53, 100} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			seen := map[string]int{}
			var order []event.Event
			cursor, pages := "", 0
			for {
				q := url.Values{"limit": {fmt.Sprint(limit)}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				p := decodePage[event.Event](t, get(t, u+"/api/v1/events?"+q.Encode()))
				pages++
				if len(p.Items) > limit {
					t.Fatalf("page of %d items with limit %d", len(p.Items), limit)
				}
				for _, e := range p.Items {
					seen[e.TxnID]++
				}
				order = append(order, p.Items...)
				if p.NextCursor == "" {
					break
				}
				if pages > 100 {
					t.Fatal("paging does not end")
				}
				cursor = p.NextCursor
			}
			if len(seen) != len(evs) {
				t.Errorf("saw %d distinct events, want %d", len(seen), len(evs))
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("%s seen %d times", id, n)
				}
			}
			for i := 1; i < len(order); i++ {
				if order[i].Time.After(order[i-1].Time) {
					t.Fatalf("not newest first at %d: %s after %s", i, order[i].TxnID, order[i-1].TxnID)
				}
			}
			if want := (len(evs) + limit - 1) / limit; pages != want {
				t.Errorf("%d pages, want %d", pages, want)
			}
		})
	}
}

// inventory feeds an engine, flushes it through a control plane into st
// and returns the engine.
func inventory(t testing.TB, st store.Store) *discovery.Engine {
	t.Helper()
	eng, err := discovery.New(discovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 17, 12, 0, 0, 0, time.UTC)
	obs := []discovery.Observation{
		{Host: "shop.local", Method: "GET", Path: "/products", Status: 200},
		{Host: "shop.local", Method: "GET", Path: "/products", Status: 200},
		{Host: "shop.local", Method: "GET", Path: "/products/{parameter}", Endpoint: "/products/{parameter}", Status: 200},
		{Host: "shop.local", Method: "POST", Path: "/login", Status: 200, ReqType: "application/json",
			ReqBody: []byte(`{"username":"alice","password":"x"}`)},
		{Host: "shop.local", Method: "POST", Path: "/login", Status: 401, ReqType: "application/json",
			ReqBody: []byte(`{"username":"bob","password":"y"}`)},
		{Host: "other.local", Method: "GET", Path: "/health", Status: 200},
	}
	for i := range obs {
		obs[i].Time = at.Add(time.Duration(i) * time.Second)
		eng.Observe(&obs[i])
	}
	plane, err := control.New(control.Options{Store: st, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if err := plane.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return eng
}

type row struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Hits      int64     `json:"hits"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Protected *bool     `json:"protected"`
	Status    *string   `json:"status"`
	Sensitive []string  `json:"sensitive"`
}

func TestEndpoints(t *testing.T) {
	st := newStore(t)
	eng := inventory(t, st)
	base := serve(t, &Server{Store: st, Token: testToken})

	p := decodePage[row](t, get(t, base+"/api/v1/endpoints"))
	type key struct {
		host, method, path string
		hits               int64
	}
	var got []key
	for _, r := range p.Items {
		got = append(got, key{r.Host, r.Method, r.Path, r.Hits})
		if r.ID != store.EndpointID(r.Host, r.Method, r.Path) {
			t.Errorf("%s %s: id %q", r.Method, r.Path, r.ID)
		}
		if r.Protected == nil || r.Status == nil || r.Sensitive == nil || r.FirstSeen.IsZero() || r.LastSeen.Before(r.FirstSeen) {
			t.Errorf("incomplete row %+v", r)
		}
	}
	want := []key{
		{"other.local", "GET", "/health", 1},
		{"shop.local", "POST", "/login", 2},
		{"shop.local", "GET", "/products", 2},
		{"shop.local", "GET", "/products/{parameter}", 1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rows\n got %v\nwant %v", got, want)
	}

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			query string
			want  int
		}{
			{"host=shop.local", 3},
			{"host=other.local", 1},
			{"host=nowhere", 0},
			{"status=shadow", 0},
			{"status=documented", 0},
		}
		for _, tc := range tests {
			if n := len(decodePage[row](t, get(t, base+"/api/v1/endpoints?"+tc.query)).Items); n != tc.want {
				t.Errorf("%s: %d rows, want %d", tc.query, n, tc.want)
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		tests := []struct{ query, code string }{
			{"status=unknown", "bad_status"},
			{"status=Shadow", "bad_status"},
			{"limit=0", "bad_limit"},
			{"limit=x", "bad_limit"},
			{"cursor=%25%25", "bad_cursor"},
		}
		for _, tc := range tests {
			r := get(t, base+"/api/v1/endpoints?"+tc.query)
			if r.status != http.StatusBadRequest || r.errCode(t) != tc.code {
				t.Errorf("%s: %d %s, want 400 %s", tc.query, r.status, r.body, tc.code)
			}
		}
	})

	t.Run("paging", func(t *testing.T) {
		var all []string
		cursor := ""
		for range 10 {
			p := decodePage[row](t, get(t, base+"/api/v1/endpoints?limit=1&cursor="+url.QueryEscape(cursor)))
			for _, r := range p.Items {
				all = append(all, r.Path)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if want := []string{"/health", "/login", "/products", "/products/{parameter}"}; !slices.Equal(all, want) {
			t.Errorf("paged %v, want %v", all, want)
		}
	})

	login := store.EndpointID("shop.local", "POST", "/login")
	tests := []struct {
		name   string
		engine *discovery.Engine
	}{
		{"from the store", nil},
		{"from the engine", eng},
	}
	for _, tc := range tests {
		t.Run("detail "+tc.name, func(t *testing.T) {
			base := serve(t, &Server{Store: st, Discovery: tc.engine, Token: testToken})
			r := get(t, base+"/api/v1/endpoints/"+login)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var d struct {
				ID            string           `json:"id"`
				Path          string           `json:"path"`
				Hits          int64            `json:"hits"`
				StatusCodes   map[string]int64 `json:"status_codes"`
				RequestSchema map[string]any   `json:"request_schema"`
			}
			if err := json.Unmarshal(r.body, &d); err != nil {
				t.Fatal(err)
			}
			if d.ID != login || d.Path != "/login" || d.Hits != 2 {
				t.Errorf("detail row: %s", r.body)
			}
			if d.StatusCodes["200"] != 1 || d.StatusCodes["401"] != 1 {
				t.Errorf("status_codes %v", d.StatusCodes)
			}
			props, _ := d.RequestSchema["properties"].(map[string]any)
			if props["username"] == nil || props["password"] == nil {
				t.Errorf("learned request schema lacks the body's fields: %v", d.RequestSchema)
			}

			r = get(t, base+"/api/v1/endpoints/0123456789abcdef")
			if r.status != http.StatusNotFound || r.errCode(t) != "not_found" {
				t.Errorf("unknown id: %d %s", r.status, r.body)
			}
		})
	}
}

// openapiPaths builds a document with libopenapi and returns its paths,
// failing on any error.
func openapiPaths(t testing.TB, doc []byte) map[string][]string {
	t.Helper()
	ldoc, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatalf("libopenapi: %v", err)
	}
	if v := ldoc.GetVersion(); !strings.HasPrefix(v, "3.1") {
		t.Errorf("OpenAPI version %q, want 3.1.x", v)
	}
	model, err := ldoc.BuildV3Model()
	if err != nil {
		t.Fatalf("BuildV3Model: %v", err)
	}
	if model == nil || model.Model.Paths == nil {
		t.Fatal("no paths")
	}
	out := map[string][]string{}
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			out[path] = append(out[path], strings.ToUpper(method))
		}
	}
	return out
}

func TestOpenAPI(t *testing.T) {
	st := newStore(t)
	eng := inventory(t, st)
	base := serve(t, &Server{Store: st, Discovery: eng, Token: testToken})

	tests := []struct {
		host    string
		want    map[string]string // path -> method
		notWant []string
	}{
		{"shop.local", map[string]string{"/products": "GET", "/products/{parameter}": "GET", "/login": "POST"}, []string{"/health"}},
		{"other.local", map[string]string{"/health": "GET"}, []string{"/login"}},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			r := get(t, base+"/api/v1/openapi?host="+url.QueryEscape(tc.host))
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			paths := openapiPaths(t, r.body)
			for p, m := range tc.want {
				if !slices.Contains(paths[p], m) {
					t.Errorf("%s %s missing; paths %v", m, p, paths)
				}
			}
			for _, p := range tc.notWant {
				if _, ok := paths[p]; ok {
					t.Errorf("%s belongs to another host", p)
				}
			}
		})
	}

	t.Run("no engine", func(t *testing.T) {
		base := serve(t, &Server{Store: st, Token: testToken})
		r := get(t, base+"/api/v1/openapi?host=shop.local")
		if r.status != http.StatusServiceUnavailable || r.errCode(t) != "no_inventory" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}

// TestSelfSpec checks Vigil's own API document: valid OpenAPI 3.1, and the
// same set of operations as the route table.
func TestSelfSpec(t *testing.T) {
	s := &Server{Store: newStore(t), Token: testToken}
	base := serve(t, s)
	r := get(t, base+"/api/v1/spec")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", r.status, r.header.Get("Content-Type"))
	}
	paths := openapiPaths(t, r.body)

	registered := map[string]bool{}
	for _, rt := range s.routes() {
		method, path, ok := strings.Cut(rt.pattern, " ")
		if !ok {
			continue // the catch-all
		}
		registered[method+" "+path] = true
		if !slices.Contains(paths[path], method) {
			t.Errorf("route %s is not in the spec", rt.pattern)
		}
	}
	for path, methods := range paths {
		for _, m := range methods {
			if !registered[m+" "+path] {
				t.Errorf("spec lists %s %s, which the server does not register", m, path)
			}
		}
	}
}

func TestConfig(t *testing.T) {
	st := newStore(t)
	plane, err := control.New(control.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, &Server{Store: st, Config: plane, Token: testToken})
	put := func(body string) reply {
		return call(t, http.MethodPut, base+"/api/v1/config", "Bearer "+testToken, strings.NewReader(body))
	}
	current := func() (int64, string) {
		r := get(t, base+"/api/v1/config")
		if r.status != http.StatusOK {
			t.Fatalf("GET config: %d %s", r.status, r.body)
		}
		var c struct {
			Revision int64  `json:"revision"`
			YAML     string `json:"yaml"`
		}
		if err := json.Unmarshal(r.body, &c); err != nil {
			t.Fatal(err)
		}
		return c.Revision, c.YAML
	}
	if rev, doc := current(); rev != 0 || doc != "" {
		t.Errorf("before any put: revision %d %q", rev, doc)
	}

	valid := []string{
		"mode: monitor\n",
		"mode: enforce\nroutes:\n  - name: shop\n    match: {host: \"*\", path_prefix: /}\n    upstream: http://127.0.0.1:9000\n",
	}
	for i, doc := range valid {
		r := put(doc)
		if r.status != http.StatusOK {
			t.Fatalf("valid overlay %d: %d %s", i, r.status, r.body)
		}
		var out struct{ Revision int64 }
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		if out.Revision != int64(i+1) {
			t.Errorf("revision %d, want %d", out.Revision, i+1)
		}
		if rev, got := current(); rev != int64(i+1) || got != doc {
			t.Errorf("GET after put %d: revision %d, yaml %q", i, rev, got)
		}
	}

	invalid := []struct {
		name, body, mention string
	}{
		{"local key listen", "listen: {http: 0.0.0.0:80}\n", "listen"},
		{"local key store", "store: postgres://x\n", "store"},
		{"bad mode", "mode: yolo\n", "mode"},
		{"not a mapping", "- mode\n", "mapping"},
		{"not yaml", "mode: [\n", "overlay"},
		{"unknown key inside", "protect: {no_such_stage: {}}\n", "no_such_stage"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			r := put(tc.body)
			if r.status != http.StatusUnprocessableEntity || r.errCode(t) != "invalid_config" {
				t.Fatalf("%d %s, want 422 invalid_config", r.status, r.body)
			}
			if msg := r.errMessage(t); !strings.Contains(msg, tc.mention) {
				t.Errorf("message %q does not name %q", msg, tc.mention)
			}
		})
	}

	t.Run("too large", func(t *testing.T) {
		big := "mode: monitor\n#" + strings.Repeat("x", 1<<20) + "\n"
		r := put(big)
		if r.status != http.StatusRequestEntityTooLarge || r.errCode(t) != "too_large" {
			t.Errorf("%d %s, want 413 too_large", r.status, r.body)
		}
	})

	if rev, doc := current(); rev != int64(len(valid)) || doc != valid[len(valid)-1] {
		t.Errorf("rejected overlays changed the config: revision %d %q", rev, doc)
	}

	t.Run("no publisher", func(t *testing.T) {
		base := serve(t, &Server{Store: st, Token: testToken})
		for _, m := range []string{http.MethodGet, http.MethodPut} {
			r := call(t, m, base+"/api/v1/config", "Bearer "+testToken, strings.NewReader("mode: monitor\n"))
			if r.status != http.StatusNotImplemented || r.errCode(t) != "no_config_distribution" {
				t.Errorf("%s: %d %s", m, r.status, r.body)
			}
		}
	})
}

// brokenSettings is a store whose settings writes fail.
type brokenSettings struct{ store.Store }

func (brokenSettings) PutSetting(context.Context, string, []byte) (int64, error) {
	return 0, errors.New("store: disk full")
}

// TestConfigStoreFailure: a valid overlay the server fails to keep is the
// server's error (500), not the user's (422).
func TestConfigStoreFailure(t *testing.T) {
	st := brokenSettings{newStore(t)}
	plane, err := control.New(control.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, &Server{Store: st, Config: plane, Token: testToken, Log: slog.New(slog.DiscardHandler)})
	tests := []struct {
		body   string
		status int
		code   string
	}{
		{"mode: monitor\n", http.StatusInternalServerError, "internal"},
		{"listen: {http: 0.0.0.0:80}\n", http.StatusUnprocessableEntity, "invalid_config"},
	}
	for _, tc := range tests {
		r := call(t, http.MethodPut, base+"/api/v1/config", "Bearer "+testToken, strings.NewReader(tc.body))
		if r.status != tc.status || r.errCode(t) != tc.code {
			t.Errorf("%q: %d %s, want %d %s", tc.body, r.status, r.body, tc.status, tc.code)
		}
	}
}

// TestInternalErrorsAreHidden: a failing store yields 500 "internal"
// without the underlying error text.
func TestInternalErrorsAreHidden(t *testing.T) {
	st := newStore(t)
	base := serve(t, &Server{Store: st, Token: testToken, Log: slog.New(slog.DiscardHandler)})
	st.Close()
	r := get(t, base+"/api/v1/events")
	if r.status != http.StatusInternalServerError || r.errCode(t) != "internal" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if bytes.Contains(r.body, []byte("sql")) {
		t.Errorf("internal error leaks details: %s", r.body)
	}
}
