package control

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/discovery/openapi"
	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// getSpec is a spec documenting GET template, whose one path parameter
// is param.
func getSpec(t *testing.T, template, param string) *openapi.Spec {
	t.Helper()
	spec, err := openapi.Parse(fmt.Appendf(nil, `openapi: 3.0.3
info: {title: shop, version: "1"}
paths:
  %s:
    get:
      parameters: [{name: %s, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
`, template, param), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestIngestTemplatesItself: the plane names endpoints with its own
// engine (its specs win), not with the template the data plane put in the
// event, which knew no spec.
func TestIngestTemplatesItself(t *testing.T) {
	st, eng := newStore(t), newEngine(t)
	eng.SetSpecs([]*openapi.Spec{getSpec(t, "/products/{sku}", "sku")})
	p := newPlane(t, Options{Store: st, Engine: eng, FeedEngine: true})
	var evs []event.Event
	for i := range 3 {
		ev := txn(fmt.Sprint("t", i), "GET", "shop.local:8080", fmt.Sprintf("/products/%d", 40+i), i)
		ev.Request.Endpoint = "/products/{parameter}" // the data plane's own template
		evs = append(evs, ev)
	}
	if err := p.Ingest(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	eps := eng.Endpoints()
	if len(eps) != 1 || eps[0].Path != "/products/{sku}" || eps[0].Status != "documented" || eps[0].Hits != 3 {
		t.Fatalf("inventory %+v, want GET /products/{sku} documented with 3 hits", eps)
	}
}

// TestAlertsOnceAcrossReplicas: two replicas raise the same alert (each
// saw part of the endpoint's traffic); it is stored once and notified
// once. Alert events of data planes are not stored by a plane that raises
// its own.
func TestAlertsOnceAcrossReplicas(t *testing.T) {
	st := newStore(t)
	var mu sync.Mutex
	var notified []discovery.Alert
	notify := func(a discovery.Alert) { mu.Lock(); notified = append(notified, a); mu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var planes []*Plane
	for range 2 {
		p := newPlane(t, Options{Store: st, Engine: newEngine(t), FeedEngine: true, RaiseAlerts: true, Notify: notify,
			FlushEvery: 50 * time.Millisecond})
		planes = append(planes, p)
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	a := discovery.Alert{Kind: "shadow_endpoint", Host: "shop.local", Method: "GET", Endpoint: "/debug/{parameter}",
		Detail: "not in any spec", Time: t0}
	for _, p := range planes {
		if !p.Enqueue(discovery.AlertEvent(a)) {
			t.Fatal("alert not queued")
		}
	}
	fromDataPlane := *discovery.AlertEvent(discovery.Alert{Kind: "new_endpoint", Host: "shop.local", Method: "GET",
		Endpoint: "/debug/7", Time: t0})
	if err := planes[0].Ingest(ctx, []event.Event{fromDataPlane, txn("t1", "GET", "shop.local", "/debug/7", 1)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		page, err := st.ListEvents(ctx, store.EventFilter{Type: "alert"})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := len(notified)
		mu.Unlock()
		if len(page.Items) == 1 && n == 1 {
			if got := page.Items[0].Alert; got == nil || got.Kind != a.Kind || got.Endpoint != a.Endpoint {
				t.Fatalf("stored alert %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d alerts stored (want 1: the replicas' one, not the data plane's), %d notified (want 1)", len(page.Items), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a second notification would show up now
	mu.Lock()
	defer mu.Unlock()
	if len(notified) != 1 || notified[0].Kind != a.Kind || notified[0].Detail != a.Detail || !notified[0].Time.Equal(t0) {
		t.Fatalf("notified %+v", notified)
	}
}

// TestFlushAdoptsProfiles: a data plane's profile (header parameters, body
// schema, sensitive fields, protected) lands in the plane's engine, so the
// API's detail (from the engine) and the stored row agree; flushing again
// writes nothing.
func TestFlushAdoptsProfiles(t *testing.T) {
	gw, _ := discovery.New(discovery.Options{SampleRate: 1})
	st, eng := &flakyStore{Store: newStore(t), failOn: -1}, newEngine(t) // counts upserts
	p := newPlane(t, Options{Store: st, Engine: eng, FeedEngine: true})
	ctx := context.Background()
	var evs []event.Event
	for i := range 4 {
		ev := txn(fmt.Sprint("t", i), "POST", "shop.local", "/orders", i)
		ev.Request.ContentType = "application/json"
		evs = append(evs, ev)
		gw.Observe(&discovery.Observation{Time: ev.Time, Host: "shop.local", Method: "POST", Path: "/orders", Status: 200,
			ReqType: "application/json", ReqBody: fmt.Appendf(nil, `{"email":"u%d@example.com"}`, i),
			Headers: []string{"X-Tenant"}, Protected: true})
	}
	ups, _ := gw.ScaleOutProfilesSince(nil)
	for _, u := range ups {
		p.ApplyProfile("p.gw1."+u.ID, u.JSON)
	}
	if err := p.Ingest(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	id := discovery.EndpointID("shop.local", "POST", "/orders")
	row, err := st.GetEndpoint(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var stored discovery.Endpoint
	if err := json.Unmarshal(row.Detail, &stored); err != nil {
		t.Fatal(err)
	}
	live, ok := eng.Endpoint(id)
	if !ok {
		t.Fatal("engine lacks the endpoint")
	}
	if hp := stored.HeaderParams; len(hp) != 1 || hp[0].Name != "X-Tenant" || hp[0].Seen != 4 || !hp[0].Required {
		t.Errorf("stored header parameters %+v", stored.HeaderParams)
	}
	if !row.Protected || !slices.Contains(row.Sensitive, "email") || stored.RequestSchema == nil {
		t.Errorf("stored row %+v detail %s", row, row.Detail)
	}
	a, _ := json.Marshal(stored)
	b, _ := json.Marshal(live)
	if string(a) != string(b) {
		t.Errorf("stored detail and engine differ:\n%s\n%s", a, b)
	}
	upserts := st.calls.Load()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st.calls.Load() != upserts {
		t.Error("an idle flush wrote the row again")
	}
}

// TestUnmaskQuery: the values a data plane masked in an event's query are
// emptied before the engine learns from them; the others are kept as sent.
func TestUnmaskQuery(t *testing.T) {
	cls, err := sensitive.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ raw, want string }{
		{"page=2&q=socks", "page=2&q=socks"},
		{"token=abc123&page=2", "token=&page=2"},
		{"email=jane%40example.com&sort=asc", "email=&sort=asc"},
		{"card=4111111111111111", "card="},
		{"ssn=123-45-6789&x=1", "ssn=&x=1"},
		{"api_key=AKIAIOSFODNN7EXAMPLE", "api_key="},
		{"note=a***b&stars=****", "note=a***b&stars=****"}, // not masks
		{"", ""},
	}
	for _, tc := range tests {
		redacted := cls.RedactQuery(tc.raw)
		if got := unmaskQuery(redacted); got != tc.want {
			t.Errorf("unmaskQuery(%q) (redacted from %q) = %q, want %q", redacted, tc.raw, got, tc.want)
		}
	}
}
