// Package ratelimit is the rate_limit stage: token buckets per key (client
// address, token subject, client id, a header, the endpoint, or several of
// them), per configured limit, kept in this process or shared by every
// gateway through Redis (internal/ratelimit). See README.md and
// docs/rate-limits.md.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/endpoint"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/ratelimit"
	"github.com/vigil-sec/vigil/internal/tokenbucket"
)

// Stage enforces every configured limit.
type Stage struct {
	limits   []*limit
	now      func() time.Time
	client   *redis.Client // nil when every limit is local
	blocking bool
}

var (
	_ pipeline.Stage    = (*Stage)(nil)
	_ pipeline.Layered  = (*Stage)(nil)
	_ pipeline.Blocking = (*Stage)(nil)
	_ pipeline.Closer   = (*Stage)(nil)
)

// Key parts.
const (
	partIP uint8 = iota
	partSub
	partClientID
	partHeader
	partEndpoint
)

// What a request without a key value gets.
const (
	missingSkip uint8 = iota
	missingShared
	missingIP
)

// What a request gets when the shared store cannot decide.
const (
	failOpen uint8 = iota
	failClosed
	failLocal
)

type keyPart struct {
	kind   uint8
	header string // canonical header name, for partHeader
}

type limit struct {
	name    string
	tmpl    *endpoint.Template
	prefix  string
	methods []string
	host    string // exact host; "" any
	suffix  string // ".example.com" for *.example.com
	parts   []keyPart
	missing uint8
	onError uint8
	// endpointKey is the bucket key part of key: endpoint when the limit
	// matches an endpoint template (one bucket for all of it).
	endpointKey string
	g           tokenbucket.GCRA
	local       *ratelimit.Local // the store, or the fallback of on_error: local
	shared      *ratelimit.Redis // nil for a local limit
	policy      []string         // RateLimit-Policy value
	policyName  string           // the sf-string of the name
	storeMsg    [3]string        // finding messages per on_error
}

// New builds the stage; nil when no limits are configured. The limits
// come validated (config.Load): a limit whose store is Redis finds
// protect.redis in its Redis field.
func New(cfgs []config.RateLimit) (pipeline.Stage, error) {
	if len(cfgs) == 0 {
		return nil, nil
	}
	s := &Stage{now: time.Now}
	var br *ratelimit.Breaker
	for i := range cfgs {
		c := &cfgs[i]
		l, err := newLimit(c, i)
		if err != nil {
			s.Close()
			return nil, err
		}
		rate, burst, _ := c.Bucket()
		if rd := c.Redis; rd != nil && c.Store != "local" {
			if s.client == nil {
				if s.client, err = ratelimit.NewRedisClient(ratelimit.RedisOptions{URL: rd.URL, Timeout: rd.Timeout}); err != nil {
					return nil, fmt.Errorf("protect.redis.url: %w", err)
				}
				br = &ratelimit.Breaker{Failures: int32(rd.BreakerFailures), Cooldown: rd.BreakerCooldown}
			}
			l.shared = ratelimit.NewRedis(s.client, rd.Prefix+"rl:"+l.name+":", rate, burst, rd.Timeout, br)
			s.blocking = true
			onError := c.OnError
			if onError == "" {
				onError = rd.OnError
			}
			switch onError {
			case "fail_closed":
				l.onError = failClosed
			case "local":
				l.onError = failLocal
			}
			if l.onError != failLocal {
				l.local = nil
			}
		}
		s.limits = append(s.limits, l)
	}
	return s, nil
}

