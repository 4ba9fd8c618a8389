package waf

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/corazawaf/coraza/v3/collection"
	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/coraza/v3/types/variables"

	"github.com/vigil-sec/vigil/internal/config"
)

// Free text (protect.waf.free_text, docs/waf.md).
//
// A few CRS rules match vocabulary rather than syntax: command names
// after a separator (932230, 932235, 932250, 932260, 932340, 932370,
// 932380), SQL function names (942151), HTML tag and attribute names
// (941160), JavaScript method names (941390), OS file names (930120) and
// internal host names (934110). In a parameter those words are a strong
// sign; in a review, a Markdown post or a ticket with a pasted snippet they
// are ordinary language ("every time the packaging…", `<p align="center">`,
// "look in /var/log", "open http://localhost:3000"), and each alone scores
// a critical 5, enough to block.
//
// With free_text: score (the default), when every match of such a rule is
// in a JSON string value that reads as natural language (freeText), the
// rule still fires and is reported, but all of those rules together score
// one warning (3) instead of a critical each: they alone do not block, and
// with any other rule (libinjection's SQLi and XSS, script tags, event
// handlers, path traversal, shell paths, PHP, Java...) they still do. Short
// and identifier-like values, query and form parameters, headers and
// cookies are scored as the CRS scores them.
//
// It runs as one Vigil rule (idFreeText) after the CRS detection rules and
// before REQUEST-949's blocking evaluation, which adds up the scores per
// paranoia level: the rule lowers tx.inbound_anomaly_score_plN.

// freeTextRules are the vocabulary rules scored as one warning in free text.
var freeTextRules = []int{930120, 932230, 932235, 932250, 932260, 932340, 932370, 932380, 934110, 941160, 941390, 942151}

const (
	idFreeText       = 9_990_002
	freeTextOperator = "vigilFreeText"
)

func init() {
	plugins.RegisterOperator(freeTextOperator, newFreeText)
}

// textFieldExclusions compiles protect.waf.text_fields: the free-text
// rules skip the named JSON fields of the endpoint.
func textFieldExclusions(tfs []config.WAFTextField) []config.WAFExclusion {
	var out []config.WAFExclusion
	ids := make([]string, len(freeTextRules))
	for i, id := range freeTextRules {
		ids[i] = strconv.Itoa(id)
	}
	for _, tf := range tfs {
		e := config.WAFExclusion{Endpoint: tf.Endpoint, RuleIDs: ids}
		for _, f := range tf.Fields {
			e.Variables = append(e.Variables, "ARGS:json."+f)
		}
		out = append(out, e)
	}
	return out
}

// freeTextRule is the SecLang of the rule (REQUEST_METHOD: evaluated once).
func freeTextRule() string {
	ids := make([]string, len(freeTextRules))
	for i, id := range freeTextRules {
		ids[i] = strconv.Itoa(id)
	}
	return `SecRule REQUEST_METHOD "@` + freeTextOperator + ` ` + strings.Join(ids, ",") +
		`" "id:` + strconv.Itoa(idFreeText) + `,phase:2,pass,nolog,t:none"`
}

type freeTextOp struct{ ids map[int]bool }

func newFreeText(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	op := &freeTextOp{ids: map[int]bool{}}
	for _, s := range strings.Split(o.Arguments, ",") {
		id, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		op.ids[id] = true
	}
	return op, nil
}

type matchedRuler interface {
	MatchedRules() []types.MatchedRule
}

// Evaluate rescores and never matches.
func (o *freeTextOp) Evaluate(tx plugintypes.TransactionState, _ string) bool {
	mt, ok := tx.(matchedRuler)
	if !ok {
		return false
	}
	// Only a JSON body's values: the processor that made ARGS_POST is
	// JSON's, and a key the query also has is not taken (ARGS matches do
	// not say which of the two a value came from).
	if tx.Variables().RequestBodyProcessor().Get() != "JSON" {
		return false
	}
	args, _ := tx.Collection(variables.ArgsPost).(collection.Keyed)
	query, _ := tx.Collection(variables.ArgsGet).(collection.Keyed)
	txv, _ := tx.Collection(variables.TX).(collection.Map)
	if args == nil || query == nil || txv == nil {
		return false
	}
	removed := [5]int{}
	minPL := 0
	for _, mr := range mt.MatchedRules() {
		r := mr.Rule()
		if !o.ids[r.ID()] || !inFreeText(r.ID(), mr.MatchedDatas(), args, query) {
			continue
		}
		pl := paranoiaOf(r.Tags())
		removed[pl] += severityScore(txv, r.Severity())
		if minPL == 0 || pl < minPL {
			minPL = pl
		}
	}
	if minPL == 0 {
		return false
	}
	total := 0
	for _, n := range removed {
		total += n
	}
	removed[minPL] -= min(total, txInt(txv, "warning_anomaly_score", 3))
	for pl := 1; pl <= 4; pl++ {
		if removed[pl] == 0 {
			continue
		}
		k := "inbound_anomaly_score_pl" + strconv.Itoa(pl)
		txv.Set(k, []string{strconv.Itoa(max(0, txInt(txv, k, 0)-removed[pl]))})
	}
	return false
}

