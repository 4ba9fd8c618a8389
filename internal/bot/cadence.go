package bot

import (
	"net/netip"
	"sync"
	"time"
)

// Cadence tracks request timing per client address in bounded memory: a
// fixed number of addresses (spread over shards), each with its last
// intervals and a one-second request count. When a shard is full, an
// address not seen for the longest of a few sampled ones is evicted, so
// rotating addresses cannot grow it and cannot easily push out a client
// that is active right now.
type Cadence struct {
	shards   [cadenceShards]cadenceShard
	perShard int
	burst    int
}

const (
	cadenceShards = 64
	// intervals kept per address; regularity needs minIntervals of them.
	cadenceRing  = 16
	minIntervals = 10
	// An address whose intervals vary by less than maxJitter of their
	// mean, with a mean of at least minMean, is machine-regular.
	maxJitter = 0.05
	minMean   = 100 * time.Millisecond
	// evictSample is how many entries are looked at to pick a victim.
	evictSample = 4
)

type cadenceShard struct {
	mu sync.Mutex
	m  map[netip.Addr]clientTiming
	_  [48]byte // keep shards on their own cache lines
}

type clientTiming struct {
	last     int64 // unix nanoseconds of the last request
	winStart int64 // start of the current one-second window
	winCount uint32
	n, pos   uint8
	iv       [cadenceRing]uint32 // intervals in microseconds (capped)
}

// NewCadence remembers up to maxClients addresses; more than burst
// requests from one address within a second is a burst.
func NewCadence(maxClients, burst int) *Cadence {
	c := &Cadence{perShard: max(1, (maxClients+cadenceShards-1)/cadenceShards), burst: burst}
	for i := range c.shards {
		c.shards[i].m = make(map[netip.Addr]clientTiming, min(c.perShard, 64))
	}
	return c
}

// Verdict is what Observe found.
type Verdict struct {
	Regular bool
	Burst   bool
}

// Observe records a request from addr at now and reports the timing
// signals. It does not allocate once the address is known.
func (c *Cadence) Observe(addr netip.Addr, now time.Time) Verdict {
	if !addr.IsValid() {
		return Verdict{}
	}
	sh := &c.shards[shardOf(addr)]
	t := now.UnixNano()
	sh.mu.Lock()
	e, ok := sh.m[addr]
	if !ok {
		if len(sh.m) >= c.perShard {
			sh.evict(t)
		}
		e = clientTiming{last: t, winStart: t, winCount: 1}
		sh.m[addr] = e
		sh.mu.Unlock()
		return Verdict{}
	}
	d := t - e.last
	if d < 0 {
		d = 0
	}
	e.last = t
	us := d / 1e3
	if us > 1<<32-1 {
		us = 1<<32 - 1
	}
	e.iv[e.pos] = uint32(us)
	e.pos = (e.pos + 1) % cadenceRing
	if e.n < cadenceRing {
		e.n++
	}
	if t-e.winStart >= int64(time.Second) {
		e.winStart, e.winCount = t, 0
	}
	e.winCount++
	sh.m[addr] = e
	sh.mu.Unlock()
	return Verdict{Regular: regular(&e), Burst: c.burst > 0 && int(e.winCount) > c.burst}
}

// Len is the number of addresses remembered.
func (c *Cadence) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// evict drops the stalest of a few entries (map iteration starts at a
// random place, so the sample is random).
func (sh *cadenceShard) evict(now int64) {
	var victim netip.Addr
	oldest := now + 1
	i := 0
	for k, v := range sh.m {
		if v.last < oldest {
			victim, oldest = k, v.last
		}
		if i++; i >= evictSample {
			break
		}
	}
	delete(sh.m, victim)
}

func regular(e *clientTiming) bool {
	if e.n < minIntervals {
		return false
	}
	var sum float64
	for i := range int(e.n) {
		sum += float64(e.iv[i])
	}
	mean := sum / float64(e.n)
	if mean < float64(minMean/time.Microsecond) {
		return false
	}
	var dev float64
	for i := range int(e.n) {
		d := float64(e.iv[i]) - mean
		dev += d * d
	}
	// variance / mean² < jitter²: the standard deviation is within
	// maxJitter of the mean.
	return dev/float64(e.n) < maxJitter*maxJitter*mean*mean
}

func shardOf(a netip.Addr) int {
	b := a.As16()
	var h uint32 = 2166136261
	for _, x := range b {
		h ^= uint32(x)
		h *= 16777619
	}
	return int(h % cadenceShards)
}
