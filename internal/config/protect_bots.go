package config

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/vigil-sec/vigil/internal/endpoint"
)

// Bots is protect.bots: passive bot scoring and the browser challenge (see
// docs/bots.md). {enabled: true} alone scores every request passively,
// blocks attack tools' user agents and challenges nobody.
//
//	bots:
//	  enabled: true
//	  score_threshold: 0.9          # block at or above (attack tools score 1)
//	  report_threshold: 0.5         # a finding at or above
//	  allow_user_agents: ["^UptimeRobot/"]
//	  deny_user_agents: ["(?i)evilscraper"]
//	  skip_authenticated: true
//	  challenge:
//	    routes: [web]               # or paths: ["GET /account/*"]
//	    score_threshold: 0.2
//	    difficulty: 16
//	    cookie_ttl: 1h
//	    secret_file: /run/secrets/vigil-bot
type Bots struct {
	Enabled bool `yaml:"enabled"`
	// Mode is enforce or monitor for this stage; it is the default of
	// protect.stages.bots.mode (routes[].modes.bots still wins).
	Mode string `yaml:"mode"`
	// ScoreThreshold: a request scoring at or above it is blocked (403).
	// Attack tools and deny_user_agents score 1. Default 0.9.
	ScoreThreshold *float64 `yaml:"score_threshold"`
	// ReportThreshold: a request scoring at or above it (and not stopped)
	// gets a finding with action log. Default 0.5, so a plain curl (0.3)
	// is scored but not recorded.
	ReportThreshold *float64 `yaml:"report_threshold"`
	// AllowUserAgents are regular expressions (RE2) for known good bots and
	// monitoring: a matching request scores 0 and is never challenged.
	AllowUserAgents []string `yaml:"allow_user_agents"`
	// DenyUserAgents are regular expressions: a matching request scores 1
	// (blocked in enforce mode), rule id bot:ua-denied.
	DenyUserAgents []string `yaml:"deny_user_agents"`
	// SkipAuthenticated spares requests that carry credentials (an
	// Authorization header, X-API-Key or Api-Key, or a verified identity)
	// from the challenge. Scoring and blocks still apply. Default true.
	SkipAuthenticated *bool `yaml:"skip_authenticated"`
	// Cadence scores request timing per client address.
	Cadence BotCadence `yaml:"cadence"`
	// Challenge is the JavaScript proof-of-work for browser routes; none
	// when absent.
	Challenge *BotChallenge `yaml:"challenge"`
}

// BotCadence is protect.bots.cadence.
type BotCadence struct {
	// Enabled turns the timing signals on (default true).
	Enabled *bool `yaml:"enabled"`
	// MaxClients bounds the client addresses remembered (default 65536;
	// the least useful are evicted, so rotating addresses cannot grow it).
	MaxClients int `yaml:"max_clients"`
	// Burst: more requests than this from one address within one second
	// is a burst (default 50).
	Burst int `yaml:"burst"`
}

// BotChallenge is protect.bots.challenge.
type BotChallenge struct {
	// Routes are route names whose requests may be challenged.
	Routes []string `yaml:"routes"`
	// Paths are endpoint templates ("GET /account/*", "/checkout") whose
	// requests may be challenged. With neither routes nor paths, every
	// route the stage runs on is a challenge route.
	Paths []string `yaml:"paths"`
	// Always challenges every request on a challenge route that has no
	// valid cookie, whatever its score.
	Always bool `yaml:"always"`
	// ScoreThreshold: requests scoring at or above it are challenged
	// (default 0.2: a real browser scores 0, curl 0.3).
	ScoreThreshold *float64 `yaml:"score_threshold"`
	// Difficulty is the proof of work: leading zero bits of SHA-256
	// (default 16, about 65k hashes; 8..24).
	Difficulty int `yaml:"difficulty"`
	// CookieTTL is how long a solved challenge's cookie is valid
	// (default 1h).
	CookieTTL time.Duration `yaml:"cookie_ttl"`
	// TokenTTL is how long a client has to solve one challenge (default 5m).
	TokenTTL time.Duration `yaml:"token_ttl"`
	// Secret keys the HMAC of challenges and cookies (at least 32
	// characters). Replicas behind one load balancer need the same secret.
	// Default: SecretFile, else data_dir/bot-secret (created on first
	// use), else a random key per process.
	Secret string `yaml:"secret"`
	// SecretFile holds the secret (read once per config load).
	SecretFile string `yaml:"secret_file"`
	// BindIP ties a cookie to the client address it was solved from
	// (default true). It is always tied to the user agent.
	BindIP *bool `yaml:"bind_ip"`

	// DataDir is data_dir, filled in by validation.
	DataDir string `yaml:"-"`
}

// Bot defaults.
const (
	DefaultBotScoreThreshold     = 0.9
	DefaultBotReportThreshold    = 0.5
	DefaultBotChallengeThreshold = 0.2
	DefaultBotDifficulty         = 16
	DefaultBotCookieTTL          = time.Hour
	DefaultBotTokenTTL           = 5 * time.Minute
	DefaultBotMaxClients         = 65536
	DefaultBotBurst              = 50
	MinBotSecretLen              = 32
)

func botFloat(p *float64, d float64) float64 {
	if p == nil {
		return d
	}
	return *p
}

func botBool(p *bool, d bool) bool {
	if p == nil {
		return d
	}
	return *p
}

