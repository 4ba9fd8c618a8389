// Package traffic plays realistic shoppers, and a few obvious attacks, against
// the demo shop, usually through a Vigil gateway.
//
// Each virtual shopper browses the catalog (some products far more popular
// than others), logs in, fills a cart, looks at it, and sometimes checks out
// with a card or clears the cart, pausing between steps. An attacker sends,
// at a low rate, SQL injection, path traversal, XSS, a scanner sweep, an
// oversized body, a request-smuggling attempt, a login brute force, mass
// assignment, wrongly typed fields, calls to an undocumented endpoint, an
// attack tool's user agent, an SSRF attempt and requests from a denied
// address range. Every
// request is tagged with its scenario. The shoppers' choices are
// deterministic for a given seed.
package traffic

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/demo/shop"
)

// Defaults of Options.
const (
	DefaultShoppers     = 10
	DefaultAttackRate   = 0.5 // attack scenarios per second
	DefaultThinkTime    = 300 * time.Millisecond
	DefaultTickInterval = time.Second
	// maxResponseBytes is how much of a response body is read.
	maxResponseBytes = 256 << 10
)

// Scenario names, one per kind of request.
const (
	ScenarioBrowse   = "browse"   // front page, static assets, product lists
	ScenarioProduct  = "product"  // product detail pages
	ScenarioLogin    = "login"    // a shopper logging in
	ScenarioProfile  = "profile"  // a shopper reading their profile
	ScenarioCart     = "cart"     // add, items, total, clear
	ScenarioCheckout = "checkout" // placing an order

	AttackSQLi          = "sqli"
	AttackPathTraversal = "path_traversal"
	AttackXSS           = "xss"
	AttackScanner       = "scanner"
	AttackOversized     = "oversized_body"
	AttackSmuggling     = "smuggling"
	AttackBruteForce    = "brute_force"
	// Attacks on the API's contract, which a spec-enforcing gateway stops.
	AttackMassAssignment = "mass_assignment" // properties the API does not declare ({"role":"admin"})
	AttackWrongType      = "wrong_type"      // a string where the API takes an integer
	AttackUndocumented   = "undocumented"    // an internal endpoint no spec lists
	AttackBot            = "bot"             // an attack tool's user agent on a harmless request
	AttackSSRF           = "ssrf"            // a URL field pointing at the cloud metadata service
	AttackDeniedIP       = "denied_ip"       // a request from a known-bad range (192.0.2.0/24)
	// Attacks on authorization, which the gateway's policies stop.
	AttackBOLA = "bola" // a signed-in customer reading another customer's cart and profile
)

// attackScenarios lists every attack, in a fixed order.
func attackScenarios() []string {
	return []string{AttackSQLi, AttackPathTraversal, AttackXSS, AttackScanner, AttackOversized, AttackSmuggling, AttackBruteForce,
		AttackMassAssignment, AttackWrongType, AttackUndocumented, AttackBot, AttackSSRF, AttackDeniedIP, AttackBOLA}
}

// AttackScenarios lists every attack scenario name, in a fixed order.
func AttackScenarios() []string { return attackScenarios() }

