package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/store"
)

// TestAuditWitnessCLI: a witness key co-signs the latest checkpoint,
// verify --witness-key accepts it and refuses another key; after the log
// is rewritten under the same log key, the witness refuses to co-sign.
func TestAuditWitnessCLI(t *testing.T) {
	cfg, data := auditFixture(t, 6)
	dir := t.TempDir()
	wkey, okey := filepath.Join(dir, "w.key"), filepath.Join(dir, "other.key")
	wpub, opub := filepath.Join(dir, "w.pub"), filepath.Join(dir, "other.pub")
	for _, k := range []struct{ key, pub string }{{wkey, wpub}, {okey, opub}} {
		r := run(t, nil, "audit", "witness", "keygen", "--key", k.key, "--name", "witness.example/"+filepath.Base(k.key))
		if r.code != ExitOK {
			t.Fatalf("keygen: %v", r)
		}
		if err := os.WriteFile(k.pub, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r := run(t, nil, "audit", "witness", "keygen", "--key", wkey); r.code == ExitOK {
		t.Fatalf("keygen over an existing key: %v", r)
	}
	r := run(t, nil, "audit", "witness", "cosign", "--config", cfg, "--key", wkey)
	if r.code != ExitOK || !strings.Contains(r.stdout, "— witness.example/w.key ") || !strings.Contains(r.stdout, "\n6\n") {
		t.Fatalf("cosign: %v", r)
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"good co-signature", []string{"--witness-key", wpub}, ExitOK, "co-signed by witness witness.example/w.key"},
		{"the private key file works too", []string{"--witness-key", wkey}, ExitOK, "up to size 6"},
		{"wrong witness key", []string{"--witness-key", opub}, ExitProblem, "no checkpoint of the log is co-signed by witness"},
		{"not a key", []string{"--witness-key", cfg}, ExitProblem, "neither a verifier key nor a key file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"audit", "verify", "--config", cfg, "--state", filepath.Join(t.TempDir(), "s.json")}, tc.args...)
			r := run(t, nil, args...)
			if r.code != tc.wantCode || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Fatalf("want exit %d and %q:\n%v", tc.wantCode, tc.want, r)
			}
		})
	}

	// The log rewritten with the log's own key: a different history of 8.
	for _, q := range []string{"DELETE FROM audit_entries", "DELETE FROM audit_nodes", "DELETE FROM audit_checkpoints",
		"UPDATE audit_head SET size = 0, frontier = x''"} {
		rawSQLite(t, data, q)
	}
	k, err := audit.LoadKey(filepath.Join(data, audit.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite", data)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := audit.New(st, k, "vigil.audit/cli-test")
	recs := make([]audit.Record, 8)
	for i := range recs {
		recs[i] = audit.ConfigRecord(int64(i+1), []byte("forged"), time.Now())
	}
	if _, err := l.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r = run(t, nil, "audit", "witness", "cosign", "--config", cfg, "--key", wkey)
	if r.code != ExitProblem || !strings.Contains(r.stderr, "not consistent with the last one this witness co-signed") {
		t.Fatalf("cosign of a rewritten log: %v", r)
	}
}
