package trafficgen

import (
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
)

// patternKind generates values matching a schema pattern such as
// ^AC[0-9a-fA-F]{32}$ (Twilio SIDs) or ^(SM|MM)[0-9a-fA-F]{32}$. It
// reports false for patterns it cannot use: not a valid regexp, or one
// whose values would not fit in a path segment.
func patternKind(pattern string) (kind, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return kind{}, false
	}
	check, err := regexp.Compile(pattern)
	if err != nil {
		return kind{}, false
	}
	gen := func(r *rand.Rand) string {
		var b strings.Builder
		genRegexp(re, r, &b)
		return b.String()
	}
	// The pattern must be usable: its values match it and are not empty.
	r := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		v := gen(r)
		if v == "" || !check.MatchString(v) || strings.ContainsAny(v, "/?#") || len(v) > 200 {
			return kind{}, false
		}
	}
	return kind{id: "re:" + pattern, size: 10000, gen: gen}, true
}

const maxRepeat = 8

func genRegexp(re *syntax.Regexp, r *rand.Rand, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, c := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && r.IntN(2) == 0 {
				c = unicode.SimpleFold(c)
			}
			b.WriteRune(c)
		}
	case syntax.OpCharClass:
		b.WriteRune(classRune(re.Rune, r))
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		b.WriteByte(base62Chars[r.IntN(len(base62Chars))])
	case syntax.OpCapture:
		genRegexp(re.Sub[0], r, b)
	case syntax.OpStar:
		repeat(re.Sub[0], r, b, 0, maxRepeat)
	case syntax.OpPlus:
		repeat(re.Sub[0], r, b, 1, maxRepeat)
	case syntax.OpQuest:
		repeat(re.Sub[0], r, b, 0, 1)
	case syntax.OpRepeat:
		hi := re.Max
		if hi < 0 {
			hi = re.Min + maxRepeat
		}
		repeat(re.Sub[0], r, b, re.Min, hi)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			genRegexp(s, r, b)
		}
	case syntax.OpAlternate:
		genRegexp(re.Sub[r.IntN(len(re.Sub))], r, b)
	}
	// anchors, word boundaries and empty matches add nothing
}

func repeat(re *syntax.Regexp, r *rand.Rand, b *strings.Builder, lo, hi int) {
	n := lo
	if hi > lo {
		n += r.IntN(hi - lo + 1)
	}
	for range n {
		genRegexp(re, r, b)
	}
}

// classRune picks a rune of a character class (pairs of ranges),
// preferring URL-safe ASCII when the class is wide (a negated class).
func classRune(ranges []rune, r *rand.Rand) rune {
	if len(ranges) == 6 && ranges[0] == '0' && ranges[1] == '9' && ranges[2] == 'A' && ranges[3] == 'F' && ranges[4] == 'a' && ranges[5] == 'f' {
		// [0-9a-fA-F]: real ids are lower case
		return rune(hexChars[r.IntN(16)])
	}
	var safe []rune
	total := 0
	for i := 0; i+1 < len(ranges); i += 2 {
		total += int(ranges[i+1]-ranges[i]) + 1
	}
	if total > 128 {
		for _, c := range base62Chars + "-_" {
			if inClass(ranges, c) {
				safe = append(safe, c)
			}
		}
		if len(safe) > 0 {
			return safe[r.IntN(len(safe))]
		}
	}
	if total == 0 {
		return 'x'
	}
	n := r.IntN(total)
	for i := 0; i+1 < len(ranges); i += 2 {
		w := int(ranges[i+1]-ranges[i]) + 1
		if n < w {
			return ranges[i] + rune(n)
		}
		n -= w
	}
	return ranges[0]
}

func inClass(ranges []rune, c rune) bool {
	for i := 0; i+1 < len(ranges); i += 2 {
		if c >= ranges[i] && c <= ranges[i+1] {
			return true
		}
	}
	return false
}