// Options configure Run.
type Options struct {
	// BaseURL is where requests go, usually the gateway: http://host:port
	// or https://host:port. Required.
	BaseURL string
	// Shoppers is the number of concurrent virtual shoppers. Default
	// DefaultShoppers; negative means none (attacks only).
	Shoppers int
	// Duration bounds the run; 0 runs until ctx is cancelled.
	Duration time.Duration
	// AttackRate is the mean number of attack scenarios started per
	// second (a brute-force burst is one scenario of many requests).
	// 0 means DefaultAttackRate; negative means no attacks.
	AttackRate float64
	// Seed makes the shoppers' and the attacker's choices reproducible.
	Seed int64
	// ThinkTime is a shopper's mean pause between steps (exponentially
	// distributed, capped at five times the mean). 0 means
	// DefaultThinkTime; negative means no pause.
	ThinkTime time.Duration
	// Client sends every request but the raw smuggling attempt. Redirects
	// are never followed. Default: a pooled client with a 10 s timeout.
	Client *http.Client
	// Users are the credentials shoppers log in with; shopper i uses
	// Users[i%len(Users)]. Default shop.DemoCredentials().
	Users []shop.Credentials
	// Products is the catalog shoppers choose from. Default shop.Catalog().
	Products []shop.Product
	// IsBlocked tells whether a response to an attack means it was
	// stopped; it may read the body (the first 256 KB). Default:
	// DefaultIsBlocked.
	IsBlocked func(scenario string, resp *http.Response) bool
	// ClientAddresses makes each shopper, and the attacker, send its own
	// documentation-range address in X-Forwarded-For (shoppers
	// 198.51.100.x, the attacker 203.0.113.66), as if a load balancer
	// stood in front: a gateway that trusts 127.0.0.1 then tells them apart.
	ClientAddresses bool
	// TagHeader, when set, is a request header that carries the scenario
	// name on every request (not on the raw smuggling attempt).
	TagHeader string
	// OnRequest, when set, is called after every request, concurrently
	// from many goroutines.
	OnRequest func(Record)
	// TickInterval is how often onTick is called. Default
	// DefaultTickInterval.
	TickInterval time.Duration
	// Logger receives debug lines. Default: discard.
	Logger *slog.Logger
}

// generator is one run's state.
type generator struct {
	opts    Options
	base    *url.URL
	client  *http.Client
	stats   *collector
	popular []shop.Product // products by descending popularity
}

// Run plays shoppers and attacks against opts.BaseURL until ctx is cancelled
// or opts.Duration has passed, calling onTick (when not nil) every
// TickInterval with a snapshot of the counters. It returns the final counters
// once every request has finished; it returns an error only for invalid
// options, never for a cancelled ctx.
func Run(ctx context.Context, opts Options, onTick func(Stats)) (Stats, error) {
	g, err := newGenerator(opts)
	if err != nil {
		return Stats{}, err
	}
	if g.opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.opts.Duration)
		defer cancel()
	}
	if opts.Client == nil {
		defer g.client.CloseIdleConnections()
	}

	var wg sync.WaitGroup
	for i := range max(g.opts.Shoppers, 0) {
		rng := rand.New(rand.NewPCG(uint64(g.opts.Seed), uint64(i)+1))
		wg.Go(func() { g.shopper(ctx, i, rng) })
	}
	if g.opts.AttackRate > 0 {
		rng := rand.New(rand.NewPCG(uint64(g.opts.Seed), 1<<40))
		wg.Go(func() { g.attacker(ctx, rng) })
	}
	if onTick != nil {
		wg.Go(func() {
			t := time.NewTicker(g.opts.TickInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-t.C:
					onTick(g.stats.snapshot(now))
				}
			}
		})
	}
	wg.Wait()
	return g.stats.snapshot(time.Now()), nil
}

func newGenerator(opts Options) (*generator, error) {
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("traffic: BaseURL %q must be an http or https URL", opts.BaseURL)
	}
	if opts.Shoppers == 0 {
		opts.Shoppers = DefaultShoppers
	}
	if opts.AttackRate == 0 {
		opts.AttackRate = DefaultAttackRate
	}
	if opts.ThinkTime == 0 {
		opts.ThinkTime = DefaultThinkTime
	}
	if opts.TickInterval <= 0 {
		opts.TickInterval = DefaultTickInterval
	}
	if len(opts.Users) == 0 {
		opts.Users = shop.DemoCredentials()
	}
	if len(opts.Products) == 0 {
		opts.Products = shop.Catalog()
	}
	if opts.IsBlocked == nil {
		opts.IsBlocked = DefaultIsBlocked
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	g := &generator{opts: opts, base: base, stats: newCollector(time.Now())}
	if opts.Client != nil {
		c := *opts.Client
		c.CheckRedirect = noRedirect
		g.client = &c
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.MaxIdleConnsPerHost = max(opts.Shoppers, 0) + 4
		g.client = &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: noRedirect}
	}
	// Popularity is the same for every shopper: a seeded shuffle of the
	// catalog, then Zipf-distributed picks over it.
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0))
	g.popular = make([]shop.Product, len(opts.Products))
	for i, j := range rng.Perm(len(opts.Products)) {
		g.popular[i] = opts.Products[j]
	}
	return g, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// DefaultIsBlocked judges an attack stopped when the answer is 403, 406 or
