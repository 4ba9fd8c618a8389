package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/allinone"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

// paritySpec documents part of the shop: /api/v1/products/{id} is the
// undocumented twin of a documented v2 path (zombie), legacy-search is
// deprecated (zombie), /internal/debug/... is in no spec (shadow).
const paritySpec = `openapi: 3.0.3
info: {title: shop, version: "2"}
paths:
  /api/v2/products:
    get:
      parameters: [{name: page, in: query, schema: {type: integer}}]
      responses: {"200": {description: ok}}
  /api/v2/products/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses: {"200": {description: ok}}
  /api/v2/users/{username}:
    get:
      parameters: [{name: username, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /api/v2/orders:
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: {email: {type: string}, qty: {type: integer}}
      responses: {"201": {description: created}}
  /api/v2/legacy-search:
    get:
      deprecated: true
      parameters: [{name: q, in: query, schema: {type: string}}]
      responses: {"200": {description: ok}}
`

// parityRequest is one request, sent alike to both placements.
type parityRequest struct {
	method, path, body string
	header             map[string]string
}

// parityTraffic is the shop's traffic in two phases: the second comes
// after every endpoint's new_endpoint alert and changes what is known of
// two endpoints (a new body field and class, a new credential).
func parityTraffic() (first, second []parityRequest) {
	key := map[string]string{"X-Api-Key": "AKIAIOSFODNN7EXAMPLE", "X-Client-Version": "3"}
	for i := range 6 {
		h := map[string]string{"X-Client-Version": "3"}
		if i%2 == 0 {
			h = key
		}
		first = append(first, parityRequest{method: "GET", path: fmt.Sprintf("/api/v2/products/%d?fields=name", 10+i), header: h})
	}
	for i := range 3 {
		first = append(first,
			parityRequest{method: "GET", path: fmt.Sprintf("/api/v2/products?page=%d", i+1)},
			parityRequest{method: "GET", path: fmt.Sprintf("/api/v1/products/%d", 20+i)},
			parityRequest{method: "GET", path: "/api/v2/legacy-search?q=socks&token=abc123"},
			parityRequest{method: "GET", path: fmt.Sprintf("/internal/debug/users/%d", 30+i), header: map[string]string{"X-Debug": "1"}},
			parityRequest{method: "GET", path: "/api/v2/users/" + []string{"alice", "bob", "carol"}[i], header: map[string]string{"X-Tenant": "acme"}})
	}
	for i := range 4 {
		first = append(first, parityRequest{method: "POST", path: "/api/v2/orders",
			body: fmt.Sprintf(`{"email":"u%d@example.com","qty":%d}`, i, i+1), header: map[string]string{"Idempotency-Key": fmt.Sprint("k", i)}})
	}
	for i := range 3 {
		second = append(second, parityRequest{method: "POST", path: "/api/v2/orders",
			body: fmt.Sprintf(`{"email":"v%d@example.com","qty":%d,"coupon":"SPRING","card":"4111 1111 1111 1111"}`, i, i+1)})
	}
	second = append(second, parityRequest{method: "GET", path: "/api/v2/products/10",
		header: map[string]string{"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"}})
	return first, second
}

func parityUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"order_id":17}`)
		case strings.HasPrefix(r.URL.Path, "/internal/"):
			io.WriteString(w, `{"user":"ops","email":"ops@example.com"}`)
		case strings.HasPrefix(r.URL.Path, "/api/v2/users/"):
			io.WriteString(w, `{"name":"x","plan":"pro"}`)
		default:
			io.WriteString(w, `{"id":1,"name":"socks","price":9.5}`)
		}
	}))
	t.Cleanup(up.Close)
	return up
}

// hookLog collects what a webhook receives.
type hookLog struct {
	mu     sync.Mutex
	alerts []string
	srv    *httptest.Server
}

func newHookLog(t *testing.T) *hookLog {
	h := &hookLog{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Type  string          `json:"type"`
			Alert discovery.Alert `json:"alert"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Type != "vigil.discovery.alert" {
			http.Error(w, "bad alert", http.StatusBadRequest)
			return
		}
		a := body.Alert
		h.mu.Lock()
		h.alerts = append(h.alerts, strings.Join([]string{a.Kind, a.Host, a.Method, a.Endpoint, a.Detail}, " "))
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookLog) sorted() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(slices.Values(h.alerts))
}

