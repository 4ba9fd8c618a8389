package template

import (
	"net/url"
	"strings"
)

// Kinds of parameter values, as ValueKind and ParamKind name them.
const (
	KindInteger  = "integer"
	KindUUID     = "uuid"
	KindHex      = "hex"
	KindDate     = "date"
	KindEmail    = "email"
	KindID       = "id"       // other generated ids: usr_8Hk2, AC…, base-62
	KindUsername = "username" // jane.doe, dev_ops42
	KindSlug     = "slug"     // acme-corp, frontend, web-2024
	KindName     = "name"     // free text: help%20wanted, Objective-C, DEPLOY_KEY
	KindEnum     = "enum"     // a few values requested again and again
)

// ValueKind names the kind of one raw path segment value.
func ValueKind(raw string) string {
	s := raw
	if strings.IndexByte(s, '%') >= 0 {
		if d, err := url.PathUnescape(s); err == nil {
			s = d
		}
	}
	switch {
	case allDigits(s):
		return KindInteger
	case isUUID(s):
		return KindUUID
	case allHex(s) && len(s) >= 8 && hasDigit(s):
		return KindHex
	case isDateLike(s):
		return KindDate
	case strings.IndexByte(s, '@') > 0 && strings.IndexByte(s[strings.IndexByte(s, '@'):], '.') > 1:
		return KindEmail
	case snakeName(s):
		return KindUsername
	case typed(s, 1<<10):
		return KindID
	}
	var upper, other, dots, unders, digits int
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			upper++
		case c >= 'a' && c <= 'z', c == '-':
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		case c == '_':
			unders++
		default:
			other++
		}
	}
	switch {
	case other > 0 || upper > 0:
		return KindName
	case dots > 0 || unders > 0 || digits > 0 && strings.IndexByte(s, '-') < 0:
		return KindUsername
	}
	return KindSlug
}

// isDateLike reports 2024-01-31, 2024-01 and 20240131.
func isDateLike(s string) bool {
	if isDateVersion(s) {
		return true
	}
	return len(s) == 8 && allDigits(s) && (s[0] == '1' || s[0] == '2')
}

// ParamKind names the kind of a parameter from example values and how
// often the parameter was requested: the most common value kind, or enum
// when a few values carry many requests.
func ParamKind(examples []string, hits int64) string {
	if len(examples) == 0 {
		return ""
	}
	if len(examples) <= 3 && hits >= 20*int64(len(examples)) {
		k := ValueKind(examples[0])
		if k != KindInteger && k != KindUUID && k != KindHex && k != KindID {
			return KindEnum
		}
	}
	counts := map[string]int{}
	best, bestN := "", 0
	for _, v := range examples {
		k := ValueKind(v)
		counts[k]++
		if counts[k] > bestN || counts[k] == bestN && k < best {
			best, bestN = k, counts[k]
		}
	}
	return best
}

// snakeName reports lowercase words joined by '_' or '.' with digits only
// at the end (dev_ops42, li_wei), which the shape rules may take for a
// prefixed id.
func snakeName(s string) bool {
	i := strings.IndexAny(s, "_.")
	if i < 2 || i+3 > len(s) || !isLetter(s[i+1]) || !isLetter(s[i+2]) {
		return false
	}
	for j := 0; j < len(s); j++ {
		if c := s[j]; c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}
