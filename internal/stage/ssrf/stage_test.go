package ssrf

import (
	"context"
	"net/http"
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
	return stagetest.Stage(t, "ssrf: "+yaml, New)
}

type result struct {
	v  pipeline.Verdict
	tx *pipeline.Txn
}

// run passes one request through a one-stage chain (monitor sets the
// route's mode).
func run(t testing.TB, st pipeline.Stage, r *http.Request, monitor bool) result {
	t.Helper()
	v, tx := stagetest.Run(t, st, r, monitor)
	return result{v: v, tx: tx}
}

func req(method, target, ct, body string) *http.Request {
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	return r
}

func TestRequest(t *testing.T) {
	st := newStage(t, "{enabled: true}")
	cases := []struct {
		name     string
		r        *http.Request
		rule     string // "" : allowed
		variable string // part of the finding message
	}{
		{"metadata in query", req("GET", "/fetch?callback=http://169.254.169.254/latest/meta-data/", "", ""), "ssrf:metadata", "query parameter callback"},
		{"encoded query", req("GET", "/fetch?u=http%3A%2F%2F127.0.0.1%3A2375%2F", "", ""), "ssrf:loopback", "query parameter u"},
		{"decimal host, hinted name", req("GET", "/fetch?target_host=2130706433", "", ""), "ssrf:loopback", "target_host"},
		{"decimal, plain name", req("GET", "/items?id=2130706433", "", ""), "", ""},
		{"benign callback", req("GET", "/fetch?callback=https://example.com/cb&q=red+socks", "", ""), "", ""},
		{"json nested", req("POST", "/hooks", "application/json", `{"name":"x","webhook":{"url":"http://[::ffff:127.0.0.1]/"}}`), "ssrf:loopback", "JSON field webhook.url"},
		{"json escaped", req("POST", "/hooks", "application/json", `{"cb":"http:\/\/\u0031\u0032\u0037.0.0.1\/"}`), "ssrf:loopback", "cb"},
		{"json array", req("POST", "/hooks", "application/vnd.api+json", `{"urls":["https://example.com","gopher://10.0.0.1:6379/_x"]}`), "ssrf:scheme", "urls[1]"},
		{"json number host", req("POST", "/hooks", "application/json", `{"host":2130706433}`), "ssrf:loopback", "host"},
		{"json benign", req("POST", "/order", "application/json", `{"items":[{"id":1,"price":12.5}],"note":"see http://127.0.0.1 docs","site":"https://shop.example/"}`), "", ""},
		{"form", req("POST", "/import", "application/x-www-form-urlencoded", "name=a&feed=http%3A%2F%2Fmetadata.google.internal%2F"), "ssrf:metadata", "form field feed"},
		{"text body ignored", req("POST", "/import", "text/plain", "http://127.0.0.1/"), "", ""},
		{"demo order", req("POST", "/order/add/1", "application/json", `{"items":[],"callback_url":"http://[::ffff:a9fe:a9fe]/computeMetadata/v1/"}`), "ssrf:metadata", "callback_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, st, tc.r, false)
			if tc.rule == "" {
				if res.v.Action != pipeline.Allow || len(res.tx.Findings) != 0 {
					t.Fatalf("blocked: %+v findings %+v", res.v, res.tx.Findings)
				}
				return
			}
			if res.v.Action != pipeline.Block || res.v.Status != http.StatusForbidden || res.v.RuleID != tc.rule || res.v.Kind != "ssrf" {
				t.Fatalf("verdict %+v, want 403 %s", res.v, tc.rule)
			}
			if !strings.Contains(res.v.Message, tc.variable) {
				t.Errorf("message %q does not name %q", res.v.Message, tc.variable)
			}
			if f := res.tx.Findings; len(f) != 1 || f[0].Layer != "ssrf" || f[0].Action != "block" || f[0].WouldBlock {
				t.Errorf("findings %+v", f)
			}
		})
	}
}

