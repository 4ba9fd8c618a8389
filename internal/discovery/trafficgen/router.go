package trafficgen

import (
	"net/url"
	"strings"
)

// router finds the spec template a concrete path belongs to, the way an
// API server routes: at every segment a literal beats a segment with a
// parameter and a literal part (`{Sid}.json`), which beats a bare
// parameter; the first complete match from the left wins.
type router struct{ root *rnode }

type rnode struct {
	lit      map[string]*rnode
	patterns []*rpattern // mixed segments, longest literal part first
	param    *rnode
	tmpl     string // normalized template ending here, "" if none
}

type rpattern struct {
	prefix, suffix string
	next           *rnode
}

func newRouter() *router { return &router{root: &rnode{}} }

// splitSegs splits a path on '/', ignoring empty segments (a trailing
// slash, "//").
func splitSegs(p string) []string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// add registers a spec template (with {names}).
func (r *router) add(tmpl string) {
	n := r.root
	for _, seg := range splitSegs(tmpl) {
		n = n.child(seg)
	}
	n.tmpl = routeKey(tmpl)
}

// routeKey is the normalized template without trailing slash: what the
// router compares.
func routeKey(tmpl string) string {
	k := Normalize(tmpl)
	if len(k) > 1 {
		k = strings.TrimRight(k, "/")
	}
	return k
}

func (n *rnode) child(seg string) *rnode {
	i := strings.IndexByte(seg, '{')
	if i < 0 {
		if n.lit == nil {
			n.lit = map[string]*rnode{}
		}
		c := n.lit[seg]
		if c == nil {
			c = &rnode{}
			n.lit[seg] = c
		}
		return c
	}
	j := strings.LastIndexByte(seg, '}')
	if i == 0 && j == len(seg)-1 && strings.Count(seg, "{") == 1 {
		if n.param == nil {
			n.param = &rnode{}
		}
		return n.param
	}
	prefix, suffix := seg[:i], seg[j+1:]
	for _, p := range n.patterns {
		if p.prefix == prefix && p.suffix == suffix {
			return p.next
		}
	}
	p := &rpattern{prefix: prefix, suffix: suffix, next: &rnode{}}
	// longest literal part first
	k := len(n.patterns)
	for k > 0 && len(n.patterns[k-1].prefix)+len(n.patterns[k-1].suffix) < len(prefix)+len(suffix) {
		k--
	}
	n.patterns = append(n.patterns, nil)
	copy(n.patterns[k+1:], n.patterns[k:])
	n.patterns[k] = p
	return p.next
}

// route returns the normalized template a raw (percent-encoded) path is
// routed to, "" if none.
func (r *router) route(rawPath string) string {
	segs := splitSegs(rawPath)
	for i, s := range segs {
		if d, err := url.PathUnescape(s); err == nil {
			segs[i] = d
		}
	}
	return r.root.match(segs)
}

func (n *rnode) match(segs []string) string {
	if len(segs) == 0 {
		return n.tmpl
	}
	s, rest := segs[0], segs[1:]
	if c := n.lit[s]; c != nil {
		if t := c.match(rest); t != "" {
			return t
		}
	}
	for _, p := range n.patterns {
		if len(s) > len(p.prefix)+len(p.suffix) && strings.HasPrefix(s, p.prefix) && strings.HasSuffix(s, p.suffix) {
			if t := p.next.match(rest); t != "" {
				return t
			}
		}
	}
	if n.param != nil {
		return n.param.match(rest)
	}
	return ""
}
