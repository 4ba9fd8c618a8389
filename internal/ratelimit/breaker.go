package ratelimit

import (
	"sync/atomic"
	"time"
)

// Breaker is a circuit breaker in front of a shared store: after Failures
// consecutive failures it opens for Cooldown, during which callers fail at
// once; then one probe is let through, and its success closes the circuit
// (its failure opens it again). The zero value never opens. It is safe for
// concurrent use and costs two atomic loads when closed.
type Breaker struct {
	Failures int32
	Cooldown time.Duration

	fails     atomic.Int32
	openUntil atomic.Int64 // Unix ns; 0 closed
	probing   atomic.Bool
}

// Allow reports whether a call may go to the store now.
func (b *Breaker) Allow(now time.Time) bool {
	if b == nil {
		return true
	}
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if now.UnixNano() < until {
		return false
	}
	return b.probing.CompareAndSwap(false, true)
}

// Open reports whether the circuit is open (calls fail without trying).
func (b *Breaker) Open() bool { return b != nil && b.openUntil.Load() != 0 }

// Success records a call that worked.
func (b *Breaker) Success() {
	if b == nil {
		return
	}
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
		b.probing.Store(false)
	}
}

// Failure records a call that failed at now.
func (b *Breaker) Failure(now time.Time) {
	if b == nil || b.Failures <= 0 {
		return
	}
	if n := b.fails.Add(1); n >= b.Failures || b.openUntil.Load() != 0 {
		b.openUntil.Store(now.Add(b.Cooldown).UnixNano())
		b.probing.Store(false)
	}
}
