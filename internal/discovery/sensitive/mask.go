package sensitive

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Hash returns "sha256:" and the first 16 hex digits of the SHA-256 of
// secret: a stable, non-reversible id for a token or key, the same form as
// an event's identity.token_id.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	var b [7 + 16]byte
	copy(b[:], "sha256:")
	hex.Encode(b[7:], sum[:8])
	return string(b[:])
}

// Mask returns a form of value that is safe to put in events and logs while
// keeping its shape recognisable:
//
//	card number   "4111 1111 1111 1111" -> "****1111"
//	US SSN        "123-45-6789"         -> "***-**-6789"
//	email         "jane@example.com"    -> "j***@example.com"
//	anything else (tokens, keys, passwords, phones) -> Hash(value)
//
// The empty string stays empty; no other value is returned unchanged.
func Mask(value string) string {
	v := strings.TrimSpace(value)
	if v == "" {
		return ""
	}
	if len(v) <= 64 {
		st := scan(v)
		if st.lower+st.upper == 0 && st.other == 0 && st.digits >= 13 && st.digits <= 19 &&
			st.digits+st.space+st.dash == st.n && isCard(v, st, 0) {
			var buf [19]byte
			n, _ := cardDigits(v, &buf)
			last := make([]byte, 4)
			for i := range last {
				last[i] = '0' + buf[n-4+i]
			}
			return "****" + string(last)
		}
		if len(v) == 11 && st.digits == 9 && isSSN(v, 0) {
			return "***-**-" + v[7:]
		}
		if st.at == 1 && isEmail(v) {
			at := strings.IndexByte(v, '@')
			return v[:1] + "***" + v[at:]
		}
	}
	return Hash(value)
}
