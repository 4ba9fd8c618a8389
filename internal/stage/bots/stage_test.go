package bots

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/bot"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

const (
	firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	sqlmap  = "sqlmap/1.8.11#stable (https://sqlmap.org)"
)

var browser = map[string]string{
	"User-Agent":      firefox,
	"Accept":          "text/html,application/xhtml+xml,*/*;q=0.8",
	"Accept-Language": "en-GB,en;q=0.5",
	"Accept-Encoding": "gzip, deflate, br",
}

func headers(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// parse validates a config with protect.bots set to botsYAML.
func parse(t *testing.T, botsYAML string) (*config.Config, error) {
	t.Helper()
	y := "listen: {http: 127.0.0.1:0}\ndata_dir: " + t.TempDir() + "\nroutes:\n" +
		"  - {name: web, match: {host: \"*\", path_prefix: /}, upstream: http://127.0.0.1:9}\n" +
		"  - {name: api, match: {host: \"*\", path_prefix: /api}, upstream: http://127.0.0.1:9}\n" +
		"protect:\n  bots: " + botsYAML + "\n"
	return config.Parse([]byte(y), "vigil.yaml")
}

type harness struct {
	t     *testing.T
	s     *Stage
	chain *pipeline.Chain
	now   time.Time
}

func newHarness(t *testing.T, botsYAML string, monitor bool) *harness {
	t.Helper()
	cfg, err := parse(t, botsYAML)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := New(cfg)
	if err != nil || st == nil {
		t.Fatalf("New: %v %v", st, err)
	}
	h := &harness{t: t, s: st.(*Stage), now: time.Unix(1_800_000_000, 0)}
	h.s.now = func() time.Time { return h.now }
	h.chain = pipeline.NewChain([]pipeline.Link{{Stage: st, Monitor: monitor}}, nil)
	return h
}

type req struct {
	method, path, route, ip string
	h                       map[string]string
}

func (h *harness) do(r req) (pipeline.Verdict, *pipeline.Txn) {
	h.t.Helper()
	if r.method == "" {
		r.method = "GET"
	}
	if r.path == "" {
		r.path = "/"
	}
	if r.route == "" {
		r.route = "web"
	}
	if r.ip == "" {
		r.ip = "198.51.100.7"
	}
	hr := httptest.NewRequest(r.method, "http://shop.test"+r.path, nil)
	for k, v := range r.h {
		hr.Header.Set(k, v)
	}
	tx := pipeline.NewTxn(hr, h.now, "")
	tx.ClientIP = netip.MustParseAddr(r.ip)
	tx.ClientIPText = r.ip
	tx.Route = r.route
	tx.Mode = "enforce"
	return h.chain.Run(context.Background(), tx), tx
}

func botFindings(tx *pipeline.Txn) []event.Finding {
	var out []event.Finding
	for _, f := range tx.Findings {
		if f.Layer == "bot" {
			out = append(out, f)
		}
	}
	return out
}

func TestDisabled(t *testing.T) {
	for _, y := range []string{"{enabled: false}", "{}"} {
		cfg, err := parse(t, y)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := New(cfg); st != nil || err != nil {
			t.Fatalf("%s: got %v, %v", y, st, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"{enabled: true, score_threshold: 1.5}", "protect.bots.score_threshold: 1.5 is not between 0 and 1"},
		{"{enabled: true, mode: block}", `protect.bots.mode: "block" is not one of [enforce monitor]`},
		{"{enabled: true, allow_user_agents: ['(']}", "protect.bots.allow_user_agents[0]: error parsing regexp"},
		{"{enabled: true, challenge: {routes: [shop]}}", `protect.bots.challenge.routes[0]: no route is named "shop"`},
		{"{enabled: true, challenge: {paths: ['FETCH /x']}}", "protect.bots.challenge.paths[0]"},
		{"{enabled: true, challenge: {difficulty: 40}}", "protect.bots.challenge.difficulty: 40 is not between 8 and 24"},
		{"{enabled: true, challenge: {secret: short}}", "protect.bots.challenge.secret: must be at least 32 characters"},
		{"{enabled: true, challenge: {secret_file: /nonexistent/bot}}", "protect.bots.challenge.secret_file"},
		{"{enabled: true, colour: red}", "colour"},
	} {
		_, err := parse(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestPassiveScoring(t *testing.T) {
	h := newHarness(t, "{enabled: true}", false)
	for _, tc := range []struct {
		name    string
		h       map[string]string
		action  pipeline.Action
		rule    string
		kind    string
		finding bool // a log finding without a stop
	}{
		{"browser", browser, pipeline.Allow, "", "", false},
		{"sqlmap", map[string]string{"User-Agent": sqlmap}, pipeline.Block, "bot:ua-sqlmap", "attack_tool", false},
		{"nikto inside a browser string", map[string]string{"User-Agent": "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)"}, pipeline.Block, "bot:ua-nikto", "attack_tool", false},
		{"curl scores below the report threshold", map[string]string{"User-Agent": "curl/8.5.0", "Accept": "*/*"}, pipeline.Allow, "", "", false},
		{"headless chrome is reported", map[string]string{"User-Agent": "Mozilla/5.0 HeadlessChrome/120.0.0.0", "Accept": "*/*"}, pipeline.Allow, "bot:ua-headlesschrome", "bot", true},
		{"browser UA with no browser headers is reported", map[string]string{"User-Agent": firefox}, pipeline.Allow, "bot:headers-accept", "bot", true},
		{"no user agent at all", map[string]string{"Accept": "*/*"}, pipeline.Allow, "bot:ua-empty", "bot", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, tx := h.do(req{h: tc.h, ip: "203.0.113.9"})
			if v.Action != tc.action {
				t.Fatalf("action %v, want %v (%+v)", v.Action, tc.action, tx.Findings)
			}
			fs := botFindings(tx)
			if tc.rule == "" {
				if len(fs) != 0 {
					t.Fatalf("findings %+v, want none", fs)
				}
				return
			}
			if len(fs) != 1 || fs[0].RuleID != tc.rule || fs[0].Kind != tc.kind || fs[0].Stage != "bots" {
				t.Fatalf("findings %+v, want one %s/%s", fs, tc.rule, tc.kind)
			}
			if tc.finding && fs[0].Action != "log" {
				t.Errorf("action %q, want log", fs[0].Action)
			}
			if tc.action == pipeline.Block && (v.Status != 403 || fs[0].Action != "block" || fs[0].Severity != "high") {
				t.Errorf("verdict %+v finding %+v", v, fs[0])
			}
			if !strings.HasPrefix(fs[0].Message, "bot score ") {
				t.Errorf("message %q", fs[0].Message)
			}
		})
	}
}

func TestCadenceRaisesScore(t *testing.T) {
	h := newHarness(t, "{enabled: true, report_threshold: 0.5}", false)
	// curl alone (0.3) is not reported; curl every second like a clock is.
	var last *pipeline.Txn
	for range 14 {
		h.now = h.now.Add(time.Second)
		_, last = h.do(req{h: map[string]string{"User-Agent": "curl/8.5.0"}})
	}
	fs := botFindings(last)
	if len(fs) != 1 || !strings.Contains(fs[0].Message, "machine-regular") {
		t.Fatalf("findings %+v", fs)
	}
}

func TestAllowDenyLists(t *testing.T) {
	h := newHarness(t, `{enabled: true, allow_user_agents: ["^UptimeRobot/"], deny_user_agents: ["(?i)evilscraper"]}`, false)
	if v, tx := h.do(req{h: map[string]string{"User-Agent": "UptimeRobot/2.0 sqlmap"}}); v.Action != pipeline.Allow || len(tx.Findings) != 0 {
		t.Fatalf("allow list: %+v %+v", v, tx.Findings)
	}
	v, tx := h.do(req{h: headers(browser, "User-Agent", "Mozilla/5.0 EvilScraper/1")})
	if v.Action != pipeline.Block || botFindings(tx)[0].RuleID != "bot:ua-denied" {
		t.Fatalf("deny list: %+v %+v", v, tx.Findings)
	}
}

func TestMonitorMode(t *testing.T) {
	h := newHarness(t, "{enabled: true}", true)
	v, tx := h.do(req{h: map[string]string{"User-Agent": sqlmap}})
	fs := botFindings(tx)
	if v.Action != pipeline.Allow || len(fs) != 1 || !fs[0].WouldBlock || fs[0].RuleID != "bot:ua-sqlmap" {
		t.Fatalf("monitor: %+v %+v", v, fs)
	}
}

// solve fetches the challenge page and answers it like the page's script.
func solve(t *testing.T, h *harness, r req, ua string) (answer string) {
	t.Helper()
	v, _ := h.do(r)
	if v.Action != pipeline.Challenge || len(v.Body) == 0 {
		t.Fatalf("no challenge page: %+v", v)
	}
	body := string(v.Body)
	i := strings.Index(body, `data-token="`)
	tok := body[i+len(`data-token="`):]
	tok = tok[:strings.IndexByte(tok, '"')]
	return tok + ":" + bot.Solve(tok, 0)
}

func TestChallengeRoundTrip(t *testing.T) {
	h := newHarness(t, `{enabled: true, challenge: {routes: [web], difficulty: 10, secret: "`+strings.Repeat("s", 32)+`"}}`, false)
	// A script with a browser's user agent and none of its headers.
	scripted := map[string]string{"User-Agent": firefox}
	v, tx := h.do(req{h: scripted})
	if v.Action != pipeline.Challenge || v.Status != 403 || v.ContentType != "text/html; charset=utf-8" {
		t.Fatalf("verdict %+v", v)
	}
	if csp := v.Header.Get("Content-Security-Policy"); csp != bot.CSP {
		t.Fatalf("CSP %q", csp)
	}
	if fs := botFindings(tx); len(fs) != 1 || fs[0].Action != "challenge" || fs[0].RuleID != RuleChallenge || tx.Decision != pipeline.Challenge {
		t.Fatalf("findings %+v decision %v", fs, tx.Decision)
	}
	// A real browser scores 0 and is not challenged.
	if v, _ := h.do(req{h: browser}); v.Action != pipeline.Allow {
		t.Fatalf("browser challenged: %+v", v)
	}
	// Another route (not a challenge route) is not challenged.
	if v, _ := h.do(req{h: scripted, route: "api", path: "/api/x"}); v.Action != pipeline.Allow {
		t.Fatalf("api route challenged: %+v", v)
	}

	answer := solve(t, h, req{h: scripted}, firefox)
	v, tx = h.do(req{method: "POST", h: headers(scripted, bot.AnswerHeader, answer)})
	if v.Action != pipeline.Challenge || v.Status != 200 || tx.Decision != pipeline.Challenge {
		t.Fatalf("answer: %+v", v)
	}
	if fs := botFindings(tx); len(fs) != 1 || fs[0].RuleID != RuleChallengePassed {
		t.Fatalf("answer findings %+v", fs)
	}
	sc := v.Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, bot.CookieName+"=") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") || strings.Contains(sc, "Secure") {
		t.Fatalf("Set-Cookie %q", sc)
	}
	cookie := strings.SplitN(sc, ";", 2)[0]

	// With the cookie, the same client passes.
	if v, tx := h.do(req{h: headers(scripted, "Cookie", cookie)}); v.Action != pipeline.Allow || tx.Decision != pipeline.Allow {
		t.Fatalf("with cookie: %+v", v)
	}
	// From another address, or after it expired, it does not.
	if v, _ := h.do(req{h: headers(scripted, "Cookie", cookie), ip: "198.51.100.99"}); v.Action != pipeline.Challenge {
		t.Fatalf("cookie from another address: %+v", v)
	}
	h.now = h.now.Add(time.Hour + time.Second)
	if v, _ := h.do(req{h: headers(scripted, "Cookie", cookie)}); v.Action != pipeline.Challenge {
		t.Fatalf("expired cookie: %+v", v)
	}
	// A wrong answer is refused with a challenge decision.
	v, tx = h.do(req{method: "POST", h: headers(scripted, bot.AnswerHeader, answer[:strings.LastIndexByte(answer, ':')]+":1")})
	if v.Action != pipeline.Challenge || v.Status != 403 || botFindings(tx)[0].RuleID != RuleChallengeFailed {
		t.Fatalf("wrong answer: %+v", v)
	}
}

func TestChallengeSkips(t *testing.T) {
	h := newHarness(t, `{enabled: true, challenge: {paths: ["GET /account/*"], always: true}}`, false)
	for _, tc := range []struct {
		name string
		r    req
		want pipeline.Action
	}{
		{"always: a browser on a challenge path", req{path: "/account/orders", h: browser}, pipeline.Challenge},
		{"not a challenge path", req{path: "/products", h: browser}, pipeline.Allow},
		{"wrong method for the template", req{method: "POST", path: "/account/orders", h: browser}, pipeline.Allow},
		{"bearer token", req{path: "/account/orders", h: headers(browser, "Authorization", "Bearer abc")}, pipeline.Allow},
		{"api key", req{path: "/account/orders", h: headers(browser, "X-Api-Key", "k")}, pipeline.Allow},
		{"attack tool with a token is still blocked", req{path: "/account/orders", h: map[string]string{"User-Agent": sqlmap, "Authorization": "Bearer abc"}}, pipeline.Block},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, _ := h.do(tc.r); v.Action != tc.want {
				t.Fatalf("got %v, want %v", v.Action, tc.want)
			}
		})
	}
	// A browser's fetch (not a navigation) gets the JSON challenge, not the page.
	v, _ := h.do(req{path: "/account/orders", h: headers(browser, "Sec-Fetch-Mode", "cors")})
	if v.Action != pipeline.Challenge || len(v.Body) != 0 {
		t.Fatalf("fetch: %+v", v)
	}
	// Without always, a fetch is left to the navigation that loaded its page.
	h2 := newHarness(t, `{enabled: true, challenge: {}}`, false)
	if v, _ := h2.do(req{h: map[string]string{"User-Agent": "curl/8.5.0", "Sec-Fetch-Mode": "cors"}}); v.Action != pipeline.Allow {
		t.Fatalf("fetch without always: %+v", v)
	}
	if v, _ := h2.do(req{h: map[string]string{"User-Agent": "curl/8.5.0"}}); v.Action != pipeline.Challenge {
		t.Fatalf("curl on a challenge route: %+v", v)
	}
}

