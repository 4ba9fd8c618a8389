package pathnorm

import "strings"

// Host returns the canonical form of an authority (host[:port]) as routes
// and stages see it: the host lower-cased and without trailing dots, and no
// port when it is empty or the scheme's default (80, or 443 when https).
// Other ports stay, without leading zeros. An already canonical host is
// returned as is, without allocating.
func Host(h string, https bool) string {
	name, port := splitHostPort(h)
	keepPort := port != ""
	if keepPort {
		p := strings.TrimLeft(port, "0")
		if p == "" {
			p = "0"
		}
		if https && p == "443" || !https && p == "80" {
			keepPort = false
		}
		port = p
	}
	trimmed := strings.TrimRight(name, ".")
	if trimmed == "" {
		trimmed = name // "." alone is not a name to empty
	}
	lower := !hasUpper(trimmed)
	if lower && trimmed == name && (keepPort && len(name)+1+len(port) == len(h) || !keepPort && len(name) == len(h)) {
		return h
	}
	if !lower {
		trimmed = strings.ToLower(trimmed)
	}
	if keepPort {
		return trimmed + ":" + port
	}
	return trimmed
}

// splitHostPort splits host[:port]; a bracketed IPv6 literal keeps its
// brackets, and a bare IPv6 address (several colons) is all host.
func splitHostPort(h string) (name, port string) {
	if strings.HasPrefix(h, "[") {
		if j := strings.IndexByte(h, ']'); j >= 0 {
			if rest := h[j+1:]; strings.HasPrefix(rest, ":") && allDigits(rest[1:]) {
				return h[:j+1], rest[1:]
			}
		}
		return h, ""
	}
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.IndexByte(h[:i], ':') >= 0 || !allDigits(h[i+1:]) {
		return h, ""
	}
	return h[:i], h[i+1:]
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
