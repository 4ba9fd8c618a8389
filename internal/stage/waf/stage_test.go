package waf

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// The protect.waf block of issue 9, item 10.
const issueConfig = `
routes:
  - {name: shop, match: {path_prefix: /}, upstream: "http://127.0.0.1:9"}
protect:
  waf:
    enabled: true
    paranoia_level: 1
    inbound_anomaly_threshold: 5
    setup: |                   # SecLang loaded before the CRS (crs-setup overrides)
      SecAction "id:900005,phase:1,nolog,pass,setvar:tx.arg_length=400"
    directives: |              # SecLang loaded after the CRS (virtual patches, exclusions)
      SecRule ARGS:coupon "@rx ^DROP" "id:100001,phase:2,deny,status:403,msg:'virtual patch'"
`

func build(t testing.TB, yaml string) *Stage {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "vigil.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := New(cfg)
	if err != nil {
		t.Fatalf("stage: %v", err)
	}
	if st == nil {
		t.Fatal("no stage built")
	}
	s := st.(*Stage)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newTxn is a transaction as the proxy hands it to the chain: body
// buffered when the stage asks.
func newTxn(t testing.TB, s *Stage, method, target, ct, body string) *pipeline.Txn {
	t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
	r.Header.Set("Accept", "application/json")
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	tx := pipeline.NewTxn(r, time.Now(), "")
	tx.ClientIPText = "192.0.2.7"
	tx.Route = "shop"
	tx.Mode = "enforce"
	if s.WantsBody(tx) {
		if err := tx.BufferBody(1<<20, false); err != nil {
			t.Fatal(err)
		}
	}
	return tx
}

// chainRun runs the stage in a one-link chain, as the gateway does, so
// monitor mode and the verdict finding behave as in production.
func chainRun(s *Stage, tx *pipeline.Txn, monitor bool) pipeline.Verdict {
	c := pipeline.NewChain([]pipeline.Link{{Stage: s, Monitor: monitor}}, nil)
	return c.Run(context.Background(), tx)
}

func TestIssueConfig(t *testing.T) {
	s := build(t, issueConfig)
	tests := []struct {
		name       string
		method     string
		target, ct string
		body       string
		wantStatus int
		wantRule   string
	}{
		{"virtual patch in query", "GET", "/coupon?coupon=DROP+TABLE", "", "", 403, "100001"},
		{"virtual patch in form", "POST", "/coupon", "application/x-www-form-urlencoded", "coupon=DROPALL", 403, "100001"},
		{"coupon that is fine", "GET", "/coupon?coupon=SUMMER24", "", "", 0, ""},
		{"sqli", "GET", "/search?q=1'+UNION+SELECT+password+FROM+users--", "", "", 403, "949110"},
		{"benign", "GET", "/products?page=2", "", "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := newTxn(t, s, tt.method, tt.target, tt.ct, tt.body)
			defer tx.Release()
			v := chainRun(s, tx, false)
			if tt.wantStatus == 0 {
				if v.Action != pipeline.Allow {
					t.Fatalf("blocked: %+v findings %+v", v, tx.Findings)
				}
				return
			}
			if v.Action != pipeline.Block || v.HTTPStatus() != tt.wantStatus || v.RuleID != tt.wantRule {
				t.Fatalf("verdict %+v, want %d by %s", v, tt.wantStatus, tt.wantRule)
			}
		})
	}
}

