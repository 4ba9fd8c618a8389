// Package risk builds the observed call graph of workloads from
// transaction events — one edge per caller and callee, with the TLS facts
// and identity of the calls on it — and scores the residual connectivity
// risk of each workload API from it: how much of its traffic arrives
// unauthenticated, without mutual TLS, over old TLS or plaintext, from
// outside the allow rules or from the internet, and how sensitive and how
// protected what it serves is. Every score lists the reasons behind it.
// See docs/risk.md.
package risk

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/internal/event"
)

// External names callers from public addresses without a workload
// identity; Internal those from private, loopback or link-local ones.
const (
	External = "external"
	Internal = "internal"
)

// Edge is the traffic from one source to one destination. Counters are
// requests; an Edge from Aggregator.Drain holds the counts since the last
// drain (deltas the store adds up).
type Edge struct {
	ID          string `json:"id"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Requests    int64  `json:"requests"`
	// Authenticated carried an identity Vigil verified (token, API key,
	// mTLS peer).
	Authenticated int64 `json:"authenticated"`
	MTLS          int64 `json:"mtls_requests"`
	// TLS13 arrived over TLS 1.3; LegacyTLS over TLS 1.2 or older;
	// Plaintext without TLS.
	TLS13     int64 `json:"tls13"`
	LegacyTLS int64 `json:"legacy_tls"`
	Plaintext int64 `json:"plaintext"`
	// Refused were stopped by a connection or authorization rule (the
	// caller is outside the allow rules).
	Refused     int64 `json:"refused"`
	Intercepted int64 `json:"intercepted"`
	// External came from a public address.
	External int64 `json:"external"`
	// The TLS facts of the latest request on the edge.
	TLSVersion string    `json:"tls_version,omitempty"`
	Cipher     string    `json:"cipher,omitempty"`
	Group      string    `json:"group,omitempty"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
}

// EdgeID is the deterministic id of the edge from source to destination.
func EdgeID(source, destination string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + destination))
	return hex.EncodeToString(sum[:8])
}

// SourceOf names the calling side of an event: its workload identity, or
// External / Internal by address.
func SourceOf(ev *event.Event) string {
	if ev.Source.Workload != "" {
		return ev.Source.Workload
	}
	a, err := netip.ParseAddr(ev.Source.IP)
	if err == nil && (a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()) {
		return Internal
	}
	if err == nil {
		return External
	}
	return Internal
}

// DestinationOf names the called side: its workload identity, or the
// host it was called by.
func DestinationOf(ev *event.Event) string {
	if ev.Destination.Workload != "" {
		return ev.Destination.Workload
	}
	return ev.Destination.Host
}

// Relevant reports whether an event is a call on the graph (transaction
// events only; alerts, consent records and the like are not).
func Relevant(ev *event.Event) bool {
	if ev.Type != "" || DestinationOf(ev) == "" {
		return false
	}
	// An app's plaintext call to its own sidecar over loopback is not a
	// network hop: the sidecar's onward call is, and the next sidecar
	// records it.
	if ev.Placement == "sidecar" && ev.TLS == nil {
		if a, err := netip.ParseAddr(ev.Source.IP); err == nil && a.IsLoopback() {
			return false
		}
	}
	return true
}

// Add counts one transaction into e.
func (e *Edge) Add(ev *event.Event) {
	e.Requests++
	// Verified by Vigil: a credential merely presented (and perhaps
	// checked by the workload itself) is not counted.
	if ev.Identity != nil || (ev.TLS != nil && ev.TLS.MTLS) {
		e.Authenticated++
	}
	switch t := ev.TLS; {
	case t == nil:
		e.Plaintext++
	default:
		if t.MTLS {
			e.MTLS++
		}
		if t.Intercepted {
			e.Intercepted++
		}
		// An intercepted call's edge is the caller to the outside
		// destination: its TLS facts are those of the connection that
		// left for the destination (the caller's leg ends at its own
		// sidecar).
		if d := ev.Destination.TLS; t.Intercepted && d != nil {
			t = d
		}
		if t.Version == "TLS 1.3" || t.Version == "1.3" || t.Version == "TLSv1.3" {
			e.TLS13++
		} else {
			e.LegacyTLS++
		}
		e.TLSVersion, e.Cipher, e.Group = t.Version, t.Cipher, t.Group
	}
	if ev.Decision != event.DecisionAllow && refusedByRule(ev) {
		e.Refused++
	}
	if SourceOf(ev) == External || (ev.Source.Workload != "" && isPublic(ev.Source.IP)) {
		e.External++
	}
	if e.FirstSeen.IsZero() || ev.Time.Before(e.FirstSeen) {
		e.FirstSeen = ev.Time
	}
	if ev.Time.After(e.LastSeen) {
		e.LastSeen = ev.Time
	}
}

func isPublic(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && !(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified())
}

// refusedByRule: a finding of the identity, authorization or connection
// layers stopped it (not a WAF hit: that is an attack, not a caller the
// rules do not know).
func refusedByRule(ev *event.Event) bool {
	for i := range ev.Findings {
		switch ev.Findings[i].Stage {
		case "identity", "authz", "connections", "ip_rules":
			return true
		}
	}
	return false
}