func newLimit(c *config.RateLimit, i int) (*limit, error) {
	rate, burst, quota := c.Bucket()
	if rate <= 0 || math.IsInf(rate, 0) || burst <= 0 {
		return nil, fmt.Errorf("protect.rate_limits[%d]: no rate", i)
	}
	l := &limit{name: c.Name, prefix: c.Prefix()}
	if l.name == "" {
		l.name = "rate_limits[" + strconv.Itoa(i) + "]"
	}
	if c.Match.Endpoint != "" {
		t, err := endpoint.Parse(c.Match.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("protect.rate_limits[%d].match.endpoint: %w", i, err)
		}
		l.tmpl = &t
		l.endpointKey = t.String()
	}
	for _, m := range c.Methods() {
		l.methods = append(l.methods, strings.ToUpper(m))
	}
	switch h := strings.ToLower(c.Match.Host); {
	case h == "" || h == "*":
	case strings.HasPrefix(h, "*."):
		l.suffix = h[1:]
	default:
		l.host = h
	}
	for _, p := range c.KeyParts() {
		switch {
		case p == "ip":
			l.parts = append(l.parts, keyPart{kind: partIP})
		case p == "sub":
			l.parts = append(l.parts, keyPart{kind: partSub})
		case p == "client_id":
			l.parts = append(l.parts, keyPart{kind: partClientID})
		case p == "endpoint":
			l.parts = append(l.parts, keyPart{kind: partEndpoint})
		case strings.HasPrefix(p, "header:"):
			l.parts = append(l.parts, keyPart{kind: partHeader, header: http.CanonicalHeaderKey(strings.TrimPrefix(p, "header:"))})
		default:
			return nil, fmt.Errorf("protect.rate_limits[%d].key: %q is not a key", i, p)
		}
	}
	switch c.Missing {
	case "shared":
		l.missing = missingShared
	case "ip":
		l.missing = missingIP
	}
	l.local = ratelimit.NewLocal(rate, burst, c.MaxKeys)
	l.g = l.local.GCRA()
	l.policyName = sfString(l.name)
	q, w := policyWindow(quota)
	l.policy = []string{l.policyName + ";q=" + strconv.FormatInt(q, 10) + ";w=" + strconv.FormatInt(w, 10)}
	for p, word := range [3]string{"fail_open", "fail_closed", "local"} {
		l.storeMsg[p] = "on_error: " + word
	}
	return l, nil
}

// policyWindow expresses a rate as a quota per whole number of seconds.
func policyWindow(r ratelimit.Rate) (q, w int64) {
	secs := r.Period.Seconds()
	w = int64(math.Ceil(secs))
	if w < 1 {
		w = 1
	}
	if float64(w) == secs {
		return r.N, w
	}
	return int64(float64(r.N) * float64(w) / secs), w
}

// sfString quotes s as a Structured Fields string (RFC 9651): printable
// ASCII, with \ and " escaped; anything else becomes _.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "rate_limit" }

// Layer implements pipeline.Layered.
func (s *Stage) Layer() string { return "ratelimit" }

// Blocking implements pipeline.Blocking: a limit shared through Redis
// waits on the network.
func (s *Stage) Blocking() bool { return s.blocking }

// Close implements pipeline.Closer.
func (s *Stage) Close() error {
	if s.client != nil {
		return s.client.Close()
	}
	return nil
}

// Request implements pipeline.Stage.
func (s *Stage) Request(ctx context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	now := s.now()
	r := tx.Req
	for _, l := range s.limits {
		if !l.matches(r) {
			continue
		}
		key, ok := l.key(tx)
		if !ok {
			switch l.missing {
			case missingSkip:
				continue
			case missingShared:
				key = "\x00missing"
			case missingIP:
				key = "\x00ip\x00" + tx.ClientIPText
			}
		}
		var res ratelimit.Result
		if l.shared == nil {
			res = l.local.Take(key, now.UnixNano())
		} else {
			var err error
			if res, err = l.shared.Allow(ctx, key, now); err != nil {
				if v, stop := l.storeFailed(tx, err); stop {
					return v, nil
				}
				if l.onError != failLocal {
					continue
				}
				res = l.local.Take(key, now.UnixNano())
			}
		}
		if !res.Allowed {
			return l.limited(tx, res), nil
		}
	}
	return pipeline.Continue, nil
}

