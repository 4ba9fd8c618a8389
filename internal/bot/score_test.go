package bot

import (
	"crypto/tls"
	"math"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

const (
	firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	chrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		ua    string
		rule  string // "" for none
		class Class
	}{
		{"sqlmap/1.8.11#stable (https://sqlmap.org)", "bot:ua-sqlmap", ClassAttack},
		{"Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)", "bot:ua-nikto", ClassAttack},
		{"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)", "bot:ua-nmap", ClassAttack},
		{"masscan/1.3 (https://github.com/robertdavidgraham/masscan)", "bot:ua-masscan", ClassAttack},
		{"Mozilla/5.0 zgrab/0.x", "bot:ua-zgrab", ClassAttack},
		{"Nuclei - Open-source project (github.com/projectdiscovery/nuclei)", "bot:ua-nuclei", ClassAttack},
		{"gobuster/3.6", "bot:ua-gobuster", ClassAttack},
		{"DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)", "bot:ua-dirbuster", ClassAttack},
		{"Wfuzz/3.1.0", "bot:ua-wfuzz", ClassAttack},
		{"Fuzz Faster U Fool v2.1.0-dev", "bot:ua-ffuf", ClassAttack},
		{"Mozilla/4.0 (Hydra)", "bot:ua-hydra", ClassAttack},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36", "bot:ua-headlesschrome", ClassHeadless},
		{"Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1", "bot:ua-phantomjs", ClassHeadless},
		{"Scrapy/2.11.0 (+https://scrapy.org)", "bot:ua-scrapy", ClassScraper},
		{"curl/8.5.0", "bot:ua-curl", ClassLibrary},
		{"Wget/1.21.4", "bot:ua-wget", ClassLibrary},
		{"python-requests/2.32.3", "bot:ua-python-requests", ClassLibrary},
		{"python-httpx/0.27.0", "bot:ua-httpx", ClassLibrary},
		{"Go-http-client/1.1", "bot:ua-go-http-client", ClassLibrary},
		{"okhttp/4.12.0", "bot:ua-okhttp", ClassLibrary},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot:ua-crawler", ClassCrawler},
		{firefox, "", ClassNone},
		{chrome, "", ClassNone},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "", ClassNone},
		// Word boundaries: a token inside a word is not the tool.
		{"MyCurlyApp/1.0", "", ClassNone},
		{"hydrangea-monitor/1.0", "", ClassNone},
		{"", "", ClassNone},
	} {
		sig := Classify(tc.ua)
		switch {
		case tc.rule == "" && sig != nil:
			t.Errorf("%q: got %s, want none", tc.ua, sig.RuleID())
		case tc.rule != "" && sig == nil:
			t.Errorf("%q: got none, want %s", tc.ua, tc.rule)
		case sig != nil && (sig.RuleID() != tc.rule || sig.Class != tc.class):
			t.Errorf("%q: got %s (%v), want %s (%v)", tc.ua, sig.RuleID(), sig.Class, tc.rule, tc.class)
		}
	}
}

func req(proto string, h map[string]string) *http.Request {
	r, _ := http.NewRequest("GET", "http://shop.test/", nil)
	if proto == "HTTP/1.0" {
		r.ProtoMajor, r.ProtoMinor = 1, 0
	}
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return r
}

var browserHeaders = map[string]string{
	"Accept":          "text/html,application/xhtml+xml,*/*;q=0.8",
	"Accept-Language": "en-GB,en;q=0.5",
	"Accept-Encoding": "gzip, deflate, br",
}

func with(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

func TestPassive(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto string
		tls   bool
		h     map[string]string
		want  float64
		rules []string
	}{
		{"firefox", "", false, with(browserHeaders, "User-Agent", firefox), 0, nil},
		{"chrome with hints", "", true, with(browserHeaders, "User-Agent", chrome,
			"Sec-Ch-Ua", `"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`, "Sec-Ch-Ua-Mobile", "?0"), 0, nil},
		{"chrome over plain HTTP, no hints", "", false, with(browserHeaders, "User-Agent", chrome), 0, nil},
		{"chrome over TLS, no hints", "", true, with(browserHeaders, "User-Agent", chrome), 0.15, []string{"bot:client-hints-missing"}},
		{"hints on firefox", "", false, with(browserHeaders, "User-Agent", firefox, "Sec-Ch-Ua", `"Chromium";v="131"`), 0.4, []string{"bot:client-hints"}},
		{"hints of another version", "", false, with(browserHeaders, "User-Agent", chrome, "Sec-Ch-Ua", `"Chromium";v="99"`), 0.4, []string{"bot:client-hints"}},
		{"mobile hint on desktop", "", false, with(browserHeaders, "User-Agent", chrome, "Sec-Ch-Ua", `"Chromium";v="131"`, "Sec-Ch-Ua-Mobile", "?1"), 0.4, []string{"bot:client-hints"}},
		{"browser without language", "", false, with(browserHeaders, "User-Agent", firefox, "Accept-Language", ""), 0.2, []string{"bot:headers-accept-language"}},
		{"browser without anything", "", false, map[string]string{"User-Agent": firefox}, 1 - 0.7*0.8*0.8,
			[]string{"bot:headers-accept", "bot:headers-accept-language", "bot:headers-accept-encoding"}},
		{"http/1.0 browser", "HTTP/1.0", false, with(browserHeaders, "User-Agent", firefox), 0.2, []string{"bot:http10"}},
		{"empty user agent", "", false, map[string]string{"Accept": "*/*"}, 0.5, []string{"bot:ua-empty"}},
		{"curl", "", false, map[string]string{"User-Agent": "curl/8.5.0", "Accept": "*/*"}, 0.3, []string{"bot:ua-curl"}},
		{"sqlmap", "", false, map[string]string{"User-Agent": "sqlmap/1.8.11#stable (https://sqlmap.org)"}, 1, []string{"bot:ua-sqlmap"}},
		{"headless", "", false, with(browserHeaders, "User-Agent", "Mozilla/5.0 HeadlessChrome/120.0.0.0"), 0.7, []string{"bot:ua-headlesschrome"}},
		{"http/1.0 curl", "HTTP/1.0", false, map[string]string{"User-Agent": "curl/8.5.0"}, 1 - 0.8*0.7, []string{"bot:http10", "bot:ua-curl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req(tc.proto, tc.h)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			ua := r.Header.Get("User-Agent")
			var s Score
			Passive(&s, r, ua, Classify(ua))
			if math.Abs(s.Value-tc.want) > 1e-9 {
				t.Errorf("score %.3f, want %.3f (%s)", s.Value, tc.want, s.Message())
			}
			var got []string
			for _, r := range s.Reasons() {
				got = append(got, r.RuleID)
			}
			if len(got) != len(tc.rules) {
				t.Fatalf("reasons %v, want %v", got, tc.rules)
			}
			for i := range got {
				if got[i] != tc.rules[i] {
					t.Fatalf("reasons %v, want %v", got, tc.rules)
				}
			}
		})
	}
}

