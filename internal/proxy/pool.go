package proxy

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/metrics"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// pool is the upstream pool of one route: its targets, the balancing
// policy that picks one per request, passive (outlier) and active health,
// and the retry policy. Selection takes no lock and allocates nothing: the
// per-target state is atomic, the schedules are built once.
type pool struct {
	route   string
	targets []*target
	policy  policy
	log     *slog.Logger

	// round_robin: a smooth weighted schedule of target indexes, walked
	// by an atomic counter.
	sched []uint16
	next  atomic.Uint64

	// consistent_hash: a ring of virtual nodes, sorted by hash.
	ring     []ringNode
	hashKind hashKind
	hashName string // canonical header name, or cookie name

	// outlier (passive health); failLimit 0 means off.
	failLimit   int32
	ejectTime   time.Duration
	maxEjectPct int
	ejected     atomic.Int32 // targets ejected now

	retry retryPolicy
	// active counts the route's requests in flight, retrying the retries
	// in flight among them (the budget).
	active, retrying atomic.Int64

	panicking atomic.Bool

	retries, refused, panics prometheus.Counter

	// active health checks, stopped by close.
	hc       *config.HealthCheck
	hcStop   chan struct{}
	hcCancel func()
	hcDone   sync.WaitGroup
	closeMu  sync.Once
}

type policy uint8

const (
	roundRobin policy = iota
	leastRequest
	consistentHash
)

type hashKind uint8

const (
	hashHeader hashKind = iota + 1
	hashCookie
	hashIP
)

// target is one member of a pool.
type target struct {
	idx    int
	raw    string   // as configured: what events and metrics name
	url    *url.URL // what the transport dials (h2c:// becomes http://)
	weight int64

	inflight atomic.Int64

	// down is the active checker's verdict.
	down atomic.Bool
	// Passive health: consecutive failures, ejection and its end (unix
	// nanoseconds), ejections in a row (the back-off multiplier) and when
	// the target was last re-admitted.
	fails      atomic.Int32
	ejected    atomic.Bool
	until      atomic.Int64
	ejections  atomic.Int32
	readmitted atomic.Int64

	// Owned by the health checker goroutine.
	hcOK, hcFail int

	upgrades *httputil.ReverseProxy
	ejectC   prometheus.Counter
}

type ringNode struct {
	hash   uint64
	target uint16
}

// retryPolicy is a route's retries, resolved.
type retryPolicy struct {
	attempts  int
	budgetPct int64
	onConnect bool
	onTimeout bool
	onStatus  [100]bool // 500..599
}

// minRetryConcurrency is how many retries may always be in flight,
// whatever the budget says (a quiet route can still retry).
const minRetryConcurrency = 3

// maxEjectionFactor caps the ejection back-off (ejection_time times the
// ejections in a row).
const maxEjectionFactor = 10

// newPool builds the pool of route rc; mk builds a target's upgrade proxy.
func newPool(rc *config.Route, m *metrics.Metrics, log *slog.Logger, mk func(*url.URL) *httputil.ReverseProxy) (*pool, error) {
	p := &pool{route: rc.Name, log: log, hcStop: make(chan struct{})}
	for i, tc := range rc.Targets() {
		_, u, err := upstreamURL(tc.URL)
		if err != nil {
			return nil, err
		}
		t := &target{idx: i, raw: tc.URL, url: u, weight: int64(max(tc.Weight, 1))}
		t.upgrades = mk(u)
		t.ejectC = m.UpstreamEjections.WithLabelValues(rc.Name, tc.URL)
		p.targets = append(p.targets, t)
	}
	if len(p.targets) > 1<<16 {
		return nil, errTooManyTargets
	}
	p.sched = smoothSchedule(p.targets)
	if b := rc.Balance; b != nil {
		switch b.Policy {
		case config.LeastRequest:
			p.policy = leastRequest
		case config.ConsistentHash:
			p.policy = consistentHash
			kind, name, err := config.ParseHashOn(b.HashOn)
			if err != nil {
				return nil, err
			}
			switch kind {
			case "header":
				p.hashKind, p.hashName = hashHeader, http.CanonicalHeaderKey(name)
			case "cookie":
				p.hashKind, p.hashName = hashCookie, name
			default:
				p.hashKind = hashIP
			}
			p.ring = buildRing(p.targets)
		}
	}
	if o := rc.Outlier; o != nil {
		p.failLimit = int32(o.ConsecutiveFailures)
		p.ejectTime = o.EjectionTime
		p.maxEjectPct = o.MaxEjectedPercent
	}
	if r := rc.Retries; r != nil {
		p.retry = retryPolicy{attempts: r.Attempts, budgetPct: int64(r.BudgetPercent)}
		for _, on := range r.On {
			switch on {
			case "connect_failure":
				p.retry.onConnect = true
			case "timeout":
				p.retry.onTimeout = true
			default:
				if n, err := strconv.Atoi(on); err == nil && n >= 500 && n <= 599 {
					p.retry.onStatus[n-500] = true
				}
			}
		}
	}
	p.retries = m.UpstreamRetries.WithLabelValues(rc.Name)
	p.refused = m.UpstreamRetriesRefused.WithLabelValues(rc.Name)
	p.panics = m.UpstreamPanic.WithLabelValues(rc.Name)
	p.hc = rc.HealthCheck
	return p, nil
}

