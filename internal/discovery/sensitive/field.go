package sensitive

import "strings"

// hints are what a field name says about its value.
type hints uint8

const (
	hPassword hints = 1 << iota // password, passwd, pwd, pass, passphrase, ...
	hSecret                     // "secret": api_key when high-entropy, else password
	hKey                        // api_key, x-api-key, *token, *secret, access_key, ...
	hPhone                      // phone, mobile, tel, msisdn, ...
	hSSN                        // ssn, social_security_number
	hCard                       // card_number, pan, cc_number
	hID                         // order_id, invoice_no, timestamp, ...: plain digits are not cards
)

const maxTokens = 8

// tokens splits a field name into words: on non-alphanumerics, at
// lower-to-upper case changes and between letters and digits. Digit-only
// words are dropped. The words are lower-cased substrings of name; a name
// without upper-case ASCII costs no allocation.
func tokens(name string, dst *[maxTokens]string) []string {
	low := asciiLower(name)
	out := dst[:0]
	start := -1
	flush := func(end int) {
		if start >= 0 {
			w := low[start:end]
			switch {
			case allDigits(w):
			case len(out) < maxTokens:
				out = append(out, w)
			default:
				// keep the last word, which carries the most meaning
				out[maxTokens-1] = w
			}
		}
		start = -1
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		switch {
		case isLower(b):
			if start >= 0 && isDigit(name[i-1]) {
				flush(i)
			}
		case isUpper(b):
			if start >= 0 && (isLower(name[i-1]) || isDigit(name[i-1])) {
				flush(i)
			} else if start >= 0 && isUpper(name[i-1]) && i+1 < len(name) && isLower(name[i+1]) {
				// "APIKey" -> "API", "Key"
				flush(i)
			}
		case isDigit(b):
			if start >= 0 && !isDigit(name[i-1]) {
				flush(i)
			}
		default:
			flush(i)
			continue
		}
		if start < 0 {
			start = i
		}
	}
	flush(len(name))
	return out
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if isUpper(s[i]) {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if isUpper(b[j]) {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func eq(a, b string) bool { return a == b }

func in(w string, set ...string) bool {
	for _, s := range set {
		if w == s {
			return true
		}
	}
	return false
}

func hasSuffixFold(s, suf string) bool { return strings.HasSuffix(s, suf) }

func anyIn(ws []string, set ...string) bool {
	for _, w := range ws {
		if in(w, set...) {
			return true
		}
	}
	return false
}

// fieldHints reads a field name.
func fieldHints(field string) hints {
	if field == "" {
		return 0
	}
	var buf [maxTokens]string
	t := tokens(field, &buf)
	if len(t) == 0 {
		return 0
	}
	var h hints
	last := t[len(t)-1]
	prev := ""
	if len(t) >= 2 {
		prev = t[len(t)-2]
	}

	// passwords
	switch {
	case in(last, "password", "passwd", "pwd", "pass", "passphrase", "passcode", "passwords"):
		h |= hPassword
	case hasSuffixFold(last, "password") || hasSuffixFold(last, "passwd"):
		h |= hPassword
	case len(t) >= 2 && in(t[0], "password", "passwd", "pwd", "pass") &&
		in(last, "confirm", "confirmation", "again", "repeat", "verify", "check", "new", "old", "current"):
		h |= hPassword
	}

	// keys, tokens, secrets
	switch {
	case eq(last, "secret"):
		h |= hSecret | hKey
	case hasSuffixFold(last, "secret"), hasSuffixFold(last, "apikey"):
		h |= hKey
	case in(last, "secretkey", "accesskey", "privatekey", "authkey", "signingkey", "masterkey"):
		h |= hKey
	case eq(last, "key") && in(prev, "api", "secret", "access", "private", "auth", "signing", "master", "encryption", "client", "license", "licence"):
		h |= hKey
	case hasSuffixFold(last, "token"):
		if !in(prev, "page", "continuation", "sync", "csrf", "xsrf", "next", "cancellation") &&
			!in(last, "pagetoken", "nextpagetoken", "csrftoken", "xsrftoken", "synctoken", "continuationtoken") {
			h |= hKey
		}
	}

	// phones
	for _, w := range t {
		if in(w, "phone", "phones", "mobile", "tel", "telephone", "msisdn", "cell", "cellphone", "fax", "phonenumber", "mobilenumber") ||
			hasSuffixFold(w, "phone") {
			h |= hPhone
			break
		}
	}

	// national ids
	if anyIn(t, "ssn", "nino", "socialsecuritynumber") ||
		anyIn(t, "social") && anyIn(t, "security") ||
		anyIn(t, "insurance") && anyIn(t, "national") {
		h |= hSSN
	}

	// cards
	if anyIn(t, "pan", "ccnumber", "cardnumber", "creditcard", "cc", "ccnum") ||
		anyIn(t, "card", "payment", "billing", "credit", "debit") && anyIn(t, "number", "num", "no", "nr") {
		h |= hCard
	}

	if h&(hCard|hPhone|hSSN) == 0 && in(last, "id", "ids", "uuid", "guid", "no", "nr", "num", "number", "ref", "reference",
		"code", "ts", "timestamp", "time", "at", "date", "seq", "sequence", "count", "total", "amount", "price",
		"qty", "quantity", "version", "zip", "postcode", "sku", "ean", "upc", "isbn", "gtin", "nonce", "order",
		"invoice", "tracking", "size", "length", "offset", "limit", "epoch", "millis", "nanos") {
		h |= hID
	}
	return h
}

// normalizeName lowercases a name and drops everything but letters and
// digits: "X-Api-Key" and "x_api_key" both become "xapikey".
func normalizeName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLower(c) || isDigit(c):
			b.WriteByte(c)
		case isUpper(c):
			b.WriteByte(c + 'a' - 'A')
		}
	}
	return b.String()
}

func isLower(b byte) bool { return b >= 'a' && b <= 'z' }
func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }
func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isAlpha(b byte) bool { return isLower(b) || isUpper(b) }
func isAlnum(b byte) bool { return isAlpha(b) || isDigit(b) }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
