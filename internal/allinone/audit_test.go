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

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/store"
)

// TestUpAudit: under vigil up the audit log is on by default: a key
// appears in data_dir (0600), every proxied transaction and the config
// overlay become entries, the API serves the signed checkpoint as text,
// proofs and lineage, and the log verifies after shutdown.
func TestUpAudit(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
data_dir: %s
routes: [{name: main, upstream: %q}]
audit: {checkpoint_interval: 100ms}
`, dir, up.URL)), 0o600)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx, cfg, Options{Token: "t0ken", Logger: slog.New(slog.DiscardHandler), Discovery: discovery.ServiceOptions{Settle: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	fi, err := os.Stat(filepath.Join(dir, audit.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit key: %v %v", fi, err)
	}
	key, err := audit.LoadKey(filepath.Join(dir, audit.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	gw := "http://" + s.DataPlane.G.Addr("http")
	admin := "http://" + s.DataPlane.G.Addr("admin")
	var txn string
	for i := range 10 {
		resp, err := http.Get(fmt.Sprintf("%s/orders/%d", gw, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		txn = resp.Header.Get("Vigil-Txn")
	}
	api := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, admin+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, b := api("GET", "/api/v1/audit/proof?index=9", "")
		if code == 200 {
			var p audit.InclusionProof
			if err := json.Unmarshal(b, &p); err != nil || p.Verify() != nil {
				t.Fatalf("proof: %v %s", err, b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit entry 9: %d %s", code, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, b := api("GET", "/api/v1/audit/checkpoint", "")
	c, err := audit.OpenCheckpoint(string(b), []audit.PublicKey{key.Public()})
	if code != 200 || err != nil || c.Size < 10 || c.Origin != config.DefaultAuditOrigin {
		t.Fatalf("checkpoint: %d %q: %+v %v", code, b, c, err)
	}
	code, b = api("GET", "/api/v1/audit/lineage/"+txn, "")
	var lin struct{ Hops []audit.Hop }
	if code != 200 || json.Unmarshal(b, &lin) != nil || len(lin.Hops) != 1 || lin.Hops[0].Record.Placement != "gateway" ||
		lin.Hops[0].Record.Signer != key.ID {
		t.Fatalf("lineage of %s: %d %s", txn, code, b)
	}
	if code, _ := api("PUT", "/api/v1/config", "mode: monitor\n"); code != 200 {
		t.Fatalf("PUT config: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), cfg.Store, cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := audit.Verify(context.Background(), st, audit.VerifyOptions{Origin: cfg.Audit.Origin, Keys: []audit.PublicKey{key.Public()}})
	if err != nil || !rep.OK() || rep.Entries != 11 || rep.Latest == nil || rep.Latest.Size != 11 {
		t.Fatalf("after shutdown: %v %+v", err, rep)
	}
}