type poolError string

func (e poolError) Error() string { return string(e) }

const errTooManyTargets = poolError("a pool holds at most 65536 targets")

// smoothSchedule is nginx's smooth weighted round robin, unrolled once:
// weights 5,1,1 give a b a c a a a... rather than a a a a a b c.
func smoothSchedule(ts []*target) []uint16 {
	g := int64(0)
	for _, t := range ts {
		g = gcd(g, t.weight)
	}
	var total int64
	w := make([]int64, len(ts))
	for i, t := range ts {
		w[i] = t.weight / g
		total += w[i]
	}
	cur := make([]int64, len(ts))
	out := make([]uint16, 0, total)
	for int64(len(out)) < total {
		best := 0
		for i := range w {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, uint16(best))
	}
	return out
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ringPoints is the number of virtual nodes per unit of weight; the ring
// holds at most maxRing nodes.
const (
	ringPoints = 160
	maxRing    = 1 << 16
)

// buildRing places weight*points virtual nodes per target on a hash ring.
// A node's position depends only on the target's URL, so a key stays on
// its target across reloads and gateways, and removing a target moves
// only the keys that were on it.
func buildRing(ts []*target) []ringNode {
	var total int64
	for _, t := range ts {
		total += t.weight
	}
	points := int64(ringPoints)
	if total*points > maxRing {
		points = max(1, maxRing/total)
	}
	ring := make([]ringNode, 0, total*points)
	for _, t := range ts {
		for i := range t.weight * points {
			ring = append(ring, ringNode{hash: hashString(t.raw + "#" + strconv.FormatInt(i, 10)), target: uint16(t.idx)})
		}
	}
	sort.Slice(ring, func(i, j int) bool { return ring[i].hash < ring[j].hash })
	return ring
}

// hashString is FNV-1a with a final mix (splitmix64), so that similar keys
// land far apart.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return mix64(h)
}

func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// key returns the consistent-hash key of a request (ok false when the
// request has none: it is then balanced round robin).
func (p *pool) key(r *http.Request, tx *pipeline.Txn) (uint64, bool) {
	switch p.hashKind {
	case hashHeader:
		if v := r.Header[p.hashName]; len(v) > 0 && v[0] != "" {
			return hashString(v[0]), true
		}
	case hashCookie:
		if v, ok := cookieValue(r.Header["Cookie"], p.hashName); ok {
			return hashString(v), true
		}
	case hashIP:
		if tx != nil && tx.ClientIP.IsValid() {
			b := tx.ClientIP.Unmap().As16()
			return hashBytes(b[:]), true
		}
		if h := peerHost(r.RemoteAddr); h != "" {
			return hashString(h), true
		}
	}
	return 0, false
}

// cookieValue finds cookie name in Cookie header lines without allocating.
func cookieValue(lines []string, name string) (string, bool) {
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				part, line = line, ""
			}
			part = strings.TrimSpace(part)
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				v := part[len(name)+1:]
				if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				if v != "" {
					return v, true
				}
			}
		}
	}
	return "", false
}

// triedSet is the targets a request has already tried (indexes mod 64).
type triedSet uint64

func (s triedSet) has(t *target) bool      { return s&(1<<(uint(t.idx)&63)) != 0 }
func (s triedSet) with(t *target) triedSet { return s | 1<<(uint(t.idx)&63) }

// pick chooses a target for a request with hash key (when hasKey), not in
// tried. When no untried target is healthy and allowPanic is set, it
// chooses among the unhealthy ones anyway (panic mode) rather than fail
// the request. It returns nil when nothing is left to try.
func (p *pool) pick(key uint64, hasKey bool, tried triedSet, allowPanic bool) *target {
	now := nanotime()
	if t := p.choose(key, hasKey, tried, now, false); t != nil {
		if p.panicking.Load() && p.panicking.CompareAndSwap(true, false) {
			p.log.Info("upstream pool has a healthy target again; panic mode over", "route", p.route)
		}
		return t
	}
	if !allowPanic {
		return nil
	}
	t := p.choose(key, hasKey, tried, now, true)
	if t != nil {
		p.panics.Inc()
		if p.panicking.CompareAndSwap(false, true) {
			p.log.Warn("no target of the upstream pool is healthy; sending requests to them anyway (panic mode)", "route", p.route)
		}
	}
	return t
}

func (p *pool) choose(key uint64, hasKey bool, tried triedSet, now int64, anyHealth bool) *target {
	ok := func(t *target) bool { return !tried.has(t) && (anyHealth || p.usable(t, now)) }
	switch {
	case p.policy == consistentHash && hasKey:
		return p.chooseHash(key, ok)
	case p.policy == leastRequest:
		return p.chooseLeast(ok)
	}
	return p.chooseRR(ok)
}

