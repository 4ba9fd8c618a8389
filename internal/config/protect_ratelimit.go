package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/endpoint"
	"github.com/vigil-sec/vigil/internal/pathnorm"
	"github.com/vigil-sec/vigil/internal/ratelimit"
)

// RateLimit is a token bucket per key (see docs/rate-limits.md).
//
//   - {name: login, match: {endpoint: "POST /login"}, key: ip, rate: 5/m, burst: 5}
//
// The older form {path_prefix, method, requests, per, burst} still works:
// there burst is capacity on top of requests.
type RateLimit struct {
	// Name is the finding's rule_id and the policy name in the RateLimit
	// headers (default rate_limits[i]).
	Name string `yaml:"name"`
	// Match narrows what the limit counts (everything when empty).
	Match RateLimitMatch `yaml:"match"`
	// PathPrefix and Method are the older spelling of match.path_prefix
	// and match.methods.
	PathPrefix string `yaml:"path_prefix"`
	Method     string `yaml:"method"`
	// Key is what a bucket is kept per: ip (default), sub, client_id,
	// header:NAME, endpoint, or several joined by + (ip+header:X-Device).
	Key string `yaml:"key"`
	// Rate is "N/s", "N/m", "N/h", "N/d" or "N/DURATION" ("100/10s").
	Rate string `yaml:"rate"`
	// Burst is the bucket's capacity: with rate, the whole capacity
	// (default N); with requests, the capacity on top of requests.
	Burst int `yaml:"burst"`
	// Requests per Per: the older spelling of rate.
	Requests int           `yaml:"requests"`
	Per      time.Duration `yaml:"per"`
	// Missing is what happens to a request without a value for its key
	// (no such header, no token): skip (default: not counted by this
	// limit), shared (all such requests share one bucket), or ip (counted
	// by client address).
	Missing string `yaml:"missing"`
	// Store is local (this process) or redis (shared through
	// protect.redis). Default: redis when protect.redis is set.
	Store string `yaml:"store"`
	// OnError is what a request gets when the shared store cannot
	// decide: fail_open (default: allowed, with a finding), fail_closed
	// (503) or local (this process's bucket decides). Default
	// protect.redis.on_error.
	OnError string `yaml:"on_error"`
	// MaxKeys bounds the buckets the local store keeps (default 262144).
	MaxKeys int `yaml:"max_keys"`

	// Redis is protect.redis, filled in by validation: the stage is built
	// from the list alone.
	Redis *RateLimitRedis `yaml:"-"`
}

// RateLimitMatch selects the requests a limit counts; every field set
// must match.
type RateLimitMatch struct {
	// Endpoint is an endpoint template: "POST /login", "/admin/*",
	// "POST /cart/item/add/{parameter}".
	Endpoint   string   `yaml:"endpoint"`
	PathPrefix string   `yaml:"path_prefix"`
	Methods    []string `yaml:"methods"`
	// Host is a host name, "*.example.com" for its subdomains, or "*".
	Host string `yaml:"host"`
}

// RateLimitRedis is protect.redis: the store that shares rate limits
// across gateways.
type RateLimitRedis struct {
	// URL is redis://[user:password@]host:port/db (rediss:// for TLS).
	URL string `yaml:"url"`
	// Prefix starts every key Vigil writes (default "vigil:").
	Prefix string `yaml:"prefix"`
	// Timeout bounds one decision (default 20ms); it must be shorter than
	// the rate_limit stage's timeout so that on_error, not the stage's
	// failure policy, decides.
	Timeout time.Duration `yaml:"timeout"`
	// OnError is the default of rate_limits[].on_error (fail_open).
	OnError string `yaml:"on_error"`
	// BreakerFailures consecutive failures open the circuit for
	// BreakerCooldown (defaults 3 and 1s): requests meanwhile follow
	// on_error at once, without waiting on Redis.
	BreakerFailures int           `yaml:"breaker_failures"`
	BreakerCooldown time.Duration `yaml:"breaker_cooldown"`
}

// Bucket is the limit's refill rate (tokens per second), capacity and the
// policy it advertises (quota per window). It is meaningful once the
// config validated.
func (rl *RateLimit) Bucket() (perSecond float64, capacity int64, quota ratelimit.Rate) {
	if rl.Rate != "" {
		r, _ := ratelimit.ParseRate(rl.Rate)
		capacity = r.N
		if rl.Burst > 0 {
			capacity = int64(rl.Burst)
		}
		return r.PerSecond(), capacity, r
	}
	per := rl.Per
	if per <= 0 {
		per = time.Second
	}
	r := ratelimit.Rate{N: int64(rl.Requests), Period: per}
	return r.PerSecond(), int64(rl.Requests + rl.Burst), r
}

// Prefix is the path prefix the limit counts ("" for all paths).
func (rl *RateLimit) Prefix() string {
	if rl.PathPrefix != "" {
		return rl.PathPrefix
	}
	return rl.Match.PathPrefix
}

// Methods is every method the limit counts (nil: all).
func (rl *RateLimit) Methods() []string {
	if rl.Method != "" {
		return append([]string{rl.Method}, rl.Match.Methods...)
	}
	return rl.Match.Methods
}

// KeyParts splits Key on +.
func (rl *RateLimit) KeyParts() []string {
	k := rl.Key
	if k == "" {
		k = "ip"
	}
	return strings.Split(k, "+")
}

