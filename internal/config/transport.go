package config

import (
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Transport is workload-to-workload security: who may call whom and the
// header that carries the verified caller. Listener TLS (mutual TLS, the
// SVID, the crypto profile) is under listen.https. See docs/sidecar.md.
type Transport struct {
	Connections Connections `yaml:"connections"`
	// PeerHeader carries the caller's verified SPIFFE ID to the upstream
	// (default X-Vigil-Peer-Identity); it is removed from every incoming
	// request first.
	PeerHeader string `yaml:"peer_header"`
	// Egress intercepts, tunnels or blocks outbound HTTPS (egress.go).
	Egress Egress `yaml:"egress"`
}

// SVID has a listener (or an upstream client) issue its X509-SVID from
// the Vigil CA in CADir (vigil ca init) and renew it at half-life.
type SVID struct {
	CADir    string        `yaml:"ca_dir"`
	SPIFFEID string        `yaml:"spiffe_id"`
	TTL      time.Duration `yaml:"ttl"` // default 24h
}

// UpstreamTLS is how a route's https upstream is called
// (routes[].upstream_tls): mutual TLS with this workload's certificate,
// and the peer verified by its SPIFFE ID (sidecar to sidecar).
type UpstreamTLS struct {
	// Profile is modern or compatible (the default).
	Profile string `yaml:"profile"`
	// CA is the bundle the upstream's certificate is verified against
	// (default: upstream_ca, else the svid CA's bundle.pem, else the
	// system roots).
	CA string `yaml:"ca"`
	// Cert and Key, or SVID: the client certificate presented.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	SVID *SVID  `yaml:"svid"`
	// SPIFFEID, when set, is the identity the upstream must prove: its
	// certificate chain is verified against CA and its one URI SAN must
	// be this ID (host names are not checked: workloads are named by
	// identity, not by DNS). A pattern ending in /* accepts that subtree.
	SPIFFEID string `yaml:"spiffe_id"`
}

// Connections is who may call whom (east-west): rules by the caller's
// verified workload identity (the SPIFFE ID of its client certificate),
// the destination, methods and paths. See docs/sidecar.md.
type Connections struct {
	// Default decides a call no rule matches: allow (the default) or deny
	// (default deny for east-west).
	Default string           `yaml:"default"`
	Rules   []ConnectionRule `yaml:"rules"`
}

// ConnectionRule is one rule; the first that matches decides.
type ConnectionRule struct {
	Name string `yaml:"name"`
	// From are caller patterns: a SPIFFE ID, one ending in "/*" (that
	// path and below), "spiffe://TD/*" (any workload of a trust domain),
	// "*" (any verified workload) or "unauthenticated" (no verified
	// client certificate).
	From []string `yaml:"from"`
	// To are destination hosts (as routes match them: "orders.internal",
	// "*.internal") or route names; empty is any.
	To []string `yaml:"to"`
	// Methods, empty is any; Paths are path patterns (path.Match per
	// segment, a final "/*" or "/**" for a subtree); empty is any.
	Methods []string `yaml:"methods"`
	Paths   []string `yaml:"paths"`
	// Action is allow or deny.
	Action string `yaml:"action"`
}

// Configured reports whether any connection rule or a default deny is set.
func (c *Connections) Configured() bool { return len(c.Rules) > 0 || c.Default == "deny" }

// DefaultPeerHeader carries the verified caller identity to the upstream.
const DefaultPeerHeader = "X-Vigil-Peer-Identity"

// PeerHeader is the header that carries the verified SPIFFE ID of the
// caller to the upstream (listen.peer_header); it is always removed from
// incoming requests first.
func (c *Config) PeerHeader() string {
	if c.Transport.PeerHeader == "" {
		return DefaultPeerHeader
	}
	return textproto.CanonicalMIMEHeaderKey(c.Transport.PeerHeader)
}

func (c *Config) validateTransport(add addFunc) {
	cn := &c.Transport.Connections
	switch cn.Default {
	case "", "allow", "deny":
	default:
		add("transport.connections.default", "%q is not one of allow, deny", cn.Default)
	}
	c.validateEgress(add)
	if h := c.Transport.PeerHeader; h != "" && !validHeaderName(h) {
		add("transport.peer_header", "%q is not a header name", h)
	}
	if h := c.Listen.HTTPS; h != nil {
		c.validateListenerTLS(h, add)
	}
	names := map[string]bool{}
	for i, r := range cn.Rules {
		p := fmt.Sprintf("transport.connections.rules[%d]", i)
		if r.Name == "" {
			add(p+".name", "required")
		} else if names[r.Name] {
			add(p+".name", "%q is used twice", r.Name)
		}
		names[r.Name] = true
		switch r.Action {
		case "allow", "deny":
		default:
			add(p+".action", "%q is not one of allow, deny", r.Action)
		}
		if len(r.From) == 0 {
			add(p+".from", "required: SPIFFE IDs or patterns, \"*\" or \"unauthenticated\"")
		}
		for j, f := range r.From {
			if err := checkPeerPattern(f); err != nil {
				add(fmt.Sprintf("%s.from[%d]", p, j), "%v", err)
			}
		}
		for j, m := range r.Methods {
			if !validMethod(m) {
				add(fmt.Sprintf("%s.methods[%d]", p, j), "%q is not an HTTP method", m)
			}
		}
		for j, pp := range r.Paths {
			if !strings.HasPrefix(pp, "/") {
				add(fmt.Sprintf("%s.paths[%d]", p, j), "%q must start with /", pp)
				continue
			}
			for _, seg := range strings.Split(pp, "/") {
				if _, err := path.Match(seg, ""); err != nil {
					add(fmt.Sprintf("%s.paths[%d]", p, j), "segment %q: %v", seg, err)
				}
			}
		}
	}
}

func (c *Config) validateListenerTLS(h *HTTPS, add addFunc) {
	switch h.Profile {
	case "", "modern", "compatible":
	default:
		add("listen.https.profile", "%q is not one of modern, compatible", h.Profile)
	}
	switch h.ClientAuth {
	case "", "require", "optional", "none":
	default:
		add("listen.https.client_auth", "%q is not one of require, optional, none", h.ClientAuth)
	}
	if h.ClientCA != "" {
		if _, err := os.Stat(h.ClientCA); err != nil {
			add("listen.https.client_ca", "%v", err)
		}
	}
	if s := h.SVID; s != nil {
		if h.Cert != "" || h.Key != "" {
			add("listen.https.svid", "give svid or cert and key, not both")
		}
		c.validateSVID("listen.https.svid", s, add)
	}
}

func (c *Config) validateUpstreamTLS(p string, u *UpstreamTLS, add addFunc) {
	switch u.Profile {
	case "", "modern", "compatible":
	default:
		add(p+".profile", "%q is not one of modern, compatible", u.Profile)
	}
	if u.CA != "" {
		if _, err := os.Stat(u.CA); err != nil {
			add(p+".ca", "%v", err)
		}
	}
	if (u.Cert == "") != (u.Key == "") {
		add(p, "cert and key go together")
	}
	if u.SVID != nil {
		if u.Cert != "" {
			add(p+".svid", "give svid or cert and key, not both")
		}
		c.validateSVID(p+".svid", u.SVID, add)
	}
	if u.SPIFFEID != "" {
		if err := checkPeerPattern(u.SPIFFEID); err != nil || u.SPIFFEID == "*" || u.SPIFFEID == "unauthenticated" {
			add(p+".spiffe_id", "%q is not a SPIFFE ID (spiffe://trust-domain/path, or one ending in /*)", u.SPIFFEID)
		}
		if u.CA == "" && u.SVID == nil {
			add(p+".ca", "required with spiffe_id: the trust bundle the upstream's SVID chains to")
		}
	}
}

func (c *Config) validateSVID(p string, s *SVID, add addFunc) {
	if s.CADir == "" {
		add(p+".ca_dir", "required: the directory of vigil ca init")
	} else if _, err := os.Stat(filepath.Join(s.CADir, "bundle.pem")); err != nil {
		add(p+".ca_dir", "%v (run vigil ca init --dir %s --trust-domain TD)", err, s.CADir)
	}
	if !strings.HasPrefix(s.SPIFFEID, "spiffe://") {
		add(p+".spiffe_id", "%q is not a SPIFFE ID (spiffe://trust-domain/path)", s.SPIFFEID)
	}
	if s.TTL < 0 || (s.TTL > 0 && s.TTL < time.Second) {
		add(p+".ttl", "%s: at least 1s", s.TTL)
	}
}

func checkPeerPattern(f string) error {
	switch {
	case f == "*" || f == "unauthenticated":
		return nil
	case !strings.HasPrefix(f, "spiffe://"):
		return fmt.Errorf("%q is not a SPIFFE ID (spiffe://trust-domain/path), \"*\" or \"unauthenticated\"", f)
	}
	rest := strings.TrimPrefix(f, "spiffe://")
	td, _, _ := strings.Cut(rest, "/")
	if td == "" || strings.ContainsAny(td, ":@?#") || strings.ToLower(td) != td {
		return fmt.Errorf("%q: the trust domain must be lower-case letters, digits, dots, dashes and underscores", f)
	}
	if strings.ContainsAny(rest, "?#") || strings.Contains(strings.TrimSuffix(rest, "/*"), "*") {
		return fmt.Errorf("%q: only a final /* is a wildcard", f)
	}
	return nil
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return http.CanonicalHeaderKey(h) != ""
}
