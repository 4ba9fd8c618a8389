package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vigil control builds its inventory from the config's discovery section
// (allinone.StartControl; spec status and alerts are covered by the e2e
// parity test): a broken spec stops it with exit 1 and a message naming
// the spec.
func TestControlBadSpec(t *testing.T) {
	dir := t.TempDir()
	spec, err := filepath.Abs("testdata/broken-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "vigil.yaml")
	body := "admin: 127.0.0.1:0\ndata_dir: " + dir + "\nstore: sqlite\nbus: embedded\ndiscovery:\n  specs: [" + spec + "]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "control", "--config", cfg)
	if r.code != ExitProblem || !strings.Contains(r.stderr, "broken-spec.yaml") {
		t.Fatalf("a broken spec: %v", r)
	}
}