func TestChallengeMonitor(t *testing.T) {
	h := newHarness(t, `{enabled: true, challenge: {always: true}}`, true)
	v, tx := h.do(req{h: browser})
	fs := botFindings(tx)
	if v.Action != pipeline.Allow || len(fs) != 1 || fs[0].Action != "challenge" || !fs[0].WouldBlock {
		t.Fatalf("monitor challenge: %+v %+v", v, fs)
	}
}

func TestModeKey(t *testing.T) {
	cfg, err := parse(t, "{enabled: true, mode: monitor}")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Protect.Stages["bots"].Mode != "monitor" {
		t.Fatalf("protect.bots.mode did not become the stage's mode: %+v", cfg.Protect.Stages)
	}
}

func TestSecretFromDataDir(t *testing.T) {
	dir := t.TempDir()
	c := &config.BotChallenge{DataDir: filepath.Join(dir, "data")}
	a, err := Secret(c)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "data", SecretFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	b, _ := Secret(c)
	if string(a) != string(b) || len(a) < config.MinBotSecretLen {
		t.Fatal("a second load (a reload, another replica on the same data_dir) got another secret")
	}
	// An unwritable data_dir falls back to the process's key, the same on every call.
	ro := &config.BotChallenge{DataDir: "/proc/vigil-no-such-dir"}
	x, _ := Secret(ro)
	y, _ := Secret(ro)
	if len(x) != 32 || string(x) != string(y) {
		t.Fatal("process key not stable")
	}
}

