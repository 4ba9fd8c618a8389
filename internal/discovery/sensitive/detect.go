package sensitive

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
)

// stats are character-class counts from one pass over a value. Every
// detector below is gated on them before it looks at the value again.
type stats struct {
	n                         int
	digits, lower, upper      int
	space, dash, dot, plus    int
	lparen, rparen, at, under int
	other                     int // anything else, including non-ASCII and control bytes
}

func scan(s string) stats {
	st := stats{n: len(s)}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case isDigit(b):
			st.digits++
		case isLower(b):
			st.lower++
		case isUpper(b):
			st.upper++
		case b == ' ':
			st.space++
		case b == '-':
			st.dash++
		case b == '.':
			st.dot++
		case b == '+':
			st.plus++
		case b == '(':
			st.lparen++
		case b == ')':
			st.rparen++
		case b == '@':
			st.at++
		case b == '_':
			st.under++
		default:
			st.other++
		}
	}
	return st
}

// builtin returns the built-in classes of value as bits.
func builtin(h hints, v string) uint16 {
	var bits uint16
	if len(v) > maxValueLen {
		if isPrivateKey(v) {
			bits |= bitPrivateKey
		}
		return bits
	}
	st := scan(v)
	letters := st.lower + st.upper

	if st.dash >= 10 && isPrivateKey(v) {
		bits |= bitPrivateKey
	}
	if st.at == 1 && st.space == 0 && isEmail(v) {
		bits |= bitEmail
	}
	numeric := letters == 0 && st.other == 0 && st.at == 0 && st.under == 0
	if numeric && st.digits >= 13 && st.digits <= 19 && st.digits+st.space+st.dash == st.n {
		if isCard(v, st, h) {
			bits |= bitCard
		}
	}
	if numeric && st.digits == 9 && isSSN(v, h) {
		bits |= bitNationalID
	} else if st.digits == 6 && letters == 3 && st.n <= 13 && st.other == 0 && isNINO(v) {
		bits |= bitNationalID
	}
	if numeric && bits&(bitCard|bitNationalID) == 0 && st.digits >= 7 && st.digits <= 15 &&
		st.digits+st.space+st.dash+st.dot+st.plus+st.lparen+st.rparen == st.n && isPhone(v, st, h) {
		bits |= bitPhone
	}
	if st.n >= 15 && st.n <= 42 && st.upper+st.lower >= 2 && st.digits >= 10 &&
		st.digits+letters+st.space == st.n && isIBAN(v) {
		bits |= bitIBAN
	}
	if st.dot == 2 && st.n > 10 && strings.HasPrefix(v, "eyJ") && IsJWT(v) {
		bits |= bitJWT
	}
	if bits&bitJWT == 0 && st.n >= 20 && st.space == 0 && hasKeyPrefix(v) {
		bits |= bitAPIKey
	}
	if h&hKey != 0 && bits&(bitJWT|bitAPIKey|bitPrivateKey) == 0 {
		if highEntropy(v, st) {
			bits |= bitAPIKey
		} else if h&hSecret != 0 && strings.TrimSpace(v) != "" {
			bits |= bitPassword
		}
	}
	if h&hPassword != 0 && strings.TrimSpace(v) != "" {
		bits |= bitPassword
	}
	return bits
}

func isPrivateKey(v string) bool {
	i := strings.Index(v, "-----BEGIN ")
	if i < 0 {
		return false
	}
	rest := v[i+len("-----BEGIN "):]
	j := strings.Index(rest, "-----")
	if j < 0 || j > 40 {
		return false
	}
	return strings.HasSuffix(rest[:j], "PRIVATE KEY")
}

// IsEmail reports whether s is an email address: a dot-atom local part,
// '@', and a domain of at least two LDH labels whose last is alphabetic.
func IsEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at > 64 || len(s) > 254 {
		return false
	}
	return isEmail(s)
}

func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at > 64 || len(s)-at-1 < 4 || len(s) > 254 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		b := local[i]
		if !isAlnum(b) && strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", b) < 0 {
			return false
		}
	}
	labels := 0
	for domain != "" {
		var label string
		if i := strings.IndexByte(domain, '.'); i >= 0 {
			label, domain = domain[:i], domain[i+1:]
			if domain == "" {
				return false
			}
		} else {
			label, domain = domain, ""
		}
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if !isAlnum(label[i]) && label[i] != '-' {
				return false
			}
		}
		labels++
		if domain == "" { // TLD
			if len(label) < 2 {
				return false
			}
			for i := 0; i < len(label); i++ {
				if !isAlpha(label[i]) {
					return false
				}
			}
		}
	}
	return labels >= 2
}