// inFreeText: every match is in a JSON string argument that reads as
// natural language.
func inFreeText(id int, mds []types.MatchData, args, query collection.Keyed) bool {
	if len(mds) == 0 {
		return false
	}
	for _, md := range mds {
		switch md.Variable() {
		case variables.Args, variables.ArgsPost:
		default:
			return false
		}
		key := md.Key()
		if !strings.HasPrefix(key, "json.") || len(query.Get(key)) > 0 {
			return false
		}
		vs := args.Get(key)
		if len(vs) == 0 {
			return false
		}
		for _, v := range vs {
			if !freeText(v) || strongMarker(id, v) {
				return false
			}
		}
	}
	return true
}

// freeText reports whether s reads as natural language: at least 40 bytes
// and 6 words, mostly letters and spaces, words of ordinary length. Short
// values, identifiers, encoded blobs and bare payloads are not.
func freeText(s string) bool {
	if len(s) < 40 || !utf8.ValidString(s) {
		return false
	}
	letters, spaces, total, words, wordRunes, inWord := 0, 0, 0, 0, 0, 0
	for _, r := range s {
		total++
		switch {
		case unicode.IsLetter(r):
			letters++
			inWord++
			continue
		case unicode.IsSpace(r):
			spaces++
		}
		if inWord >= 2 {
			words++
			wordRunes += inWord
		}
		inWord = 0
	}
	if inWord >= 2 {
		words++
		wordRunes += inWord
	}
	if words < 6 || spaces < 5 {
		return false
	}
	// Letters and spaces make most of it; words average under 12 letters.
	return (letters+spaces)*10 >= total*7 && wordRunes <= 12*words
}

// paranoiaOf is the rule's paranoia level from its tag (1 when none).
func paranoiaOf(tags []string) int {
	for _, t := range tags {
		if v, ok := strings.CutPrefix(t, "paranoia-level/"); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 4 {
				return n
			}
		}
	}
	return 1
}

// severityScore is the anomaly score the CRS adds for a severity.
func severityScore(txv collection.Map, s types.RuleSeverity) int {
	switch s {
	case types.RuleSeverityCritical:
		return txInt(txv, "critical_anomaly_score", 5)
	case types.RuleSeverityError:
		return txInt(txv, "error_anomaly_score", 4)
	case types.RuleSeverityWarning:
		return txInt(txv, "warning_anomaly_score", 3)
	case types.RuleSeverityNotice:
		return txInt(txv, "notice_anomaly_score", 2)
	}
	return 0
}

func txInt(txv collection.Map, key string, def int) int {
	if vs := txv.Get(key); len(vs) > 0 {
		if n, err := strconv.Atoi(vs[0]); err == nil {
			return n
		}
	}
	return def
}

// strongMarkers are what the vocabulary rules' attacks are made of and
// ordinary writing is not: shell chaining into a command, and the SSRF
// targets beyond a developer's localhost (cloud metadata, link-local,
// non-HTTP schemes). A value with one keeps the CRS's score.
var strongMarkers = map[int][]string{
	934110: {"169.254.", "metadata.google", "metadata.azure", "100.100.100.200", "fd00:ec2::", "gopher://", "dict://", "file://", "ldap://", "tftp://"},
}

var shellChain = []string{"&&", "||", "$(", "${"}

func strongMarker(id int, v string) bool {
	v = strings.ToLower(v)
	ms := strongMarkers[id]
	if id/1000 == 932 {
		ms = shellChain
	}
	for _, m := range ms {
		if strings.Contains(v, m) {
			return true
		}
	}
	return false
}
