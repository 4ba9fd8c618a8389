package traffic

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Stats counts what a run did. A Stats handed to onTick or returned by Run is
// a snapshot: its maps are copies the caller may keep.
type Stats struct {
	// Elapsed is the time since the run started.
	Elapsed time.Duration
	// Requests counts every request sent, shoppers' and attacks'.
	Requests int64
	// Errors counts requests that got no HTTP response (refused, reset,
	// timed out). Requests cut short by the end of the run are not counted.
	Errors int64
	// ByStatus counts responses by HTTP status.
	ByStatus map[int]int64
	// ByScenario counts requests by scenario name (see the Scenario*
	// constants).
	ByScenario map[string]int64
	// ByEndpoint counts shoppers' requests by endpoint template, as
	// "GET /products/{parameter}".
	ByEndpoint map[string]int64
	// Orders counts checkouts the shop accepted (201 from /order/add).
	Orders int64
	// Attacks counts attack requests (a brute-force burst or a scanner
	// sweep is several); AttacksBlocked those that Options.IsBlocked judged
	// stopped.
	Attacks, AttacksBlocked int64
	// BlockedByScenario counts blocked attack requests by scenario.
	BlockedByScenario map[string]int64
}

// RequestsPerSecond is Requests over Elapsed.
func (s Stats) RequestsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// Summary is a compact multi-line human summary of the run: TrafficSummary,
// then the attacks sent and blocked by kind.
func (s Stats) Summary() string {
	var b strings.Builder
	b.WriteString(s.TrafficSummary())
	s.attackSummary(&b)
	return b.String()
}

// TrafficSummary is the first lines of Summary: requests, errors, orders
// and statuses.
func (s Stats) TrafficSummary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "requests  %d in %s (%.1f/s), %d errors, %d orders paid\n",
		s.Requests, s.Elapsed.Round(100*time.Millisecond), s.RequestsPerSecond(), s.Errors, s.Orders)
	b.WriteString("status   ")
	for _, code := range slices.Sorted(maps.Keys(s.ByStatus)) {
		fmt.Fprintf(&b, " %d:%d", code, s.ByStatus[code])
	}
	b.WriteString("\n")
	return b.String()
}

func (s Stats) attackSummary(b *strings.Builder) {
	pct := 0.0
	if s.Attacks > 0 {
		pct = 100 * float64(s.AttacksBlocked) / float64(s.Attacks)
	}
	fmt.Fprintf(b, "attacks   %d sent, %d blocked (%.0f%%)\n", s.Attacks, s.AttacksBlocked, pct)
	var kinds []string
	for _, k := range attackScenarios() {
		if n := s.ByScenario[k]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d/%d", k, s.BlockedByScenario[k], n))
		}
	}
	if len(kinds) > 0 {
		b.WriteString("          " + strings.Join(kinds, ", ") + " (blocked/sent)\n")
	}
}

// Record describes one request, for Options.OnRequest.
type Record struct {
	Scenario string // a Scenario* constant
	Attack   bool
	Method   string
	Target   string // path and query as sent
	Endpoint string // endpoint template for shoppers' requests, else ""
	Status   int    // 0 when Err is set
	// TxnID is the Vigil-Txn header of the answer: the transaction's id
	// in the gateway's events ("" without a gateway).
	TxnID   string
	Blocked bool // an attack that Options.IsBlocked judged stopped
	Err     error
	Latency time.Duration
}

// collector accumulates Stats under a mutex.
type collector struct {
	start time.Time
	mu    sync.Mutex
	s     Stats
}

func newCollector(start time.Time) *collector {
	return &collector{start: start, s: Stats{
		ByStatus: map[int]int64{}, ByScenario: map[string]int64{}, ByEndpoint: map[string]int64{}, BlockedByScenario: map[string]int64{},
	}}
}

func (c *collector) record(r Record, ordered bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Requests++
	c.s.ByScenario[r.Scenario]++
	if r.Endpoint != "" {
		c.s.ByEndpoint[r.Endpoint]++
	}
	if r.Err != nil {
		c.s.Errors++
	} else {
		c.s.ByStatus[r.Status]++
	}
	if r.Attack {
		c.s.Attacks++
		if r.Blocked {
			c.s.AttacksBlocked++
			c.s.BlockedByScenario[r.Scenario]++
		}
	}
	if ordered {
		c.s.Orders++
	}
}

func (c *collector) snapshot(now time.Time) Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.Elapsed = now.Sub(c.start)
	s.ByStatus = maps.Clone(c.s.ByStatus)
	s.ByScenario = maps.Clone(c.s.ByScenario)
	s.ByEndpoint = maps.Clone(c.s.ByEndpoint)
	s.BlockedByScenario = maps.Clone(c.s.BlockedByScenario)
	return s
}
