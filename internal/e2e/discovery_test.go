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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/server"
)

// TestLiveDiscovery: discovery runs as a pipeline stage. The inventory
// learns templates, schemas and sensitive classes from live traffic,
// events carry the endpoint template, and change alerts reach the events
// stream and the webhook once each.
func TestLiveDiscovery(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/users/"):
			fmt.Fprintf(w, `{"id":%q,"email":"jane@example.com","phone":"+44 20 7946 0958"}`, strings.TrimPrefix(r.URL.Path, "/users/"))
		case r.URL.Path == "/login":
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, `{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2lnbmF0dXJl"}`)
		default:
			io.WriteString(w, `{"ok":true}`)
		}
	}))
	t.Cleanup(up.Close)
	var mu sync.Mutex
	var hooked []discovery.Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Alert discovery.Alert `json:"alert"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		hooked = append(hooked, body.Alert)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`listen: {http: 127.0.0.1:0}
data_dir: %s
routes: [{name: main, upstream: %q}]
events: {file: %s/events.jsonl, flush_interval: 10ms}
discovery: {sample_rate: 1, webhook: %q}
`, dir, up.URL, dir, hook.URL)), 0o600)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	dp, err := server.StartDataPlane(ctx, cfg, server.Options{Logger: quietLog()}, quietLog(),
		server.DataPlaneOptions{Discovery: discovery.ServiceOptions{Settle: 200 * time.Millisecond, Tick: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = dp.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + dp.G.Addr("http")

	var lastTxn string
	for i := range 30 {
		resp, err := http.Get(fmt.Sprintf("%s/users/%d?fields=email", base, 1000+i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lastTxn = resp.Header.Get("Vigil-Txn")
		resp, err = http.Post(base+"/login", "application/json", strings.NewReader(`{"username":"jane","password":"s3cret!"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	eng := dp.Discovery.Engine
	waitFor(t, 5*time.Second, func() bool { return eng.ObservedCount() >= 60 }, "observations did not reach the engine")

	eps := map[string]discovery.Endpoint{}
	for _, ep := range eng.Endpoints() {
		eps[ep.Method+" "+ep.Path] = ep
	}
	users, ok := eps["GET /users/{parameter}"]
	if !ok || users.Hits != 30 || users.Host != "127.0.0.1" {
		t.Fatalf("inventory %+v", eps)
	}
	for _, c := range []string{"email", "phone"} {
		if !slices.Contains(users.Sensitive, c) {
			t.Errorf("users endpoint sensitive %v lacks %s", users.Sensitive, c)
		}
	}
	login := eps["POST /login"]
	if !slices.Contains(login.Sensitive, "password") || !slices.Contains(login.Sensitive, "jwt") {
		t.Errorf("login sensitive %v", login.Sensitive)
	}
	full, _ := eng.Endpoint(users.ID)
	if full.ResponseSchemas["200"] == nil || len(full.QueryParams) != 1 || full.QueryParams[0].Name != "fields" {
		t.Errorf("users detail: schemas %v params %v", full.ResponseSchemas, full.QueryParams)
	}
	// Raw secrets never reach the inventory.
	raw, _ := json.Marshal(eng.Full())
	if strings.Contains(string(raw), "s3cret!") || strings.Contains(string(raw), "jane@example.com") {
		t.Error("a raw secret reached the inventory")
	}
	// Events carry the template.
	h := &gw{t: t, events: cfg.Events.File}
	if ev := h.eventFor(lastTxn); ev.Request.Endpoint != "/users/{parameter}" {
		t.Errorf("event endpoint %q", ev.Request.Endpoint)
	}
	// Alerts: once per new endpoint, to the events stream and the webhook.
	waitFor(t, 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hooked) >= 2
	}, "webhook got no alerts")
	time.Sleep(300 * time.Millisecond) // further evaluations must not repeat them
	var alerts []string
	for _, ev := range readEventFile(t, cfg.Events.File) {
		if ev.Type == "alert" {
			alerts = append(alerts, ev.Alert.Kind+" "+ev.Alert.Method+" "+ev.Alert.Endpoint)
		}
	}
	slices.Sort(alerts)
	want := []string{"new_endpoint GET /users/{parameter}", "new_endpoint POST /login"}
	if !slices.Equal(alerts, want) {
		t.Fatalf("alert events %v, want %v", alerts, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != 2 {
		t.Fatalf("webhook alerts %+v", hooked)
	}
}
