package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/bot"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
)

// botUpstream counts the requests that reach it.
func botUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"upstream":"shop","path":%q}`, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s, &n
}

// botsConfig: a browser route (web, challenged) and an API route.
func botsConfig(upstream, mode, bots string) string {
	return fmt.Sprintf(`mode: %s
listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
data_dir: {{DIR}}/data
routes:
  - {name: api, match: {host: "*", path_prefix: /api}, upstream: %[2]s}
  - {name: web, match: {host: "*", path_prefix: /}, upstream: %[2]s}
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
protect:
  bots: %s
`, mode, upstream, bots)
}

type botResp struct {
	status int
	header http.Header
	body   string
	ev     event.Event
}

func botDo(t *testing.T, h *gw, c *http.Client, method, path string, hdr map[string]string) botResp {
	t.Helper()
	req, _ := http.NewRequest(method, h.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return botResp{resp.StatusCode, resp.Header, string(b), h.eventFor(resp.Header.Get("Vigil-Txn"))}
}

func botFinding(t *testing.T, ev event.Event) event.Finding {
	t.Helper()
	var out []event.Finding
	for _, f := range ev.Findings {
		if f.Layer == "bot" {
			out = append(out, f)
		}
	}
	if len(out) != 1 {
		t.Fatalf("bot findings %+v, want one", ev.Findings)
	}
	return out[0]
}

func noBotFinding(t *testing.T, ev event.Event) {
	t.Helper()
	for _, f := range ev.Findings {
		if f.Layer == "bot" {
			t.Fatalf("unexpected bot finding %+v", f)
		}
	}
}

const (
	e2eFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	e2eSqlmap  = "sqlmap/1.8.11#stable (https://sqlmap.org)"
)

var e2eBrowser = map[string]string{
	"User-Agent": e2eFirefox, "Accept": "text/html,*/*;q=0.8", "Accept-Language": "en", "Accept-Encoding": "gzip",
}

func TestBotsEnforce(t *testing.T) {
	up, hits := botUpstream(t)
	h := startGateway(t, botsConfig(up.URL, "enforce", `{enabled: true, challenge: {routes: [web], difficulty: 12}}`), server.Options{})

	// An attack tool is refused before the upstream.
	r := botDo(t, h, nil, "GET", "/api/products?id=1", map[string]string{"User-Agent": e2eSqlmap})
	if r.status != 403 || !strings.Contains(r.body, `"code":"blocked"`) || hits.Load() != 0 {
		t.Fatalf("sqlmap: %d %s (upstream hits %d)", r.status, r.body, hits.Load())
	}
	f := botFinding(t, r.ev)
	if r.ev.Decision != "block" || f.Stage != "bots" || f.RuleID != "bot:ua-sqlmap" || f.Kind != "attack_tool" || f.Action != "block" || f.WouldBlock {
		t.Fatalf("sqlmap event: %s %+v", r.ev.Decision, f)
	}

	// curl on the API: allowed, scored below the report threshold.
	r = botDo(t, h, nil, "GET", "/api/products", map[string]string{"User-Agent": "curl/8.5.0", "Accept": "*/*"})
	if r.status != 200 || r.ev.Decision != "allow" || hits.Load() != 1 {
		t.Fatalf("curl on the API: %d %s", r.status, r.ev.Decision)
	}
	noBotFinding(t, r.ev)

	// curl with an API token on the browser route: not challenged.
	r = botDo(t, h, nil, "GET", "/account", map[string]string{"User-Agent": "curl/8.5.0", "Authorization": "Bearer tok-123"})
	if r.status != 200 || r.ev.Decision != "allow" {
		t.Fatalf("credentialed curl: %d %s", r.status, r.ev.Decision)
	}

	// A real browser is not challenged (score 0).
	if r = botDo(t, h, nil, "GET", "/account", e2eBrowser); r.status != 200 {
		t.Fatalf("browser: %d", r.status)
	}

	// A script with a browser's user agent on the browser route: the
	// challenge page, then the proof of work, then the page itself.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Timeout: 10 * time.Second, Jar: jar}
	script := map[string]string{"User-Agent": e2eFirefox}
	before := hits.Load()
	r = botDo(t, h, c, "GET", "/account", script)
	if r.status != 403 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || r.header.Get("Content-Security-Policy") != bot.CSP {
		t.Fatalf("challenge: %d %v", r.status, r.header)
	}
	f = botFinding(t, r.ev)
	if r.ev.Decision != "challenge" || f.Action != "challenge" || f.RuleID != "bot:challenge" || hits.Load() != before {
		t.Fatalf("challenge event: %s %+v", r.ev.Decision, f)
	}
	i := strings.Index(r.body, `data-token="`)
	if i < 0 {
		t.Fatalf("no token in %q", r.body)
	}
	tok := r.body[i+len(`data-token="`):]
	tok = tok[:strings.IndexByte(tok, '"')]
	nonce := bot.Solve(tok, 0)

	// A wrong answer first.
	r = botDo(t, h, c, "POST", "/account", map[string]string{"User-Agent": e2eFirefox, bot.AnswerHeader: tok + ":x"})
	if r.status != 403 || !strings.Contains(r.body, `"code":"challenge"`) || botFinding(t, r.ev).RuleID != "bot:challenge-failed" {
		t.Fatalf("wrong answer: %d %s", r.status, r.body)
	}
	r = botDo(t, h, c, "POST", "/account", map[string]string{"User-Agent": e2eFirefox, bot.AnswerHeader: tok + ":" + nonce})
	if r.status != 200 || !strings.Contains(r.header.Get("Set-Cookie"), bot.CookieName+"=") || r.ev.Decision != "challenge" ||
		botFinding(t, r.ev).RuleID != "bot:challenge-passed" || hits.Load() != before {
		t.Fatalf("answer: %d %v %s", r.status, r.header, r.ev.Decision)
	}
	r = botDo(t, h, c, "GET", "/account", script)
	if r.status != 200 || !strings.Contains(r.body, `"upstream":"shop"`) || r.ev.Decision != "allow" || hits.Load() != before+1 {
		t.Fatalf("with the cookie: %d %s %s", r.status, r.body, r.ev.Decision)
	}
	// The cookie is bound to the user agent that solved it.
	r = botDo(t, h, c, "GET", "/account", map[string]string{"User-Agent": "curl/8.5.0"})
	if r.status != 403 || r.ev.Decision != "challenge" {
		t.Fatalf("cookie with another user agent: %d %s", r.status, r.ev.Decision)
	}
}

