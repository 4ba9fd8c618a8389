package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/demo/shop"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
)

// False positives: realistic benign API traffic through the WAF at
// paranoia level 1, enforce. The requests are the demo shop's (the calls of
// internal/demo/traffic's shoppers) plus JSON bodies with prose, Markdown,
// code snippets and international text from testdata/fp, built from a
// fixed seed. The bar: under 0.1% of them blocked.

const (
	fpRequests = 5000
	fpSeed     = 9
	fpMaxShare = 0.001
	// fpUntunedBound is the regression bound of the CRS's scoring
	// (free_text: off; measured 1.56%), fpDefaultsBound of Vigil's
	// defaults (measured 0.36% and 0.10%, docs/waf-testing.md); neither is
	// the bar, which only the tuned exclusions meet.
	fpUntunedBound  = 0.025
	fpDefaultsBound = 0.006
)

// fpReq is one benign request and the kind of traffic it stands for.
type fpReq struct {
	kind, method, target, ct, auth string
	body                           []byte
}

// fpCorpus reads testdata/fp/NAME.txt: entries separated by a line "%%".
// half 0 takes the even entries (the half the WAF's free-text defaults were
// designed on), half 1 the odd ones (held out: measured, never tuned on),
// -1 all of them.
func fpCorpus(t *testing.T, name string, half int) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fp", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, e := range strings.Split(string(b), "\n%%\n") {
		if e = strings.TrimSpace(e); e != "" && (half < 0 || i%2 == half) {
			out = append(out, e)
		}
	}
	if len(out) < 8 {
		t.Fatalf("%s: only %d entries", name, len(out))
	}
	return out
}

// fpToken looks like the demo shop's bearer tokens (a JWT).
func fpToken(rng *rand.Rand, uid int) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	p := enc.EncodeToString(fmt.Appendf(nil, `{"sub":"%d","exp":%d}`, uid, 1767225600+rng.IntN(1e6)))
	sig := make([]byte, 32)
	for i := range sig {
		sig[i] = byte(rng.Uint32())
	}
	return h + "." + p + "." + enc.EncodeToString(sig)
}

