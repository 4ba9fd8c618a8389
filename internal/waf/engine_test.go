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
		Header: h, ClientIP: "192.0.2.10", ClientPort: 40000}
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
		{"put json", req("PUT", "/users/42", "application/json", `{"name":"Ann","email":"ann@example.com"}`)},
		{"patch merge", req("PATCH", "/users/42", "application/merge-patch+json", `{"nickname":null}`)},
		{"delete", req("DELETE", "/cart/items/7", "", "")},
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

func parseWAF(t *testing.T, yaml string) (*config.WAF, error) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "vigil.yaml")
	if err != nil {
		return nil, err
	}
	return cfg.Protect.WAF, nil
}

const routesYAML = `
routes:
  - {name: api, match: {path_prefix: /api}, upstream: "http://127.0.0.1:9"}
  - {name: web, match: {path_prefix: /}, upstream: "http://127.0.0.1:9"}
protect:
  waf:
    enabled: true
`

func TestExclusions(t *testing.T) {
	w, err := parseWAF(t, routesYAML+`    exclusions:
      - {route: api, rule_ids: ["941100-941999"], tags: [attack-xss]}
      - {endpoint: "POST /comments/{id}", variables: [ARGS:json.body]}
      - {endpoint: "GET /search", rule_ids: ["942100"]}
`)
	if err != nil {
		t.Fatal(err)
	}
	e := build(t, w)
	xss := `?q=<script>alert(document.cookie)</script>`
	tests := []struct {
		name    string
		r       *Request
		blocked bool
	}{
		{"xss on route api is excluded", withRoute(req("GET", "/api/x"+xss, "", ""), "api"), false},
		{"xss on route web is not", withRoute(req("GET", "/x"+xss, "", ""), "web"), true},
		{"excluded variable on its endpoint", req("POST", "/comments/7", "application/json", `{"body":"<script>alert(1)</script>"}`), false},
		{"other variables on that endpoint", req("POST", "/comments/7", "application/json", `{"title":"<script>alert(1)</script>"}`), true},
		{"same variable on a deeper path", req("POST", "/comments/7/replies", "application/json", `{"body":"<script>alert(1)</script>"}`), true},
		{"same variable with another method", req("PUT", "/comments/7", "application/json", `{"body":"<script>alert(1)</script>"}`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, fs := run(e, tt.r)
			if (id != 0) != tt.blocked {
				t.Errorf("interrupted by %d (findings %v), want blocked=%v", id, ruleIDs(fs), tt.blocked)
			}
		})
	}
}

func withRoute(r *Request, route string) *Request { r.Route = route; return r }

