// Package ratelimit is the rate_limit stage: token buckets per client key
// (address or a header), per configured limit. Buckets live in this process;
// shared limits across gateways (Redis) come with a later issue.
package ratelimit

import (
	"context"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/tokenbucket"
)

// Stage enforces every configured limit.
type Stage struct {
	limits []*limit
	now    func() time.Time
}

var _ pipeline.Stage = (*Stage)(nil)

const shards = 64

// maxKeys bounds the buckets one limit keeps per shard; a full shard drops
// an eighth of its buckets at random, so memory stays bounded under address
// spraying.
const maxKeys = 4096

type limit struct {
	cfg    config.RateLimit
	rate   float64 // tokens per second
	burst  float64
	header string
	seed   maphash.Seed
	shards [shards]shard
	ruleID string
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket = tokenbucket.Bucket

// New builds the stage; nil when no limits are configured.
func New(cfgs []config.RateLimit) (pipeline.Stage, error) {
	if len(cfgs) == 0 {
		return nil, nil
	}
	s := &Stage{now: time.Now}
	for i, c := range cfgs {
		l := &limit{cfg: c, rate: float64(c.Requests) / c.Per.Seconds(), burst: float64(c.Requests + c.Burst),
			seed: maphash.MakeSeed(), ruleID: c.Name}
		if l.ruleID == "" {
			l.ruleID = "rate_limits[" + strconv.Itoa(i) + "]"
		}
		if h, ok := strings.CutPrefix(c.Key, "header:"); ok {
			l.header = http.CanonicalHeaderKey(h)
		}
		for j := range l.shards {
			l.shards[j].buckets = make(map[string]*bucket)
		}
		s.limits = append(s.limits, l)
	}
	return s, nil
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "rate_limit" }

// Request implements pipeline.Stage.
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	now := s.now()
	r := tx.Req
	for _, l := range s.limits {
		if l.cfg.Method != "" && !strings.EqualFold(l.cfg.Method, r.Method) {
			continue
		}
		if l.cfg.PathPrefix != "" && !strings.HasPrefix(r.URL.Path, l.cfg.PathPrefix) {
			continue
		}
		key := tx.ClientIPText
		if l.header != "" {
			// Without the header the client is counted by its address, so
			// requests lacking it do not all share one bucket.
			if hv := r.Header.Get(l.header); hv != "" {
				key = "h:" + hv
			}
		}
		if ok, wait := l.allow(key, now); !ok {
			return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusTooManyRequests, Kind: "rate_limit",
				RuleID: l.ruleID, Severity: "medium", Message: "rate limit exceeded", RetryAfter: wait}, nil
		}
	}
	return pipeline.Continue, nil
}

// allow takes a token from key's bucket; when none is left it reports how
// long until one is.
func (l *limit) allow(key string, now time.Time) (bool, time.Duration) {
	sh := &l.shards[maphash.String(l.seed, key)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[key]
	if b == nil {
		if len(sh.buckets) >= maxKeys {
			evictSome(sh.buckets)
		}
		nb := tokenbucket.New(l.burst, now)
		b = &nb
		sh.buckets[key] = b
	}
	return b.Take(now, l.rate, l.burst)
}

// evictSome makes room in a full shard by dropping an eighth of its
// buckets, chosen at random (map order): a client whose bucket is dropped
// simply starts again with a full bucket, so the bound costs little.
func evictSome(m map[string]*bucket) {
	target := maxKeys - maxKeys/8
	for k := range m {
		if len(m) <= target {
			return
		}
		delete(m, k)
	}
}
