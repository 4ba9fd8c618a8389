package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/tokenbucket"
)

// Local is a Limiter kept in this process: per key one theoretical arrival
// time (8 bytes) under a 128-bit keyed hash of the key, so neither a long
// header value nor a bearer token is ever stored, and a lookup allocates
// nothing.
//
// Memory is bounded: at most MaxKeys keys (rounded to the shard count).
// A full shard first drops the buckets that are full again (idle keys: a
// full bucket decides exactly like an absent one, so this loses nothing);
// only when none of the sampled ones is idle does it drop the sampled
// bucket closest to full, so an attacker rotating keys evicts the buckets
// that matter least and never its own busy ones first.
type Local struct {
	g      tokenbucket.GCRA
	seeds  [2]maphash.Seed
	max    int // per shard
	shards [localShards]localShard
}

const localShards = 64

// evictSample is how many entries a full shard looks at to make room.
const evictSample = 32

// DefaultMaxKeys bounds a Local limiter's keys when none is given.
const DefaultMaxKeys = localShards * 4096

type localShard struct {
	mu   sync.Mutex
	tats map[[2]uint64]int64
	_    [40]byte // keep shards on their own cache lines
}

var _ Limiter = (*Local)(nil)

// NewLocal returns a local limiter for buckets refilled at rate tokens per
// second holding burst tokens, keeping at most maxKeys keys (0: the
// default).
func NewLocal(rate float64, burst int64, maxKeys int) *Local {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	l := &Local{g: tokenbucket.NewGCRA(rate, burst), seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		max: max(1, maxKeys/localShards)}
	for i := range l.shards {
		l.shards[i].tats = make(map[[2]uint64]int64)
	}
	return l
}

// GCRA is the limiter's bucket arithmetic.
func (l *Local) GCRA() tokenbucket.GCRA { return l.g }

// Allow implements Limiter; it never fails.
func (l *Local) Allow(_ context.Context, key string, now time.Time) (Result, error) {
	return l.Take(key, now.UnixNano()), nil
}

// Take decides one request at now (Unix nanoseconds).
func (l *Local) Take(key string, now int64) Result {
	h := [2]uint64{maphash.String(l.seeds[0], key), maphash.String(l.seeds[1], key)}
	sh := &l.shards[h[0]%localShards]
	sh.mu.Lock()
	tat, ok := sh.tats[h]
	if !ok && len(sh.tats) >= l.max {
		sh.evict(now)
	}
	d, next := l.g.Take(tat, now)
	if next != tat {
		sh.tats[h] = next
	}
	sh.mu.Unlock()
	return d
}

// evict makes room for one key: it drops every idle bucket among a sample
// of the shard (map order is random), or, when none is idle, the sampled
// bucket that is closest to full.
func (sh *localShard) evict(now int64) {
	var oldest [2]uint64
	var oldestTAT int64
	found, seen, dropped := false, 0, 0
	for k, tat := range sh.tats {
		switch {
		case tat <= now:
			delete(sh.tats, k)
			dropped++
		case !found || tat < oldestTAT:
			oldest, oldestTAT, found = k, tat, true
		}
		if seen++; seen >= evictSample {
			break
		}
	}
	if dropped == 0 && found {
		delete(sh.tats, oldest)
	}
}

// Len is the number of keys held (for tests and metrics).
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.tats)
		sh.mu.Unlock()
	}
	return n
}