func TestPatchesYAMLForm(t *testing.T) {
	w, err := parseWAF(t, routesYAML+`    patches:
      - {id: 100100, endpoint: "POST /coupon", where: "json:code", pattern: "^DROP", message: "coupon injection"}
      - {id: 100101, endpoint: "/cart/{parameter}", where: path, pattern: "/cart/evil", status: 451}
      - {id: 100102, endpoint: "GET /export", where: "header:X-Export-Format", pattern: "(?i)^xlsm$", action: log}
      - {id: 100103, where: "cookie:role", pattern: "^admin$"}
`)
	if err != nil {
		t.Fatal(err)
	}
	e := build(t, w)
	cookie := req("GET", "/home", "", "")
	cookie.Header.Set("Cookie", "role=admin; theme=dark")
	hdr := req("GET", "/export", "", "")
	hdr.Header.Set("X-Export-Format", "XLSM")
	tests := []struct {
		name     string
		r        *Request
		wantRule int
		status   int
	}{
		{"json field on its endpoint", req("POST", "/coupon", "application/json", `{"code":"DROPSHIP10"}`), 100100, 403},
		{"json field elsewhere", req("POST", "/voucher", "application/json", `{"code":"DROPSHIP10"}`), 0, 0},
		{"json field, other method", req("PUT", "/coupon", "application/json", `{"code":"DROPSHIP10"}`), 0, 0},
		{"other json field on its endpoint", req("POST", "/coupon", "application/json", `{"note":"DROPSHIP10"}`), 0, 0},
		{"query is not json", req("POST", "/coupon?code=DROP", "application/json", `{"code":"ok"}`), 0, 0},
		{"one-segment template", req("GET", "/cart/evil", "", ""), 100101, 451},
		{"one-segment template, deeper path", req("GET", "/cart/evil/y", "", ""), 0, 0},
		{"log action never blocks", hdr, 0, 0},
		{"unscoped cookie patch", cookie, 100103, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := e.Request(tt.r)
			defer tx.Close()
			it := tx.Interruption()
			got := 0
			if it != nil {
				got = it.RuleID
			}
			if got != tt.wantRule {
				t.Fatalf("interrupted by %d, want %d (matched %v)", got, tt.wantRule, tx.Matched())
			}
			if it == nil {
				return
			}
			status, kind, rule, _, _ := tx.Verdict()
			if status != tt.status || kind != "virtual_patch" || rule != itoa(tt.wantRule) {
				t.Errorf("verdict %d %s %s", status, kind, rule)
			}
		})
	}
	// The log patch is a finding with action log.
	tx := e.Request(hdr)
	defer tx.Close()
	fs := tx.Findings(nil, "waf", "waf", false, false)
	if len(fs) != 1 || fs[0].RuleID != "100102" || fs[0].Action != "log" || fs[0].Variable != "REQUEST_HEADERS:X-Export-Format" {
		t.Errorf("log patch findings %+v", fs)
	}
}

func TestSecretsAreMasked(t *testing.T) {
	e := pl1(t)
	r := req("POST", "/login", "application/x-www-form-urlencoded", "user=bob&password="+url.QueryEscape("' OR 1=1 UNION SELECT secret FROM keys--"))
	r.Header.Set("Authorization", "Bearer <script>alert(1)</script>")
	_, fs := run(e, r)
	var seen int
	for _, f := range fs {
		switch f.Variable {
		case "ARGS:password", "ARGS_POST:password", "REQUEST_HEADERS:Authorization":
			seen++
			if !strings.HasPrefix(f.Data, "sha256:") {
				t.Errorf("%s data not masked: %q", f.Variable, f.Data)
			}
		}
		if strings.Contains(f.Data, "UNION") || strings.Contains(f.Data, "alert") {
			t.Errorf("secret in finding %+v", f)
		}
	}
	if seen == 0 {
		t.Fatalf("no finding on the password or Authorization: %+v", fs)
	}
}

