package graphql

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/stage/stagetest"
)

func newStage(t testing.TB, yaml string) pipeline.Stage {
	t.Helper()
	return stagetest.Stage(t, "graphql: "+yaml, New)
}

func run(t testing.TB, st pipeline.Stage, r *http.Request, monitor bool) (pipeline.Verdict, *pipeline.Txn) {
	t.Helper()
	return stagetest.Run(t, st, r, monitor)
}

func post(ct, body string) *http.Request {
	r := httptest.NewRequest("POST", "/graphql", strings.NewReader(body))
	r.Header.Set("Content-Type", ct)
	return r
}

func jsonQuery(q string) string {
	b, _ := json.Marshal(map[string]string{"query": q})
	return string(b)
}

func TestRequest(t *testing.T) {
	st := newStage(t, "{enabled: true, max_depth: 4, max_aliases: 3, max_cost: 500, max_batch: 2}")
	deep := `{ a { b { c { d { e } } } } }`
	cases := []struct {
		name   string
		r      *http.Request
		kind   string // "" : allowed
		status int
	}{
		{"benign", post("application/json", jsonQuery(`{ products(first: 20) { id name price } }`)), "", 0},
		{"deep", post("application/json", jsonQuery(deep)), "graphql_depth", 400},
		{"deep through a fragment", post("application/json", jsonQuery(`{ a { ...F } } fragment F on A { b { c { d { e } } } }`)), "graphql_depth", 400},
		{"aliases", post("application/json", jsonQuery(`{ a: me { id } b: me { id } c: me { id } d: me { id } }`)), "graphql_aliases", 400},
		{"cost", post("application/json", jsonQuery(`{ users(first: 10000) { id } }`)), "graphql_cost", 400},
		{"cost from variables", post("application/json", `{"query":"query Q($n: Int) { users(first: $n) { id } }","variables":{"n":5000}}`), "graphql_cost", 400},
		{"introspection", post("application/json", jsonQuery(`{ __schema { types { name } } }`)), "graphql_introspection", 403},
		{"batch", post("application/json", `[`+jsonQuery(`{a}`)+`,`+jsonQuery(`{b}`)+`,`+jsonQuery(`{c}`)+`]`), "graphql_batch", 400},
		{"batch item", post("application/json", `[`+jsonQuery(`{a}`)+`,`+jsonQuery(deep)+`]`), "graphql_depth", 400},
		{"application/graphql", post("application/graphql", deep), "graphql_depth", 400},
		{"GET", httptest.NewRequest("GET", "/graphql?query="+url.QueryEscape(deep), nil), "graphql_depth", 400},
		{"GET benign", httptest.NewRequest("GET", "/graphql?query="+url.QueryEscape(`{ me { id } }`), nil), "", 0},
		{"other path", httptest.NewRequest("GET", "/api?query="+url.QueryEscape(deep), nil), "", 0},
		{"invalid is only a finding", post("application/json", jsonQuery(`{ me { id `)), "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, tx := run(t, st, tc.r, false)
			if tc.kind == "" {
				if v.Action != pipeline.Allow {
					t.Fatalf("blocked: %+v", v)
				}
				return
			}
			if v.Action != pipeline.Block || v.Kind != tc.kind || v.Status != tc.status {
				t.Fatalf("verdict %+v, want %d %s", v, tc.status, tc.kind)
			}
			var body struct {
				Errors []struct{ Message string } `json:"errors"`
				Error  struct {
					Code  string `json:"code"`
					TxnID string `json:"txn_id"`
				} `json:"error"`
			}
			if err := json.Unmarshal(v.Body, &body); err != nil || len(body.Errors) != 1 || body.Error.Code != tc.kind || body.Error.TxnID != tx.ID {
				t.Errorf("body %s (%v)", v.Body, err)
			}
		})
	}
}

func TestInvalidAndMonitor(t *testing.T) {
	v, _ := run(t, newStage(t, "{invalid: block}"), post("application/json", jsonQuery(`{ me { id `)), false)
	if v.Kind != "graphql_invalid" || v.Status != 400 {
		t.Fatalf("invalid: block: %+v", v)
	}
	v, tx := run(t, newStage(t, "{}"), post("application/json", `not json`), false)
	if v.Action != pipeline.Allow || len(tx.Findings) != 1 || tx.Findings[0].Kind != "graphql_invalid" || tx.Findings[0].Action != "log" {
		t.Fatalf("invalid, default: %+v %+v", v, tx.Findings)
	}
	v, tx = run(t, newStage(t, "{introspection: allow}"), post("application/json", jsonQuery(`{ __schema { types { name } } }`)), false)
	if v.Action != pipeline.Allow || len(tx.Findings) != 0 {
		t.Fatalf("introspection: allow: %+v %+v", v, tx.Findings)
	}
	deep := post("application/json", jsonQuery(`{ a { b { c { d { e { f { g { h { i { j { k } } } } } } } } } } }`))
	for _, tc := range []struct {
		yaml  string
		route bool
	}{{"{mode: monitor}", false}, {"{}", true}} {
		v, tx = run(t, newStage(t, tc.yaml), deep, tc.route)
		if v.Action != pipeline.Allow || len(tx.Findings) != 1 || !tx.Findings[0].WouldBlock || tx.Findings[0].Kind != "graphql_depth" || tx.Findings[0].Layer != "graphql" {
			t.Errorf("%s route monitor %v: %+v %+v", tc.yaml, tc.route, v, tx.Findings)
		}
		deep = post("application/json", jsonQuery(`{ a { b { c { d { e { f { g { h { i { j { k } } } } } } } } } } }`))
	}
}

func TestConfigErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		"{introspection: maybe}": "protect.graphql.introspection",
		"{invalid: drop}":        "protect.graphql.invalid",
		"{max_depth: -5}":        "protect.graphql.max_depth",
		"{paths: [graphql]}":     "protect.graphql.paths[0]",
		"{mode: x}":              "protect.graphql.mode",
	} {
		_, err := config.Parse([]byte(`routes: [{name: r, match: {path_prefix: /}, upstream: "http://127.0.0.1:1"}]
protect:
  graphql: `+yaml+"\n"), "test.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %s", yaml, err, want)
		}
	}
}

func BenchmarkRequestNotGraphQL(b *testing.B) {
	st := newStage(b, "{}")
	tx := pipeline.NewTxn(httptest.NewRequest("GET", "/products?category=socks", nil), time.Now(), "")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = st.Request(context.Background(), tx)
	}
}

func BenchmarkRequestQuery(b *testing.B) {
	st := newStage(b, "{}")
	tx := pipeline.NewTxn(post("application/json", `{"query":"query P($n: Int) { products(first: $n) { id name price reviews(first: 3) { stars } } }","variables":{"n":20}}`), time.Now(), "")
	if err := tx.BufferBody(1<<20, true); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := st.Request(context.Background(), tx); v.Action != pipeline.Allow {
			b.Fatal(v)
		}
	}
}
