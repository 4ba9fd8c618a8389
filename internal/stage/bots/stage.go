// Package bots is the bots stage: passive bot scoring (user agent, missing
// or inconsistent headers, request cadence per client address), the
// attack-tool block, and the browser proof-of-work challenge for
// configured routes. The scoring and the challenge live in internal/bot;
// see README.md and docs/bots.md.
package bots

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/bot"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/endpoint"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Rule ids of the challenge.
const (
	RuleChallenge       = "bot:challenge"
	RuleChallengePassed = "bot:challenge-passed"
	RuleChallengeFailed = "bot:challenge-failed"
)

// Stage scores requests and challenges browsers.
type Stage struct {
	blockAt  float64
	reportAt float64
	allow    []*regexp.Regexp
	deny     []*regexp.Regexp
	skipAuth bool
	cadence  *bot.Cadence
	ch       *challenge
	now      func() time.Time
}

type challenge struct {
	is     *bot.Issuer
	routes []string
	paths  []endpoint.Template
	all    bool // neither routes nor paths: every route
	always bool
	at     float64
	ttl    string
}

var (
	_ pipeline.Stage   = (*Stage)(nil)
	_ pipeline.Layered = (*Stage)(nil)
)

// New builds the stage from protect.bots; nil when it is not enabled.
func New(cfg *config.Config) (pipeline.Stage, error) {
	b := cfg.Protect.Bots
	if b == nil || !b.Enabled {
		return nil, nil
	}
	s, err := build(b)
	if err != nil {
		return nil, fmt.Errorf("bots: %w", err)
	}
	return s, nil
}

func build(b *config.Bots) (*Stage, error) {
	s := &Stage{blockAt: b.BlockAt(), reportAt: b.ReportAt(), skipAuth: b.SkipAuth(), now: time.Now}
	for _, src := range b.AllowUserAgents {
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, err
		}
		s.allow = append(s.allow, re)
	}
	for _, src := range b.DenyUserAgents {
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, err
		}
		s.deny = append(s.deny, re)
	}
	if b.Cadence.On() {
		s.cadence = bot.NewCadence(b.Cadence.Clients(), b.Cadence.BurstLimit())
	}
	if c := b.Challenge; c != nil {
		key, err := Secret(c)
		if err != nil {
			return nil, err
		}
		ch := &challenge{
			is:     bot.NewIssuer(key, c.Bits(), c.TokenLife(), c.CookieLife(), c.BindsIP()),
			routes: c.Routes,
			all:    len(c.Routes) == 0 && len(c.Paths) == 0,
			always: c.Always,
			at:     c.ChallengeAt(),
			ttl:    c.CookieLife().String(),
		}
		for _, p := range c.Paths {
			t, err := endpoint.Parse(p)
			if err != nil {
				return nil, err
			}
			ch.paths = append(ch.paths, t)
		}
		s.ch = ch
	}
	return s, nil
}

// Name is the stage name.
func (s *Stage) Name() string { return "bots" }

// Layer is the layer findings carry.
func (s *Stage) Layer() string { return "bot" }

// Request scores the request; it blocks attack tools (and anything at or
// above score_threshold), challenges browsers on challenge routes, and
// answers a solved challenge with the cookie.
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	r := tx.Req
	ua := first(r.Header["User-Agent"])
	if s.ch != nil && !tx.Monitor() {
		if ans := first(r.Header[bot.AnswerHeader]); ans != "" {
			return s.verify(tx, ans, ua), nil
		}
	}
	for _, re := range s.allow {
		if re.MatchString(ua) {
			return pipeline.Continue, nil
		}
	}
	var sc bot.Score
	denied := false
	for _, re := range s.deny {
		if re.MatchString(ua) {
			sc.Add(bot.ReasonDeniedUA)
			denied = true
			break
		}
	}
	if !denied {
		bot.Passive(&sc, r, ua, bot.Classify(ua))
	}
	if s.cadence != nil {
		now := tx.Start
		if now.IsZero() {
			now = s.now()
		}
		v := s.cadence.Observe(tx.ClientIP, now)
		if v.Regular {
			sc.Add(bot.ReasonRegular)
		}
		if v.Burst {
			sc.Add(bot.ReasonBurst)
		}
	}
	if sc.Value >= s.blockAt {
		top := sc.Top()
		return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusForbidden, RuleID: top.RuleID, Kind: top.Kind,
			Severity: "high", Message: sc.Message()}, nil
	}
	if s.ch != nil {
		if v, ok := s.challenge(tx, ua, &sc); ok {
			return v, nil
		}
	}
	if sc.Value >= s.reportAt && sc.Value > 0 {
		top := sc.Top()
		sev := "low"
		if sc.Value >= 0.7 {
			sev = "medium"
		}
		tx.AddFinding(event.Finding{Stage: "bots", Layer: "bot", RuleID: top.RuleID, Kind: top.Kind, Severity: sev,
			Action: "log", Message: sc.Message()})
	}
	return pipeline.Continue, nil
}

