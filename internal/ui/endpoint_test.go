package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// storedEndpoint is an inventory row whose detail is a full discovery
// endpoint, as the control plane flushes it.
func storedEndpoint(t *testing.T, st store.Store) string {
	t.Helper()
	now := time.Now()
	ep := discovery.Endpoint{Host: "shop.local", Method: "POST", Path: "/users/{parameter}", Hits: 42, FirstSeen: now.Add(-time.Hour),
		LastSeen: now, Status: "shadow", Sensitive: []string{"email", "pan"},
		PathParams:      []discovery.PathParam{{Position: 1, Name: "{parameter}", Kind: "integer", Examples: []string{"7"}}},
		QueryParams:     []discovery.Param{{Name: "verbose", Seen: 3, Schema: map[string]any{"type": "boolean"}}},
		HeaderParams:    []discovery.Param{{Name: "X-Api-Key", Seen: 42, Required: true, Schema: map[string]any{"type": "string", "format": "api_key"}}},
		SensitiveFields: map[string][]string{"request.body.$.email": {"email"}, "response.body.$.card": {"pan"}},
		RequestSchema:   map[string]any{"type": "object", "properties": map[string]any{"email": map[string]any{"type": "string", "format": "email"}}},
		ResponseSchemas: map[string]any{"200": map[string]any{"type": "object", "properties": map[string]any{"card": map[string]any{"type": "string"}}}},
		StatusCodes:     map[int]int64{200: 40, 404: 2},
	}
	detail, err := json.Marshal(ep)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertEndpoints(context.Background(), []store.Endpoint{{Host: ep.Host, Method: ep.Method, Path: ep.Path, Hits: ep.Hits,
		FirstSeen: ep.FirstSeen, LastSeen: ep.LastSeen, Status: ep.Status, Sensitive: ep.Sensitive, Detail: detail}}); err != nil {
		t.Fatal(err)
	}
	evs := []event.Event{
		{TxnID: "t-sqli", Time: now.Add(-time.Minute), Placement: "gateway", Destination: event.Destination{Host: "shop.local"},
			Source:   event.Source{IP: "203.0.113.9"},
			Request:  event.Request{Method: "POST", Path: "/users/7", Endpoint: "/users/{parameter}"},
			Findings: []event.Finding{{Stage: "waf", RuleID: "942100", Kind: "sqli", Message: "SQL injection <detected>"}}, Decision: "block"},
		{TxnID: "t-other-method", Time: now, Destination: event.Destination{Host: "shop.local"},
			Request:  event.Request{Method: "GET", Path: "/users/7", Endpoint: "/users/{parameter}"},
			Findings: []event.Finding{{Stage: "waf", RuleID: "1", Message: "not this endpoint"}}, Decision: "block"},
		{TxnID: "t-clean", Time: now, Destination: event.Destination{Host: "shop.local"},
			Request: event.Request{Method: "POST", Path: "/users/8", Endpoint: "/users/{parameter}"}, Decision: "allow"},
	}
	if _, err := st.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	return store.EndpointID(ep.Host, ep.Method, ep.Path)
}

func TestEndpointPage(t *testing.T) {
	f := newFixture(t, nil)
	id := storedEndpoint(t, f.store)
	c := f.client()
	f.signIn(c, adminToken)
	r := f.get(c, "/ui/endpoints/"+id)
	if r.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", r.StatusCode, r.body)
	}
	for _, want := range []string{
		`<h1 id="endpoint"><span class="method method-POST">POST</span> <span class="mono">/users/{parameter}</span></h1>`,
		`<span class="badge badge-shadow">shadow</span>`,
		`<td class="mono">{parameter}</td><td>path</td><td>integer</td>`,
		`<td class="mono">verbose</td><td>query</td><td>boolean</td><td>no</td>`,
		`<td class="mono">X-Api-Key</td><td>header</td><td>api_key</td><td>yes</td>`,
		`<td class="mono">request.body.$.email</td><td><span class="chip chip-email">email</span></td>`,
		`<td class="mono">response.body.$.card</td><td><span class="chip chip-pan">pan</span></td>`,
		`<pre id="request-schema">{`, `&#34;format&#34;: &#34;email&#34;`,
		`<pre id="response-schema">{`, `&#34;card&#34;`,
		`<span class="badge">404 × 2</span>`,
		`<a class="finding-event" href="/ui/events/t-sqli">t-sqli</a>`, `SQL injection &lt;detected&gt;`, `942100`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("endpoint page lacks %s", want)
		}
	}
	if strings.Contains(r.body, "t-other-method") || strings.Contains(r.body, "t-clean") {
		t.Error("findings of another method, or events without findings, are listed")
	}
	if strings.Contains(r.body, `id="download-openapi"`) {
		t.Error("OpenAPI download offered on a node without the inventory engine")
	}
	if r := f.get(c, "/ui/openapi?host=shop.local"); r.StatusCode != http.StatusNotFound {
		t.Errorf("openapi without an engine: %d", r.StatusCode)
	}
}

func TestEndpointPageFromEngine(t *testing.T) {
	eng, err := discovery.New(discovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/products/1", "/products/2", "/products/3", "/products/4"} {
		eng.Observe(&discovery.Observation{Time: time.Now(), Host: "shop.local", Method: "GET", Path: p, Status: 200,
			RespType: "application/json", RespBody: []byte(`{"id":1,"name":"socks","owner":"ann@example.com"}`)})
	}
	eps := eng.Endpoints()
	if len(eps) != 1 {
		t.Fatalf("engine rows: %+v", eps)
	}
	f := newFixture(t, func(o *Options) { o.Discovery = eng })
	c := f.client()
	f.signIn(c, adminToken)
	r := f.get(c, "/ui/endpoints/"+eps[0].ID)
	if r.StatusCode != 200 || !strings.Contains(r.body, eps[0].Path) {
		t.Fatalf("engine endpoint: %d:\n%s", r.StatusCode, r.body)
	}
	if !strings.Contains(r.body, `<a id="download-openapi" class="button" href="/ui/openapi?host=shop.local" download>`) {
		t.Fatalf("no OpenAPI link:\n%s", r.body)
	}
	dl := f.get(c, "/ui/openapi?host=shop.local")
	if dl.StatusCode != 200 || dl.Header.Get("Content-Disposition") != `attachment; filename="openapi-shop.local.json"` ||
		dl.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("download: %d %v", dl.StatusCode, dl.Header)
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(dl.body), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths[eps[0].Path] == nil {
		t.Fatalf("document (%v): %.300s", err, dl.body)
	}
}