func loadParityConfig(t *testing.T, dir, yaml string) *config.Config {
	t.Helper()
	file := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// placement is one of the two deployments under comparison: where to send
// traffic, and its API.
type placement struct {
	name, gateway, admin string
	hook                 *hookLog
}

const parityToken = "t0ken"

func (p *placement) get(t *testing.T, path string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+parityToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s GET %s: %d %s", p.name, path, resp.StatusCode, b)
	}
	return b
}

func (p *placement) send(t *testing.T, r parityRequest) {
	t.Helper()
	req, _ := http.NewRequest(r.method, "http://"+p.gateway+r.path, strings.NewReader(r.body))
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s %s: %d", p.name, r.method, r.path, resp.StatusCode)
	}
}

// inventory is what a user reads of a placement through the REST API:
// the endpoint list, each endpoint's detail, the reconstructed OpenAPI
// document, the alert events, and what its webhook received. Timestamps
// and latencies (which differ between any two runs) are left out.
type inventory struct {
	Endpoints []any            `json:"endpoints"`
	Detail    map[string]any   `json:"detail"`
	OpenAPI   any              `json:"openapi"`
	Alerts    []any            `json:"alerts"`
	Webhook   []string         `json:"webhook"`
	Hits      map[string]int64 `json:"-"`
}

func readInventory(t *testing.T, p *placement) inventory {
	t.Helper()
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(p.get(t, "/api/v1/endpoints?limit=1000"), &list); err != nil {
		t.Fatal(err)
	}
	inv := inventory{Detail: map[string]any{}, Hits: map[string]int64{}}
	for _, ep := range list.Items {
		id := ep["id"].(string)
		inv.Hits[fmt.Sprint(ep["method"], " ", ep["path"])] = int64(ep["hits"].(float64))
		inv.Endpoints = append(inv.Endpoints, withoutTimes(ep))
		var d map[string]any
		if err := json.Unmarshal(p.get(t, "/api/v1/endpoints/"+id), &d); err != nil {
			t.Fatal(err)
		}
		delete(d, "latency_ms")
		inv.Detail[id] = withoutTimes(d)
	}
	var doc any
	if err := json.Unmarshal(p.get(t, "/api/v1/openapi"), &doc); err != nil {
		t.Fatal(err)
	}
	inv.OpenAPI = withoutTimes(doc)
	var alerts struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(p.get(t, "/api/v1/events?type=alert&limit=1000"), &alerts); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(alerts.Items, func(a, b map[string]any) int { return strings.Compare(a["txn_id"].(string), b["txn_id"].(string)) })
	for _, a := range alerts.Items {
		inv.Alerts = append(inv.Alerts, withoutTimes(a))
	}
	inv.Webhook = p.hook.sorted()
	return inv
}

// withoutTimes drops, at any depth, the fields that say when something
// happened rather than what.
func withoutTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			switch k {
			case "time", "first_seen", "last_seen", "x-vigil-first-seen", "x-vigil-last-seen", "x-vigil-generated-at":
				continue
			}
			out[k] = withoutTimes(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withoutTimes(e)
		}
		return out
	}
	return v
}

func alertKinds(inv inventory) map[string]int {
	kinds := map[string]int{}
	for _, s := range inv.Webhook {
		kinds[strings.Fields(s)[0]]++
	}
	return kinds
}

