package allinone

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
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
)

// TestUp runs the all-in-one stack as `vigil up` does: traffic through the
// gateway lands in the store through the embedded bus, the API serves it
// behind the token, and a config overlay put through the API reaches the
// in-process gateway.
func TestUp(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":1}`)
	}))
	defer up.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
data_dir: %s
routes: [{name: main, upstream: %q}]
`, dir, up.URL)), 0o600)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	s, err := Start(ctx, cfg, Options{Token: "t0ken", Logger: log, Discovery: discovery.ServiceOptions{Settle: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	gw := "http://" + s.DataPlane.G.Addr("http")
	admin := "http://" + s.DataPlane.G.Addr("admin")
	for i := range 25 {
		resp, err := http.Get(fmt.Sprintf("%s/orders/%d", gw, 500+i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	api := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, admin+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, out := api("GET", "/api/v1/events?limit=1000", "")
		items, _ := out["items"].([]any)
		if len(items) == 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events in the store: %d, want 25", len(items))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		_, out := api("GET", "/api/v1/endpoints", "")
		items, _ := out["items"].([]any)
		if len(items) == 1 && items[0].(map[string]any)["path"] == "/orders/{parameter}" && items[0].(map[string]any)["hits"] == float64(25) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoints: %v", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The call graph and the risk of what was called (loopback callers
	// are internal; plaintext and anonymous).
	for {
		code, out := api("GET", "/api/v1/connections", "")
		items, _ := out["items"].([]any)
		if code == 200 && len(items) == 1 && items[0].(map[string]any)["requests"] == float64(25) {
			if e := items[0].(map[string]any); e["source"] != "internal" || e["mtls"] != false {
				t.Fatalf("edge %v", e)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections: %d %v", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, out := api("GET", "/api/v1/risk", ""); code != 200 || len(out["items"].([]any)) != 1 ||
		len(out["items"].([]any)[0].(map[string]any)["reasons"].([]any)) == 0 {
		t.Fatalf("risk: %d %v", code, out)
	}
	if code, _ := api("PUT", "/api/v1/config", "mode: monitor\n"); code != 200 {
		t.Fatalf("PUT config: %d", code)
	}
	for s.DataPlane.G.Config().Mode != "monitor" {
		if time.Now().After(deadline) {
			t.Fatal("overlay did not reach the gateway")
		}
		time.Sleep(10 * time.Millisecond)
	}
	req, _ := http.NewRequest("GET", admin+"/api/v1/endpoints", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestStartControlNeeds: a control plane alone needs an admin address
// (its API) and a bus.
func TestStartControlNeeds(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"no admin", "bus: embedded\n", "admin.addr"},
		{"no bus", "admin: 127.0.0.1:0\nbus: none\n", "needs a bus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "control.yaml")
			os.WriteFile(file, []byte("data_dir: "+dir+"\n"+tc.yaml), 0o600)
			cfg, err := config.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = StartControl(t.Context(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one about %q", err, tc.want)
			}
		})
	}
}
