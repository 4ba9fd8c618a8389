package waf

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	re2 "github.com/wasilibs/go-re2"
	"rsc.io/binaryregexp"
)

// The @rx operator on RE2.
//
// Coraza's own @rx runs Go's regexp, whose NFA and bounded backtracker are
// slow on the CRS's large alternations (the Unix command-injection rules
// 932235, 932250, 932260 cost ~5 ms each on a 2 KB JSON order). RE2 (C++,
// compiled to Go by wasm2go in github.com/wasilibs/go-re2: no cgo) runs
// them on a lazy DFA. The semantics are Coraza's: the pattern is wrapped in
// (?sm) as Coraza does by default, captures (up to 9, TX.0..TX.9) are set
// when the rule captures, and the syntax is the same RE2 syntax Go's
// regexp implements.
//
// Go's regexp is kept where RE2 would differ:
//   - values that are not valid UTF-8: Go's regexp reads an invalid byte as
//     U+FFFD and goes on, RE2 stops at it (an attacker could hide a payload
//     behind one byte);
//   - patterns RE2 refuses or that match raw bytes (\xNN over 0x7f), which
//     Coraza runs on binaryregexp too.
//
// Coraza's operator registry is process-wide: registering in init makes
// every engine this package builds use it.
func init() {
	plugins.RegisterOperator("rx", newRX)
}

// rxOp is one compiled @rx.
type rxOp struct {
	// minLen is a lower bound of the bytes a match takes: shorter
	// values (most JSON numbers, codes, flags) skip the engine call.
	minLen int
	re2    *re2.Regexp    // nil: RE2 refused the pattern
	std    *regexp.Regexp // Go's regexp, for values that are not UTF-8
	bin    *binaryregexp.Regexp
}

var _ plugintypes.Operator = (*rxOp)(nil)

func newRX(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	if matchesArbitraryBytes(o.Arguments) {
		v, err := memo(o, "vigil-rx-bin:"+o.Arguments, func() (any, error) {
			re, err := binaryregexp.Compile(o.Arguments)
			if err != nil {
				return nil, err
			}
			return &rxOp{bin: re}, nil
		})
		if err != nil {
			return nil, err
		}
		return v.(*rxOp), nil
	}
	expr := "(?sm)" + o.Arguments
	v, err := memo(o, "vigil-rx:"+expr, func() (any, error) {
		std, err := regexp.Compile(expr)
		if err != nil {
			return nil, err
		}
		op := &rxOp{std: std}
		if parsed, err := syntax.Parse(expr, syntax.Perl); err == nil {
			op.minLen = minMatchLen(parsed.Simplify())
		}
		if re, err := re2.Compile(expr); err == nil {
			op.re2 = re
		}
		return op, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*rxOp), nil
}

// memo compiles once per pattern and engine (Coraza's memoizer, when the
// engine has one).
func memo(o plugintypes.OperatorOptions, key string, fn func() (any, error)) (any, error) {
	if o.Memoizer == nil {
		return fn()
	}
	return o.Memoizer.Do(key, fn)
}

// matcher is what both engines offer.
type matcher interface {
	MatchString(string) bool
	FindStringSubmatchIndex(string) []int
}

func (o *rxOp) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if len(value) < o.minLen {
		return false
	}
	var m matcher
	switch {
	case o.bin != nil:
		m = o.bin
	case o.re2 != nil && utf8.ValidString(value):
		m = o.re2
	default:
		m = o.std
	}
	// Most values do not match: the DFA answers that without the cost of
	// tracking submatches, which only a match needs.
	if !m.MatchString(value) {
		return false
	}
	if !tx.Capturing() {
		return true
	}
	match := m.FindStringSubmatchIndex(value)
	if match == nil {
		return false
	}
	for i := 0; i < len(match)/2 && i < 9; i++ {
		if match[2*i] >= 0 {
			tx.CaptureField(i, value[match[2*i]:match[2*i+1]])
		} else {
			tx.CaptureField(i, "")
		}
	}
	return true
}

// matchesArbitraryBytes reports whether a pattern has byte escapes that
// are not UTF-8 (\xNN over 0x7f), as Coraza's @rx decides to match bytes.
func matchesArbitraryBytes(expr string) bool {
	decoded := make([]byte, 0, len(expr))
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c != '\\' || i+3 >= len(expr) || expr[i+1] != 'x' {
			decoded = append(decoded, c)
			continue
		}
		sub, advance := expr[i:], 3
		if len(sub) >= 6 && sub[2] == '{' {
			if end := strings.IndexByte(sub, '}'); end != -1 {
				sub, advance = `\x`+sub[3:end], end
			}
		}
		v, mb, _, err := strconv.UnquoteChar(sub, 0)
		if err != nil || mb {
			decoded = append(decoded, c)
			continue
		}
		decoded = append(decoded, byte(v))
		i += advance
	}
	return !utf8.Valid(decoded)
}

// minMatchLen is a lower bound of the length in bytes of any match of re.
func minMatchLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				n++ // a case variant may be shorter in UTF-8 (K, U+212A)
			} else {
				n += utf8.RuneLen(r)
			}
		}
		return n
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture:
		return minMatchLen(re.Sub[0])
	case syntax.OpPlus:
		return minMatchLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minMatchLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minMatchLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minMatchLen(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	}
	return 0 // empty, anchors, boundaries, star, quest
}
