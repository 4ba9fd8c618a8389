package demo

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/vigil-sec/vigil/internal/demo/traffic"
	"github.com/vigil-sec/vigil/internal/event"
)

// AttackReport is what the gateway did with one kind of attack, as its
// events tell.
type AttackReport struct {
	Scenario string
	// Sent counts the attack's requests that got an answer; Blocked those
	// whose event's decision is not allow.
	Sent, Blocked int
	// By counts the blocked requests by the layer and rule that stopped
	// them: "waf 942100", "openapi mass_assignment", "ratelimit login".
	By map[string]int
}

// Layers is the set of layers that stopped this attack.
func (r AttackReport) Layers() []string {
	var out []string
	for k := range r.By {
		l, _, _ := strings.Cut(k, " ")
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// verdict is what one transaction's event says stopped it.
type verdict struct {
	decision string
	by       string
}

// pendingAttack is an attack request (or a shopper's refused request)
// whose event has not arrived yet.
type pendingAttack struct {
	scenario, txn string
	shopper       bool
	at            time.Time
}

// maxVerdicts bounds the events kept while waiting for their attack to be
// matched (shoppers' events that were blocked or noticed are kept too, and
// evicted oldest first).
const maxVerdicts = 20000

// attackLog joins the attacks the traffic generator sent with the events
// the gateway wrote for them. It is an event.Sink (it sees every event the
// gateway writes) and the traffic generator's OnRequest.
type attackLog struct {
	mu       sync.Mutex
	verdicts map[string]verdict
	order    []string // txn ids of verdicts, oldest first
	pending  []pendingAttack
	reports  map[string]*AttackReport
	// noticed counts findings on requests that went through (monitor-mode
	// layers, response checks), by "layer kind".
	noticed map[string]int
	// shoppers counts the shoppers' requests that got an answer;
	// shoppersBlocked those Vigil refused (false positives, or a shopper
	// over a rate limit), by what refused them.
	shoppers        int
	shoppersBlocked map[string]int
}

func newAttackLog() *attackLog {
	return &attackLog{verdicts: map[string]verdict{}, reports: map[string]*AttackReport{}, noticed: map[string]int{},
		shoppersBlocked: map[string]int{}}
}

// WriteEvents implements event.Sink.
func (l *attackLog) WriteEvents(batch []*event.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range batch {
		if ev.Type != "" || ev.TxnID == "" {
			continue
		}
		if ev.Decision == event.DecisionAllow || ev.Decision == "" {
			for _, f := range ev.Findings {
				l.noticed[findingLabel(f, true)]++
			}
			continue
		}
		if _, dup := l.verdicts[ev.TxnID]; !dup {
			l.order = append(l.order, ev.TxnID)
		}
		l.verdicts[ev.TxnID] = verdict{decision: ev.Decision, by: stoppedBy(ev)}
		for len(l.order) > maxVerdicts {
			delete(l.verdicts, l.order[0])
			l.order = l.order[1:]
		}
	}
	return nil
}

// record is the traffic generator's OnRequest. Every attack is matched
// with its event; a shopper's request only when its answer was an error.
func (l *attackLog) record(rec traffic.Record) {
	if rec.Err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !rec.Attack {
		l.shoppers++
		if rec.Status < 400 || rec.TxnID == "" {
			return
		}
	}
	l.pending = append(l.pending, pendingAttack{scenario: rec.Scenario, shopper: !rec.Attack, txn: rec.TxnID, at: time.Now()})
}

// resolve matches pending attacks with their events. An attack whose event
// did not come within wait (or at all, once final) went through.
func (l *attackLog) resolve(now time.Time, wait time.Duration, final bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.pending[:0]
	for _, p := range l.pending {
		v, ok := l.verdicts[p.txn]
		if !ok && !final && now.Sub(p.at) < wait {
			kept = append(kept, p)
			continue
		}
		if p.shopper {
			if ok {
				delete(l.verdicts, p.txn)
				l.shoppersBlocked[v.by]++
			}
			continue
		}
		r := l.reports[p.scenario]
		if r == nil {
			r = &AttackReport{Scenario: p.scenario, By: map[string]int{}}
			l.reports[p.scenario] = r
		}
		r.Sent++
		if ok {
			delete(l.verdicts, p.txn)
			r.Blocked++
			r.By[v.by]++
		}
	}
	l.pending = kept
}

// Reports returns a copy of the reports, in traffic.AttackScenarios order.
func (l *attackLog) Reports() []AttackReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []AttackReport
	for _, s := range traffic.AttackScenarios() {
		if r, ok := l.reports[s]; ok {
			c := *r
			c.By = maps.Clone(r.By)
			out = append(out, c)
		}
	}
	return out
}

// anomalyRules are the CRS rules that block on the anomaly score the
// detection rules added up: the detection rule is the more telling one.
func anomalyRule(id string) bool {
	return strings.HasPrefix(id, "949") || strings.HasPrefix(id, "959") || strings.HasPrefix(id, "980")
}

// stoppedBy names the layer and rule that stopped a blocked transaction:
// its blocking finding, with, for the WAF, the first detection rule behind
// an anomaly-score block. A refusal without a finding (an oversized body)
// is named by its status.
func stoppedBy(ev *event.Event) string {
	var stop *event.Finding
	for i := range ev.Findings {
		f := &ev.Findings[i]
		if !f.WouldBlock && (f.Action == "block" || f.Action == "challenge") {
			stop = f
			break
		}
	}
	if stop == nil {
		for i := range ev.Findings {
			if !ev.Findings[i].WouldBlock {
				stop = &ev.Findings[i]
				break
			}
		}
	}
	if stop == nil {
		return fmt.Sprintf("gateway %d", ev.Response.Status)
	}
	if layerOf(*stop) == "waf" && anomalyRule(stop.RuleID) {
		// The detection rule that scored most: the most severe, an attack
		// before a protocol oddity, the first of equals.
		best, rank := -1, 0
		for i, f := range ev.Findings {
			if layerOf(f) != "waf" || f.RuleID == "" || anomalyRule(f.RuleID) {
				continue
			}
			r := 2 * slices.Index([]string{"low", "medium", "high", "critical"}, f.Severity)
			if f.Kind != "protocol" {
				r++
			}
			if best < 0 || r > rank {
				best, rank = i, r
			}
		}
		if best >= 0 {
			return findingLabel(ev.Findings[best], false)
		}
	}
	return findingLabel(*stop, false)
}

func layerOf(f event.Finding) string {
	if f.Layer != "" {
		return f.Layer
	}
	return f.Stage
}

// findingLabel is "layer rule" (or "layer kind" when the rule id is empty
// or kind is asked for).
func findingLabel(f event.Finding, kind bool) string {
	what := f.RuleID
	if kind || what == "" {
		what = f.Kind
	}
	return layerOf(f) + " " + what
}

// shopperRefusals is how many of the shoppers' requests got an answer, and
// how many Vigil refused, by what.
func (l *attackLog) shopperRefusals() (int, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shoppers, maps.Clone(l.shoppersBlocked)
}

// noticedFindings counts the findings on requests that went through.
func (l *attackLog) noticedFindings() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.noticed)
}

// counts formats {"waf 942100": 2, ...} as "waf 942100 ×2, ...", most
// frequent first.
func counts(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// printAttacks writes the table of attacks and what stopped them, the
// shoppers' requests Vigil refused, and the findings on requests that went
// through.
func (l *attackLog) print(w io.Writer, reports []AttackReport) {
	fmt.Fprintln(w, "\nAttacks, and what stopped them (from the gateway's events):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ATTACK\tSENT\tBLOCKED\tSTOPPED BY (LAYER RULE)")
	for _, r := range reports {
		by := "-"
		if len(r.By) > 0 {
			by = counts(r.By)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", r.Scenario, r.Sent, r.Blocked, by)
	}
	tw.Flush()
	n, refused := l.shopperRefusals()
	var blocked int
	for _, c := range refused {
		blocked += c
	}
	fmt.Fprintf(w, "Shoppers' requests refused: %d of %d", blocked, n)
	if blocked > 0 {
		fmt.Fprintf(w, " (%s)", counts(refused))
	}
	fmt.Fprintln(w)
	if noticed := l.noticedFindings(); len(noticed) > 0 {
		fmt.Fprintf(w, "Noticed on requests that went through: %s\n", counts(noticed))
	}
}
