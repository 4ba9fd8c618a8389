// Package behavior keeps a compact baseline per identity — the endpoints
// it uses, its hours, its source networks, its request rate, the object
// ids it touches — and scores each request against it: the anomaly score
// policies read as behavior.anomaly, and enumeration (one identity
// walking many distinct object ids of one endpoint in a short window).
// Memory is bounded: a fixed number of identities, each with capped
// state. See docs/behavior.md.
package behavior

import (
	"hash/maphash"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Options tune a Tracker.
type Options struct {
	// MaxIdentities bounds the baselines kept (default 100000); the
	// least recently seen are evicted first.
	MaxIdentities int
	// Window is the enumeration window (default 1m).
	Window time.Duration
	// EnumThreshold distinct object ids of one endpoint within Window
	// are an enumeration (default 50).
	EnumThreshold int
	// Warmup requests of an identity before it is scored (default 50).
	Warmup int
}

// Observation is one request of an identity.
type Observation struct {
	Identity string // subject or client id; "" is not tracked
	Endpoint string // "GET /orders/{id}"
	ObjectID string // the object the request names ("" for none)
	SourceIP netip.Addr
	At       time.Time
}

// Reason is a bit set of why a request looks unusual.
type Reason uint8

// Reasons.
const (
	NewEndpoint Reason = 1 << iota
	NewNetwork
	UnusualHour
	RateSpike
	ObjectSpread
)

var reasonNames = [...]string{"new_endpoint", "new_network", "unusual_hour", "rate_spike", "object_spread"}

// Strings names the reasons set.
func (r Reason) Strings() []string {
	if r == 0 {
		return nil
	}
	var out []string
	for i, n := range reasonNames {
		if r&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// String joins the reasons with commas.
func (r Reason) String() string { return strings.Join(r.Strings(), ",") }

// Weights of each reason in the anomaly score:
// anomaly = 1 - Π (1 - weight) over the reasons present.
var weights = [...]float64{0.35, 0.25, 0.2, 0.35, 0.25}

// Score is what the baseline says of one request.
type Score struct {
	// Anomaly is 0 (usual) .. 1 (never like this), 0 during warm-up.
	Anomaly float64
	Reasons Reason
	// DistinctObjects this identity touched on this endpoint within the
	// window, this request included.
	DistinctObjects int
	// Enumeration: DistinctObjects reached the threshold.
	Enumeration bool
	// RequestRate is this identity's requests in the current minute.
	RequestRate float64
}

const (
	shards       = 64
	maxEndpoints = 64
	maxNets      = 16
	maxEnumEPs   = 8
)

type window struct {
	ep    uint64
	start time.Time
	ids   map[uint64]struct{}
}

type ident struct {
	n         int
	lastSeen  time.Time
	endpoints map[uint64]uint32
	nets      map[uint64]uint32
	hours     [24]uint32
	minute    int64
	minCount  float64
	longRate  float64 // EWMA of requests per active minute
	windows   []window
}

type shard struct {
	mu sync.Mutex
	m  map[string]*ident
}

// Tracker holds the baselines. It is safe for concurrent use.
type Tracker struct {
	o        Options
	seed     maphash.Seed
	perShard int
	sh       [shards]shard
}

// New returns a Tracker.
func New(o Options) *Tracker {
	if o.MaxIdentities <= 0 {
		o.MaxIdentities = 100000
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.EnumThreshold <= 1 {
		o.EnumThreshold = 50
	}
	if o.Warmup <= 0 {
		o.Warmup = 50
	}
	t := &Tracker{o: o, seed: maphash.MakeSeed(), perShard: max(1, o.MaxIdentities/shards)}
	for i := range t.sh {
		t.sh[i].m = map[string]*ident{}
	}
	return t
}

// Len is the number of identities tracked.
func (t *Tracker) Len() int {
	n := 0
	for i := range t.sh {
		t.sh[i].mu.Lock()
		n += len(t.sh[i].m)
		t.sh[i].mu.Unlock()
	}
	return n
}

func netKey(a netip.Addr) (netip.Prefix, bool) {
	if !a.IsValid() {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

// Check scores o against the identity's baseline as it was before o, then
// counts o into it.
func (t *Tracker) Check(o Observation) Score {
	if o.Identity == "" {
		return Score{}
	}
	if o.At.IsZero() {
		o.At = time.Now()
	}
	epH := maphash.String(t.seed, o.Endpoint)
	var netH uint64
	netOK := false
	if p, ok := netKey(o.SourceIP); ok {
		b, _ := p.MarshalBinary()
		netH, netOK = maphash.Bytes(t.seed, b), true
	}
	s := &t.sh[maphash.String(t.seed, o.Identity)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.m[o.Identity]
	if id == nil {
		if len(s.m) >= t.perShard {
			t.evict(s)
		}
		id = &ident{endpoints: map[uint64]uint32{}, nets: map[uint64]uint32{}}
		s.m[o.Identity] = id
	}
	var sc Score
	// Rate: requests in the current minute against the usual rate.
	min := o.At.Unix() / 60
	if min != id.minute {
		if id.minute != 0 {
			id.longRate = 0.8*id.longRate + 0.2*id.minCount
		}
		id.minute, id.minCount = min, 0
	}
	id.minCount++
	sc.RequestRate = id.minCount
	hour := o.At.UTC().Hour()
	if id.n >= t.o.Warmup {
		var r Reason
		if _, ok := id.endpoints[epH]; !ok {
			r |= NewEndpoint
		}
		if _, ok := id.nets[netH]; netOK && !ok {
			r |= NewNetwork
		}
		var total uint32
		for _, c := range id.hours {
			total += c
		}
		if total > 0 && float64(id.hours[hour])/float64(total) < 0.02 {
			r |= UnusualHour
		}
		if id.minCount >= 20 && id.minCount > 10*max(id.longRate, 1) {
			r |= RateSpike
		}
		sc.Reasons = r
	}
	// Enumeration: distinct objects of this endpoint within the window.
	if o.ObjectID != "" {
		w := id.window(epH, o.At, t.o.Window)
		if len(w.ids) < t.o.EnumThreshold {
			w.ids[maphash.String(t.seed, o.ObjectID)] = struct{}{}
		}
		sc.DistinctObjects = len(w.ids)
		sc.Enumeration = sc.DistinctObjects >= t.o.EnumThreshold
		if id.n >= t.o.Warmup && sc.DistinctObjects >= t.o.EnumThreshold/2 {
			sc.Reasons |= ObjectSpread
		}
	}
	if sc.Reasons != 0 {
		keep := 1.0
		for i, w := range weights {
			if sc.Reasons&(1<<i) != 0 {
				keep *= 1 - w
			}
		}
		sc.Anomaly = 1 - keep
	}
	// Count o into the baseline.
	id.n++
	id.lastSeen = o.At
	if _, ok := id.endpoints[epH]; ok || len(id.endpoints) < maxEndpoints {
		id.endpoints[epH]++
	}
	if netOK {
		if _, ok := id.nets[netH]; ok || len(id.nets) < maxNets {
			id.nets[netH]++
		}
	}
	id.hours[hour]++
	return sc
}

// window returns the identity's enumeration window for endpoint ep,
// starting a new one when the last has passed.
func (id *ident) window(ep uint64, at time.Time, d time.Duration) *window {
	for i := range id.windows {
		w := &id.windows[i]
		if w.ep == ep {
			if at.Sub(w.start) > d {
				w.start = at
				clear(w.ids)
			}
			return w
		}
	}
	if len(id.windows) >= maxEnumEPs {
		// Reuse the oldest window.
		old := 0
		for i := range id.windows {
			if id.windows[i].start.Before(id.windows[old].start) {
				old = i
			}
		}
		w := &id.windows[old]
		w.ep, w.start = ep, at
		clear(w.ids)
		return w
	}
	id.windows = append(id.windows, window{ep: ep, start: at, ids: map[uint64]struct{}{}})
	return &id.windows[len(id.windows)-1]
}

// evict drops the least recently seen of a few identities of the shard.
func (t *Tracker) evict(s *shard) {
	var victim string
	var oldest time.Time
	n := 0
	for k, id := range s.m {
		if victim == "" || id.lastSeen.Before(oldest) {
			victim, oldest = k, id.lastSeen
		}
		if n++; n >= 8 {
			break
		}
	}
	delete(s.m, victim)
}
