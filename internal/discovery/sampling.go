package discovery

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/tokenbucket"
)

// endpointSampler bounds body profiling per endpoint: every endpoint gets
// its first samples at once (schemas are learned early), then at most
// perSecond samples a second however busy it is, so profiling costs the
// same at 100 and at 100,000 requests a second.
type endpointSampler struct {
	seed      maphash.Seed
	perSecond float64
	burst     float64
	shards    [32]samplerShard
}

type samplerShard struct {
	mu sync.Mutex
	m  map[string]*sampleBucket
}

type sampleBucket = tokenbucket.Bucket

const maxSampledEndpoints = 4096 // per shard; beyond it a shard starts afresh

func newEndpointSampler(perSecond, burst float64) *endpointSampler {
	s := &endpointSampler{seed: maphash.MakeSeed(), perSecond: perSecond, burst: burst}
	for i := range s.shards {
		s.shards[i].m = map[string]*sampleBucket{}
	}
	return s
}

func (s *endpointSampler) allow(endpoint string, now time.Time) bool {
	sh := &s.shards[maphash.String(s.seed, endpoint)%uint64(len(s.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.m[endpoint]
	if b == nil {
		if len(sh.m) >= maxSampledEndpoints {
			clear(sh.m)
		}
		nb := tokenbucket.New(s.burst, now)
		b = &nb
		sh.m[endpoint] = b
	}
	ok, _ := b.Take(now, s.perSecond, s.burst)
	return ok
}
