package schema

import (
	"encoding/base64"
	"net/netip"
	"net/url"
	"time"

	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
)

// String formats the learner detects. They are JSON Schema 2020-12 /
// OpenAPI 3.1 format names; only formats that can be recognised without
// false positives on ordinary strings are listed.
const (
	FormatUUID     = "uuid"      // 8-4-4-4-12 hex
	FormatDate     = "date"      // RFC 3339 full-date, 2024-01-15
	FormatDateTime = "date-time" // RFC 3339 date-time with time zone
	FormatEmail    = "email"
	FormatURI      = "uri"    // absolute URI with scheme://host
	FormatIPv4     = "ipv4"   // dotted quad, no leading zeros
	FormatIPv6     = "ipv6"   // RFC 4291 text form, no zone
	FormatJWT      = "jwt"    // compact JWS whose header has "alg"
	FormatByte     = "byte"   // standard base64, at least 64 chars, mixed case
	FormatBinary   = "binary" // multipart file parts only
)

// detectFormat returns the format of s, or "".
func detectFormat(s string) string {
	n := len(s)
	if n < 7 || n > 8192 {
		return ""
	}
	switch {
	case n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-':
		if isUUID(s) {
			return FormatUUID
		}
		return ""
	case n == 10 && s[4] == '-' && s[7] == '-':
		if _, err := time.Parse(time.DateOnly, s); err == nil {
			return FormatDate
		}
		return ""
	case n >= 20 && s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't'):
		if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return FormatDateTime
		}
		return ""
	}
	c := s[0]
	switch {
	case isDigit(c) && n <= 15 && onlyDigitsDots(s):
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return FormatIPv4
		}
		return ""
	case n <= 45 && hasByte(s, ':') && isHexColon(s):
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() && a.Zone() == "" {
			return FormatIPv6
		}
		return ""
	}
	if hasByte(s, '@') {
		if sensitive.IsEmail(s) {
			return FormatEmail
		}
		return ""
	}
	if isAlpha(c) {
		if i := indexString(s, "://"); i > 0 && i < 16 {
			if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" && isScheme(s[:i]) {
				return FormatURI
			}
			return ""
		}
	}
	if n > 20 && s[0] == 'e' && sensitive.IsJWT(s) {
		return FormatJWT
	}
	if n >= 64 && n%4 == 0 && isLongBase64(s) {
		return FormatByte
	}
	return ""
}

func isUUID(s string) bool {
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func isLongBase64(s string) bool {
	var lower, upper, digit bool
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= 'a' && b <= 'z':
			lower = true
		case b >= 'A' && b <= 'Z':
			upper = true
		case isDigit(b):
			digit = true
		case b == '+' || b == '/':
		case b == '=' && i >= len(s)-2:
		default:
			return false
		}
	}
	if !lower || !upper || !digit {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !isAlpha(b) && !(i > 0 && (isDigit(b) || b == '+' || b == '-' || b == '.')) {
			return false
		}
	}
	return true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isAlpha(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
func isHex(b byte) bool   { return isDigit(b) || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' }

func onlyDigitsDots(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

func isHexColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) && s[i] != ':' && s[i] != '.' {
			return false
		}
	}
	return true
}

func hasByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

func indexString(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
