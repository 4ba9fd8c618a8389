package tokenbucket

import "time"

// GCRA is the same token bucket written as a theoretical arrival time (the
// generic cell rate algorithm): one number per key, the moment the bucket
// will be full again, in place of a token count and a timestamp. A TAT at
// or before now is a full bucket, so an idle key carries no state and can be
// dropped without changing any decision. The Redis limiter runs this
// arithmetic in a Lua script (internal/ratelimit); the local store keeps
// TATs in memory.
//
// Interval is the time one token takes to come back (1/rate); Burst is the
// bucket's capacity in tokens.
type GCRA struct {
	Interval time.Duration
	Burst    int64
}

// NewGCRA returns the GCRA of a bucket refilled at rate tokens per second
// holding burst tokens.
func NewGCRA(rate float64, burst int64) GCRA {
	iv := time.Duration(float64(time.Second) / rate)
	if iv < 1 {
		iv = 1
	}
	return GCRA{Interval: iv, Burst: max(burst, 1)}
}

// Decision is the outcome of one Take.
type Decision struct {
	// Allowed says a token was taken.
	Allowed bool
	// Remaining is the whole tokens left after this request.
	Remaining int64
	// RetryAfter, when not allowed, is the time until a token is back.
	RetryAfter time.Duration
	// Full is the time until the bucket is full again (the key's TTL in a
	// shared store; zero for a full bucket).
	Full time.Duration
}

// Take decides one request arriving at now (nanoseconds on any clock shared
// by every caller of this key) against the theoretical arrival time tat
// (zero: never seen) and returns the decision and the new tat to store.
func (g GCRA) Take(tat, now int64) (Decision, int64) {
	iv := int64(g.Interval)
	if tat < now {
		tat = now
	}
	next := tat + iv
	allowAt := next - g.Burst*iv
	if now < allowAt {
		return Decision{RetryAfter: time.Duration(allowAt - now), Full: time.Duration(tat - now)}, tat
	}
	return Decision{Allowed: true, Remaining: (now - allowAt) / iv, Full: time.Duration(next - now)}, next
}

// NextToken is the time until the bucket holds one token more than it does
// now, given the time until it is full: zero when it is full already.
func (g GCRA) NextToken(full time.Duration) time.Duration {
	if full <= 0 {
		return 0
	}
	if r := full % g.Interval; r != 0 {
		return r
	}
	return g.Interval
}