// fpGenerate builds the request mix. Shares: shop traffic ~55%, reviews
// and support messages in prose ~20%, Markdown ~8%, code snippets ~5%,
// international text ~12%.
func fpGenerate(t *testing.T, n, half int) []fpReq {
	prose, md, code, intl := fpCorpus(t, "prose", half), fpCorpus(t, "markdown", half), fpCorpus(t, "code", half), fpCorpus(t, "intl", half)
	rng := rand.New(rand.NewPCG(fpSeed, fpSeed))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	some := func(s []string, max int) string {
		var parts []string
		for range 1 + rng.IntN(max) {
			parts = append(parts, pick(s))
		}
		return strings.Join(parts, "\n\n")
	}
	title := func(s string) string {
		// The first words of an entry, as a title.
		w := strings.Fields(s)
		return strings.Join(w[:min(len(w), 3+rng.IntN(5))], " ")
	}
	catalog, cats, users := shop.Catalog(), shop.Categories(), shop.DemoCredentials()
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	var out []fpReq
	for len(out) < n {
		u := users[rng.IntN(len(users))]
		uid := strconv.Itoa(u.UserID)
		tok := "Bearer " + fpToken(rng, u.UserID)
		p := catalog[rng.IntN(len(catalog))]
		switch x := rng.IntN(100); {
		case x < 55:
			// The demo shoppers' calls.
			switch rng.IntN(14) {
			case 0:
				out = append(out, fpReq{kind: "shop", method: "GET", target: "/"})
			case 1:
				out = append(out, fpReq{kind: "shop", method: "GET", target: []string{"/static/style.css", "/static/app.js"}[rng.IntN(2)]})
			case 2:
				out = append(out, fpReq{kind: "shop", method: "GET", target: "/products?category=" + cats[rng.IntN(len(cats))]})
			case 3:
				out = append(out, fpReq{kind: "shop", method: "GET", target: fmt.Sprintf("/products?category=%s&page=1&limit=%d", cats[rng.IntN(len(cats))], 5+rng.IntN(6))})
			case 4:
				out = append(out, fpReq{kind: "shop", method: "GET", target: "/products/" + strconv.Itoa(p.ID)})
			case 5:
				// Search by product name, or words of one.
				q := p.Name
				if rng.IntN(2) == 0 {
					q = strings.ToLower(strings.Fields(p.Description)[0])
				}
				out = append(out, fpReq{kind: "shop", method: "GET", target: "/products?q=" + url.QueryEscape(q)})
			case 6:
				out = append(out, fpReq{kind: "shop", method: "POST", target: "/login", ct: "application/json",
					body: js(map[string]string{"username": u.Username, "password": u.Password})})
			case 7:
				out = append(out, fpReq{kind: "shop", method: "GET", target: "/users/" + uid, auth: tok})
			case 8:
				out = append(out, fpReq{kind: "shop", method: "POST", target: "/cart/item/add/" + uid, auth: tok, ct: "application/json",
					body: js(map[string]int{"product_id": p.ID, "quantity": 1 + rng.IntN(2)})})
			case 9:
				out = append(out, fpReq{kind: "shop", method: "GET", target: "/cart/items/" + uid, auth: tok})
			case 10:
				out = append(out, fpReq{kind: "shop", method: "GET", target: "/cart/total/" + uid, auth: tok})
			case 11:
				out = append(out, fpReq{kind: "shop", method: "GET", target: "/cart/clear/" + uid, auth: tok})
			case 12:
				cards := []string{"4111111111111111", "5555555555554444", "4242424242424242", "378282246310005", shop.DeclinedCard}
				out = append(out, fpReq{kind: "shop", method: "POST", target: "/order/add/" + uid, auth: tok, ct: "application/json", body: js(map[string]any{
					"items":            []map[string]int{{"product_id": p.ID, "quantity": 1}},
					"shipping_address": map[string]string{"street": fmt.Sprintf("%d Main St, Apt. %d", 1+rng.IntN(999), 1+rng.IntN(40)), "city": "Springfield", "zip": fmt.Sprintf("%05d", rng.IntN(100000)), "country": "US"},
					"payment":          map[string]any{"number": cards[rng.IntN(len(cards))], "exp_month": 1 + rng.IntN(12), "exp_year": 2027 + rng.IntN(4), "cvc": fmt.Sprintf("%03d", rng.IntN(1000)), "name": u.Username},
					"email":            u.Username + "@example.com",
					"notes":            []string{"", "Leave at the back door, please.", "Ring twice — the bell is broken.", "It's a gift, no invoice in the box"}[rng.IntN(4)],
				})})
			default:
				out = append(out, fpReq{kind: "shop", method: "PATCH", target: "/users/" + uid, auth: tok, ct: "application/json",
					body: js(map[string]string{"phone": fmt.Sprintf("+1 (555) %03d-%04d", rng.IntN(1000), rng.IntN(10000)), "name": []string{"Mary O'Connor", "Jean-Luc Picard", "Zoë Saldaña", "D'Angelo Russell", "Åsa Öberg"}[rng.IntN(5)]})})
			}
		case x < 75:
			// Reviews and support messages in prose.
			if rng.IntN(2) == 0 {
				body := some(prose, 3)
				out = append(out, fpReq{kind: "prose", method: "POST", target: "/products/" + strconv.Itoa(p.ID) + "/reviews", auth: tok, ct: "application/json",
					body: js(map[string]any{"rating": 1 + rng.IntN(5), "title": title(body), "body": body})})
			} else {
				msg := some(prose, 2)
				out = append(out, fpReq{kind: "prose", method: "POST", target: "/support/tickets", auth: tok, ct: "application/json",
					body: js(map[string]any{"subject": title(msg), "message": msg, "order_id": fmt.Sprintf("A-%05d", rng.IntN(100000))})})
			}
		case x < 83:
			// Posts, bios and notes in Markdown.
			body := some(md, 2)
			if rng.IntN(2) == 0 {
				out = append(out, fpReq{kind: "markdown", method: "POST", target: "/posts", auth: tok, ct: "application/json",
					body: js(map[string]any{"title": title(body), "body_markdown": body, "tags": []string{"notes", "shop"}})})
			} else {
				out = append(out, fpReq{kind: "markdown", method: "PUT", target: "/users/" + uid + "/bio", auth: tok, ct: "application/json",
					body: js(map[string]string{"bio": body})})
			}
		case x < 88:
			// A developer's ticket: prose around a pasted snippet.
			msg := pick(prose) + "\n\n" + pick(code)
			out = append(out, fpReq{kind: "code", method: "POST", target: "/support/tickets", auth: tok, ct: "application/json",
				body: js(map[string]any{"subject": "API question", "message": msg, "category": "developer"})})
		default:
			// International text: reviews, and searches.
			if rng.IntN(3) == 0 {
				w := strings.Fields(pick(intl))
				q := strings.Join(w[:min(len(w), 1+rng.IntN(3))], " ")
				out = append(out, fpReq{kind: "intl", method: "GET", target: "/products?q=" + url.QueryEscape(q)})
			} else {
				body := some(intl, 2)
				out = append(out, fpReq{kind: "intl", method: "POST", target: "/products/" + strconv.Itoa(p.ID) + "/reviews", auth: tok, ct: "application/json; charset=utf-8",
					body: js(map[string]any{"rating": 1 + rng.IntN(5), "title": title(body), "body": body, "lang": "auto"})})
			}
		}
	}
	return out
}

