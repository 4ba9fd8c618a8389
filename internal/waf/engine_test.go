package waf

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
)

// req builds an engine request the way the stage does.
func req(method, target, ct, body string) *Request {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	h := http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}, "Accept": {"*/*"}}
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	if body != "" {
		h.Set("Content-Length", itoa(len(body)))
	}
	r := &Request{Method: method, URI: u.RequestURI(), Path: u.Path, Proto: "HTTP/1.1", Host: "shop.example",
		Header: h, ClientIP: "192.0.2.10", ClientPort: 40000, Route: "api"}
	if body != "" {
		r.Body = []byte(body)
	}
	return r
}

var (
	crsOnce sync.Once
	crsPL1  *Engine
	crsErr  error
)

// pl1 is the default engine (CRS at paranoia 1), built once for the tests
// that need nothing else.
func pl1(t testing.TB) *Engine {
	t.Helper()
	crsOnce.Do(func() { crsPL1, crsErr = Build(&config.WAF{Enabled: true}, Limits{}) })
	if crsErr != nil {
		t.Fatal(crsErr)
	}
	return crsPL1
}

func build(t *testing.T, c *config.WAF) *Engine {
	t.Helper()
	c.Enabled = true
	e, err := Build(c, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// run returns the interrupting rule id (0 if none), and the findings.
func run(e *Engine, r *Request) (int, []event.Finding) {
	tx := e.Request(r)
	defer tx.Close()
	it := tx.Interruption()
	f := tx.Findings(nil, "waf", "waf", it != nil, false)
	if it == nil {
		return 0, f
	}
	return it.RuleID, f
}

func ruleIDs(fs []event.Finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.RuleID)
	}
	return ids
}

func TestCRSDetectsAtParanoia1(t *testing.T) {
	e := pl1(t)
	tests := []struct {
		name     string
		r        *Request
		wantKind string
	}{
		{"sqli in query", req("GET", "/search?q=1'+OR+'1'='1'--", "", ""), "sqli"},
		{"sqli union", req("GET", "/items?id=1+UNION+SELECT+username,password+FROM+users", "", ""), "sqli"},
		{"xss in query", req("GET", "/search?q=<script>alert(document.cookie)</script>", "", ""), "xss"},
		{"rce in form", req("POST", "/ping", "application/x-www-form-urlencoded", "host=127.0.0.1;cat+/etc/passwd"), "rce"},
		{"lfi", req("GET", "/file?name=../../../../etc/passwd", "", ""), "lfi"},
		{"sqli in json field", req("POST", "/orders", "application/json", `{"note":"x","coupon":"' OR 1=1 --"}`), "sqli"},
		{"xss in nested json", req("POST", "/comments", "application/json", `{"post":{"body":"<img src=x onerror=alert(1)>"}}`), "xss"},
		{"rce in json", req("POST", "/exec", "application/vnd.api+json", `{"cmd":"; /bin/bash -c 'cat /etc/shadow'"}`), "rce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, fs := run(e, tt.r)
			if id != 949110 {
				t.Fatalf("interrupted by %d, want the anomaly block 949110; findings %v", id, ruleIDs(fs))
			}
			tx := e.Request(tt.r)
			defer tx.Close()
			status, kind, rule, msg, _ := tx.Verdict()
			if status != 403 || kind != tt.wantKind || rule != "949110" || !strings.Contains(msg, "Anomaly") {
				t.Errorf("verdict %d %q %q %q, want 403 %q 949110", status, kind, rule, msg, tt.wantKind)
			}
			if len(fs) == 0 {
				t.Fatal("no findings")
			}
			f := fs[0]
			if f.Stage != "waf" || f.Layer != "waf" || f.Action != "block" || f.Variable == "" || !slices.Contains(f.Tags, "OWASP_CRS") {
				t.Errorf("finding %+v", f)
			}
		})
	}
}

func TestJSONArgsAreParsed(t *testing.T) {
	e := pl1(t)
	_, fs := run(e, req("POST", "/orders", "application/json", `{"items":[{"sku":"A1","qty":2}],"coupon":"1' UNION SELECT password FROM users--"}`))
	var vars []string
	for _, f := range fs {
		vars = append(vars, f.Variable)
	}
	if !slices.Contains(vars, "ARGS:json.coupon") {
		t.Errorf("variables %v, want ARGS:json.coupon (the JSON body processor names fields json.FIELD)", vars)
	}
}

// A handful of benign API bodies that a CRS at paranoia 1 must let through.
func TestBenignPassesAtParanoia1(t *testing.T) {
	e := pl1(t)
	tests := []struct {
		name string
		r    *Request
	}{
		{"plain get", req("GET", "/products?page=2&sort=price&q=running+shoes", "", "")},
		{"prose", req("POST", "/reviews", "application/json", `{"rating":4,"text":"I ordered these on Monday and they arrived Wednesday. The fit is true to size; my only complaint is the color, which is a bit darker than in the photos. Would I buy again? Probably, if they restock the blue ones."}`)},
		{"markdown", req("POST", "/posts", "application/json", `{"title":"Release notes","body":"## What's new\n\n- **Faster** checkout (up to 30%)\n- Fixed a bug where _discount codes_ were ignored\n\n> Thanks to everyone who reported it!\n\n[Read more](https://example.com/blog/release-4-2)"}`)},
		{"code snippet", req("POST", "/snippets", "application/json", `{"lang":"go","code":"func add(a, b int) int {\n\treturn a + b\n}\n\nfmt.Println(add(1, 2))"}`)},
		{"international", req("POST", "/profile", "application/json", `{"name":"Zoë Ñúñez-Łukasiewicz","city":"München","bio":"こんにちは、東京から来ました。Привет! مرحبا بالعالم. 你好世界 🚀","address":"Straße 12, 80331"}`)},
		{"form login", req("POST", "/login", "application/x-www-form-urlencoded", "username=alice%40example.com&password=S3cure%21Passw0rd&remember=on")},
		{"checkout json", req("POST", "/checkout", "application/json", `{"cart_id":"c_81f2","items":[{"sku":"SHOE-42","qty":1,"price":89.99}],"shipping":{"name":"Bob O'Neil","line1":"1 Main St.","zip":"02134"},"notes":"Leave at the back door, please — thanks!"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if id, fs := run(e, tt.r); id != 0 {
				t.Errorf("blocked by %d; findings %+v", id, fs)
			}
		})
	}
}