func TestBotsMonitor(t *testing.T) {
	up, hits := botUpstream(t)
	for _, tc := range []struct{ name, mode, bots string }{
		{"route mode", "monitor", `{enabled: true, challenge: {routes: [web]}}`},
		{"bots.mode", "enforce", `{enabled: true, mode: monitor, challenge: {routes: [web]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startGateway(t, botsConfig(up.URL, tc.mode, tc.bots), server.Options{})
			n := hits.Load()
			r := botDo(t, h, nil, "GET", "/api/x", map[string]string{"User-Agent": e2eSqlmap})
			f := botFinding(t, r.ev)
			if r.status != 200 || r.ev.Decision != "allow" || !f.WouldBlock || f.RuleID != "bot:ua-sqlmap" || hits.Load() != n+1 {
				t.Fatalf("sqlmap in monitor: %d %s %+v", r.status, r.ev.Decision, f)
			}
			r = botDo(t, h, nil, "GET", "/account", map[string]string{"User-Agent": "curl/8.5.0"})
			f = botFinding(t, r.ev)
			if r.status != 200 || r.ev.Decision != "allow" || !f.WouldBlock || f.Action != "challenge" {
				t.Fatalf("challenge in monitor: %d %s %+v", r.status, r.ev.Decision, f)
			}
		})
	}
}

// TestBotsIssueConfig: the issue's `bots: {enabled: true}` scores and
// blocks attack tools, challenges nobody.
func TestBotsIssueConfig(t *testing.T) {
	up, _ := botUpstream(t)
	h := startGateway(t, botsConfig(up.URL, "enforce", `{enabled: true}`), server.Options{})
	if r := botDo(t, h, nil, "GET", "/", map[string]string{"User-Agent": "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)"}); r.status != 403 ||
		botFinding(t, r.ev).RuleID != "bot:ua-nikto" {
		t.Fatalf("nikto: %d", r.status)
	}
	for _, ua := range []string{"curl/8.5.0", "python-requests/2.32.3", "", e2eFirefox} {
		if r := botDo(t, h, nil, "GET", "/", map[string]string{"User-Agent": ua}); r.status != 200 {
			t.Fatalf("%q: %d", ua, r.status)
		}
	}
}

// TestBotsHeadlessChromium solves the challenge in a real browser, when
// one is installed (never required).
func TestBotsHeadlessChromium(t *testing.T) {
	var bin string
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no chromium installed: the challenge script is run under Node in internal/bot")
	}
	up, _ := botUpstream(t)
	h := startGateway(t, botsConfig(up.URL, "enforce", `{enabled: true, challenge: {routes: [web], always: true}}`), server.Options{})
	out, err := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=15000", "--dump-dom", h.URL+"/account").CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"upstream":"shop"`) {
		t.Fatalf("chromium did not get past the challenge:\n%s", out)
	}
}
