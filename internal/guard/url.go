package guard

import (
	"fmt"
	"net/netip"
	"strings"
)

// Level is how much a field is known to carry a host or URL; it decides
// how eagerly a bare value (no scheme) is read as an address.
type Level uint8

const (
	// Plain: any field. A bare value is an address only in an
	// unmistakable spelling: a dotted-decimal IPv4 or an IPv6 literal
	// that is loopback, private, link-local, CGNAT or metadata, or a name
	// such as localhost, metadata.google.internal or 127.0.0.1.nip.io.
	Plain Level = iota
	// Hinted: the field's name says it carries a host or URL (url, host,
	// callback, webhook, redirect...). Bare values are also read in every
	// IPv4 spelling (2130706433, 0x7f.1, 0177.0.0.1) and internal domain
	// suffixes (.internal, .local) count.
	Hinted
	// Listed: the field is named in the configuration. A single-label
	// name (redis, db) is an internal host too.
	Listed
)

// Hit is a value that points somewhere it should not.
type Hit struct {
	Class Class
	// Host is the normalized host the value names ("" for a scheme hit
	// without one, such as file:///etc/passwd). Never userinfo.
	Host string
	// Scheme is the URL's scheme, lower case ("" for a bare host).
	Scheme string
}

// Options configure a Checker.
type Options struct {
	// Classes are the classes that are findings.
	Classes ClassSet
	// Schemes are always findings (class Scheme), whatever the host.
	Schemes []string
	// AllowHosts are never findings: host names, "*.example.com" for the
	// subdomains of a domain, IP addresses or CIDR prefixes.
	AllowHosts []string
}

// DefaultSchemes are the schemes flagged whatever their host: they reach
// local files or speak to non-HTTP services through an HTTP client.
var DefaultSchemes = []string{"file", "gopher", "dict", "ldap", "ldaps", "tftp", "jar", "netdoc", "phar", "expect", "sftp"}

// Checker classifies parameter values. It is immutable and safe for
// concurrent use.
type Checker struct {
	classes  ClassSet
	schemes  []string
	names    []string
	suffixes []string
	prefixes []netip.Prefix
}

