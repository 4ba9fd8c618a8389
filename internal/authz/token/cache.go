package token

import (
	"sync"

	"github.com/vigil-sec/vigil/internal/authz"
)

// cacheShards spreads the verified-token cache's locks.
const cacheShards = 16

// cacheEntry is a verified token: its Principal until exp, as long as the
// issuer's key set has not lost a key since (epoch).
type cacheEntry struct {
	p      *authz.Principal
	exp    int64 // unix nanoseconds; the entry is dead from then on
	iss    *issuer
	epoch  uint64
	maxLen int // the issuer's MaxTokenBytes at the time of caching
}

// tokenCache maps sha256(token) to its verified Principal. Each shard
// holds two generations: when the current one is full it becomes the
// previous one and the old previous one is dropped, so eviction costs
// nothing per entry and recently used tokens survive (a hit in the
// previous generation moves the entry to the current one).
type tokenCache struct {
	perGen int
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu        sync.RWMutex
	cur, prev map[[32]byte]cacheEntry
}

func newTokenCache(size int) *tokenCache {
	per := size / cacheShards / 2
	if per < 1 {
		per = 1
	}
	c := &tokenCache{perGen: per}
	for i := range c.shards {
		c.shards[i].cur = make(map[[32]byte]cacheEntry, per)
	}
	return c
}

// get returns the live entry for h; dead entries (past exp, or from an
// older key-set epoch) are reported as misses.
func (c *tokenCache) get(h *[32]byte, now int64) (cacheEntry, bool) {
	s := &c.shards[h[0]%cacheShards]
	s.mu.RLock()
	e, ok := s.cur[*h]
	inPrev := false
	if !ok {
		e, ok = s.prev[*h]
		inPrev = ok
	}
	s.mu.RUnlock()
	if !ok || now >= e.exp || e.iss.epoch.Load() != e.epoch {
		return cacheEntry{}, false
	}
	if inPrev {
		c.put(h, e)
	}
	return e, true
}

func (c *tokenCache) put(h *[32]byte, e cacheEntry) {
	s := &c.shards[h[0]%cacheShards]
	s.mu.Lock()
	if len(s.cur) >= c.perGen {
		s.prev, s.cur = s.cur, make(map[[32]byte]cacheEntry, c.perGen)
	}
	s.cur[*h] = e
	s.mu.Unlock()
}
