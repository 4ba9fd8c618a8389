package schema

import (
	"math"
	"sync/atomic"
)

// Sampler picks a deterministic, evenly spread share of calls: with rate
// 0.25 exactly every fourth call to Sample returns true. It is safe for
// concurrent use and costs one atomic add per call.
type Sampler struct {
	rate float64
	n    atomic.Uint64
}

// NewSampler returns a Sampler for rate, clamped to [0, 1]; NaN is 0.
func NewSampler(rate float64) *Sampler {
	if math.IsNaN(rate) || rate < 0 {
		rate = 0
	}
	if rate > 1 {
		rate = 1
	}
	return &Sampler{rate: rate}
}

// Rate returns the sampling rate.
func (s *Sampler) Rate() float64 { return s.rate }

// Sample reports whether this call is sampled. Call k (counting from 1) is
// sampled when floor(k*rate) > floor((k-1)*rate), so after k calls exactly
// floor(k*rate) were sampled.
func (s *Sampler) Sample() bool {
	switch {
	case s.rate <= 0:
		return false
	case s.rate >= 1:
		return true
	}
	k := s.n.Add(1)
	return math.Floor(float64(k)*s.rate) > math.Floor(float64(k-1)*s.rate)
}
