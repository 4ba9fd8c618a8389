// Package connections is the connections stage: who may call whom. It
// reads the caller's workload identity from the client certificate the
// TLS listener verified (the SPIFFE ID of its one URI SAN), passes it to
// the upstream in the peer header (removed from every incoming request
// first, so it cannot be spoofed), and applies connections.rules: by
// caller, destination, method and path, first match decides, then the
// default. Every refusal is a finding of layer "connections". See
// docs/sidecar.md.
package connections

import (
	"context"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Stage enforces connection rules and carries the peer identity.
type Stage struct {
	header      string
	rules       []rule
	defaultDeny bool
}

var (
	_ pipeline.Stage   = (*Stage)(nil)
	_ pipeline.Layered = (*Stage)(nil)
	_ pipeline.Passive = (*Stage)(nil)
)

type rule struct {
	name    string
	allow   bool
	from    []string
	to      []string
	methods []string
	paths   [][]string // split patterns
}

// New builds the stage. It is always built: even without rules it removes
// a peer header a caller sent and sets the verified one.
func New(cfg *config.Config) (pipeline.Stage, error) {
	c := &cfg.Transport.Connections
	s := &Stage{header: cfg.PeerHeader(), defaultDeny: c.Default == "deny"}
	for _, r := range c.Rules {
		cr := rule{name: r.Name, allow: r.Action == "allow", from: r.From, methods: r.Methods}
		for _, t := range r.To {
			cr.to = append(cr.to, strings.ToLower(t))
		}
		for _, p := range r.Paths {
			cr.paths = append(cr.paths, strings.Split(p, "/"))
		}
		s.rules = append(s.rules, cr)
	}
	return s, nil
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "connections" }

// Passive implements pipeline.Passive: without rules the stage only
// carries the peer identity and stops nothing.
func (s *Stage) Passive() bool { return len(s.rules) == 0 && !s.defaultDeny }

// Layer implements pipeline.Layered.
func (s *Stage) Layer() string { return "connections" }

// Request implements pipeline.Stage.
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	r := tx.Req
	r.Header.Del(s.header)
	peer := pipeline.PeerWorkload(r)
	if peer != "" {
		r.Header.Set(s.header, peer)
	}
	if len(s.rules) == 0 && !s.defaultDeny {
		return pipeline.Continue, nil
	}
	host := hostOnly(r.Host)
	for i := range s.rules {
		ru := &s.rules[i]
		if !ru.matches(peer, host, tx.Route, r.Method, r.URL.Path) {
			continue
		}
		if ru.allow {
			return pipeline.Continue, nil
		}
		return refuse(ru.name, peer, host, "denied by connection rule "+ru.name), nil
	}
	if s.defaultDeny {
		return refuse("connections.default", peer, host, "no connection rule allows this caller (default: deny)"), nil
	}
	return pipeline.Continue, nil
}

func refuse(ruleID, peer, host, msg string) pipeline.Verdict {
	if peer == "" {
		peer = "unauthenticated"
	}
	v := pipeline.BlockWith(http.StatusForbidden, "connection_refused", ruleID, msg+": "+peer+" → "+host)
	v.Variable, v.Data = "peer", peer
	return v
}

func (ru *rule) matches(peer, host, route, method, p string) bool {
	if !slices.ContainsFunc(ru.from, func(f string) bool { return peerMatch(f, peer) }) {
		return false
	}
	if len(ru.to) > 0 && !slices.ContainsFunc(ru.to, func(t string) bool { return t == route || hostMatch(t, host) }) {
		return false
	}
	if len(ru.methods) > 0 && !slices.Contains(ru.methods, method) {
		return false
	}
	if len(ru.paths) > 0 {
		segs := strings.Split(p, "/")
		if !slices.ContainsFunc(ru.paths, func(pat []string) bool { return pathMatch(pat, segs) }) {
			return false
		}
	}
	return true
}

func peerMatch(pattern, peer string) bool {
	switch {
	case pattern == "unauthenticated":
		return peer == ""
	case peer == "":
		return false
	case pattern == "*":
		return true
	case strings.HasSuffix(pattern, "/*"):
		base := strings.TrimSuffix(pattern, "*")
		return strings.HasPrefix(peer, base) || peer == strings.TrimSuffix(base, "/")
	}
	return pattern == peer
}

func hostMatch(pattern, host string) bool {
	if pattern == "*" || pattern == host {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+suffix)
	}
	return false
}

// pathMatch matches segments; a final "*" or "**" pattern segment matches
// the rest of the path (the subtree), others one segment each.
func pathMatch(pat, segs []string) bool {
	for i, ps := range pat {
		if i == len(pat)-1 && (ps == "**" || (ps == "*" && len(segs) > i)) {
			return len(segs) >= i
		}
		if i >= len(segs) {
			return false
		}
		if ok, err := path.Match(ps, segs[i]); err != nil || !ok {
			return false
		}
	}
	return len(segs) == len(pat)
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
