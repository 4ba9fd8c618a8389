package pipeline

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

type fixed struct {
	name, layer string
	v           Verdict
	resp        Verdict
	calls       int
}

func (f *fixed) Name() string  { return f.name }
func (f *fixed) Layer() string { return f.layer }
func (f *fixed) Request(context.Context, *Txn) (Verdict, error) {
	f.calls++
	return f.v, nil
}
func (f *fixed) WantsResponse(*Txn) bool { return true }
func (f *fixed) InspectResponse(_ context.Context, tx *Txn) (Verdict, error) {
	return f.resp, nil
}

// TestChainModes: a stage's own monitor mode turns its stop into a finding
// with would_block, on an enforcing route, and later stages still run; the
// finding names the layer and the action.
func TestChainModes(t *testing.T) {
	block := BlockWith(403, "sqli", "942100", "SQL injection")
	cases := []struct {
		name         string
		routeMode    string
		stageMonitor bool
		wantStop     bool
	}{
		{"enforce", "enforce", false, true},
		{"stage monitor", "enforce", true, false},
		{"route monitor", "monitor", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first := &fixed{name: "waf", layer: "waf", v: block}
			after := &fixed{name: "later", layer: "later"}
			c := NewChain([]Link{{Stage: first, Monitor: tc.stageMonitor}, {Stage: after}}, nil)
			tx := NewTxn(httptest.NewRequest("GET", "/", nil), time.Now(), "")
			defer tx.Release()
			tx.Mode = tc.routeMode
			v := c.Run(context.Background(), tx)
			if stopped := v.Action != Allow; stopped != tc.wantStop {
				t.Fatalf("stopped = %v, want %v", stopped, tc.wantStop)
			}
			if len(tx.Findings) != 1 {
				t.Fatalf("findings %+v", tx.Findings)
			}
			f := tx.Findings[0]
			if f.Layer != "waf" || f.Action != "block" || f.RuleID != "942100" || f.WouldBlock == tc.wantStop {
				t.Fatalf("finding %+v", f)
			}
			if ran := after.calls == 1; ran == tc.wantStop {
				t.Fatalf("later stage ran = %v", ran)
			}
		})
	}
}

// TestRunResponse: response inspectors follow the same rules.
func TestRunResponse(t *testing.T) {
	st := &fixed{name: "openapi", layer: "openapi", resp: BlockWith(502, "excessive_data_exposure", "openapi:response", "undeclared field")}
	for _, monitor := range []bool{false, true} {
		c := NewChain([]Link{{Stage: st, Monitor: monitor}}, nil)
		tx := NewTxn(httptest.NewRequest("GET", "/", nil), time.Now(), "")
		tx.Mode = "enforce"
		if !c.WantsResponse(tx) {
			t.Fatal("WantsResponse = false")
		}
		v := c.RunResponse(context.Background(), tx)
		if (v.Action == Block) == monitor {
			t.Fatalf("monitor=%v: verdict %+v", monitor, v)
		}
		if len(tx.Findings) != 1 || tx.Findings[0].WouldBlock != monitor || tx.Findings[0].Layer != "openapi" {
			t.Fatalf("monitor=%v: findings %+v", monitor, tx.Findings)
		}
		tx.Release()
	}
}