// BlockAt is the score at or above which a request is blocked.
func (b *Bots) BlockAt() float64 { return botFloat(b.ScoreThreshold, DefaultBotScoreThreshold) }

// ReportAt is the score at or above which a finding is recorded.
func (b *Bots) ReportAt() float64 { return botFloat(b.ReportThreshold, DefaultBotReportThreshold) }

// SkipAuth says whether credentialed requests skip the challenge.
func (b *Bots) SkipAuth() bool { return botBool(b.SkipAuthenticated, true) }

// On says whether the timing signals are on.
func (c *BotCadence) On() bool { return botBool(c.Enabled, true) }

// Clients is the bound on remembered addresses.
func (c *BotCadence) Clients() int {
	if c.MaxClients > 0 {
		return c.MaxClients
	}
	return DefaultBotMaxClients
}

// BurstLimit is the per-second request count above which a burst is scored.
func (c *BotCadence) BurstLimit() int {
	if c.Burst > 0 {
		return c.Burst
	}
	return DefaultBotBurst
}

// ChallengeAt is the score at or above which a request is challenged.
func (c *BotChallenge) ChallengeAt() float64 {
	return botFloat(c.ScoreThreshold, DefaultBotChallengeThreshold)
}

// Bits is the proof-of-work difficulty.
func (c *BotChallenge) Bits() int {
	if c.Difficulty > 0 {
		return c.Difficulty
	}
	return DefaultBotDifficulty
}

// CookieLife is the cookie's lifetime.
func (c *BotChallenge) CookieLife() time.Duration {
	if c.CookieTTL > 0 {
		return c.CookieTTL
	}
	return DefaultBotCookieTTL
}

// TokenLife is a challenge's lifetime.
func (c *BotChallenge) TokenLife() time.Duration {
	if c.TokenTTL > 0 {
		return c.TokenTTL
	}
	return DefaultBotTokenTTL
}

// BindsIP says whether cookies are tied to the client address.
func (c *BotChallenge) BindsIP() bool { return botBool(c.BindIP, true) }

func (c *Config) validateBots(add addFunc) {
	b := c.Protect.Bots
	if b == nil || !b.Enabled {
		return
	}
	const p = "protect.bots"
	if b.Mode != "" {
		oneOf := func(path, v string, allowed ...string) {
			if !slices.Contains(allowed, v) {
				add(path, "%q is not one of %v", v, allowed)
			}
		}
		oneOf(p+".mode", b.Mode, "enforce", "monitor")
		if b.Mode == "monitor" || b.Mode == "enforce" {
			sp := c.Protect.Stages["bots"]
			if sp.Mode == "" {
				sp.Mode = b.Mode
				if c.Protect.Stages == nil {
					c.Protect.Stages = map[string]StagePolicy{}
				}
				c.Protect.Stages["bots"] = sp
			}
		}
	}
	unit := func(path string, v *float64) {
		if v != nil && (*v < 0 || *v > 1) {
			add(path, "%v is not between 0 and 1", *v)
		}
	}
	unit(p+".score_threshold", b.ScoreThreshold)
	unit(p+".report_threshold", b.ReportThreshold)
	for i, re := range b.AllowUserAgents {
		if _, err := regexp.Compile(re); err != nil {
			add(fmt.Sprintf("%s.allow_user_agents[%d]", p, i), "%v", err)
		}
	}
	for i, re := range b.DenyUserAgents {
		if _, err := regexp.Compile(re); err != nil {
			add(fmt.Sprintf("%s.deny_user_agents[%d]", p, i), "%v", err)
		}
	}
	if b.Cadence.MaxClients < 0 {
		add(p+".cadence.max_clients", "must not be negative")
	}
	if b.Cadence.Burst < 0 {
		add(p+".cadence.burst", "must not be negative")
	}
	ch := b.Challenge
	if ch == nil {
		return
	}
	const cp = p + ".challenge"
	ch.DataDir = c.DataDir
	for i, name := range ch.Routes {
		if !slices.ContainsFunc(c.Routes, func(r Route) bool { return r.Name == name }) {
			add(fmt.Sprintf("%s.routes[%d]", cp, i), "no route is named %q", name)
		}
	}
	for i, t := range ch.Paths {
		if _, err := endpoint.Parse(t); err != nil {
			add(fmt.Sprintf("%s.paths[%d]", cp, i), "%v", err)
		}
	}
	unit(cp+".score_threshold", ch.ScoreThreshold)
	if ch.Difficulty != 0 && (ch.Difficulty < 8 || ch.Difficulty > 24) {
		add(cp+".difficulty", "%d is not between 8 and 24 leading zero bits", ch.Difficulty)
	}
	if ch.Secret != "" && ch.SecretFile != "" {
		add(cp+".secret", "set secret or secret_file, not both")
	}
	if ch.Secret != "" && len(ch.Secret) < MinBotSecretLen {
		add(cp+".secret", "must be at least %d characters", MinBotSecretLen)
	}
	if ch.SecretFile != "" {
		if data, err := os.ReadFile(ch.SecretFile); err != nil {
			add(cp+".secret_file", "%v", err)
		} else if len(bytes.TrimSpace(data)) < MinBotSecretLen {
			add(cp+".secret_file", "%s holds fewer than %d characters", ch.SecretFile, MinBotSecretLen)
		}
	}
}
