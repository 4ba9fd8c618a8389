package sensitive

import (
	"net/url"
	"strings"
)

// RedactQuery returns the raw query q with the value of every sensitive
// parameter (by name — token, password, api_key... — or by value — a JWT,
// a card number, an API key) replaced by its Mask. It returns q itself,
// without allocating, when nothing needs masking. Events use it so that no
// raw secret reaches them.
func (c *Classifier) RedactQuery(q string) string {
	if q == "" {
		return q
	}
	var b strings.Builder
	rest, start := q, 0
	for rest != "" {
		pair, next, more := strings.Cut(rest, "&")
		name, value, hasValue := strings.Cut(pair, "=")
		if hasValue && value != "" {
			dn, dv := unescapeQuery(name), unescapeQuery(value)
			if c.Sensitive(dn, dv) || secretParam(dn) {
				if b.Len() == 0 {
					b.Grow(len(q))
				}
				off := len(q) - len(rest) // where pair starts
				b.WriteString(q[start : off+len(name)+1])
				b.WriteString(url.QueryEscape(Mask(dv)))
				start = off + len(pair)
			}
		}
		if !more {
			break
		}
		rest = next
	}
	if start == 0 {
		return q
	}
	b.WriteString(q[start:])
	return b.String()
}

// RedactPath masks the path segments that are secrets or personal data
// themselves (a JWT, an API key, a card number, an email in a URL). It
// returns p itself when nothing needs masking.
func (c *Classifier) RedactPath(p string) string {
	var b strings.Builder
	start := 0
	for i := 0; i < len(p); {
		j := strings.IndexByte(p[i:], '/')
		end := len(p)
		if j >= 0 {
			end = i + j
		}
		seg := p[i:end]
		if len(seg) >= 8 && c.Sensitive("", unescapeQuery(seg)) {
			if b.Len() == 0 {
				b.Grow(len(p))
			}
			b.WriteString(p[start:i])
			b.WriteString(url.PathEscape(Mask(unescapeQuery(seg))))
			start = end
		}
		i = end + 1
	}
	if start == 0 {
		return p
	}
	b.WriteString(p[start:])
	return b.String()
}

func unescapeQuery(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// secretParam reports a query parameter whose value is masked in events
// whatever it looks like: the inventory classifies a value as an API key
// only when it looks like one, but an event must not keep a short or
// oddly shaped token just because it did not (token=abc123,
// access_token=ya29.…, sig=…, code=… of an OAuth redirect).
func secretParam(name string) bool {
	if fieldHints(name)&(hPassword|hSecret|hKey) != 0 {
		return true
	}
	var buf [24]byte // lower-case letters and digits of name, without allocating
	n := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isLower(c) || isDigit(c):
		case isUpper(c):
			c += 'a' - 'A'
		default:
			continue
		}
		if n == len(buf) {
			return false
		}
		buf[n] = c
		n++
	}
	switch string(buf[:n]) {
	case "sig", "signature", "auth", "authorization", "session", "sessionid", "sessid", "phpsessid",
		"jsessionid", "sid", "code", "otp", "pin", "cvv", "cvc", "cvv2", "xamzsignature", "xamzcredential":
		return true
	}
	return false
}
