package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
)

// wafUpstream is the shop behind the WAF: it counts what reaches it, leaks
// a SQL error on /leak, streams events on /events and reads gRPC-style
// bodies as they come on /stream.
type wafUpstream struct {
	*httptest.Server
	hits     atomic.Int64
	firstMsg chan struct{}
}

func newWAFUpstream(t *testing.T) *wafUpstream {
	u := &wafUpstream{firstMsg: make(chan struct{}, 1)}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		switch r.URL.Path {
		case "/leak":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<html><body><b>Warning</b>: You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''42''' at line 1</body></html>")
		case "/events":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
			fmt.Fprint(w, "data: last\n\n")
		case "/stream":
			buf := make([]byte, 5)
			if _, err := io.ReadFull(r.Body, buf); err == nil {
				u.firstMsg <- struct{}{}
			}
			n, _ := io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/grpc")
			fmt.Fprintf(w, "%d", n+5)
		default:
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok":true}`)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

// wafConfig is the protect.waf block with the response phase on,
// and a route whose WAF only monitors.
func wafConfig(upstream string) string {
	return fmt.Sprintf(`mode: enforce
listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
data_dir: {{DIR}}/data
routes:
  - {name: watch, match: {path_prefix: /mon}, upstream: %[1]s, modes: {waf: monitor}}
  - {name: shop, match: {path_prefix: /}, upstream: %[1]s}
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
protect:
  waf:
    enabled: true
    paranoia_level: 1
    inbound_anomaly_threshold: 5
    response_body: true
    setup: |
      SecAction "id:900005,phase:1,nolog,pass,setvar:tx.arg_length=400"
    directives: |
      SecRule ARGS:coupon "@rx ^DROP" "id:100001,phase:2,deny,status:403,msg:'virtual patch'"
    patches:
      - {id: 100200, endpoint: "POST /cart/{parameter}", where: "json:note", pattern: "^EVIL-[0-9]", message: "cart note exploit"}
`, upstream)
}

func wafDo(t *testing.T, h *gw, method, path, ct, body string) (*http.Response, event.Event, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, h.URL+path, strings.NewReader(body))
	if body == "" {
		req.Body = nil
	}
	req.Host = "shop.example"
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
	req.Header.Set("Accept", "application/json")
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp, h.eventFor(resp.Header.Get("Vigil-Txn")), b
}

func wafFindings(ev event.Event) (decision *event.Finding, rules []event.Finding) {
	for i, f := range ev.Findings {
		if f.Layer != "waf" {
			continue
		}
		if len(f.Tags) == 0 && f.Kind != "waf_more" {
			decision = &ev.Findings[i]
			continue
		}
		rules = append(rules, f)
	}
	return decision, rules
}

func TestWAFThroughTheGateway(t *testing.T) {
	up := newWAFUpstream(t)
	h := startGateway(t, wafConfig(up.URL), server.Options{})

	t.Run("enforce blocks xss with a JSON error and CRS findings", func(t *testing.T) {
		before := up.hits.Load()
		resp, ev, _ := wafDo(t, h, "GET", "/search?q="+url.QueryEscape("<script>alert(document.cookie)</script>"), "", "")
		if resp.StatusCode != 403 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if e := decodeError(t, resp); e.Error.Code != "blocked" {
			t.Errorf("error code %q", e.Error.Code)
		}
		if up.hits.Load() != before {
			t.Error("the upstream saw a blocked request")
		}
		dec, rules := wafFindings(ev)
		if dec == nil || dec.Stage != "waf" || dec.RuleID != "949110" || dec.Kind != "xss" || dec.Action != "block" || dec.WouldBlock {
			t.Errorf("decision finding %+v", dec)
		}
		var ok bool
		for _, f := range rules {
			if f.Stage == "waf" && strings.HasPrefix(f.RuleID, "941") && slices.Contains(f.Tags, "attack-xss") &&
				f.Variable == "ARGS:q" && f.Action == "block" && f.Data != "" {
				ok = true
			}
		}
		if !ok {
			t.Errorf("no CRS 941xxx finding on ARGS:q with tags and action block: %+v", rules)
		}
		if ev.Decision != "block" {
			t.Errorf("event decision %q", ev.Decision)
		}
	})

	t.Run("the issue's inline virtual patch", func(t *testing.T) {
		resp, ev, _ := wafDo(t, h, "POST", "/coupon", "application/x-www-form-urlencoded", "coupon=DROPALL")
		dec, _ := wafFindings(ev)
		if resp.StatusCode != 403 || dec == nil || dec.RuleID != "100001" || dec.Message != "virtual patch" {
			t.Fatalf("status %d, decision %+v", resp.StatusCode, dec)
		}
		if resp, _, _ := wafDo(t, h, "POST", "/coupon", "application/x-www-form-urlencoded", "coupon=SPRING24"); resp.StatusCode != 200 {
			t.Errorf("a good coupon: %d", resp.StatusCode)
		}
	})

	t.Run("the YAML patch fires only on its endpoint", func(t *testing.T) {
		body := `{"sku":"A1","note":"EVIL-7 leave at door"}`
		cases := []struct {
			path string
			want int
		}{{"/cart/42", 403}, {"/cart/42/items", 200}, {"/basket/42", 200}}
		for _, c := range cases {
			// The note is nothing the CRS sees; only the patch can stop it.
			resp, ev, _ := wafDo(t, h, "POST", c.path, "application/json", body)
			if resp.StatusCode != c.want {
				t.Errorf("%s: status %d, want %d; findings %+v", c.path, resp.StatusCode, c.want, ev.Findings)
			}
			if c.want == 403 {
				dec, _ := wafFindings(ev)
				if dec == nil || dec.RuleID != "100200" || dec.Kind != "virtual_patch" {
					t.Errorf("decision %+v", dec)
				}
			}
		}
	})

	t.Run("monitor lets it through with would_block", func(t *testing.T) {
		before := up.hits.Load()
		resp, ev, _ := wafDo(t, h, "GET", "/mon/search?q="+url.QueryEscape("1' UNION SELECT password FROM users--"), "", "")
		if resp.StatusCode != 200 || up.hits.Load() != before+1 {
			t.Fatalf("status %d, upstream hits %d", resp.StatusCode, up.hits.Load()-before)
		}
		dec, rules := wafFindings(ev)
		if dec == nil || !dec.WouldBlock || dec.RuleID != "949110" || dec.Kind != "sqli" {
			t.Errorf("decision %+v", dec)
		}
		if len(rules) == 0 || !rules[0].WouldBlock || rules[0].Action != "block" {
			t.Errorf("rule findings %+v", rules)
		}
		if ev.Decision != "allow" {
			t.Errorf("decision %q", ev.Decision)
		}
	})

	t.Run("sqli in a field of a 2 KB JSON body", func(t *testing.T) {
		var sb strings.Builder
		sb.WriteString(`{"items":[`)
		for i := 0; sb.Len() < 1900; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"sku":"SKU-%04d","qty":%d,"gift":false}`, i, i%3+1)
		}
		sb.WriteString(`],"shipping":{"zip":"10115","instructions":"1' OR '1'='1' UNION SELECT card_number FROM payments--"}}`)
		resp, ev, _ := wafDo(t, h, "POST", "/orders", "application/json", sb.String())
		if resp.StatusCode != 403 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		_, rules := wafFindings(ev)
		var vars []string
		for _, f := range rules {
			vars = append(vars, f.Variable)
		}
		if !slices.Contains(vars, "ARGS:json.shipping.instructions") {
			t.Errorf("variables %v", vars)
		}
		// The same order without the injection goes through.
		clean := strings.Replace(sb.String(), "1' OR '1'='1' UNION SELECT card_number FROM payments--", "Leave it with the neighbour, please", 1)
		if resp, ev, _ := wafDo(t, h, "POST", "/orders", "application/json", clean); resp.StatusCode != 200 {
			t.Errorf("clean order: %d %+v", resp.StatusCode, ev.Findings)
		}
	})

	t.Run("an upstream leaking a SQL error is stopped on the way out", func(t *testing.T) {
		resp, ev, body := wafDo(t, h, "GET", "/leak?id=42", "", "")
		if resp.StatusCode != 403 || strings.Contains(string(body), "SQL syntax") {
			t.Fatalf("status %d, body %q", resp.StatusCode, body)
		}
		dec, rules := wafFindings(ev)
		if dec == nil || dec.RuleID != "959100" || dec.Kind != "data_leakage" {
			t.Errorf("decision %+v", dec)
		}
		if len(rules) != 1 || !strings.HasPrefix(rules[0].RuleID, "951") || rules[0].Variable != "RESPONSE_BODY" || rules[0].Action != "block" {
			t.Errorf("rule findings %+v", rules)
		}
	})

	t.Run("server-sent events are not held back", func(t *testing.T) {
		req, _ := http.NewRequest("GET", h.URL+"/events", nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("User-Agent", "Mozilla/5.0")
		start := time.Now()
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || line != "data: first\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the first event took %v: the stream was buffered", d)
		}
	})

	t.Run("a gRPC body streams to the upstream", func(t *testing.T) {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", h.URL+"/stream", pr)
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("User-Agent", "grpc-go/1.70.0")
		done := make(chan *http.Response, 1)
		go func() {
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Error(err)
				done <- nil
				return
			}
			done <- resp
		}()
		// 64 KiB, so that no client buffer holds it back; far below the
		// inspection cap, so only a body that streams reaches the upstream
		// before it ends.
		first := make([]byte, 64<<10)
		if _, err := pw.Write(first); err != nil {
			t.Fatal(err)
		}
		select {
		case <-up.firstMsg:
		case <-time.After(3 * time.Second):
			t.Fatal("the upstream did not get the first message while the body was open: it was buffered")
		}
		pw.Write([]byte("rest"))
		pw.Close()
		resp := <-done
		if resp == nil {
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != fmt.Sprint(len(first)+4) {
			t.Errorf("status %d, upstream read %q bytes", resp.StatusCode, b)
		}
	})
}