func (c *Config) validateRateLimits(add addFunc) {
	norm := c.Listen.Normalize.Options()
	stageTimeout := c.Protect.StageTimeout
	if sp, ok := c.Protect.Stages["rate_limit"]; ok && sp.Timeout > 0 {
		stageTimeout = sp.Timeout
	}
	rd := c.Protect.Redis
	if rd != nil {
		if rd.Prefix == "" {
			rd.Prefix = "vigil:"
		}
		if rd.Timeout == 0 {
			rd.Timeout = 20 * time.Millisecond
		}
		if rd.BreakerFailures == 0 {
			rd.BreakerFailures = 3
		}
		if rd.BreakerCooldown == 0 {
			rd.BreakerCooldown = time.Second
		}
		if rd.URL == "" {
			add("protect.redis.url", "required (redis://host:port/db)")
		} else if err := ratelimit.CheckRedisURL(rd.URL); err != nil {
			add("protect.redis.url", "%v", err)
		}
		if rd.Timeout < 0 {
			add("protect.redis.timeout", "must not be negative")
		} else if stageTimeout > 0 && rd.Timeout >= stageTimeout {
			add("protect.redis.timeout", "%s must be shorter than the rate_limit stage timeout (%s), or a slow Redis is a stage failure instead of on_error", rd.Timeout, stageTimeout)
		}
		if rd.OnError != "" && rd.OnError != "fail_open" && rd.OnError != "fail_closed" && rd.OnError != "local" {
			add("protect.redis.on_error", "%q is not fail_open, fail_closed or local", rd.OnError)
		}
		if rd.BreakerFailures < 0 || rd.BreakerCooldown < 0 {
			add("protect.redis", "breaker_failures and breaker_cooldown must not be negative")
		}
	}
	names := map[string]int{}
	for i := range c.Protect.RateLimits {
		rl := &c.Protect.RateLimits[i]
		p := fmt.Sprintf("protect.rate_limits[%d]", i)
		if rl.Name != "" {
			if j, dup := names[rl.Name]; dup {
				add(p+".name", "duplicate limit name %q (also rate_limits[%d]): names key the shared buckets", rl.Name, j)
			}
			names[rl.Name] = i
		}
		switch {
		case rl.Rate != "" && rl.Requests != 0:
			add(p+".rate", "set rate or requests/per, not both")
		case rl.Rate != "":
			if _, err := ratelimit.ParseRate(rl.Rate); err != nil {
				add(p+".rate", "%v", err)
			}
		case rl.Requests <= 0:
			add(p+".requests", "must be a positive number of requests (or set rate: N/s, N/m, N/h)")
		}
		if rl.Burst < 0 {
			add(p+".burst", "must not be negative")
		}
		validKey := true
		for _, part := range rl.KeyParts() {
			switch {
			case part == "ip", part == "sub", part == "client_id", part == "endpoint":
			case strings.HasPrefix(part, "header:") && len(part) > len("header:"):
			default:
				validKey = false
			}
		}
		if !validKey {
			add(p+".key", "%q is not ip or header:NAME, sub, client_id, endpoint, or several of them joined by +", rl.Key)
		}
		if rl.Match.Endpoint != "" {
			if _, err := endpoint.Parse(rl.Match.Endpoint); err != nil {
				add(p+".match.endpoint", "%v", err)
			}
		}
		if rl.PathPrefix != "" && rl.Match.PathPrefix != "" {
			add(p+".path_prefix", "set match.path_prefix or path_prefix, not both")
		}
		if mp := rl.Match.PathPrefix; mp != "" {
			if !strings.HasPrefix(mp, "/") {
				add(p+".match.path_prefix", "%q must start with /", mp)
			} else if out, _, err := pathnorm.Normalize((&url.URL{Path: mp}).EscapedPath(), norm); err != nil {
				add(p+".match.path_prefix", "%q never matches a normalized path: %v", mp, err)
			} else if pu, _ := url.PathUnescape(out); pu != mp {
				add(p+".match.path_prefix", "%q never matches a normalized path (use %q)", mp, pu)
			}
		}
		for j, m := range rl.Match.Methods {
			if m == "" || strings.ContainsAny(m, " /") {
				add(fmt.Sprintf("%s.match.methods[%d]", p, j), "%q is not an HTTP method", m)
			}
		}
		if h := rl.Match.Host; strings.Contains(h, "*") && h != "*" && (!strings.HasPrefix(h, "*.") || strings.Count(h, "*") > 1) {
			add(p+".match.host", "%q: a wildcard is only *.domain or *", h)
		}
		switch rl.Missing {
		case "", "skip", "shared", "ip":
		default:
			add(p+".missing", "%q is not skip, shared or ip", rl.Missing)
		}
		switch rl.Store {
		case "", "local":
		case "redis":
			if rd == nil {
				add(p+".store", "redis needs protect.redis")
			}
		default:
			add(p+".store", "%q is not local or redis", rl.Store)
		}
		switch rl.OnError {
		case "", "fail_open", "fail_closed", "local":
		default:
			add(p+".on_error", "%q is not fail_open, fail_closed or local", rl.OnError)
		}
		if rl.MaxKeys < 0 {
			add(p+".max_keys", "must not be negative")
		}
		rl.Redis = rd
	}
}