func TestMonitor(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		route      bool
	}{{"guard mode", "{mode: monitor}", false}, {"route mode", "{enabled: true}", true}} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStage(t, tc.yaml)
			res := run(t, st, req("GET", "/f?a=http://10.0.0.1/&b=http://169.254.169.254/", "", ""), tc.route)
			if res.v.Action != pipeline.Allow {
				t.Fatalf("monitor blocked: %+v", res.v)
			}
			if len(res.tx.Findings) != 2 {
				t.Fatalf("findings %+v, want 2", res.tx.Findings)
			}
			for _, f := range res.tx.Findings {
				if !f.WouldBlock || f.Layer != "ssrf" || !strings.HasPrefix(f.RuleID, "ssrf:") {
					t.Errorf("finding %+v", f)
				}
			}
			var meta bool
			for _, f := range res.tx.Findings {
				meta = meta || f.Variable == "query:b" && f.Data == "169.254.169.254" && f.Severity == "critical" && f.RuleID == "ssrf:metadata"
			}
			if !meta {
				t.Errorf("no metadata finding naming query:b and its host: %+v", res.tx.Findings)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	cases := []struct {
		name, yaml, target string
		blocked            bool
	}{
		{"params limit the fields", "{params: [callback]}", "/f?other=http://127.0.0.1/", false},
		{"params listed field", "{params: [callback]}", "/f?callback=redis:6379", true},
		{"allow host", "{allow_hosts: [10.1.0.0/16]}", "/f?u=http://10.1.2.3/", false},
		{"block_private false", "{block_private: false}", "/f?u=http://10.1.2.3/", false},
		{"block_private false keeps metadata", "{block_private: false}", "/f?u=http://169.254.169.254/", true},
		{"ignore", "{ignore: [scheme]}", "/f?u=file:///etc/passwd", false},
		{"query off", "{query: false}", "/f?u=http://127.0.0.1/", false},
		{"endpoints", `{endpoints: ["POST /hooks"]}`, "/f?u=http://127.0.0.1/", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, newStage(t, tc.yaml), req("GET", tc.target, "", ""), false)
			if got := res.v.Action == pipeline.Block; got != tc.blocked {
				t.Fatalf("blocked %v, want %v (%+v)", got, tc.blocked, res.v)
			}
		})
	}
	t.Run("header", func(t *testing.T) {
		st := newStage(t, "{headers: [X-Original-URL]}")
		r := req("GET", "/", "", "")
		r.Header.Set("X-Original-Url", "http://127.0.0.1/admin")
		if res := run(t, st, r, false); res.v.RuleID != "ssrf:loopback" {
			t.Fatalf("verdict %+v", res.v)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		"{mode: watch}":              "protect.ssrf.mode",
		"{allow_hosts: [\"*.a.*\"]}": "protect.ssrf.allow_hosts[0]",
		"{ignore: [nope]}":           "protect.ssrf.ignore[0]",
		"{schemes: [\"gopher://\"]}": "protect.ssrf.schemes[0]",
		"{endpoints: [\"FOO BAR\"]}": "protect.ssrf.endpoints[0]",
		"{max_values: -1}":           "protect.ssrf.max_values",
	} {
		_, err := config.Parse([]byte(`routes: [{name: r, match: {path_prefix: /}, upstream: "http://127.0.0.1:1"}]
protect:
  ssrf: `+yaml+"\n"), "test.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %s", yaml, err, want)
		}
	}
	cfg, err := config.Parse([]byte(`routes: [{name: r, match: {path_prefix: /}, upstream: "http://127.0.0.1:1"}]
protect:
  ssrf: {enabled: false}
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := New(cfg); st != nil {
		t.Error("enabled: false built a stage")
	}
}

func BenchmarkRequestBenign(b *testing.B) {
	st := newStage(b, "{enabled: true}")
	r := req("GET", "/products?category=socks&page=2&sort=price&q=red+wool", "", "")
	tx := pipeline.NewTxn(r, time.Now(), "")
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := st.Request(context.Background(), tx); v.Action != pipeline.Allow {
			b.Fatal("blocked")
		}
	}
}

func BenchmarkRequestJSON(b *testing.B) {
	st := newStage(b, "{enabled: true}")
	body := `{"items":[{"product_id":17,"quantity":2}],"shipping_address":{"street":"1 Main St","city":"Springfield","zip":"12345"},"note":"leave at the door"}`
	r := req("POST", "/order/add/1", "application/json", body)
	tx := pipeline.NewTxn(r, time.Now(), "")
	if err := tx.BufferBody(1<<20, true); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := st.Request(context.Background(), tx); v.Action != pipeline.Allow {
			b.Fatal("blocked")
		}
	}
}