// matches reports whether the limit counts r.
func (l *limit) matches(r *http.Request) bool {
	if len(l.methods) > 0 {
		found := false
		for _, m := range l.methods {
			if m == r.Method || strings.EqualFold(m, r.Method) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if l.prefix != "" && !strings.HasPrefix(r.URL.Path, l.prefix) {
		return false
	}
	if l.host != "" || l.suffix != "" {
		h := hostOnly(r.Host)
		if l.host != "" && !strings.EqualFold(h, l.host) {
			return false
		}
		if l.suffix != "" && !(len(h) > len(l.suffix) && strings.EqualFold(h[len(h)-len(l.suffix):], l.suffix)) {
			return false
		}
	}
	return l.tmpl == nil || l.tmpl.Match(r.Method, r.URL.Path)
}

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ".")
}

// key is the bucket key of tx for this limit; false when a part has no
// value (no such header, no identity or token).
func (l *limit) key(tx *pipeline.Txn) (string, bool) {
	if len(l.parts) == 1 {
		return l.part(tx, l.parts[0])
	}
	var buf [256]byte
	b := buf[:0]
	for i, p := range l.parts {
		v, ok := l.part(tx, p)
		if !ok {
			return "", false
		}
		if i > 0 {
			b = append(b, 0x1f)
		}
		b = append(b, v...)
	}
	return string(b), true
}

func (l *limit) part(tx *pipeline.Txn, p keyPart) (string, bool) {
	switch p.kind {
	case partIP:
		return tx.ClientIPText, tx.ClientIPText != ""
	case partHeader:
		if vs := tx.Req.Header[p.header]; len(vs) > 0 && vs[0] != "" {
			return vs[0], true
		}
		return "", false
	case partSub:
		if id := tx.Identity; id != nil && id.Sub != "" {
			return id.Sub, true
		}
		// Before the identity layer vouches for a subject, the bearer
		// token stands for it. The stores keep a hash of the key, never
		// the token; the prefix keeps a token spelled like someone's
		// subject out of that subject's bucket.
		if tok, ok := BearerToken(tx.Req.Header["Authorization"]); ok {
			return "\x00bearer\x00" + tok, true
		}
		return "", false
	case partClientID:
		if id := tx.Identity; id != nil && id.ClientID != "" {
			return id.ClientID, true
		}
		return "", false
	case partEndpoint:
		if l.endpointKey != "" {
			return l.endpointKey, true
		}
		return tx.Req.Method + " " + tx.Req.URL.Path, true
	}
	return "", false
}

// BearerToken returns the token of an "Authorization: Bearer TOKEN"
// header (scheme case-insensitive, RFC 6750 token68 characters only).
func BearerToken(vs []string) (string, bool) {
	if len(vs) == 0 {
		return "", false
	}
	v := vs[0]
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	tok := strings.TrimLeft(v[len(scheme):], " ")
	if tok == "" {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=') {
			return "", false
		}
	}
	return tok, true
}

// limited is the 429 of an empty bucket, with Retry-After and the
// RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers).
func (l *limit) limited(tx *pipeline.Txn, res ratelimit.Result) pipeline.Verdict {
	secs := int64(math.Ceil(res.RetryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	const msg = "rate limit exceeded"
	return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusTooManyRequests, Kind: "rate_limited",
		RuleID: l.name, Severity: "medium", Message: msg, RetryAfter: time.Duration(secs) * time.Second,
		Header: http.Header{
			"Ratelimit-Policy": l.policy,
			"Ratelimit":        {l.policyName + ";r=0;t=" + strconv.FormatInt(secs, 10)},
		}}
}

// storeFailed records that the shared store could not decide and applies
// on_error: it returns the 503 verdict of fail_closed.
func (l *limit) storeFailed(tx *pipeline.Txn, err error) (pipeline.Verdict, bool) {
	msg := "shared rate limit store unavailable: " + strings.TrimPrefix(err.Error(), ratelimit.ErrUnavailable.Error()+": ") +
		" (" + l.storeMsg[l.onError] + ")"
	if l.onError == failClosed {
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusServiceUnavailable, Kind: "store_unavailable",
			RuleID: l.name, Severity: "high", Message: msg, RetryAfter: time.Second}, true
	}
	tx.AddFinding(event.Finding{Stage: "rate_limit", Layer: "ratelimit", RuleID: l.name, Kind: "store_unavailable",
		Severity: "medium", Action: "log", Message: msg})
	return pipeline.Verdict{}, false
}