// challenge decides whether this request gets the proof of work.
func (s *Stage) challenge(tx *pipeline.Txn, ua string, sc *bot.Score) (pipeline.Verdict, bool) {
	ch := s.ch
	r := tx.Req
	if !ch.applies(tx) {
		return pipeline.Verdict{}, false
	}
	if !ch.always && sc.Value < ch.at {
		return pipeline.Verdict{}, false
	}
	if s.skipAuth && credentialed(tx) {
		return pipeline.Verdict{}, false
	}
	if c := bot.CookieValue(r.Header, bot.CookieName); c != "" && ch.is.VerifyCookie(c, tx.ClientIP, ua, s.now()) {
		return pipeline.Verdict{}, false
	}
	// A browser's own fetch or subresource request cannot run the page;
	// without always it is left to the navigation that loaded its page.
	mode := first(r.Header["Sec-Fetch-Mode"])
	navigation := mode == "" || mode == "navigate"
	if !navigation && !ch.always {
		return pipeline.Verdict{}, false
	}
	why := "challenge.always"
	if !ch.always || sc.Value > 0 {
		why = sc.Message()
	}
	sev := "low"
	if sc.Value >= 0.5 {
		sev = "medium"
	}
	v := pipeline.Verdict{Action: pipeline.Challenge, Status: http.StatusForbidden, RuleID: RuleChallenge, Kind: bot.KindBot,
		Severity: sev, Message: "proof-of-work challenge: " + why}
	if navigation {
		tok := ch.is.NewToken(tx.ClientIP, ua, s.now())
		v.Body = bot.Page(tok, ch.is.Bits)
		v.ContentType = "text/html; charset=utf-8"
		v.Header = http.Header{
			"Content-Security-Policy": {bot.CSP},
			"X-Content-Type-Options":  {"nosniff"},
			"Referrer-Policy":         {"no-referrer"},
		}
	}
	return v, true
}

// verify answers a solved challenge: the cookie on success (the request
// itself is the challenge's exchange, so its decision is challenge), a
// 403 otherwise. Answers are honoured on every route the stage runs on.
func (s *Stage) verify(tx *pipeline.Txn, answer, ua string) pipeline.Verdict {
	ch := s.ch
	now := s.now()
	if err := ch.is.VerifyAnswer(answer, tx.ClientIP, ua, now); err != nil {
		return pipeline.Verdict{Action: pipeline.Challenge, Status: http.StatusForbidden, RuleID: RuleChallengeFailed,
			Kind: bot.KindBot, Severity: "medium", Message: "challenge answer refused: " + err.Error()}
	}
	val, _ := ch.is.Cookie(tx.ClientIP, ua, now)
	return pipeline.Verdict{Action: pipeline.Challenge, Status: http.StatusOK, RuleID: RuleChallengePassed, Kind: bot.KindBot,
		Severity: "info", Message: "proof of work verified; cookie " + bot.CookieName + " set for " + ch.ttl,
		Header:      http.Header{"Set-Cookie": {ch.is.SetCookie(val, tx.Req.TLS != nil)}},
		Body:        []byte(`{"verified":true}` + "\n"),
		ContentType: "application/json"}
}

func (ch *challenge) applies(tx *pipeline.Txn) bool {
	if ch.all || slices.Contains(ch.routes, tx.Route) {
		return true
	}
	for i := range ch.paths {
		if ch.paths[i].Match(tx.Req.Method, tx.Req.URL.Path) {
			return true
		}
	}
	return false
}

// credentialed: the request carries an API credential. The identity
// layer will make this "carries a verified token".
func credentialed(tx *pipeline.Txn) bool {
	if tx.Identity != nil {
		return true
	}
	if tx.Auth != "" {
		return tx.Auth != "none"
	}
	h := tx.Req.Header
	return len(h["Authorization"]) > 0 || len(h["X-Api-Key"]) > 0 || len(h["Api-Key"]) > 0
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// SecretFileName is the file under data_dir that holds the generated
// secret when none is configured.
const SecretFileName = "bot-secret"

var (
	processOnce sync.Once
	processKey  []byte
)

// Secret is the challenge's HMAC key: challenge.secret, else
// challenge.secret_file, else data_dir/bot-secret (created, mode 0600, on
// first use), else a random key kept for the life of the process (so a
// reload keeps cookies valid; a restart or another replica does not).
func Secret(c *config.BotChallenge) ([]byte, error) {
	if c.Secret != "" {
		return []byte(c.Secret), nil
	}
	if c.SecretFile != "" {
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, err
		}
		b = []byte(strings.TrimSpace(string(b)))
		if len(b) < config.MinBotSecretLen {
			return nil, fmt.Errorf("%s holds fewer than %d characters", c.SecretFile, config.MinBotSecretLen)
		}
		return b, nil
	}
	if c.DataDir != "" {
		if b, err := dataDirSecret(filepath.Join(c.DataDir, SecretFileName)); err == nil {
			return b, nil
		}
	}
	processOnce.Do(func() {
		processKey = make([]byte, 32)
		_, _ = rand.Read(processKey)
	})
	return processKey, nil
}

func dataDirSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		if b = []byte(strings.TrimSpace(string(b))); len(b) >= config.MinBotSecretLen {
			return b, nil
		}
		return nil, fmt.Errorf("%s is too short", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	key := []byte(hex.EncodeToString(raw[:]))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process made it first: use theirs.
		time.Sleep(10 * time.Millisecond)
		return dataDirSecret(path)
	}
	if err != nil {
		return nil, err
	}
	_, err = f.Write(append(key, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return key, nil
}