// NewChecker builds a Checker.
func NewChecker(o Options) (*Checker, error) {
	c := &Checker{classes: o.Classes}
	for _, s := range o.Schemes {
		c.schemes = append(c.schemes, strings.ToLower(strings.TrimSuffix(s, ":")))
	}
	for _, h := range o.AllowHosts {
		if err := c.allow(h); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// CheckAllowHost reports whether h is a valid allow_hosts entry.
func CheckAllowHost(h string) error { return new(Checker).allow(h) }

func (c *Checker) allow(h string) error {
	h = strings.ToLower(strings.TrimSpace(h))
	switch {
	case h == "":
		return fmt.Errorf("empty host")
	case strings.Contains(h, "/"):
		p, err := netip.ParsePrefix(h)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR prefix: %v", h, err)
		}
		c.prefixes = append(c.prefixes, p.Masked())
	case strings.HasPrefix(h, "*."):
		if strings.Contains(h[2:], "*") || len(h) < 3 {
			return fmt.Errorf("%q: a wildcard is only *.domain", h)
		}
		c.suffixes = append(c.suffixes, h[1:])
	case strings.ContainsAny(h, "*@?# "):
		return fmt.Errorf("%q is not a host name, *.domain, an IP address or a CIDR", h)
	default:
		if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
			c.prefixes = append(c.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			return nil
		}
		c.names = append(c.names, strings.TrimSuffix(h, "."))
	}
	return nil
}

func (c *Checker) allowed(h Host) bool {
	if h.Addr.IsValid() {
		a := h.Addr.WithZone("").Unmap()
		for _, p := range c.prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	for _, n := range c.names {
		if h.Name == n {
			return true
		}
	}
	for _, s := range c.suffixes {
		if strings.HasSuffix(h.Name, s) {
			return true
		}
	}
	return false
}

// Value checks one parameter value: a URL (any scheme with an authority,
// or scheme-relative //host), or a bare host at the given level. Values
// that merely contain a URL somewhere in prose are not read.
func (c *Checker) Value(v string, lvl Level) (Hit, bool) {
	v = trimC0(v)
	if v == "" {
		return Hit{}, false
	}
	if strings.ContainsAny(v, "\t\n\r") {
		// WHATWG drops tabs and newlines anywhere: ht\ntp://127.0.0.1
		v = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(v)
	}
	if scheme, rest, ok := splitScheme(v); ok {
		scheme = lowerASCII(scheme)
		for _, s := range c.schemes {
			if s == scheme {
				if !c.classes.Has(Scheme) {
					break
				}
				h := Hit{Class: Scheme, Scheme: scheme}
				if strings.HasPrefix(rest, "//") {
					h.Host = classifyHost(hostOf(authority(rest[2:], "/\\?#")), true).String()
				}
				return h, true
			}
		}
		if special(scheme) {
			// Special schemes: any run of slashes and backslashes
			// (or none: http:127.0.0.1) leads to the host.
			return c.url(strings.TrimLeft(rest, "/\\"), scheme)
		}
		if strings.HasPrefix(rest, "//") {
			return c.url(rest[2:], scheme)
		}
		return Hit{}, false
	}
	if len(v) > 2 && (v[0] == '/' || v[0] == '\\') && (v[1] == '/' || v[1] == '\\') {
		return c.url(strings.TrimLeft(v, "/\\"), "")
	}
	return c.bare(v, lvl)
}

// url judges the authority at the start of s. The host is read twice:
// as WHATWG does (a backslash ends the authority) and as lenient parsers
// do (it does not), so that http://good.com\@127.0.0.1/ is caught either
// way.
func (c *Checker) url(s, scheme string) (Hit, bool) {
	strict := authority(s, "/\\?#")
	if h, ok := c.host(hostOf(strict), true); ok {
		return Hit{Class: h.Class, Host: h.String(), Scheme: scheme}, true
	}
	if lenient := authority(s, "/?#"); len(lenient) != len(strict) {
		if h, ok := c.host(hostOf(lenient), true); ok {
			return Hit{Class: h.Class, Host: h.String(), Scheme: scheme}, true
		}
	}
	return Hit{}, false
}

func (c *Checker) host(s string, inURL bool) (Host, bool) {
	h := classifyHost(s, inURL)
	if h.Class == None || !c.classes.Has(h.Class) || c.allowed(h) {
		return h, false
	}
	return h, true
}

func (c *Checker) bare(v string, lvl Level) (Hit, bool) {
	cand := authority(v, "/?#")
	if cand == "" || strings.ContainsAny(cand, " \"'<>{}|^`") {
		return Hit{}, false
	}
	if lvl >= Hinted {
		h, ok := c.host(hostOf(cand), lvl == Listed)
		if ok {
			return Hit{Class: h.Class, Host: h.String()}, true
		}
		return Hit{}, false
	}
	// Plain fields: only unmistakable spellings.
	if strings.IndexByte(cand, '@') >= 0 {
		return Hit{}, false // an e-mail address, not a host
	}
	var h Host
	switch {
	case cand[0] == '[' || strings.Count(cand, ":") >= 2:
		h = classifyHost(cand, false)
		if !h.Addr.IsValid() {
			return Hit{}, false
		}
	case dottedQuad(stripPort(cand)):
		h = classifyHost(cand, false)
	default:
		if !isHostChars(cand) || !hasLetter(cand) {
			return Hit{}, false
		}
		h = classifyHost(cand, false)
		if h.Addr.IsValid() || (h.Class != Loopback && h.Class != Metadata && h.Class != Disguised) {
			return Hit{}, false
		}
	}
	switch h.Class {
	case Loopback, Private, LinkLocal, Metadata, CGNAT, Disguised:
		if c.classes.Has(h.Class) && !c.allowed(h) {
			return Hit{Class: h.Class, Host: h.String()}, true
		}
	}
	return Hit{}, false
}

// splitScheme splits "scheme:rest". A "host:port" (rest starting with a
// digit and no //) is not a scheme.
func splitScheme(v string) (scheme, rest string, ok bool) {
	for i := 0; i < len(v) && i < 33; i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			rest = v[i+1:]
			if rest != "" && '0' <= rest[0] && rest[0] <= '9' && !special(v[:i]) {
				return "", "", false
			}
			return v[:i], rest, true
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// special reports whether scheme is one of WHATWG's special schemes with
// a host (compared case-insensitively).
func special(scheme string) bool {
	for _, s := range [...]string{"http", "https", "ws", "wss", "ftp"} {
		if strings.EqualFold(scheme, s) {
			return true
		}
	}
	return false
}

// authority is s up to the first of the stop bytes.
func authority(s, stops string) string {
	if i := strings.IndexAny(s, stops); i >= 0 {
		return s[:i]
	}
	return s
}

// hostOf drops the userinfo of an authority (the last @ wins, as in
// WHATWG).
func hostOf(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[i+1:]
	}
	return a
}

func stripPort(s string) string {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i]
	}
	return s
}

// dottedQuad reports whether s is four dot-separated decimal numbers.
func dottedQuad(s string) bool {
	s = strings.TrimSuffix(s, ".")
	for i := 0; i < 4; i++ {
		j := strings.IndexByte(s, '.')
		p := s
		if i < 3 {
			if j < 0 {
				return false
			}
			p = s[:j]
		} else if j >= 0 {
			return false
		}
		if _, ok := parseDec8(p); !ok {
			return false
		}
		s = s[j+1:]
	}
	return true
}

func isHostChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

func hasLetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; 'a' <= c && c <= 'z' {
			return true
		}
	}
	return false
}

// trimC0 drops leading and trailing C0 controls and spaces, as WHATWG.
func trimC0(s string) string {
	for len(s) > 0 && s[0] <= ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] <= ' ' {
		s = s[:len(s)-1]
	}
	return s
}

// HostHint reports whether a field name suggests it carries a URL or a
// host (callback, webhook_url, redirectUri, target_host, image_src...).
// It compares case-insensitively and does not allocate.
func HostHint(name string) bool {
	for _, w := range hintWords {
		if containsFold(name, w) {
			return true
		}
	}
	for _, w := range hintExact {
		if strings.EqualFold(name, w) {
			return true
		}
	}
	return false
}

var hintWords = []string{"url", "uri", "host", "callback", "webhook", "redirect", "domain", "endpoint", "proxy",
	"link", "href", "feed", "fetch", "origin", "dest", "target", "upstream", "remote", "addr"}

var hintExact = []string{"ip", "to", "src", "next", "return", "continue", "site", "server", "path"}

// containsFold reports whether s contains sub, ASCII case folded; sub is
// lower case.
func containsFold(s, sub string) bool {
	n := len(sub)
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				continue outer
			}
		}
		return true
	}
	return false
}
