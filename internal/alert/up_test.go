package alert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/allinone"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
)

// TestUpDeliversAlerts: vigil up with a webhook sink: traffic to a new
// endpoint raises new_endpoint, which reaches the receiver signed, is an
// alert_delivery event in the API, and counts on /metrics.
func TestUpDeliversAlerts(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := alert.Verify([]byte("s3cret"), r.Header.Get(alert.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p alert.WebhookPayload
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		kinds = append(kinds, p.Alert.Kind+" "+p.Alert.Endpoint)
		mu.Unlock()
	}))
	defer hook.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
data_dir: %s
routes: [{name: main, upstream: %q}]
events:
  alerts:
    sinks:
      - {name: sec, type: webhook, url: %q, secret_env: TEST_ALERT_SECRET, types: [new_endpoint]}
`, dir, up.URL, hook.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_ALERT_SECRET", "s3cret")
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := allinone.Start(ctx, cfg, allinone.Options{Token: "t0ken", Logger: slog.New(slog.DiscardHandler),
		Discovery: discovery.ServiceOptions{Settle: time.Millisecond}, FlushEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	gw, admin := "http://"+s.DataPlane.G.Addr("http"), "http://"+s.DataPlane.G.Addr("admin")
	for i := range 5 {
		resp, err := http.Get(fmt.Sprintf("%s/orders/%d", gw, 100+i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get := func(path string) string {
		req, _ := http.NewRequest("GET", admin+path, nil)
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(kinds, ",")
		mu.Unlock()
		if strings.Contains(got, "new_endpoint /orders/") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook got %q, want a new_endpoint alert; sinks %+v", got, s.Alerts.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for !strings.Contains(get("/api/v1/events?type=alert_delivery"), `"status":"delivered"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no alert_delivery event: %s", get("/api/v1/events?type=alert_delivery"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m := get("/metrics"); !strings.Contains(m, `vigil_alert_deliveries_total{outcome="delivered",sink="sec",type="webhook"} `) ||
		strings.Contains(m, `vigil_alert_deliveries_total{outcome="delivered",sink="sec",type="webhook"} 0`) ||
		!strings.Contains(m, `vigil_alert_dead_letters_total{sink="sec",type="webhook"} 0`) {
		t.Fatalf("metrics lack the sink's counters:\n%s", grep(m, "vigil_alert"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func grep(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
