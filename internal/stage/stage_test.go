package stage

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

type blocker struct{}

func (blocker) Name() string { return "probe" }
func (blocker) Request(context.Context, *pipeline.Txn) (pipeline.Verdict, error) {
	return pipeline.BlockWith(403, "test", "probe:1", "blocked"), nil
}

// TestModes: protect.stages.NAME.mode and routes[].modes.NAME decide
// whether a stage stops requests on a route.
func TestModes(t *testing.T) {
	yaml := `listen: {http: 127.0.0.1:0}
protect:
  stages: {probe: {mode: monitor}}
routes:
  - {name: default, match: {path_prefix: /a}, upstream: http://127.0.0.1:1}
  - {name: strict, match: {path_prefix: /b}, upstream: http://127.0.0.1:1, modes: {probe: enforce}}
`
	file := filepath.Join(t.TempDir(), "v.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	set, err := New(cfg, Deps{Custom: []pipeline.Stage{blocker{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	for i, wantStop := range []bool{false, true} {
		chain, err := set.Chain(&cfg.Routes[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		tx := pipeline.NewTxn(httptest.NewRequest("GET", "/a", nil), time.Now(), "")
		tx.Mode = "enforce"
		v := chain.Run(context.Background(), tx)
		if (v.Action == pipeline.Block) != wantStop {
			t.Errorf("route %s: verdict %+v, want stop=%v", cfg.Routes[i].Name, v, wantStop)
		}
		tx.Release()
	}
}

func TestBadMode(t *testing.T) {
	file := filepath.Join(t.TempDir(), "v.yaml")
	yaml := "listen: {http: 127.0.0.1:0}\nroutes:\n  - {name: r, match: {path_prefix: /}, upstream: http://127.0.0.1:1, modes: {waf: observe}}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(file); err == nil {
		t.Fatal("modes.waf: observe accepted")
	}
}