func benchStage(b *testing.B, botsYAML string, h http.Header) {
	y := "listen: {http: 127.0.0.1:0}\ndata_dir: " + b.TempDir() + "\nroutes:\n" +
		"  - {name: web, match: {host: \"*\", path_prefix: /}, upstream: http://127.0.0.1:9}\nprotect:\n  bots: " + botsYAML + "\n"
	cfg, err := config.Parse([]byte(y), "vigil.yaml")
	if err != nil {
		b.Fatal(err)
	}
	st, _ := New(cfg)
	s := st.(*Stage)
	r := httptest.NewRequest("GET", "http://shop.test/account", nil)
	r.Header = h
	tx := &pipeline.Txn{Req: r, ClientIP: netip.MustParseAddr("198.51.100.7"), Route: "web", Start: time.Now()}
	if c := h.Get("Cookie"); c == "set" {
		v, _ := s.ch.is.Cookie(tx.ClientIP, h.Get("User-Agent"), time.Now())
		h.Set("Cookie", "theme=dark; "+bot.CookieName+"="+v)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		tx.Start = tx.Start.Add(time.Duration(i%7+1) * 37 * time.Millisecond)
		tx.Findings = tx.Findings[:0]
		if v, _ := s.Request(ctx, tx); v.Action != pipeline.Allow {
			b.Fatalf("stopped: %+v", v)
		}
	}
}

func BenchmarkRequestBrowserWithCookie(b *testing.B) {
	h := http.Header{}
	for k, v := range browser {
		h.Set(k, v)
	}
	h.Set("Cookie", "set")
	benchStage(b, `{enabled: true, challenge: {always: true}}`, h)
}

func BenchmarkRequestCurl(b *testing.B) {
	benchStage(b, `{enabled: true}`, http.Header{"User-Agent": {"curl/8.5.0"}, "Accept": {"*/*"}})
}
