package waf

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/vigil-sec/vigil/internal/event"
)

// Request is what the engine is fed: the canonical request as the gateway
// will forward it.
type Request struct {
	// ID becomes Coraza's transaction id (UNIQUE_ID).
	ID     string
	Method string
	// URI is the path and raw query as forwarded ("/search?q=1").
	URI string
	// Path is the canonical path, for endpoint templates.
	Path  string
	Proto string
	Host  string
	// Header are the request headers (Host is taken from Host).
	Header           http.Header
	TransferEncoding []string
	ClientIP         string
	ClientPort       int
	// Route is the route name, for exclusions per route.
	Route string
	// Body is the buffered body; nil when not read (streams, types the
	// engine does not parse).
	Body []byte
}

// Tx is one request's run through the engine. It is used by one goroutine
// and must be closed.
type Tx struct {
	e        *Engine
	tx       types.Transaction
	it       *types.Interruption
	reported int
}

// Request runs the request phases (headers, then body) and returns the
// transaction, interrupted or not. Phase 2 always runs, body or not, so
// query parameters and headers are judged by the CRS rules of phase 2.
func (e *Engine) Request(r *Request) *Tx {
	tx := e.newTx(r.ID)
	t := &Tx{e: e, tx: tx}
	if len(e.scoped) > 0 {
		rm := tx.(ruleRemover) // checked by Build
		for i := range e.scoped {
			if !e.scoped[i].applies(r.Route, r.Method, r.Path) {
				rm.RemoveRuleByID(e.scoped[i].id)
			}
		}
	}
	tx.ProcessConnection(r.ClientIP, r.ClientPort, "", 0)
	tx.ProcessURI(r.URI, r.Method, r.Proto)
	for k, vs := range r.Header {
		for _, v := range vs {
			tx.AddRequestHeader(k, v)
		}
	}
	if r.Host != "" {
		tx.AddRequestHeader("Host", r.Host)
		tx.SetServerName(r.Host)
	}
	for _, te := range r.TransferEncoding {
		tx.AddRequestHeader("Transfer-Encoding", te)
	}
	if t.it = tx.ProcessRequestHeaders(); t.it != nil {
		return t
	}
	if len(r.Body) > 0 && e.requestBody {
		it, _, err := tx.WriteRequestBody(r.Body)
		if err == nil && it != nil {
			t.it = it
			return t
		}
	}
	t.it, _ = tx.ProcessRequestBody()
	return t
}

// Interruption is the rule that stopped the transaction (nil if none).
func (t *Tx) Interruption() *types.Interruption { return t.it }

// WantsResponse reports whether the response phases have anything to run.
func (t *Tx) WantsResponse() bool { return t.it == nil && t.e.respRules }

// Response runs the response phases: headers (phase 3), then the body
// (phase 4) when body is not nil and response_body is on. full says body
// is the whole body (not a prefix).
func (t *Tx) Response(status int, proto string, h http.Header, body []byte) *types.Interruption {
	if t.it != nil {
		return t.it
	}
	tx := t.tx
	for k, vs := range h {
		for _, v := range vs {
			tx.AddResponseHeader(k, v)
		}
	}
	if t.it = tx.ProcessResponseHeaders(status, proto); t.it != nil {
		return t.it
	}
	if body != nil && t.e.responseBody && tx.IsResponseBodyProcessable() {
		if it, _, err := tx.WriteResponseBody(body); err == nil && it != nil {
			t.it = it
			return it
		}
	}
	t.it, _ = tx.ProcessResponseBody()
	return t.it
}

// Close releases the transaction (temporary files of multipart uploads,
// buffers). Phase 5 (logging) is not run: Vigil's event is the log.
func (t *Tx) Close() {
	if t.tx != nil {
		_ = t.tx.Close()
		t.tx = nil
	}
}

// MaxFindings is how many matched rules become findings per phase; the
// rest are summed up in one more finding that lists their ids.
const MaxFindings = 8

// Findings appends a finding for each rule matched since the last call
// (CRS rules of severity notice or worse, and logging custom rules; not the
// scoring rules 949xxx, 959xxx, 980xxx, whose decision is the verdict).
// blocked says the transaction was stopped (action block); monitor that
// it would have been (would_block).
func (t *Tx) Findings(dst []event.Finding, stage, layer string, blocked, monitor bool) []event.Finding {
	mrs := t.tx.MatchedRules()
	n, extra := 0, 0
	var more []string
	action := "log"
	if blocked {
		action = "block"
	}
	for _, mr := range mrs[t.reported:] {
		rule := mr.Rule()
		if !reportable(mr, rule) {
			continue
		}
		if n == MaxFindings {
			extra++
			if len(more) < 32 {
				more = append(more, strconv.Itoa(rule.ID()))
			}
			continue
		}
		n++
		f := event.Finding{Stage: stage, Layer: layer, RuleID: strconv.Itoa(rule.ID()), Kind: KindOf(rule.Tags()),
			Severity: severityName(rule.Severity()), Action: action, Message: mr.Message(), Tags: rule.Tags(),
			WouldBlock: blocked && monitor}
		if md := matchedData(mr); md != nil {
			f.Variable, f.Data = Variable(md), maskData(md)
		}
		dst = append(dst, f)
	}
	t.reported = len(mrs)
	if extra > 0 {
		msg := strconv.Itoa(extra) + " more rules matched: " + strings.Join(more, ", ")
		if extra > len(more) {
			msg += ", ..."
		}
		dst = append(dst, event.Finding{Stage: stage, Layer: layer, Kind: "waf_more", Severity: "low", Action: action,
			Message: msg, WouldBlock: blocked && monitor})
	}
	return dst
}