// fpTuned are the exclusions an operator of this API would write: the
// free-text fields (reviews, support messages, posts, bios) are prose, not
// parameters, so the injection rule families skip those fields (and only
// those: the rules still run on every other argument, header and the path).
const fpTuned = `
    exclusions:
      - endpoint: "POST /products/{id}/reviews"
        tags: [attack-rce, attack-xss, attack-sqli, attack-ssrf, attack-lfi, attack-rfi, attack-injection-php, attack-injection-generic]
        variables: [ARGS:json.body, ARGS:json.title]
      - endpoint: "POST /support/tickets"
        tags: [attack-rce, attack-xss, attack-sqli, attack-ssrf, attack-lfi, attack-rfi, attack-injection-php, attack-injection-generic]
        variables: [ARGS:json.message, ARGS:json.subject]
      - endpoint: "POST /posts"
        tags: [attack-rce, attack-xss, attack-sqli, attack-ssrf, attack-lfi, attack-rfi, attack-injection-php, attack-injection-generic]
        variables: [ARGS:json.body_markdown, ARGS:json.title]
      - endpoint: "PUT /users/{id}/bio"
        tags: [attack-rce, attack-xss, attack-sqli, attack-ssrf, attack-lfi, attack-rfi, attack-injection-php, attack-injection-generic]
        variables: [ARGS:json.bio]
`

// fpSample is every fpStride-th request (all of them without the race
// detector), the same ones every run.
func fpSample(all []fpReq) []fpReq {
	if fpStride <= 1 {
		return all
	}
	var reqs []fpReq
	for i := 0; i < len(all); i += fpStride {
		reqs = append(reqs, all[i])
	}
	return reqs
}

func TestWAFFalsePositives(t *testing.T) {
	reqs := fpSample(fpGenerate(t, fpRequests, -1))
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(up.Close)
	// The WAF at paranoia level 1, Vigil's defaults otherwise.
	waf := `discovery: {enabled: false}
protect:
  waf:
    enabled: true
    paranoia_level: 1
    inbound_anomaly_threshold: 5
`
	t.Run("Vigil defaults", func(t *testing.T) {
		// free_text: score. Designed on the even entries of the corpus
		// (design half); the odd ones are held out. Each half makes its
		// own 5000 requests.
		h := startGateway(t, baseConfig(up.URL, waf), server.Options{})
		for _, half := range []struct {
			name string
			n    int
		}{{"design half", 0}, {"held-out half", 1}} {
			t.Run(half.name, func(t *testing.T) {
				fpReplay(t, h, fpSample(fpGenerate(t, fpRequests, half.n)), "Vigil defaults, "+half.name, fpDefaultsBound)
			})
		}
	})
	t.Run("CRS scoring", func(t *testing.T) {
		// free_text: off, the CRS's scores everywhere (1.56% measured).
		fpReplay(t, startGateway(t, baseConfig(up.URL, waf+"    free_text: off\n"), server.Options{}), reqs, "CRS scoring (free_text: off)", fpUntunedBound)
	})
	t.Run("free-text fields excluded", func(t *testing.T) {
		h := startGateway(t, baseConfig(up.URL, waf+fpTuned), server.Options{})
		fpReplay(t, h, reqs, "free-text fields excluded", fpMaxShare)
		// The exclusions are narrow: the same attack in a field or an
		// endpoint they do not name is still blocked.
		xss := `{"rating":5,"title":"ok","body":"nice","note":"<script>alert(document.cookie)</script>"}`
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/products/3/reviews", xss},
			{"POST", "/products/3/questions", `{"body":"<script>alert(document.cookie)</script>"}`},
			{"GET", "/products?q=" + url.QueryEscape("<script>alert(document.cookie)</script>"), ""},
		} {
			if resp, _, _ := wafDo(t, h, c.method, c.path, "application/json", c.body); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s: status %d, want 403", c.method, c.path, resp.StatusCode)
			}
		}
	})
}