func (p *pool) chooseRR(ok func(*target) bool) *target {
	n := uint64(len(p.sched))
	for range n {
		t := p.targets[p.sched[(p.next.Add(1)-1)%n]]
		if ok(t) {
			return t
		}
	}
	return nil
}

// chooseLeast is the power of two choices: of two random targets, the one
// with fewer requests in flight relative to its weight.
func (p *pool) chooseLeast(ok func(*target) bool) *target {
	n := len(p.targets)
	if n == 1 {
		if t := p.targets[0]; ok(t) {
			return t
		}
		return nil
	}
	i := rand.IntN(n)
	j := rand.IntN(n - 1)
	if j >= i {
		j++
	}
	a, b := p.targets[i], p.targets[j]
	switch oa, ob := ok(a), ok(b); {
	case oa && ob:
		if b.inflight.Load()*a.weight < a.inflight.Load()*b.weight {
			return b
		}
		return a
	case oa:
		return a
	case ob:
		return b
	}
	// Both out: the least busy of the rest.
	var best *target
	for _, t := range p.targets {
		if ok(t) && (best == nil || t.inflight.Load()*best.weight < best.inflight.Load()*t.weight) {
			best = t
		}
	}
	return best
}

// chooseHash walks the ring clockwise from key to the first acceptable
// target.
func (p *pool) chooseHash(key uint64, ok func(*target) bool) *target {
	n := len(p.ring)
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.ring[m].hash < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	last := -1
	for k := range n {
		ti := int(p.ring[(lo+k)%n].target)
		if ti == last {
			continue
		}
		last = ti
		if t := p.targets[ti]; ok(t) {
			return t
		}
	}
	return nil
}

// usable reports whether t may take requests: not down by active checks,
// not ejected (an ejection that has run out re-admits the target here).
func (p *pool) usable(t *target, now int64) bool {
	if t.down.Load() {
		return false
	}
	if !t.ejected.Load() {
		return true
	}
	if now < t.until.Load() {
		return false
	}
	if t.ejected.CompareAndSwap(true, false) {
		p.ejected.Add(-1)
		t.fails.Store(0)
		t.readmitted.Store(now)
		p.log.Info("upstream target re-admitted after its ejection", "route", p.route, "target", t.raw)
	}
	return true
}

// healthy is usable without side effects (for the gauge).
func (t *target) healthy(now int64) bool {
	return !t.down.Load() && !(t.ejected.Load() && now < t.until.Load())
}

// report records the outcome of one exchange with t for outlier
// detection: failed is a 5xx or no answer.
func (p *pool) report(t *target, failed bool) {
	if p.failLimit == 0 {
		return
	}
	if !failed {
		if t.fails.Load() != 0 {
			t.fails.Store(0)
		}
		if e := t.ejections.Load(); e != 0 && nanotime()-t.readmitted.Load() > int64(p.ejectTime)*int64(min(e, maxEjectionFactor)) {
			t.ejections.Store(0) // healthy for as long as it was out: forgiven
		}
		return
	}
	if t.fails.Add(1) < p.failLimit || t.ejected.Load() {
		return
	}
	p.eject(t)
}

func (p *pool) eject(t *target) {
	n := int32(len(p.targets))
	for {
		cur := p.ejected.Load()
		if cur >= 1 && int((cur+1)*100) > p.maxEjectPct*int(n) {
			p.log.Debug("upstream target not ejected: max_ejected_percent reached", "route", p.route, "target", t.raw)
			t.fails.Store(0)
			return
		}
		if p.ejected.CompareAndSwap(cur, cur+1) {
			break
		}
	}
	e := t.ejections.Add(1)
	d := p.ejectTime * time.Duration(min(e, maxEjectionFactor))
	t.until.Store(nanotime() + int64(d))
	if !t.ejected.CompareAndSwap(false, true) {
		p.ejected.Add(-1)
		t.ejections.Add(-1)
		return
	}
	t.fails.Store(0)
	t.ejectC.Inc()
	p.log.Warn("upstream target ejected after consecutive failures", "route", p.route, "target", t.raw,
		"failures", p.failLimit, "for", d)
}

// acquireRetry takes a retry from the budget: retries in flight may be
// budget_percent of the requests in flight (at least
// minRetryConcurrency). The caller releases it with releaseRetry.
func (p *pool) acquireRetry() bool {
	limit := max(p.active.Load()*p.retry.budgetPct/100, minRetryConcurrency)
	if p.retrying.Add(1) > limit {
		p.retrying.Add(-1)
		p.refused.Inc()
		return false
	}
	return true
}

func (p *pool) releaseRetry() { p.retrying.Add(-1) }

// epoch anchors nanotime, a monotonic clock.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// close stops the active health checker and waits for it.
func (p *pool) close() {
	p.closeMu.Do(func() {
		if p.hcCancel != nil {
			p.hcCancel()
		}
		close(p.hcStop)
		p.hcDone.Wait()
	})
}
