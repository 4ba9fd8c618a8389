package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// auditFixture writes a config whose data_dir holds a log of n entries
// (hops of one trace: gateway, cart, order...) with a checkpoint, signed
// by the key control.OpenAudit generated there.
func auditFixture(t *testing.T, n int) (cfgFile, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	cfgFile = filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfgFile, []byte("data_dir: "+dataDir+"\naudit:\n  origin: vigil.audit/cli-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.Store, cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := control.OpenAudit(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	for i := range n {
		ev := event.Event{TxnID: fmt.Sprintf("hop%d", i), TraceID: "trace-1", Time: time.Now(), Placement: "sidecar",
			Decision: event.DecisionAllow, Request: event.Request{Method: "POST", Path: fmt.Sprintf("/svc%d", i)},
			Identity: &event.Identity{Sub: "user-17"}}
		if i > 0 {
			ev.ParentTxnID = fmt.Sprintf("hop%d", i-1)
		}
		r, _ := audit.FromEvent(&ev)
		recs = append(recs, r)
	}
	if _, err := l.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	return cfgFile, dataDir
}

func rawSQLite(t *testing.T, dataDir, q string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "vigil.db")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestAuditVerifyCLI(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(t *testing.T, dataDir string)
		wantCode int
		want     string // in stdout+stderr
	}{
		{"untouched", nil, ExitOK, "OK"},
		{"modified record", func(t *testing.T, d string) {
			rawSQLite(t, d, "UPDATE audit_entries SET data = CAST(replace(CAST(data AS TEXT), 'user-17', 'user-99') AS BLOB) WHERE idx = 2")
		}, ExitProblem, "entry 2: the signature"},
		{"deleted record", func(t *testing.T, d string) { rawSQLite(t, d, "DELETE FROM audit_entries WHERE idx = 1") }, ExitProblem, "entry 1: missing"},
		{"reordered records", func(t *testing.T, d string) {
			rawSQLite(t, d, "UPDATE audit_entries SET idx = -1 WHERE idx = 3")
			rawSQLite(t, d, "UPDATE audit_entries SET idx = 3 WHERE idx = 4")
			rawSQLite(t, d, "UPDATE audit_entries SET idx = 4 WHERE idx = -1")
		}, ExitProblem, "entry 3: the record differs"},
		{"truncated tail", func(t *testing.T, d string) { rawSQLite(t, d, "DELETE FROM audit_entries WHERE idx >= 4") }, ExitProblem, "entry 4: missing"},
		{"replaced checkpoint", func(t *testing.T, d string) {
			k, _, _ := audit.GenerateKey("vigil.audit/cli-test")
			st, err := store.Open(context.Background(), "sqlite", d)
			if err != nil {
				t.Fatal(err)
			}
			l, _ := audit.New(st, k, "vigil.audit/cli-test")
			c, err := l.Checkpoint(context.Background())
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			rawSQLite(t, d, "DELETE FROM audit_checkpoints WHERE key_id = ?", k.ID)
			rawSQLite(t, d, "UPDATE audit_checkpoints SET note = ?", c.Note)
		}, ExitProblem, "checkpoint at size 6 (key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, data := auditFixture(t, 6)
			if tc.tamper != nil {
				tc.tamper(t, data)
			}
			r := run(t, nil, "audit", "verify", "--config", cfg)
			if r.code != tc.wantCode || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Fatalf("want exit %d and %q:\n%v", tc.wantCode, tc.want, r)
			}
			if tc.wantCode == ExitOK {
				if _, err := os.Stat(filepath.Join(data, auditStateFile)); err != nil {
					t.Errorf("no state file after a good run: %v", err)
				}
			}
		})
	}
}

// TestAuditVerifyRemembers: a truncation that leaves a consistent log
// (head, nodes, checkpoints rewritten) is caught by the checkpoint an
// earlier run saw.
func TestAuditVerifyRemembers(t *testing.T) {
	cfg, data := auditFixture(t, 6)
	mustRun(t, "audit", "verify", "--config", cfg)
	// Rewrite the log as one of 4 entries, as an attacker with the
	// database and the key could.
	st, err := store.Open(context.Background(), "sqlite", data)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := st.AuditNodes(context.Background(), []store.AuditNodeID{{Level: 2, Index: 0}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	rawSQLite(t, data, "DELETE FROM audit_entries WHERE idx >= 4")
	rawSQLite(t, data, "DELETE FROM audit_nodes WHERE (level = 0 AND idx >= 4) OR (level = 1 AND idx >= 2) OR level >= 3")
	rawSQLite(t, data, "UPDATE audit_head SET size = 4, frontier = ?", hs[0])
	rawSQLite(t, data, "DELETE FROM audit_checkpoints")
	mustRun(t, "audit", "checkpoint", "--config", cfg)
	r := run(t, nil, "audit", "verify", "--config", cfg)
	if r.code != ExitProblem || !strings.Contains(r.stdout, "seen before at size 6") {
		t.Fatalf("truncation not caught by the seen checkpoint:\n%v", r)
	}
	// Without the state (another verifier), the rewritten log verifies:
	// what the state file is for.
	if r := run(t, nil, "audit", "verify", "--config", cfg, "--state", filepath.Join(t.TempDir(), "s.json")); r.code != ExitOK {
		t.Fatalf("fresh state: %v", r)
	}
}

func TestAuditProofAndLineageCLI(t *testing.T) {
	cfg, _ := auditFixture(t, 5)
	r := mustRun(t, "audit", "proof", "--config", cfg, "--index", "3")
	var p audit.InclusionProof
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("proof is not JSON: %v\n%s", err, r.stdout)
	}
	if err := p.Verify(); err != nil || p.Index != 3 || p.Size != 5 || len(p.Hashes) == 0 {
		t.Errorf("proof %+v: %v", p, err)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"audit", "proof", "--config", cfg}, ExitUsage},
		{[]string{"audit", "proof", "--index", "1"}, ExitUsage},
		{[]string{"audit", "proof", "--config", cfg, "--index", "5"}, ExitProblem},
		{[]string{"audit", "lineage", "--config", cfg, "--txn", "nope"}, ExitProblem},
		{[]string{"audit", "nope"}, ExitUsage},
	} {
		if r := run(t, nil, tc.args...); r.code != tc.code {
			t.Errorf("vigil %s: exit %d, want %d\n%v", strings.Join(tc.args, " "), r.code, tc.code, r)
		}
	}
	r = mustRun(t, "audit", "lineage", "--config", cfg, "--txn", "hop2")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 {
		t.Fatalf("lineage:\n%s", r.stdout)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, strings.Repeat("  ", i)+"allow") || !strings.Contains(l, fmt.Sprintf(" hop%d ", i)) || !strings.Contains(l, `"user-17"`) {
			t.Errorf("lineage line %d: %q", i, l)
		}
	}
}
