// Package tokenbucket is the token-bucket arithmetic shared by the
// rate_limit stage and discovery's per-endpoint sampling budget.
package tokenbucket

import "time"

// Bucket holds tokens refilled continuously at a rate up to a burst. The
// zero Bucket is empty; use New for a full one. It is not safe for
// concurrent use: callers hold their own lock.
type Bucket struct {
	tokens float64
	last   time.Time
}

// New returns a full bucket.
func New(burst float64, now time.Time) Bucket { return Bucket{tokens: burst, last: now} }

// Take refills the bucket for the time since its last use and takes one
// token. When none is left it reports how long until one is.
func (b *Bucket) Take(now time.Time, rate, burst float64) (bool, time.Duration) {
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}
