package limits

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/stage/stagetest"
)

func newStage(t testing.TB, yaml string) pipeline.Stage {
	t.Helper()
	return stagetest.Stage(t, "limits: "+yaml, New)
}

func run(st pipeline.Stage, target string, monitor bool) (pipeline.Verdict, *pipeline.Txn) {
	tx := pipeline.NewTxn(httptest.NewRequest("GET", target, nil), time.Now(), "")
	if monitor {
		tx.Mode = "monitor"
	}
	return pipeline.NewChain([]pipeline.Link{{Stage: st}}, nil).Run(context.Background(), tx), tx
}

func TestPageSize(t *testing.T) {
	block := newStage(t, "{page_size: {max: 100}}")
	clamp := newStage(t, `{page_size: {max: 100, action: clamp, endpoints: [{endpoint: "GET /export", max: 5000}]}}`)
	cases := []struct {
		name    string
		st      pipeline.Stage
		target  string
		blocked bool
		query   string // the query forwarded ("" : unchanged)
		rule    string
	}{
		{"under", block, "/products?limit=100&page=3", false, "", ""},
		{"over", block, "/products?limit=100000", true, "", "page_size:limit"},
		{"case-insensitive name", block, "/products?PageSize=101", true, "", "page_size:PageSize"},
		{"second occurrence", block, "/products?limit=10&limit=100000", true, "", "page_size:limit"},
		{"negative", block, "/products?per_page=-1", true, "", "page_size:per_page"},
		{"exponent", block, "/products?size=1e6", true, "", "page_size:size"},
		{"overflow", block, "/products?count=99999999999999999999999", true, "", "page_size:count"},
		{"not a number", block, "/products?size=large", false, "", ""},
		{"other param", block, "/products?page=100000", false, "", ""},
		{"encoded name", block, "/products?page%5Fsize=500", true, "", "page_size:page_size"},
		{"clamp", clamp, "/products?q=red+socks&limit=100000&sort=price", false, "q=red+socks&limit=100&sort=price", "page_size:limit"},
		{"clamp every occurrence", clamp, "/products?limit=5000;limit=7", false, "limit=100;limit=7", "page_size:limit"},
		{"endpoint override", clamp, "/export?limit=5000", false, "", ""},
		{"endpoint override over", clamp, "/export?limit=5001", false, "limit=5000", "page_size:limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := strings.SplitN(tc.target, "?", 2)[1]
			v, tx := run(tc.st, tc.target, false)
			if got := v.Action == pipeline.Block; got != tc.blocked {
				t.Fatalf("blocked %v, want %v: %+v", got, tc.blocked, v)
			}
			if tc.blocked && (v.Status != 400 || v.Kind != "page_size" || v.RuleID != tc.rule) {
				t.Errorf("verdict %+v", v)
			}
			want := tc.query
			if want == "" {
				want = orig
			}
			if tx.Req.URL.RawQuery != want {
				t.Errorf("forwarded query %q, want %q", tx.Req.URL.RawQuery, want)
			}
			if tc.query != "" {
				if len(tx.Findings) != 1 || tx.Findings[0].Action != "clamp" || tx.Findings[0].RuleID != tc.rule || tx.Findings[0].Layer != "limits" {
					t.Errorf("findings %+v", tx.Findings)
				}
			}
			if tc.rule == "" && len(tx.Findings) != 0 {
				t.Errorf("findings %+v", tx.Findings)
			}
		})
	}
}

func TestMonitor(t *testing.T) {
	for _, tc := range []struct {
		yaml  string
		route bool
	}{{"{mode: monitor, page_size: {max: 10}}", false}, {"{page_size: {max: 10}}", true}, {"{page_size: {max: 10, action: clamp}}", true}} {
		v, tx := run(newStage(t, tc.yaml), "/p?limit=11", tc.route)
		if v.Action != pipeline.Allow || tx.Req.URL.RawQuery != "limit=11" {
			t.Errorf("%s: %+v query %q", tc.yaml, v, tx.Req.URL.RawQuery)
		}
		if len(tx.Findings) != 1 || !tx.Findings[0].WouldBlock || tx.Findings[0].Kind != "page_size" {
			t.Errorf("%s: findings %+v", tc.yaml, tx.Findings)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		"{page_size: {action: drop}}":                     "protect.limits.page_size.action",
		"{page_size: {max: -1}}":                          "protect.limits.page_size.max",
		"{page_size: {endpoints: [{max: 5}]}}":            "protect.limits.page_size.endpoints[0].endpoint",
		`{page_size: {endpoints: [{endpoint: "x y z"}]}}`: "protect.limits.page_size.endpoints[0].endpoint",
		"{mode: off}": "protect.limits.mode",
	} {
		_, err := config.Parse([]byte(`routes: [{name: r, match: {path_prefix: /}, upstream: "http://127.0.0.1:1"}]
protect:
  limits: `+yaml+"\n"), "test.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %s", yaml, err, want)
		}
	}
}

func BenchmarkRequestBenign(b *testing.B) {
	st := newStage(b, "{page_size: {max: 100}}")
	tx := pipeline.NewTxn(httptest.NewRequest("GET", "/products?category=socks&limit=20&page=2&sort=price", nil), time.Now(), "")
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := st.Request(context.Background(), tx); v.Action != pipeline.Allow {
			b.Fatal(v)
		}
	}
}
