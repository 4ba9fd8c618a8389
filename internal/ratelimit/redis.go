package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/vigil-sec/vigil/internal/tokenbucket"
)

// gcraScript is tokenbucket.GCRA.Take, atomically, on one key holding the
// theoretical arrival time in microseconds. The key expires when the
// bucket is full again, so idle clients cost Redis nothing.
//
// KEYS[1] the bucket; ARGV[1] the interval (µs, may be fractional);
// ARGV[2] the burst; ARGV[3] now in µs, or 0 for Redis's own clock (the
// one clock every gateway shares). It returns {allowed, remaining,
// retry_after_µs, full_µs}.
var gcraScript = redis.NewScript(`
local iv = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local nxt = tat + iv
local allow_at = nxt - burst * iv
if now < allow_at then
  return {0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
end
local full = math.ceil(nxt - now)
redis.call('SET', KEYS[1], string.format('%.17g', nxt), 'PX', math.max(1, math.ceil(full / 1000)))
return {1, math.floor((now - allow_at) / iv), 0, full}
`)

// Redis is a Limiter shared by every gateway that points at the same
// Redis and prefix. Each Allow is one EVALSHA under Timeout; errors and
// timeouts feed the Breaker, and while it is open Allow fails at once so
// the hot path never waits on a dead Redis.
type Redis struct {
	c       redis.Scripter
	prefix  string
	g       tokenbucket.GCRA
	iv, b   string
	timeout time.Duration
	br      *Breaker
	// LocalClock sends the gateway's clock in place of Redis's TIME
	// (tests replaying a sequence; gateways with synchronized clocks).
	LocalClock bool
}

var _ Limiter = (*Redis)(nil)

// RedisOptions configures NewRedisClient.
type RedisOptions struct {
	URL     string        // redis://[user:password@]host:port/db, rediss://, unix://
	Timeout time.Duration // per command: dial, pool wait, read and write
}

// CheckRedisURL reports whether u is a Redis URL NewRedisClient accepts.
func CheckRedisURL(u string) error {
	_, err := redis.ParseURL(u)
	return err
}

// NewRedisClient connects lazily to the Redis at o.URL with timeouts fit
// for the request path: no retries, every wait bounded by o.Timeout.
func NewRedisClient(o RedisOptions) (*redis.Client, error) {
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, err
	}
	t := o.Timeout
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = t, t, t, t
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true
	opt.Protocol = 2
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(opt), nil
}

// NewRedis returns the limiter of one limit: keys are prefix + a hash of
// the bucket key (the raw key, which may be an API key, never reaches
// Redis). br may be shared by every limit on the same Redis.
func NewRedis(c redis.Scripter, prefix string, rate float64, burst int64, timeout time.Duration, br *Breaker) *Redis {
	g := tokenbucket.NewGCRA(rate, burst)
	return &Redis{c: c, prefix: prefix, g: g, timeout: timeout, br: br,
		iv: strconv.FormatFloat(float64(g.Interval)/float64(time.Microsecond), 'f', -1, 64),
		b:  strconv.FormatInt(g.Burst, 10)}
}

// GCRA is the limiter's bucket arithmetic.
func (r *Redis) GCRA() tokenbucket.GCRA { return r.g }

// Key is the Redis key of a bucket key.
func (r *Redis) Key(key string) string {
	sum := sha256.Sum256([]byte(key))
	return r.prefix + hex.EncodeToString(sum[:16])
}

// ErrCircuitOpen is returned while the breaker keeps requests away from a
// Redis that failed.
var ErrCircuitOpen = fmt.Errorf("%w: circuit open", ErrUnavailable)

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, now time.Time) (Result, error) {
	if !r.br.Allow(now) {
		return Result{}, ErrCircuitOpen
	}
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	nowArg := "0"
	if r.LocalClock {
		nowArg = strconv.FormatInt(now.UnixMicro(), 10)
	}
	v, err := gcraScript.Run(ctx, r.c, []string{r.Key(key)}, r.iv, r.b, nowArg).Int64Slice()
	if err == nil && len(v) != 4 {
		err = errors.New("unexpected script reply")
	}
	if err != nil {
		r.br.Failure(now)
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	r.br.Success()
	return Result{Allowed: v[0] == 1, Remaining: v[1], RetryAfter: time.Duration(v[2]) * time.Microsecond,
		Full: time.Duration(v[3]) * time.Microsecond}, nil
}