// cardDigits extracts the digits of a card candidate whose groups are
// separated by one consistent separator (space or dash) of 3 to 6 digits
// each, or which has no separators.
func cardDigits(v string, buf *[19]byte) (int, bool) {
	var sep byte
	n, group, groups := 0, 0, 0
	for i := 0; i < len(v); i++ {
		b := v[i]
		if isDigit(b) {
			if n == len(buf) {
				return 0, false
			}
			buf[n] = b - '0'
			n++
			group++
			continue
		}
		if sep == 0 {
			sep = b
		} else if b != sep {
			return 0, false
		}
		if group < 3 || group > 6 {
			return 0, false
		}
		groups++
		group = 0
	}
	if sep != 0 {
		if group < 3 || group > 6 || groups+1 > 5 {
			return 0, false
		}
	}
	return n, true
}

func isCard(v string, st stats, h hints) bool {
	if st.space+st.dash == 0 && h&hID != 0 {
		// a plain digit string under an identifier-ish name (order_id,
		// timestamp, invoice_no) is an identifier, not a card
		return false
	}
	var buf [19]byte
	n, ok := cardDigits(v, &buf)
	if !ok || n < 13 {
		return false
	}
	d := buf[:n]
	return knownIIN(d) && luhn(d)
}

func luhn(d []byte) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		x := int(d[i])
		if double {
			x *= 2
			if x > 9 {
				x -= 9
			}
		}
		sum += x
		double = !double
	}
	return sum%10 == 0
}

func prefixNum(d []byte, k int) int {
	x := 0
	for i := 0; i < k && i < len(d); i++ {
		x = x*10 + int(d[i])
	}
	return x
}

// knownIIN checks the issuer prefix and length of the major networks:
// Visa, Mastercard, American Express, Discover, UnionPay, JCB, Diners Club,
// Maestro and Mir.
func knownIIN(d []byte) bool {
	n := len(d)
	p1, p2, p3, p4 := prefixNum(d, 1), prefixNum(d, 2), prefixNum(d, 3), prefixNum(d, 4)
	switch {
	case p1 == 4: // Visa
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return n == 16
	case p2 == 34 || p2 == 37: // Amex
		return n == 15
	case p4 == 6011, p3 >= 644 && p3 <= 649, p2 == 65, p2 == 62: // Discover, UnionPay
		return n >= 16
	case p4 >= 3528 && p4 <= 3589: // JCB
		return n >= 16
	case p3 >= 300 && p3 <= 305, p4 == 3095, p2 == 36, p2 == 38, p2 == 39: // Diners
		return n >= 14
	case p4 == 5018, p4 == 5020, p4 == 5038, p4 == 5893, p4 == 6304, p4 == 6759, p4 == 6761, p4 == 6762, p4 == 6763: // Maestro
		return true
	case p4 >= 2200 && p4 <= 2204: // Mir
		return n >= 16
	}
	return false
}

// isSSN: US social security number "AAA-GG-SSSS" or "AAA GG SSSS", or
// nine plain digits under an ssn-ish field name. Area 000, 666 and
// 900-999, group 00 and serial 0000 are never issued; 078-05-1120 and
// 219-09-9999 are well-known published samples.
func isSSN(v string, h hints) bool {
	var d [9]byte
	switch len(v) {
	case 9:
		if h&hSSN == 0 {
			return false
		}
		for i := 0; i < 9; i++ {
			d[i] = v[i] - '0'
		}
	case 11:
		sep := v[3]
		if (sep != '-' && sep != ' ') || v[6] != sep {
			return false
		}
		j := 0
		for i := 0; i < 11; i++ {
			if i == 3 || i == 6 {
				continue
			}
			if !isDigit(v[i]) {
				return false
			}
			d[j] = v[i] - '0'
			j++
		}
	default:
		return false
	}
	area := int(d[0])*100 + int(d[1])*10 + int(d[2])
	group := int(d[3])*10 + int(d[4])
	serial := int(d[5])*1000 + int(d[6])*100 + int(d[7])*10 + int(d[8])
	if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
		return false
	}
	if area == 78 && group == 5 && serial == 1120 || area == 219 && group == 9 && serial == 9999 {
		return false
	}
	return true
}