// 429, or 400 to the smuggling attempt (a server that refuses a request
// carrying both Content-Length and Transfer-Encoding), or when it is a
// Vigil refusal whatever its status: an error whose body names the
// transaction of its Vigil-Txn header (the shop's own errors never do).
func DefaultIsBlocked(scenario string, resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusNotAcceptable, http.StatusTooManyRequests:
		return true
	case http.StatusBadRequest:
		if scenario == AttackSmuggling {
			return true
		}
	}
	return resp.StatusCode >= 400 && isVigilRefusal(resp)
}

// isVigilRefusal reports whether resp's body carries the txn_id of its
// Vigil-Txn header, as every error Vigil writes does.
func isVigilRefusal(resp *http.Response) bool {
	txn := resp.Header.Get("Vigil-Txn")
	if txn == "" || resp.Body == nil {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return bytes.Contains(b, []byte(`"txn_id":"`+txn+`"`))
}

// request is one request to send.
type request struct {
	scenario    string
	attack      bool
	method      string
	target      string // path?query, sent as is
	endpoint    string // template, for shoppers' requests
	body        []byte
	contentType string
	token       string
	userAgent   string
	clientIP    string // sent as X-Forwarded-For when Options.ClientAddresses is set
}

// response is what came back.
type response struct {
	status int
	body   []byte
}

// send sends one request and records it. It returns an error when there was
// no response; the error is not recorded if ctx ended the request.
func (g *generator) send(ctx context.Context, rq request) (response, error) {
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, g.base.String(), body)
	if err != nil {
		return response{}, err
	}
	// Opaque makes the request-target exactly rq.target, unnormalised, so
	// that "/static/../../etc/passwd" reaches the wire as written.
	target := g.base.Path + rq.target
	req.URL.Opaque = target
	if i := strings.IndexByte(target, '?'); i >= 0 {
		req.URL.Opaque, req.URL.RawQuery = target[:i], target[i+1:]
	}
	req.Header.Set("User-Agent", rq.userAgent)
	req.Header.Set("Accept", "application/json, text/html;q=0.9, */*;q=0.8")
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	if g.opts.ClientAddresses && rq.clientIP != "" {
		req.Header.Set("X-Forwarded-For", rq.clientIP)
	}
	if g.opts.TagHeader != "" {
		req.Header.Set(g.opts.TagHeader, rq.scenario)
	}
	start := time.Now()
	resp, err := g.client.Do(req)
	rec := Record{Scenario: rq.scenario, Attack: rq.attack, Method: rq.method, Target: rq.target, Endpoint: rq.endpoint}
	if resp != nil {
		rec.TxnID = resp.Header.Get("Vigil-Txn")
	}
	if err != nil {
		if ctx.Err() != nil {
			return response{}, ctx.Err()
		}
		rec.Err, rec.Latency = err, time.Since(start)
		g.record(rec, false)
		return response{}, err
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	rec.Status, rec.Latency = resp.StatusCode, time.Since(start)
	resp.Body = io.NopCloser(bytes.NewReader(data)) // IsBlocked may read it
	rec.Blocked = rq.attack && g.opts.IsBlocked(rq.scenario, resp)
	g.record(rec, rq.scenario == ScenarioCheckout && resp.StatusCode == http.StatusCreated)
	return response{status: resp.StatusCode, body: data}, nil
}

func (g *generator) record(rec Record, ordered bool) {
	g.stats.record(rec, ordered)
	if g.opts.OnRequest != nil {
		g.opts.OnRequest(rec)
	}
	g.opts.Logger.Debug("traffic", "scenario", rec.Scenario, "attack", rec.Attack, "method", rec.Method,
		"target", truncate(rec.Target, 120), "status", rec.Status, "blocked", rec.Blocked, "err", rec.Err)
}

// sleep waits d or until ctx is done, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