// Merge adds d's counters into e and keeps the latest TLS facts.
func (e *Edge) Merge(d Edge) {
	e.Requests += d.Requests
	e.Authenticated += d.Authenticated
	e.MTLS += d.MTLS
	e.TLS13 += d.TLS13
	e.LegacyTLS += d.LegacyTLS
	e.Plaintext += d.Plaintext
	e.Refused += d.Refused
	e.Intercepted += d.Intercepted
	e.External += d.External
	if !d.LastSeen.Before(e.LastSeen) && (d.TLSVersion != "" || d.Plaintext > 0) {
		e.TLSVersion, e.Cipher, e.Group = d.TLSVersion, d.Cipher, d.Group
	}
	if e.FirstSeen.IsZero() || (!d.FirstSeen.IsZero() && d.FirstSeen.Before(e.FirstSeen)) {
		e.FirstSeen = d.FirstSeen
	}
	if d.LastSeen.After(e.LastSeen) {
		e.LastSeen = d.LastSeen
	}
}

// MaxEdges bounds the edges an Aggregator holds between drains.
const MaxEdges = 10000

// Aggregator counts events into edges until they are drained. It is safe
// for concurrent use.
type Aggregator struct {
	mu      sync.Mutex
	edges   map[string]*Edge
	dropped uint64
}

// NewAggregator returns an empty Aggregator.
func NewAggregator() *Aggregator { return &Aggregator{edges: map[string]*Edge{}} }

// Add counts a transaction event; others are ignored. A new edge beyond
// MaxEdges is dropped and counted.
func (a *Aggregator) Add(ev *event.Event) {
	if !Relevant(ev) {
		return
	}
	src, dst := SourceOf(ev), DestinationOf(ev)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !storable(src) || !storable(dst) {
		// Names a store would refuse would block every later flush.
		a.dropped++
		return
	}
	if y := ev.Time.Year(); y < 2000 || y > 2200 {
		c := *ev
		c.Time = time.Now()
		ev = &c
	}
	key := src + "\x00" + dst
	e := a.edges[key]
	if e == nil {
		if len(a.edges) >= MaxEdges {
			a.dropped++
			return
		}
		e = &Edge{ID: EdgeID(src, dst), Source: src, Destination: dst}
		a.edges[key] = e
	}
	e.Add(ev)
}

// MaxName bounds a source or destination name.
const MaxName = 1024