func TestMonitorModes(t *testing.T) {
	stageMonitor := build(t, strings.Replace(issueConfig, "enabled: true", "enabled: true\n    mode: monitor", 1))
	enforce := build(t, issueConfig)
	for _, tt := range []struct {
		name        string
		s           *Stage
		linkMonitor bool
	}{
		{"protect.waf.mode monitor", stageMonitor, false},
		{"link in monitor mode", enforce, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tx := newTxn(t, tt.s, "GET", "/search?q=<script>alert(1)</script>", "", "")
			defer tx.Release()
			if v := chainRun(tt.s, tx, tt.linkMonitor); v.Action != pipeline.Allow {
				t.Fatalf("monitor mode blocked: %+v", v)
			}
			var decision, rule *event.Finding
			for i := range tx.Findings {
				f := &tx.Findings[i]
				if !f.WouldBlock || f.Layer != "waf" || f.Action != "block" {
					t.Errorf("finding without would_block/layer/action: %+v", f)
				}
				if f.RuleID == "949110" {
					decision = f
				} else if rule == nil {
					rule = f
				}
			}
			if decision == nil || decision.Kind != "xss" {
				t.Errorf("no xss decision finding 949110 in %+v", tx.Findings)
			}
			if rule == nil || rule.Variable != "ARGS:q" || rule.Kind != "xss" {
				t.Errorf("no rule finding on ARGS:q in %+v", tx.Findings)
			}
		})
	}
}

func TestStreamsAreNotBuffered(t *testing.T) {
	s := build(t, issueConfig)
	for _, tt := range []struct {
		name string
		hdr  http.Header
		want bool
	}{
		{"json", http.Header{"Content-Type": {"application/json"}}, true},
		{"form", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, true},
		{"xml", http.Header{"Content-Type": {"application/soap+xml; charset=utf-8"}}, true},
		{"multipart", http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}, true},
		{"no type", http.Header{}, true},
		{"grpc", http.Header{"Content-Type": {"application/grpc+proto"}}, false},
		{"sse", http.Header{"Content-Type": {"text/event-stream"}}, false},
		{"websocket", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, false},
		{"image", http.Header{"Content-Type": {"image/png"}}, false},
		{"octet stream", http.Header{"Content-Type": {"application/octet-stream"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/up", strings.NewReader("a=1"))
			r.Header = tt.hdr
			tx := pipeline.NewTxn(r, time.Now(), "")
			defer tx.Release()
			if got := s.WantsBody(tx); got != tt.want {
				t.Errorf("WantsBody = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGRPCHeadersStillJudged(t *testing.T) {
	s := build(t, issueConfig)
	r := httptest.NewRequest("POST", "/pkg.Svc/Method?q=<script>alert(1)</script>", bytes.NewReader([]byte{0, 0, 0, 0, 0}))
	r.Header.Set("Content-Type", "application/grpc")
	r.Header.Set("User-Agent", "grpc-go/1.70")
	tx := pipeline.NewTxn(r, time.Now(), "")
	defer tx.Release()
	if s.WantsBody(tx) {
		t.Fatal("gRPC body would be buffered")
	}
	if v := chainRun(s, tx, false); v.Action != pipeline.Block {
		t.Fatalf("attack in a gRPC request's query passed: %+v", v)
	}
	if b, _ := io.ReadAll(r.Body); len(b) != 5 {
		t.Errorf("the gRPC body was consumed: %d bytes left", len(b))
	}
}

func BenchmarkRequest(b *testing.B) {
	s := build(b, issueConfig)
	body := benchJSON(2048)
	for _, c := range []struct {
		name, method, target, ct, body string
	}{
		{"GET", "GET", "/products/42?page=2&sort=price", "", ""},
		{"JSON_2KB", "POST", "/orders", "application/json", body},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				b.StopTimer()
				tx := newTxn(b, s, c.method, c.target, c.ct, c.body)
				b.StartTimer()
				v, _ := s.Request(ctx, tx)
				b.StopTimer()
				if v.Action != pipeline.Allow {
					b.Fatalf("blocked: %+v %+v", v, tx.Findings)
				}
				s.Response(tx)
				tx.Release()
				b.StartTimer()
			}
		})
	}
}

// benchJSON is a benign order document of about n bytes.
func benchJSON(n int) string {
	var sb strings.Builder
	sb.WriteString(`{"customer":{"id":"c_1029","name":"Ada Lovelace","email":"ada@example.com"},"items":[`)
	for i := 0; sb.Len() < n-120; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"sku":"SKU-` + strings.Repeat("7", 4) + `","qty":2,"price":19.99,"note":"gift wrap, please"}`)
	}
	sb.WriteString(`],"shipping":{"method":"express","zip":"10115"},"coupon":"SPRING"}`)
	return sb.String()
}