func TestScoreCombinesAndCaps(t *testing.T) {
	var s Score
	for range 20 {
		s.Add(Reason{RuleID: "x", Weight: 0.5})
	}
	if s.Value > 1 || s.Value < 0.999 || len(s.Reasons()) != maxReasons {
		t.Fatalf("value %v reasons %d", s.Value, len(s.Reasons()))
	}
	s = Score{}
	s.Add(Reason{RuleID: "a", Kind: KindBot, Text: "a", Weight: 0.2})
	s.Add(Reason{RuleID: "b", Kind: KindAttackTool, Text: "b", Weight: 1})
	if s.Value != 1 || s.Top().RuleID != "b" || s.Message() != "bot score 1.00: a; b" {
		t.Fatalf("%v %q %q", s.Value, s.Top().RuleID, s.Message())
	}
}

func TestCadence(t *testing.T) {
	a := netip.MustParseAddr("198.51.100.7")
	t0 := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name      string
		intervals func(i int) time.Duration
		n         int
		regular   bool
		burst     bool
	}{
		{"every second exactly", func(int) time.Duration { return time.Second }, 15, true, false},
		{"every 2s with 1% jitter", func(i int) time.Duration { return 2*time.Second + time.Duration(i%3-1)*20*time.Millisecond }, 15, true, false},
		{"human browsing", func(i int) time.Duration {
			return []time.Duration{300 * time.Millisecond, 4 * time.Second, 12 * time.Second, 900 * time.Millisecond, 2 * time.Second}[i%5]
		}, 30, false, false},
		{"too few to tell", func(int) time.Duration { return time.Second }, 8, false, false},
		{"fast but regular is a burst, not cadence", func(int) time.Duration { return 10 * time.Millisecond }, 60, false, true},
		{"page load burst under the limit", func(int) time.Duration { return 20 * time.Millisecond }, 40, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCadence(1024, 50)
			now := t0
			var v Verdict
			for i := 0; i < tc.n; i++ {
				now = now.Add(tc.intervals(i))
				v = c.Observe(a, now)
			}
			if v.Regular != tc.regular || v.Burst != tc.burst {
				t.Fatalf("got %+v, want regular=%v burst=%v", v, tc.regular, tc.burst)
			}
		})
	}
}

func TestCadenceBoundedUnderRotation(t *testing.T) {
	c := NewCadence(1000, 50)
	now := time.Unix(1_700_000_000, 0)
	var b [4]byte
	for i := range 200_000 {
		b[0], b[1], b[2], b[3] = 10, byte(i>>16), byte(i>>8), byte(i)
		c.Observe(netip.AddrFrom4(b), now.Add(time.Duration(i)*time.Microsecond))
	}
	// 1000 rounded up to whole shards.
	if n := c.Len(); n > 1024 {
		t.Fatalf("remembers %d addresses, bound 1000", n)
	}
	// A client active throughout survives the churn more often than not:
	// eviction prefers the stalest of a sample.
	c = NewCadence(640, 50)
	steady := netip.MustParseAddr("192.0.2.1")
	kept := 0
	for i := range 20_000 {
		ts := now.Add(time.Duration(i) * time.Millisecond)
		if i%10 == 0 {
			c.Observe(steady, ts)
		}
		b[0], b[1], b[2], b[3] = 10, byte(i>>16), byte(i>>8), byte(i)
		c.Observe(netip.AddrFrom4(b), ts)
	}
	sh := &c.shards[shardOf(steady)]
	sh.mu.Lock()
	if _, ok := sh.m[steady]; ok {
		kept++
	}
	sh.mu.Unlock()
	if kept == 0 {
		t.Fatalf("a steady client was evicted by rotating addresses")
	}
}

func BenchmarkClassifyBrowser(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if Classify(chrome) != nil {
			b.Fatal("matched")
		}
	}
}

func BenchmarkCadenceObserve(b *testing.B) {
	c := NewCadence(65536, 50)
	a := netip.MustParseAddr("198.51.100.7")
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		c.Observe(a, now.Add(time.Duration(i)*time.Millisecond))
	}
}