func storable(s string) bool {
	return s != "" && len(s) <= MaxName && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// WriteEvents implements event.Sink, so a data plane (the demo) can
// keep its own graph.
func (a *Aggregator) WriteEvents(batch []*event.Event) error {
	for _, ev := range batch {
		a.Add(ev)
	}
	return nil
}

// Drain returns the edges counted since the last drain and starts anew.
func (a *Aggregator) Drain() []Edge {
	a.mu.Lock()
	m := a.edges
	a.edges = map[string]*Edge{}
	a.mu.Unlock()
	out := make([]Edge, 0, len(m))
	for _, e := range m {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(x, y Edge) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// Restore puts edges back (a failed store write), merged with what was
// counted meanwhile.
func (a *Aggregator) Restore(es []Edge) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range es {
		key := d.Source + "\x00" + d.Destination
		if e := a.edges[key]; e != nil {
			e.Merge(d)
			continue
		}
		if len(a.edges) >= MaxEdges {
			a.dropped++
			continue
		}
		c := d
		a.edges[key] = &c
	}
}

// Dropped counts the edges not kept for want of room, and the events
// whose source or destination no store could keep.
func (a *Aggregator) Dropped() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
}

// Reason is one contribution to a score.
type Reason struct {
	// Code names the factor: unauthenticated, no_mtls, plaintext,
	// legacy_tls, outside_rules, edge_exposure, sensitive_data,
	// unprotected_endpoints.
	Code string `json:"code"`
	// Points it adds to the score (0..100 overall).
	Points float64 `json:"points"`
	Detail string  `json:"detail"`
}

// Score is the residual connectivity risk of one workload API.
type Score struct {
	Workload string `json:"workload"`
	// Score is 0 (nothing left to fix) .. 100.
	Score   int      `json:"score"`
	Level   string   `json:"level"` // low, medium, high, critical
	Reasons []Reason `json:"reasons"`
	// Requests and Callers are the traffic it was judged on.
	Requests int64    `json:"requests"`
	Callers  []string `json:"callers"`
	// Endpoints known for it in the inventory; Sensitive the data
	// classes they serve.
	Endpoints int      `json:"endpoints"`
	Sensitive []string `json:"sensitive,omitempty"`
}

// Inventory is what discovery knows of one workload API's endpoints.
type Inventory struct {
	Endpoints   int
	Unprotected int // endpoints no protecting stage covered
	Sensitive   []string
}

// The weights: at most this many points per factor. They add up to 100.
const (
	wUnauthenticated = 25
	wNoMTLS          = 15
	wPlaintext       = 15
	wLegacyTLS       = 10
	wOutsideRules    = 10
	wExposure        = 10
	wSensitive       = 10
	wUnprotected     = 5
)

// Assess scores workload from the edges into it and its inventory.
func Assess(workload string, in []Edge, inv Inventory) Score {
	var t Edge
	callers := map[string]bool{}
	for _, e := range in {
		t.Merge(e)
		callers[e.Source] = true
	}
	s := Score{Workload: workload, Requests: t.Requests, Endpoints: inv.Endpoints, Sensitive: inv.Sensitive, Reasons: []Reason{}}
	for c := range callers {
		s.Callers = append(s.Callers, c)
	}
	slices.Sort(s.Callers)
	share := func(n int64) float64 {
		if t.Requests == 0 {
			return 0
		}
		return float64(n) / float64(t.Requests)
	}
	add := func(code string, points float64, detail string, args ...any) {
		if points >= 0.5 {
			s.Reasons = append(s.Reasons, Reason{Code: code, Points: math.Round(points*10) / 10, Detail: fmt.Sprintf(detail, args...)})
		}
	}
	pct := func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }
	if t.Requests > 0 {
		u := share(t.Requests - t.Authenticated)
		add("unauthenticated", wUnauthenticated*u, "%s of %d requests carried no verified identity", pct(u), t.Requests)
		m := share(t.Requests - t.MTLS)
		add("no_mtls", wNoMTLS*m, "%s of requests were not mutual TLS", pct(m))
		p := share(t.Plaintext)
		add("plaintext", wPlaintext*p, "%s of requests arrived in plaintext", pct(p))
		l := share(t.LegacyTLS)
		add("legacy_tls", wLegacyTLS*l, "%s of requests used TLS 1.2 or older", pct(l))
		// A few refusals say callers outside the rules keep trying: the
		// factor saturates at a 10% share.
		r := math.Min(1, share(t.Refused)*10)
		add("outside_rules", wOutsideRules*r, "%d requests from callers outside the allow rules were refused", t.Refused)
		if x := share(t.External); x > 0 {
			add("edge_exposure", wExposure*math.Max(0.5, x), "reachable from the internet: %s of requests came from public addresses", pct(x))
		}
	}
	if n := len(inv.Sensitive); n > 0 {
		add("sensitive_data", wSensitive*math.Min(1, float64(n)/3), "serves sensitive data: %s", strings.Join(inv.Sensitive, ", "))
	}
	if inv.Endpoints > 0 && inv.Unprotected > 0 {
		f := float64(inv.Unprotected) / float64(inv.Endpoints)
		add("unprotected_endpoints", wUnprotected*f, "%d of %d endpoints pass no protection layer", inv.Unprotected, inv.Endpoints)
	}
	total := 0.0
	for _, r := range s.Reasons {
		total += r.Points
	}
	s.Score = int(math.Round(math.Min(100, total)))
	s.Level = Level(s.Score)
	slices.SortStableFunc(s.Reasons, func(a, b Reason) int {
		switch {
		case a.Points > b.Points:
			return -1
		case a.Points < b.Points:
			return 1
		}
		return 0
	})
	return s
}

// Level buckets a score: low < 25 ≤ medium < 50 ≤ high < 75 ≤ critical.
func Level(score int) string {
	switch {
	case score < 25:
		return "low"
	case score < 50:
		return "medium"
	case score < 75:
		return "high"
	}
	return "critical"
}

// EdgeRisk is the score of one edge's traffic alone (no inventory).
func EdgeRisk(e Edge) int { return Assess(e.Destination, []Edge{e}, Inventory{}).Score }

// AssessAll scores every destination of edges; inventory gives each
// destination's endpoints (by workload or host name; missing: none).
func AssessAll(edges []Edge, inventory func(workload string) Inventory) []Score {
	by := map[string][]Edge{}
	for _, e := range edges {
		by[e.Destination] = append(by[e.Destination], e)
	}
	out := make([]Score, 0, len(by))
	for w, es := range by {
		inv := Inventory{}
		if inventory != nil {
			inv = inventory(w)
		}
		out = append(out, Assess(w, es, inv))
	}
	slices.SortFunc(out, func(a, b Score) int {
		if a.Score != b.Score {
			return b.Score - a.Score
		}
		return strings.Compare(a.Workload, b.Workload)
	})
	return out
}

// TLSWeakness names what is weak in a connection's TLS: legacy_tls (1.2
// or older) or weak_cipher (not an AEAD suite), or "" (nil: nothing).
func TLSWeakness(t *event.TLS) (kind, detail string) {
	if t == nil {
		return "", ""
	}
	c := strings.ToUpper(t.Cipher)
	switch {
	case strings.Contains(c, "_CBC_") || strings.Contains(c, "RC4") || strings.Contains(c, "3DES") || strings.Contains(c, "_NULL_"):
		return "weak_cipher", "TLS " + t.Version + " with " + t.Cipher + " (not an AEAD suite)"
	case t.Version != "" && t.Version != "1.3" && t.Version != "TLS 1.3":
		return "legacy_tls", "TLS " + t.Version + " (" + t.Cipher + ")"
	}
	return "", ""
}