// isNINO: UK National Insurance number "AB123456C" or "AB 12 34 56 C",
// upper case, with HMRC's prefix rules and an A-D suffix.
func isNINO(v string) bool {
	var c [9]byte
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			continue
		}
		if n == 9 {
			return false
		}
		c[n] = v[i]
		n++
	}
	if n != 9 || len(v) != 9 && len(v) != 13 {
		return false
	}
	if len(v) == 13 && (v[2] != ' ' || v[5] != ' ' || v[8] != ' ' || v[11] != ' ') {
		return false
	}
	if !isUpper(c[0]) || !isUpper(c[1]) || c[8] < 'A' || c[8] > 'D' {
		return false
	}
	for i := 2; i < 8; i++ {
		if !isDigit(c[i]) {
			return false
		}
	}
	if strings.IndexByte("DFIQUV", c[0]) >= 0 || strings.IndexByte("DFIOQUV", c[1]) >= 0 {
		return false
	}
	switch string(c[:2]) {
	case "BG", "GB", "KN", "NK", "NT", "TN", "ZZ":
		return false
	}
	return true
}

// isPhone accepts:
//   - E.164: a leading '+', 8 to 15 digits, first digit not 0, optional
//     separators (space, '-', '.', parentheses);
//   - national formats with separators: 10 or 11 digits in 2 to 5 groups,
//     the last group at least 3 digits, no 1-digit group but a leading trunk
//     prefix, dots only in the NANP 3.3.4 shape;
//   - plain digits (7 to 15) only under a phone-ish field name.
func isPhone(v string, st stats, h hints) bool {
	if st.plus > 1 || st.plus == 1 && v[0] != '+' || st.lparen != st.rparen || st.lparen > 1 {
		return false
	}
	seps := st.space + st.dash + st.dot + st.lparen + st.rparen
	if st.plus == 1 {
		if st.digits < 8 {
			return false
		}
		i := 1
		for i < len(v) && !isDigit(v[i]) {
			i++
		}
		return i < len(v) && v[i] != '0' && groupsOK(v[1:], 1)
	}
	if seps == 0 {
		return h&hPhone != 0
	}
	if st.digits < 10 || st.digits > 11 {
		return h&hPhone != 0 && groupsOK(v, 1)
	}
	if st.dot > 0 {
		if st.dot != 2 || seps != 2 || len(v) != 12 || v[3] != '.' || v[7] != '.' {
			return false
		}
	}
	return groupsOK(v, 3)
}

// groupsOK checks the digit groups of a phone candidate: 2..6 groups (or a
// single group), the last at least lastMin digits, no 1-digit group except
// a leading trunk/country prefix.
func groupsOK(v string, lastMin int) bool {
	groups, cur, first := 0, 0, -1
	prevSep := true
	if v == "" || !isDigit(v[0]) && v[0] != '(' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if isDigit(v[i]) {
			cur++
			prevSep = false
			continue
		}
		if v[i] == ')' || v[i] == '(' {
			if cur > 0 {
				if first < 0 {
					first = cur
				} else if cur == 1 {
					return false
				}
				groups++
			}
			cur = 0
			prevSep = true
			continue
		}
		if prevSep && i > 0 && v[i-1] != ')' {
			return false // two separators in a row
		}
		if cur > 0 {
			if first < 0 {
				first = cur
			} else if cur == 1 {
				return false
			}
			groups++
		}
		cur = 0
		prevSep = true
	}
	if cur == 0 {
		return false
	}
	groups++
	return cur >= lastMin && groups <= 6
}

// ibanLength is the IBAN length of a country (SWIFT IBAN registry), or 0.
func ibanLength(cc string) int {
	switch cc {
	case "NO":
		return 15
	case "BE":
		return 16
	case "DK", "FI", "FO", "GL", "NL":
		return 18
	case "MK", "SI":
		return 19
	case "AT", "BA", "EE", "KZ", "LT", "LU", "XK":
		return 20
	case "CH", "CR", "HR", "LI", "LV":
		return 21
	case "BG", "BH", "DE", "GB", "GE", "IE", "ME", "RS", "VA":
		return 22
	case "AE", "GI", "IL", "IQ", "TL":
		return 23
	case "AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG":
		return 24
	case "PT", "ST":
		return 25
	case "IS", "TR":
		return 26
	case "FR", "GR", "IT", "MC", "MR", "SM":
		return 27
	case "AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL", "SV":
		return 28
	case "BR", "EG", "PS", "QA", "UA":
		return 29
	case "JO", "KW", "MU":
		return 30
	case "MT", "SC":
		return 31
	case "LC":
		return 32
	}
	return 0
}