func TestDataIsTruncated(t *testing.T) {
	long := strings.Repeat("é", 40) + "<script>alert(1)</script>" + strings.Repeat("x", 100)
	_, fs := run(pl1(t), req("GET", "/s?q="+url.QueryEscape(long), "", ""))
	if len(fs) == 0 {
		t.Fatal("no findings")
	}
	for _, f := range fs {
		if len(f.Data) > MaxData || !utf8Valid(f.Data) {
			t.Errorf("data %d bytes, valid utf-8 %v: %q", len(f.Data), utf8Valid(f.Data), f.Data)
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestFindingsAreCapped(t *testing.T) {
	var rules strings.Builder
	for i := 0; i < 12; i++ {
		rules.WriteString("SecRule ARGS:q \"@rx a\" \"id:" + itoa(10+i) + ",phase:2,pass,log,msg:'rule " + itoa(i) + "'\"\n")
	}
	e := build(t, &config.WAF{Directives: rules.String()})
	_, fs := run(e, req("GET", "/s?q=a", "", ""))
	if len(fs) != MaxFindings+1 {
		t.Fatalf("%d findings, want %d and a summary", len(fs), MaxFindings+1)
	}
	last := fs[len(fs)-1]
	if last.Kind != "waf_more" || last.Message != "4 more rules matched: 18, 19, 20, 21" {
		t.Errorf("summary %+v", last)
	}
}

func TestSecLangErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.conf"
	if err := writeFile(bad, `SecRule ARGS "@rx (" "id:5,deny"`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml, path, msg string
	}{
		{"setup", "    setup: |\n      SecFoo bar\n", "protect.waf.setup", `unknown directive "secfoo"`},
		{"directives", "    directives: |\n      SecRule ARGS \"@rx a\" \"id:1,deny,bogus:1\"\n", "protect.waf.directives", `invalid action "bogus"`},
		{"duplicate id with the CRS", "    directives: |\n      SecRule ARGS \"@rx a\" \"id:942100,deny\"\n", "protect.waf.directives", "duplicated rule id 942100"},
		{"file", "    files: [" + bad + "]\n", "protect.waf.files[0]", "missing closing )"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := parseWAF(t, routesYAML+tt.yaml)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Build(w, Limits{})
			p, msg := FieldPath(err)
			if p != tt.path || !strings.Contains(msg, tt.msg) {
				t.Errorf("error %v (field %q), want field %s with %q", err, p, tt.path, tt.msg)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"    mode: block\n", "protect.waf.mode"},
		{"    paranoia_level: 5\n", "protect.waf.paranoia_level"},
		{"    inbound_anomaly_threshold: -1\n", "protect.waf.inbound_anomaly_threshold"},
		{"    files: [/nonexistent/x.conf]\n", "protect.waf.files[0]"},
		{"    patches: [{id: 942100, pattern: a}]\n", "protect.waf.patches[0].id"},
		{"    patches: [{id: 1, pattern: a}, {id: 1, pattern: b}]\n", "protect.waf.patches[1].id"},
		{"    patches: [{id: 1, pattern: \"(\"}]\n", "protect.waf.patches[0].pattern"},
		{"    patches: [{id: 1, pattern: a, where: \"body:x\"}]\n", "protect.waf.patches[0].where"},
		{"    patches: [{id: 1, pattern: a, endpoint: \"FETCH /x\"}]\n", "protect.waf.patches[0].endpoint"},
		{"    patches: [{id: 1, pattern: a, action: drop}]\n", "protect.waf.patches[0].action"},
		{"    exclusions: [{rule_ids: [\"942100\"]}]\n", "protect.waf.exclusions[0]"},
		{"    exclusions: [{route: nope, rule_ids: [\"942100\"]}]\n", "protect.waf.exclusions[0].route"},
		{"    exclusions: [{route: api, rule_ids: [\"x\"]}]\n", "protect.waf.exclusions[0].rule_ids[0]"},
		{"    exclusions: [{route: api, variables: [\"args q\"]}]\n", "protect.waf.exclusions[0].variables[0]"},
		{"    free_text: ignore\n", "protect.waf.free_text"},
		{"    text_fields: [{fields: [title]}]\n", "protect.waf.text_fields[0].endpoint"},
		{"    text_fields: [{endpoint: \"POST /posts\"}]\n", "protect.waf.text_fields[0].fields"},
		{"    text_fields: [{endpoint: \"POST /posts\", fields: [\"a b\"]}]\n", "protect.waf.text_fields[0].fields[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := parseWAF(t, routesYAML+tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
	w, err := parseWAF(t, routesYAML)
	if err != nil {
		t.Fatal(err)
	}
	if w.ParanoiaLevel != 1 || w.InboundAnomalyThreshold != 5 || w.OutboundAnomalyThreshold != 4 || !w.WAFRequestBody() || w.ResponseBody || w.Mode != "enforce" || w.FreeText != config.WAFFreeTextScore {
		t.Errorf("defaults %+v", w)
	}
}

func TestParanoiaLevelAndThreshold(t *testing.T) {
	// A warning-level rule scores 3: under the default threshold of 5 it
	// is a finding; with threshold 3 it blocks.
	r := req("GET", "/x", "", "")
	r.Host = "192.0.2.1" // 920350, a warning
	id, fs := run(pl1(t), r)
	if id != 0 || len(fs) == 0 {
		t.Fatalf("default: interrupted by %d, findings %v (want a finding that does not block)", id, ruleIDs(fs))
	}
	strict := build(t, &config.WAF{InboundAnomalyThreshold: 2})
	if id, _ := run(strict, r); id != 949110 {
		t.Errorf("threshold 2: interrupted by %d, want 949110", id)
	}
	// Paranoia 2 rules are off at PL1 and on at PL2.
	r2 := req("GET", "/x?a=1&b=http%3A%2F%2F1.2.3.4%2F", "", "")
	pl2 := build(t, &config.WAF{ParanoiaLevel: 2})
	_, f1 := run(pl1(t), r2)
	_, f2 := run(pl2, r2)
	if len(f2) <= len(f1) {
		t.Errorf("PL2 matched %v, PL1 %v: want more at PL2", ruleIDs(f2), ruleIDs(f1))
	}
}

func TestResponsePhase(t *testing.T) {
	e := build(t, &config.WAF{ResponseBody: true})
	tests := []struct {
		name, ct, body string
		blocked        bool
	}{
		{"sql error leak", "text/html; charset=utf-8", "<html><body>Warning: You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''1''' at line 1</body></html>", true},
		{"ordinary json", "application/json", `{"id":42,"name":"Running shoes","price":89.99}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := e.Request(req("GET", "/product?id=42", "", ""))
			defer tx.Close()
			if !tx.WantsResponse() {
				t.Fatal("response phases not wanted with response_body on")
			}
			it := tx.Response(200, "HTTP/1.1", http.Header{"Content-Type": {tt.ct}}, []byte(tt.body))
			if (it != nil) != tt.blocked {
				t.Fatalf("interruption %+v, want blocked=%v (matched %v)", it, tt.blocked, tx.Matched())
			}
			if it == nil {
				return
			}
			fs := tx.Findings(nil, "waf", "waf", true, false)
			if _, kind, rule, _, _ := tx.Verdict(); rule != "959100" || kind != "data_leakage" {
				t.Errorf("verdict %s %s; findings %+v", rule, kind, fs)
			}
			if len(fs) == 0 || fs[0].Variable != "RESPONSE_BODY" {
				t.Errorf("findings %+v", fs)
			}
		})
	}
	if tx := pl1(t).Request(req("GET", "/", "", "")); tx.WantsResponse() {
		t.Error("response phases wanted with response_body off and no response rules")
	}
}

// FuzzRequest feeds the engine arbitrary queries, bodies and content types:
// it must neither panic nor leak a secret parameter into a finding.
func FuzzRequest(f *testing.F) {
	f.Add("q=1", "application/json", `{"a":"b"}`)
	f.Add("q=%27+OR+1%3D1--", "application/x-www-form-urlencoded", "password=%27+OR+1%3D1--")
	f.Add("", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--x--")
	f.Add("a[]=1&a[]=2", "text/xml", "<a><b>&lt;script&gt;</b></a>")
	f.Add("%zz", "application/json", `{"a":[1,{"b":"<script>"}]`)
	e := pl1(f)
	f.Fuzz(func(t *testing.T, query, ct, body string) {
		u := &url.URL{Path: "/f", RawQuery: query}
		r := &Request{Method: "POST", URI: u.RequestURI(), Path: "/f", Proto: "HTTP/1.1", Host: "h",
			Header: http.Header{"Content-Type": {ct}}, Body: []byte(body)}
		tx := e.Request(r)
		defer tx.Close()
		for _, fd := range tx.Findings(nil, "waf", "waf", tx.Interruption() != nil, false) {
			if strings.Contains(strings.ToLower(fd.Variable), "password") && fd.Data != "" && !strings.HasPrefix(fd.Data, "sha256:") {
				t.Fatalf("password not masked: %+v", fd)
			}
		}
		tx.Verdict()
	})
}
