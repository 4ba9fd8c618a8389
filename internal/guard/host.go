package guard

import (
	"net/netip"
	"net/url"
	"strings"

	"golang.org/x/net/idna"
)

// Host is a host name or address as a client spelled it, normalized the
// way a URL parser would read it, and classified.
type Host struct {
	// Name is the normalized host name: lower case, no brackets, port,
	// zone or trailing dot; "" for an IP literal (see String).
	Name string
	// Addr is the address when the host is an IP literal (in any of the
	// spellings inet_aton and WHATWG accept: 2130706433, 0x7f.1, 0177.0.0.1).
	Addr  netip.Addr
	Class Class
}

// String is the host's name, or its address in canonical form.
func (h Host) String() string {
	if h.Addr.IsValid() {
		return h.Addr.String()
	}
	return h.Name
}

// ClassifyHost classifies a host as it would appear in a URL's authority
// (without userinfo; a port is allowed). Single-label names count as
// internal names.
func ClassifyHost(h string) Host { return classifyHost(h, true) }

var idnaMap = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false))

// classifyHost normalizes and classifies h. inURL says whether h came out
// of a URL (a single label then names an internal host) or stands bare in
// a field (a single word is just a word).
func classifyHost(h string, inURL bool) Host {
	if strings.IndexByte(h, '%') >= 0 {
		// WHATWG percent-decodes the host: http://%31%32%37.0.0.1/
		if u, err := url.PathUnescape(h); err == nil {
			h = u
		}
	}
	if !isASCII(h) {
		// Fullwidth digits and dots (１２７．０．０．１), ideographic full
		// stops and the like map to ASCII under UTS 46, as browsers and
		// URL libraries do.
		if a, err := idnaMap.ToASCII(h); err == nil {
			h = a
		}
	}
	h = strings.TrimSpace(h)
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return Host{Name: h}
		}
		return classifyIPv6(h[1:end])
	}
	if strings.Count(h, ":") >= 2 {
		// Unbracketed IPv6 (::1, ::ffff:127.0.0.1), possibly with a port.
		if hh := classifyIPv6(h); hh.Addr.IsValid() {
			return hh
		}
		if i := strings.LastIndexByte(h, ':'); i > 0 {
			if hh := classifyIPv6(h[:i]); hh.Addr.IsValid() {
				return hh
			}
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimRight(h, ".")
	h = lowerASCII(h)
	if h == "" {
		return Host{}
	}
	if b, ok := ParseIPv4(h); ok {
		a := netip.AddrFrom4(b)
		return Host{Addr: a, Class: classify4(b)}
	}
	return Host{Name: h, Class: classifyName(h, inURL)}
}

func classifyIPv6(s string) Host {
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i] // zone id: fe80::1%eth0, [::1%25lo]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Host{Name: lowerASCII(s)}
	}
	return Host{Addr: a, Class: ClassifyAddr(a)}
}

// ParseIPv4 reads an IPv4 address the way inet_aton and the WHATWG URL
// parser do: one to four parts separated by dots, each decimal, octal
// (leading 0) or hexadecimal (0x), the last part filling the remaining
// bytes: 2130706433, 0x7f000001, 0x7f.1, 0177.0.0.1, 127.1. A trailing
// dot is allowed.
func ParseIPv4(s string) ([4]byte, bool) {
	var out [4]byte
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return out, false
	}
	var parts [4]uint64
	n := 0
	for {
		i := strings.IndexByte(s, '.')
		p := s
		if i >= 0 {
			p = s[:i]
		}
		if n == 4 {
			return out, false
		}
		v, ok := parseIPv4Part(p)
		if !ok {
			return out, false
		}
		parts[n] = v
		n++
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	for i := 0; i < n-1; i++ {
		if parts[i] > 255 {
			return out, false
		}
		out[i] = byte(parts[i])
	}
	last := parts[n-1]
	if bits := uint(8 * (5 - n)); last >= 1<<bits {
		return out, false
	}
	for i := 3; i >= n-1; i-- {
		out[i] = byte(last)
		last >>= 8
	}
	return out, true
}

func parseIPv4Part(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, p = 16, p[2:]
		if p == "" {
			return 0, true // "0x" is 0 for WHATWG
		}
	case len(p) >= 2 && p[0] == '0':
		base, p = 8, p[1:]
	}
	var v uint64
	for i := 0; i < len(p); i++ {
		c := p[i]
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		v = v*base + d
		if v > 1<<32 {
			return 0, false
		}
	}
	return v, true
}

