package proxy

import (
	"sort"
	"strings"
)

// Router picks the route for a host and path: the longest matching path
// prefix wins; among equal prefixes the most specific host wins (exact,
// then the longest *.suffix, then *).
type Router[T any] struct {
	entries []routerEntry[T]
}

type routerEntry[T any] struct {
	host   string // "" for *, ".suffix" for *.suffix, exact otherwise
	prefix string
	value  T
}

// RouteSpec is one route to add.
type RouteSpec[T any] struct {
	Host, PathPrefix string
	Value            T
}

// NewRouter builds an immutable router.
func NewRouter[T any](specs []RouteSpec[T]) *Router[T] {
	r := &Router[T]{}
	for _, s := range specs {
		h := strings.TrimSuffix(strings.Trim(strings.ToLower(s.Host), "[]"), ".")
		switch {
		case h == "*" || h == "":
			h = ""
		case strings.HasPrefix(h, "*."):
			h = h[1:]
		}
		r.entries = append(r.entries, routerEntry[T]{host: h, prefix: s.PathPrefix, value: s.Value})
	}
	sort.SliceStable(r.entries, func(i, j int) bool {
		a, b := r.entries[i], r.entries[j]
		if len(a.prefix) != len(b.prefix) {
			return len(a.prefix) > len(b.prefix)
		}
		return hostRank(a.host) > hostRank(b.host)
	})
	return r
}

func hostRank(h string) int {
	switch {
	case h == "":
		return 0
	case h[0] == '.':
		return 1 + len(h)
	}
	return 1 << 20
}

// Match returns the route for host (port ignored, any case) and path.
func (r *Router[T]) Match(host, path string) (T, bool) {
	host = stripPort(host)
	for i := range r.entries {
		e := &r.entries[i]
		if !prefixMatch(e.prefix, path) || !hostMatch(e.host, host) {
			continue
		}
		return e.value, true
	}
	var zero T
	return zero, false
}

// prefixMatch matches on segment boundaries: /api matches /api and /api/x
// but not /apix; a prefix ending in / matches everything below it.
func prefixMatch(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	if len(path) == len(prefix) || prefix == "" || prefix[len(prefix)-1] == '/' {
		return true
	}
	return path[len(prefix)] == '/'
}

func hostMatch(pattern, host string) bool {
	switch {
	case pattern == "":
		return true
	case pattern[0] == '.':
		return len(host) > len(pattern) && hasSuffixFold(host, pattern)
	}
	return strings.EqualFold(pattern, host)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func stripPort(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return strings.TrimSuffix(host, ".")
}