// isIBAN: upper-case country code with its registry length, two check
// digits, alphanumeric BBAN, optionally grouped by single spaces, and the
// ISO 7064 mod-97 check.
func isIBAN(v string) bool {
	var c [34]byte
	n := 0
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b == ' ' {
			if i == 0 || v[i-1] == ' ' || i == len(v)-1 {
				return false
			}
			continue
		}
		if isLower(b) || n == len(c) {
			return false
		}
		c[n] = b
		n++
	}
	if n < 15 || !isUpper(c[0]) || !isUpper(c[1]) || !isDigit(c[2]) || !isDigit(c[3]) {
		return false
	}
	if ibanLength(string(c[:2])) != n {
		return false
	}
	rem := 0
	for i := 0; i < n; i++ {
		b := c[(i+4)%n]
		if isDigit(b) {
			rem = (rem*10 + int(b-'0')) % 97
		} else {
			rem = (rem*100 + int(b-'A') + 10) % 97
		}
	}
	return rem == 1
}

// IsJWT reports whether s is a compact JWS: three base64url parts (the
// signature may be empty) whose first decodes to a JSON object with a
// string "alg".
func IsJWT(s string) bool {
	if len(s) > 16<<10 || !strings.HasPrefix(s, "eyJ") {
		return false
	}
	i := strings.IndexByte(s, '.')
	if i < 0 || i > 2048 {
		return false
	}
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return false
	}
	j += i + 1
	header, payload, sig := s[:i], s[i+1:j], s[j+1:]
	if payload == "" || !isB64URL(header) || !isB64URL(payload) || !isB64URL(sig) {
		return false
	}
	var buf [1536]byte
	if base64.RawURLEncoding.DecodedLen(len(header)) > len(buf) {
		return false
	}
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(header))
	if err != nil {
		return false
	}
	var h struct {
		Alg *string `json:"alg"`
	}
	if json.Unmarshal(buf[:n], &h) != nil || h.Alg == nil || *h.Alg == "" {
		return false
	}
	return true
}

func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !isAlnum(b) && b != '-' && b != '_' {
			return false
		}
	}
	return true
}

// hasKeyPrefix recognises vendor API keys by their documented shapes.
func hasKeyPrefix(v string) bool {
	switch v[0] {
	case 'A':
		// AWS access key id: AKIA/ASIA + 16 upper-case alphanumerics;
		// Google API key: AIza + 35 of [0-9A-Za-z_-].
		if len(v) == 20 && (strings.HasPrefix(v, "AKIA") || strings.HasPrefix(v, "ASIA")) {
			return charset(v[4:], upperDigit)
		}
		if len(v) == 39 && strings.HasPrefix(v, "AIza") {
			return charset(v[4:], urlSafe)
		}
	case 'g':
		// GitHub: ghp_/gho_/ghu_/ghs_/ghr_ + 36 alphanumerics; github_pat_ + 82.
		if len(v) == 40 && v[1] == 'h' && v[3] == '_' && strings.IndexByte("pousr", v[2]) >= 0 && v[0] == 'g' {
			return charset(v[4:], alnum)
		}
		if strings.HasPrefix(v, "github_pat_") && len(v) >= 60 {
			return charset(v[11:], word)
		}
	case 's', 'r':
		// Stripe secret and restricted keys.
		for _, p := range [...]string{"sk_live_", "sk_test_", "rk_live_", "rk_test_"} {
			if strings.HasPrefix(v, p) {
				return len(v) >= len(p)+16 && charset(v[len(p):], alnum)
			}
		}
	case 'x':
		// Slack: xoxb-, xoxp-, xoxa-, xoxr-, xoxs-.
		if len(v) >= 20 && strings.HasPrefix(v, "xox") && strings.IndexByte("bpars", v[3]) >= 0 && v[4] == '-' {
			return charset(v[5:], alnumDash)
		}
	}
	return false
}

type charClass int

const (
	upperDigit charClass = iota
	alnum
	alnumDash
	urlSafe
	word
)

func charset(s string, cls charClass) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		var ok bool
		switch cls {
		case upperDigit:
			ok = isUpper(b) || isDigit(b)
		case alnum:
			ok = isAlnum(b)
		case alnumDash:
			ok = isAlnum(b) || b == '-'
		case urlSafe:
			ok = isAlnum(b) || b == '-' || b == '_'
		case word:
			ok = isAlnum(b) || b == '_'
		}
		if !ok {
			return false
		}
	}
	return true
}

// highEntropy: 16..512 bytes without spaces, at least two of
// lower/upper/digit, and Shannon entropy of at least 3 bits per byte.
func highEntropy(v string, st stats) bool {
	if st.n < 16 || st.n > 512 || st.space > 0 {
		return false
	}
	kinds := 0
	for _, c := range [...]int{st.lower, st.upper, st.digits} {
		if c > 0 {
			kinds++
		}
	}
	if kinds < 2 {
		return false
	}
	return shannon(v) >= 3.0
}

func shannon(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	var e float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			e -= p * math.Log2(p)
		}
	}
	return e
}
