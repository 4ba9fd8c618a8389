// Package stagetest holds what stage tests share: a stage built from a
// protect section of YAML, and one request run through a one-stage chain
// the way the proxy runs it (body buffered when the stage asks).
package stagetest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Config parses a config with one catch-all route and protect: section.
// section is the YAML under protect, e.g. "ssrf: {enabled: true}".
func Config(t testing.TB, section string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`routes: [{name: r, match: {path_prefix: /}, upstream: "http://127.0.0.1:1"}]
protect:
  `+section+"\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Stage builds a stage with newStage from a protect section; it fails the
// test when the stage is not built.
func Stage(t testing.TB, section string, newStage func(*config.Config) (pipeline.Stage, error)) pipeline.Stage {
	t.Helper()
	st, err := newStage(Config(t, section))
	if err != nil || st == nil {
		t.Fatalf("New: %v %v", st, err)
	}
	return st
}

// Run passes r through a chain of st alone; monitor puts the route in
// monitor mode. The caller may Release the returned Txn.
func Run(t testing.TB, st pipeline.Stage, r *http.Request, monitor bool) (pipeline.Verdict, *pipeline.Txn) {
	t.Helper()
	tx := pipeline.NewTxn(r, time.Now(), "")
	if monitor {
		tx.Mode = "monitor"
	}
	ch := pipeline.NewChain([]pipeline.Link{{Stage: st}}, nil)
	if ch.WantsBody(tx) {
		if err := tx.BufferBody(1<<20, true); err != nil {
			t.Fatal(err)
		}
	}
	return ch.Run(context.Background(), tx), tx
}