// Verdict describes an interruption: the status to answer with (403 when
// the rule sets none), a kind from the CRS attack tags of the rules that
// matched (an anomaly block takes the kind of the rule that scored most),
// the rule id and its message.
func (t *Tx) Verdict() (status int, kind, ruleID, msg, redirect string) {
	it := t.it
	if it == nil {
		return 0, "", "", "", ""
	}
	status = it.Status
	if status == 0 {
		status = http.StatusForbidden
	}
	if it.Action == "redirect" {
		if status < 300 || status > 399 {
			status = http.StatusFound
		}
		redirect = it.Data
	}
	ruleID = strconv.Itoa(it.RuleID)
	// The interrupting rule's own kind, else the kind the most matched
	// rules share (ties go to kindRank; protocol and the rest last).
	var counts [16]int
	other := ""
	for _, mr := range t.tx.MatchedRules() {
		rule := mr.Rule()
		if rule.ID() == it.RuleID {
			msg = mr.Message()
			if k := KindOf(rule.Tags()); k != "waf" && kind == "" {
				kind = k
			}
			continue
		}
		if !reportable(mr, rule) {
			continue
		}
		if k := KindOf(rule.Tags()); k != "waf" {
			r := rankOf(k)
			counts[r]++
			if r == len(kindRank) && other == "" {
				other = k
			}
		}
	}
	if kind == "" {
		best := -1
		for i, n := range counts[:len(kindRank)] {
			if n > 0 && (best < 0 || n > counts[best]) {
				best = i
			}
		}
		if best >= 0 {
			kind = kindRank[best]
		} else {
			kind = other
		}
	}
	if kind == "" {
		kind = "waf"
	}
	if msg == "" {
		msg = "blocked by WAF rule " + ruleID
	}
	return status, kind, ruleID, msg, redirect
}

// Matched lists the ids of every rule that matched (tests, debugging).
func (t *Tx) Matched() []int {
	var ids []int
	for _, mr := range t.tx.MatchedRules() {
		ids = append(ids, mr.Rule().ID())
	}
	return ids
}

// kindRank orders attack kinds for naming an anomaly block that several
// kinds of rule scored in: the attack before its side effects (the file a
// command reads, the protocol oddities of the payload).
var kindRank = []string{"rce", "sqli", "xss", "rfi", "lfi", "php_injection", "java_injection", "injection", "session_fixation",
	"ssrf", "generic_attack", "data_leakage", "virtual_patch", "scanner"}

func rankOf(k string) int {
	if i := slices.Index(kindRank, k); i >= 0 {
		return i
	}
	return len(kindRank) // protocol and the rest
}

type logger interface{ Log() bool }

// reportable: a rule worth a finding. CRS rules by severity (their log
// flag depends on SecDefaultAction, which the CRS sets for phases 1 and 2
// only); other rules when they log a message.
func reportable(mr types.MatchedRule, rule types.RuleMetadata) bool {
	id := rule.ID()
	if id >= 900000 && id <= 999999 {
		switch id / 1000 {
		case 949, 959, 980, 901, 905:
			return false
		}
		sev := rule.Severity()
		return sev >= 0 && sev <= types.RuleSeverityNotice
	}
	if l, ok := mr.(logger); ok && !l.Log() {
		return false
	}
	return id < idSettings && mr.Message() != ""
}

func severityName(s types.RuleSeverity) string {
	switch {
	case s < 0:
		return "medium"
	case s <= types.RuleSeverityCritical:
		return "critical"
	case s == types.RuleSeverityError:
		return "high"
	case s == types.RuleSeverityWarning:
		return "medium"
	}
	return "low"
}

// matchedData picks the match to report: the deepest link of a chain
// (the variable the attack is in, not the chain's guard).
func matchedData(mr types.MatchedRule) types.MatchData {
	mds := mr.MatchedDatas()
	if len(mds) == 0 {
		return nil
	}
	md := mds[0]
	for _, m := range mds[1:] {
		if m.ChainLevel() > md.ChainLevel() {
			md = m
		}
	}
	return md
}