// fpReplay sends reqs through h and fails when maxShare or more of them
// are blocked.
func fpReplay(t *testing.T, h *gw, reqs []fpReq, label string, maxShare float64) {
	type result struct {
		status int
		txn    string
	}
	results := make([]result, len(reqs))
	agents := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"shop-app/3.2.1 (Android 14; Pixel 8) okhttp/4.12.0",
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	work := make(chan int)
	var wg sync.WaitGroup
	var sendErr error
	var mu sync.Mutex
	for range 4 * runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				q := reqs[i]
				var body io.Reader
				if q.body != nil {
					body = strings.NewReader(string(q.body))
				}
				req, _ := http.NewRequest(q.method, h.URL+q.target, body)
				req.Host = "shop.example"
				req.Header.Set("User-Agent", agents[i%len(agents)])
				req.Header.Set("Accept", "application/json, text/plain, */*")
				req.Header.Set("Accept-Language", "en-US,en;q=0.9")
				if q.ct != "" {
					req.Header.Set("Content-Type", q.ct)
				}
				if q.auth != "" {
					req.Header.Set("Authorization", q.auth)
				}
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					sendErr = err
					mu.Unlock()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				results[i] = result{resp.StatusCode, resp.Header.Get("Vigil-Txn")}
			}
		}()
	}
	for i := range reqs {
		work <- i
	}
	close(work)
	wg.Wait()
	if sendErr != nil {
		t.Fatal(sendErr)
	}

	// Every refusal is looked up in the events: which layer, which rules.
	want := map[string]bool{}
	for _, r := range results {
		if r.status != http.StatusOK {
			want[r.txn] = true
		}
	}
	events := map[string]*event.Event{}
	if len(want) > 0 {
		events = crsEvents(t, h, want)
	}
	perKind, blockedKind := map[string]int{}, map[string]int{}
	rules := map[string]int{}
	blocked := 0
	var examples []string
	for i, r := range results {
		q := reqs[i]
		perKind[q.kind]++
		if r.status == http.StatusOK {
			continue
		}
		ev := events[r.txn]
		var fired []string
		waf := false
		if ev != nil {
			for _, f := range ev.Findings {
				if f.Layer == "waf" {
					waf = true
					if f.RuleID != "" {
						if os.Getenv("FP_DEBUG") != "" {
							t.Logf("FPDBG %s %s %q in %s (%s %s)", q.kind, f.RuleID, f.Data, f.Variable, q.method, q.target)
						}
						fired = append(fired, f.RuleID)
						rules[f.RuleID]++
					}
				}
			}
		}
		if r.status != http.StatusForbidden || !waf {
			t.Errorf("%s %s: status %d not from the WAF (event %v)", q.method, q.target, r.status, ev != nil)
			continue
		}
		blocked++
		blockedKind[q.kind]++
		if len(examples) < 20 {
			examples = append(examples, fmt.Sprintf("%s %s %s rules %v body %.160q", q.kind, q.method, q.target, fired, q.body))
		}
	}
	share := float64(blocked) / float64(len(reqs))
	kinds := make([]string, 0, len(perKind))
	for k := range perKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var byKind []string
	for _, k := range kinds {
		byKind = append(byKind, fmt.Sprintf("%s %d/%d", k, blockedKind[k], perKind[k]))
	}
	var top []string
	for id, n := range rules {
		top = append(top, fmt.Sprintf("%s×%d", id, n))
	}
	sort.Strings(top)
	msg := fmt.Sprintf("WAF false positives at paranoia 1 (%s): %d of %d benign requests blocked (%.3f%%); by kind: %s; rules: %s",
		label, blocked, len(reqs), 100*share, strings.Join(byKind, ", "), strings.Join(top, " "))
	t.Log(msg)
	fmt.Fprintln(os.Stderr, msg)
	for _, e := range examples {
		t.Log("  blocked: " + e)
	}
	if share >= maxShare {
		t.Errorf("%.3f%% of benign requests blocked, the bound is under %.1f%%", 100*share, 100*maxShare)
	}
}
