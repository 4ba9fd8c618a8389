// Package bot scores how likely a request comes from an automated client
// and runs the browser proof-of-work challenge: passive signals (the user
// agent, missing or inconsistent headers, request cadence per client
// address) combine into a score in [0,1] with its reasons; a stateless,
// HMAC-signed challenge and cookie let a real browser prove it runs
// JavaScript. The bots stage (internal/stage/bots) puts it in the pipeline.
package bot

import (
	"net/http"
	"strconv"
	"strings"
)

// Finding kinds.
const (
	KindBot        = "bot"
	KindAttackTool = "attack_tool"
)

// Reason is one signal that raised a score.
type Reason struct {
	RuleID string // bot:ua-sqlmap, bot:headers-accept-language, ...
	Kind   string // bot or attack_tool
	Text   string // for the finding's message
	Weight float64
}

// maxReasons bounds the reasons one score keeps.
const maxReasons = 8

// Score is a bot score: signals combine as independent evidence,
// 1 - Π(1 - weight), so it stays in [0,1] and one certain signal (an
// attack tool) makes it 1. A Score is a value: it does not allocate.
type Score struct {
	Value   float64
	reasons [maxReasons]Reason
	n       int
}

// Add records a signal.
func (s *Score) Add(r Reason) {
	if r.Weight <= 0 {
		return
	}
	if s.n < maxReasons {
		s.reasons[s.n] = r
		s.n++
	}
	s.Value = 1 - (1-s.Value)*(1-min(r.Weight, 1))
}

// Reasons are the signals, in the order they were added.
func (s *Score) Reasons() []Reason { return s.reasons[:s.n] }

// Top is the heaviest signal (the zero Reason when there is none).
func (s *Score) Top() Reason {
	var top Reason
	for _, r := range s.reasons[:s.n] {
		if r.Weight > top.Weight {
			top = r
		}
	}
	return top
}

// Has reports whether a signal with this rule id was added.
func (s *Score) Has(ruleID string) bool {
	for _, r := range s.reasons[:s.n] {
		if r.RuleID == ruleID {
			return true
		}
	}
	return false
}

// Message is "bot score 0.62: reason; reason".
func (s *Score) Message() string {
	var b strings.Builder
	b.WriteString("bot score ")
	b.WriteString(strconv.FormatFloat(s.Value, 'f', 2, 64))
	for i, r := range s.reasons[:s.n] {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(r.Text)
	}
	return b.String()
}

// Fixed signals.
var (
	ReasonEmptyUA       = Reason{RuleID: "bot:ua-empty", Kind: KindBot, Text: "no User-Agent", Weight: 0.5}
	ReasonDeniedUA      = Reason{RuleID: "bot:ua-denied", Kind: KindBot, Text: "user agent on deny_user_agents", Weight: 1}
	ReasonNoAccept      = Reason{RuleID: "bot:headers-accept", Kind: KindBot, Text: "browser user agent without Accept", Weight: 0.3}
	ReasonNoLanguage    = Reason{RuleID: "bot:headers-accept-language", Kind: KindBot, Text: "browser user agent without Accept-Language", Weight: 0.2}
	ReasonNoEncoding    = Reason{RuleID: "bot:headers-accept-encoding", Kind: KindBot, Text: "browser user agent without Accept-Encoding", Weight: 0.2}
	ReasonHintsMismatch = Reason{RuleID: "bot:client-hints", Kind: KindBot, Text: "Sec-CH-UA does not match the user agent", Weight: 0.4}
	ReasonNoHints       = Reason{RuleID: "bot:client-hints-missing", Kind: KindBot, Text: "Chrome user agent over TLS without Sec-CH-UA", Weight: 0.15}
	ReasonHTTP10        = Reason{RuleID: "bot:http10", Kind: KindBot, Text: "HTTP/1.0", Weight: 0.2}
	ReasonRegular       = Reason{RuleID: "bot:cadence-regular", Kind: KindBot, Text: "requests at machine-regular intervals", Weight: 0.4}
	ReasonBurst         = Reason{RuleID: "bot:cadence-burst", Kind: KindBot, Text: "burst of requests from one address", Weight: 0.3}
)

// UAReason is the signal of a user-agent signature.
func UAReason(sig *Signature) Reason {
	kind := KindBot
	if sig.Class == ClassAttack {
		kind = KindAttackTool
	}
	return Reason{RuleID: sig.ruleID, Kind: kind, Text: sig.reason, Weight: sig.Class.Weight()}
}

// Passive adds the signals of the request line and headers: the user agent
// (sig, from Classify, nil when none matched), headers a browser always
// sends, client hints against the user agent, HTTP/1.0. It does not
// allocate.
func Passive(s *Score, r *http.Request, ua string, sig *Signature) {
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		s.Add(ReasonHTTP10)
	}
	if ua == "" {
		s.Add(ReasonEmptyUA)
		return
	}
	if sig != nil {
		s.Add(UAReason(sig))
		return
	}
	if !strings.HasPrefix(ua, "Mozilla/") {
		return
	}
	// A browser: it sends these on every request.
	h := r.Header
	if len(h["Accept"]) == 0 {
		s.Add(ReasonNoAccept)
	}
	if len(h["Accept-Language"]) == 0 {
		s.Add(ReasonNoLanguage)
	}
	if len(h["Accept-Encoding"]) == 0 {
		s.Add(ReasonNoEncoding)
	}
	chrome := chromeMajor(ua)
	if hints := h["Sec-Ch-Ua"]; len(hints) > 0 {
		if !hintsMatch(hints[0], chrome, ua, h["Sec-Ch-Ua-Mobile"]) {
			s.Add(ReasonHintsMismatch)
		}
	} else if chrome != "" && r.TLS != nil && !strings.Contains(ua, "Mobile") {
		// Chromium sends client hints to secure origins (desktop; some
		// mobile WebViews do not).
		s.Add(ReasonNoHints)
	}
}

// chromeMajor is the major version after "Chrome/" ("" when the user
// agent is not Chromium-based).
func chromeMajor(ua string) string {
	i := strings.Index(ua, "Chrome/")
	if i < 0 {
		return ""
	}
	v := ua[i+len("Chrome/"):]
	n := 0
	for n < len(v) && v[n] >= '0' && v[n] <= '9' {
		n++
	}
	return v[:n]
}

// hintsMatch checks Sec-CH-UA ("Chromium";v="120", "Google Chrome";v="120",
// "Not?A_Brand";v="99") against the user agent: only Chromium sends it,
// one of its brands carries the user agent's major version, and
// Sec-CH-UA-Mobile ?1 goes with a mobile user agent.
func hintsMatch(hints, chrome, ua string, mobile []string) bool {
	if chrome == "" {
		return false // Firefox and Safari send no client hints
	}
	found := false
	for rest := hints; ; {
		i := strings.Index(rest, `v="`)
		if i < 0 {
			break
		}
		rest = rest[i+3:]
		if strings.HasPrefix(rest, chrome) && len(rest) > len(chrome) && (rest[len(chrome)] == '"' || rest[len(chrome)] == '.') {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	if len(mobile) > 0 && mobile[0] == "?1" && !strings.Contains(ua, "Mobile") {
		return false
	}
	return true
}