// TestScaleOutInventoryParity runs the same traffic through (a) the
// all-in-one assembly (`vigil up`: gateway, control plane and API in one
// process, SQLite, embedded bus) and (b) a gateway data plane reporting
// over NATS JetStream to a control plane alone (`vigil control`, on
// PostgreSQL) that holds the specs and the webhook, and reads both through
// the REST API as a user would: the same endpoints with the same hits,
// statuses and sensitive classes, the same details (header parameters,
// schemas, sensitive fields, spec paths and reasons), the same
// reconstructed OpenAPI document, the same alert events, and the same
// alerts delivered to each one's webhook, each once.
func TestScaleOutInventoryParity(t *testing.T) {
	dsn, _ := storetest.Postgres(t)
	ns := startNATS(t, 0, t.TempDir())
	defer ns.Shutdown()
	natsURL := ns.ClientURL()
	up := parityUpstream(t)
	specDir := t.TempDir()
	specFile := filepath.Join(specDir, "shop.yaml")
	if err := os.WriteFile(specFile, []byte(paritySpec), 0o600); err != nil {
		t.Fatal(err)
	}
	const settle = 4 * time.Second // profiles reach the control plane well within it
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	serve := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	route := fmt.Sprintf(`routes: [{name: shop, upstream: %q}]
protect: {rate_limits: [{name: all, path_prefix: /, requests: 100000, per: 1m}]}
`, up.URL)

	// (a) vigil up.
	aHook := newHookLog(t)
	aDir := t.TempDir()
	aCfg := loadParityConfig(t, aDir, fmt.Sprintf(`listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
data_dir: %s
discovery: {sample_rate: 1, specs: [%q], webhook: %q}
%s`, aDir, specFile, aHook.srv.URL, route))
	aStack, err := allinone.Start(ctx, aCfg, allinone.Options{Token: parityToken, Logger: quietLog(),
		Discovery: discovery.ServiceOptions{Settle: settle}, FlushEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	serve("vigil up", aStack.Serve)
	a := &placement{name: "vigil up", gateway: aStack.DataPlane.G.Addr("http"), admin: aStack.AdminAddr(), hook: aHook}

	// (b) vigil control (specs and webhook) + a gateway reporting to it.
	bHook := newHookLog(t)
	cDir := t.TempDir()
	cCfg := loadParityConfig(t, cDir, fmt.Sprintf(`admin: 127.0.0.1:0
data_dir: %s
store: %s
bus: %s
discovery: {specs: [%q], webhook: %q}
`, cDir, dsn, natsURL, specFile, bHook.srv.URL))
	control, err := allinone.StartControl(ctx, cCfg, allinone.Options{Token: parityToken, Logger: quietLog(),
		Discovery: discovery.ServiceOptions{Settle: settle}, FlushEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	serve("vigil control", control.Serve)
	gDir := t.TempDir()
	gCfg := loadParityConfig(t, gDir, fmt.Sprintf(`listen: {http: 127.0.0.1:0}
data_dir: %s
bus: %s
discovery: {sample_rate: 1}
%s`, gDir, natsURL, route))
	gBus, err := bus.Open(ctx, natsURL, gDir, bus.Options{Logger: quietLog(), Name: "vigil-gateway"})
	if err != nil {
		t.Fatal(err)
	}
	defer gBus.Close()
	// The gateway's own engine raises alerts too (on its partial view,
	// without the specs): the control plane must not repeat them.
	dp, err := server.StartDataPlane(ctx, gCfg, server.Options{Placement: "gateway", Logger: quietLog()}, quietLog(),
		server.DataPlaneOptions{Bus: gBus, Discovery: discovery.ServiceOptions{Settle: settle}})
	if err != nil {
		t.Fatal(err)
	}
	serve("gateway", dp.Serve)
	// The profile loop of a data plane reporting over nats://. Given a bus
	// (DataPlaneOptions.Bus), StartDataPlane runs none of its own; its own
	// (internal/server publishProfiles) still puts Engine.ProfilesSince,
	// without header parameters, until it calls this one.
	wg.Add(1)
	go func() {
		defer wg.Done()
		gBus.PublishProfiles(ctx, "gw-parity", 100*time.Millisecond, dp.Discovery.Engine.ScaleOutProfilesSince)
	}()
	b := &placement{name: "vigil control", gateway: dp.G.Addr("http"), admin: control.AdminAddr(), hook: bHook}

	first, second := parityTraffic()
	for _, r := range first {
		a.send(t, r)
		b.send(t, r)
	}
	// Phase two once both have announced the endpoints.
	const endpoints = 7
	for _, p := range []*placement{a, b} {
		var alerts []string
		waitFor(t, 30*time.Second, func() bool {
			alerts = readInventory(t, p).Webhook
			return alertKinds(inventory{Webhook: alerts})["new_endpoint"] == endpoints
		}, fmt.Sprintf("%s: %d new_endpoint alerts never arrived: %v", p.name, endpoints, alerts))
	}
	for _, r := range second {
		a.send(t, r)
		b.send(t, r)
	}
	total := int64(len(first) + len(second))
	var ia, ib inventory
	deadline := time.Now().Add(30 * time.Second)
	for {
		ia, ib = readInventory(t, a), readInventory(t, b)
		var hits int64
		for _, h := range ia.Hits {
			hits += h
		}
		kinds := alertKinds(ia)
		done := hits == total && kinds["new_sensitive"] >= 2 && kinds["schema_changed"] == 1
		if done && reflect.DeepEqual(ia, ib) {
			break
		}
		if time.Now().After(deadline) {
			ja, _ := json.MarshalIndent(ia, "", "  ")
			jb, _ := json.MarshalIndent(ib, "", "  ")
			t.Fatalf("the inventories never agreed (all-in-one complete: %v, %d of %d hits, alerts %v)\n%s",
				done, hits, total, kinds, firstDifference(string(ja), string(jb)))
		}
		time.Sleep(200 * time.Millisecond)
	}
	kinds := alertKinds(ia)
	for _, k := range []string{"new_endpoint", "new_sensitive", "schema_changed", "shadow_endpoint", "zombie_endpoint"} {
		if kinds[k] == 0 {
			t.Errorf("no %s alert: the traffic does not exercise it (alerts %v)", k, ia.Webhook)
		}
	}
	statuses := map[string]int{}
	for _, ep := range ia.Endpoints {
		statuses[fmt.Sprint(ep.(map[string]any)["status"])]++
	}
	if statuses["documented"] != 4 || statuses["zombie"] != 2 || statuses["shadow"] != 1 {
		t.Errorf("statuses %v, want 4 documented, 2 zombie, 1 shadow", statuses)
	}
	if !strings.Contains(fmt.Sprint(ia.Detail), "X-Client-Version") || !strings.Contains(fmt.Sprint(ia.OpenAPI), "X-Tenant") {
		t.Errorf("header parameters missing from the details or the OpenAPI document")
	}
	// Each alert reached each webhook once.
	for _, inv := range []inventory{ia, ib} {
		if c := slices.Compact(slices.Clone(inv.Webhook)); len(c) != len(inv.Webhook) {
			t.Errorf("an alert reached a webhook twice: %v", inv.Webhook)
		}
	}
	t.Logf("both placements: %d endpoints, %d alerts %v", len(ia.Endpoints), len(ia.Webhook), kinds)
}

// firstDifference shows the two documents around their first differing
// line.
func firstDifference(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(la), len(lb)); i++ {
		if i >= len(la) || i >= len(lb) || la[i] != lb[i] {
			from := max(0, i-8)
			return fmt.Sprintf("line %d\n--- vigil up\n%s\n--- vigil control\n%s", i+1,
				strings.Join(la[from:min(len(la), i+8)], "\n"), strings.Join(lb[from:min(len(lb), i+8)], "\n"))
		}
	}
	return "(no difference)"
}