var loopbackNames = []string{"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

var metadataNames = []string{"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
	"instance-data.ec2.internal", "metadata.azure.internal", "metadata.tencentyun.com", "metadata.platformequinix.com"}

var internalSuffixes = []string{".internal", ".local", ".localdomain", ".home.arpa", ".lan", ".corp",
	".intranet", ".private", ".svc", ".cluster.local"}

// loopbackDomains resolve, with every subdomain, to 127.0.0.1.
var loopbackDomains = []string{"localtest.me", "lvh.me", "vcap.me", "localho.st", "fuf.me", "lacolhost.com",
	"yoogle.com"}

// wildcardDomains answer any name that embeds an address with that
// address (nip.io, sslip.io) or rebind between addresses (rbndr.us, 1u.ms).
var wildcardDomains = []string{"nip.io", "sslip.io", "xip.io", "xip.name", "nip.direct", "traefik.me",
	"rbndr.us", "1u.ms", "backname.io", "localdomain.pw"}

func classifyName(h string, inURL bool) Class {
	for _, n := range loopbackNames {
		if h == n {
			return Loopback
		}
	}
	if strings.HasSuffix(h, ".localhost") {
		return Loopback
	}
	for _, n := range metadataNames {
		if h == n {
			return Metadata
		}
	}
	for _, d := range loopbackDomains {
		if h == d || hasDomainSuffix(h, d) {
			return Disguised
		}
	}
	wildcard := false
	for _, d := range wildcardDomains {
		if hasDomainSuffix(h, d) {
			wildcard = true
			break
		}
	}
	if embedsInternalIP(h, wildcard) {
		return Disguised
	}
	for _, s := range internalSuffixes {
		if strings.HasSuffix(h, s) {
			return InternalName
		}
	}
	if inURL && strings.IndexByte(h, '.') < 0 {
		return InternalName
	}
	return None
}

func hasDomainSuffix(h, d string) bool {
	return len(h) > len(d) && strings.HasSuffix(h, d) && h[len(h)-len(d)-1] == '.'
}

// embedsInternalIP reports whether a DNS name carries an internal IPv4
// address in its labels: four numeric labels in a row (127.0.0.1.nip.io),
// a label ending in four dash-separated numbers (ip-10-0-0-1.sslip.io),
// or, under a wildcard DNS service, a label of eight hex digits
// (7f000001.nip.io).
func embedsInternalIP(h string, wildcard bool) bool {
	var labels [64]string
	n := 0
	for s := h; n < len(labels); {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			labels[n] = s
			n++
			break
		}
		labels[n] = s[:i]
		n++
		s = s[i+1:]
	}
	if n < 2 {
		return false
	}
	for i := 0; i+4 <= n-1; i++ { // the last label is the TLD
		var b [4]byte
		ok := true
		for j := 0; j < 4 && ok; j++ {
			v, good := parseDec8(labels[i+j])
			b[j], ok = v, good
		}
		if ok && classify4(b) != None {
			return true
		}
	}
	for i := 0; i < n-1; i++ {
		l := labels[i]
		if b, ok := dashedIPv4(l); ok && classify4(b) != None {
			return true
		}
		if wildcard && len(l) == 8 {
			var b [4]byte
			ok := true
			for j := 0; j < 4 && ok; j++ {
				hi, ok1 := unhex(l[2*j])
				lo, ok2 := unhex(l[2*j+1])
				b[j], ok = hi<<4|lo, ok1 && ok2
			}
			if ok && classify4(b) != None {
				return true
			}
		}
	}
	return false
}

func dashedIPv4(l string) ([4]byte, bool) {
	var b [4]byte
	rest := l
	for j := 3; j >= 0; j-- {
		i := strings.LastIndexByte(rest, '-')
		if i < 0 && j > 0 {
			return b, false
		}
		v, ok := parseDec8(rest[i+1:])
		if !ok {
			return b, false
		}
		b[j] = v
		if i >= 0 {
			rest = rest[:i]
		}
	}
	return b, true
}

func parseDec8(s string) (byte, bool) {
	if s == "" || len(s) > 3 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	if v > 255 {
		return 0, false
	}
	return byte(v), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases s, allocating only when s has upper-case letters.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
