package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Egress is the sidecar's egress listener for outbound HTTPS (CONNECT, or
// TLS with SNI), matched against rules whose action is intercept, tunnel
// or block. See docs/egress.md.
type Egress struct {
	// Listen is the egress listener address; empty disables egress. It
	// speaks HTTP CONNECT (the app sets HTTPS_PROXY to it) and, on the
	// same port, raw TLS (traffic redirected to it): the destination is
	// then the ClientHello's SNI.
	Listen string `yaml:"listen"`
	// CADir is the Vigil CA (vigil ca init) that mints the leaf
	// certificates of intercepted hosts; required when a rule or the
	// default intercepts. The app must trust its bundle.pem.
	CADir string `yaml:"ca_dir"`
	// Identity is this sidecar's workload SPIFFE ID, which rules' source
	// patterns are matched against (default: listen.https.svid.spiffe_id).
	Identity string `yaml:"identity"`
	// Default is the action when no rule matches: tunnel (the default),
	// intercept or block.
	Default string `yaml:"default"`
	// Rules are tried in order; the first whose source and destination
	// match decides.
	Rules []EgressRule `yaml:"rules"`
	// TransparentPort is the destination port of raw TLS connections
	// (default 443).
	TransparentPort int `yaml:"transparent_port"`
	// LeafTTL is the lifetime of minted leaves (default 24h); a cached
	// leaf is re-minted after half of it.
	LeafTTL time.Duration `yaml:"leaf_ttl"`
	// CacheSize bounds the minted leaves kept, least recently used out
	// (default 1024).
	CacheSize int `yaml:"cache_size"`
	// MaxConnections caps concurrent egress connections (default 1024);
	// beyond it new connections are closed at once.
	MaxConnections int `yaml:"max_connections"`
	// HandshakeTimeout bounds reading the CONNECT request and the
	// ClientHello, the interception handshake and dialing the
	// destination (default 10s).
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// IdleTimeout closes a tunnel or an intercepted connection with no
	// traffic for that long (default 5m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// PinTTL is how long a host whose client refused the minted
	// certificate is tunneled, for a rule whose fallback is tunnel
	// (default 1h).
	PinTTL time.Duration `yaml:"pin_ttl"`
}

// EgressRule is one egress rule.
type EgressRule struct {
	Name string `yaml:"name"`
	// Source is a pattern for this sidecar's workload identity: a SPIFFE
	// ID, one ending in /* (that path and below), or "*" (default: any).
	Source string `yaml:"source"`
	// Destination is the host: exact ("api.stripe.com"), "*.suffix" (any
	// host below it, not the suffix itself) or "*".
	Destination string `yaml:"destination"`
	// Methods, on an intercept rule, are the methods allowed through the
	// decrypted connection; a request with another method is refused (403)
	// before the pipeline. Empty is any.
	Methods []string `yaml:"methods"`
	// Action is intercept, tunnel or block.
	Action string `yaml:"action"`
	// Fallback, on an intercept rule, is what happens when the client
	// refuses the minted certificate (a pinned client): block (default)
	// or tunnel (the host is tunneled from then on, for pin_ttl).
	Fallback string `yaml:"fallback"`
}

// Egress actions.
const (
	EgressIntercept = "intercept"
	EgressTunnel    = "tunnel"
	EgressBlock     = "block"
)

// Egress defaults.
const (
	DefaultEgressLeafTTL     = 24 * time.Hour
	DefaultEgressCacheSize   = 1024
	DefaultEgressMaxConns    = 1024
	DefaultEgressHandshake   = 10 * time.Second
	DefaultEgressIdleTimeout = 5 * time.Minute
	DefaultEgressPinTTL      = time.Hour
	DefaultEgressPort        = 443
)

// Intercepts reports whether any rule or the default intercepts.
func (e *Egress) Intercepts() bool {
	if e.Default == EgressIntercept {
		return true
	}
	for _, r := range e.Rules {
		if r.Action == EgressIntercept {
			return true
		}
	}
	return false
}

// SourceIdentity is the workload identity rules' sources are matched
// against: transport.egress.identity, else listen.https.svid.spiffe_id.
func (c *Config) SourceIdentity() string {
	if id := c.Transport.Egress.Identity; id != "" {
		return id
	}
	if h := c.Listen.HTTPS; h != nil && h.SVID != nil {
		return h.SVID.SPIFFEID
	}
	return ""
}

func (c *Config) validateEgress(add addFunc) {
	e := &c.Transport.Egress
	const p = "transport.egress"
	if e.Listen == "" {
		if len(e.Rules) > 0 || e.Default != "" || e.CADir != "" {
			add(p+".listen", "required with transport.egress rules, default or ca_dir")
		}
		return
	}
	if _, port, err := net.SplitHostPort(e.Listen); err != nil || port == "" {
		add(p+".listen", "%q is not host:port", e.Listen)
	}
	switch e.Default {
	case "", EgressIntercept, EgressTunnel, EgressBlock:
	default:
		add(p+".default", "%q is not one of intercept, tunnel, block", e.Default)
	}
	if e.Intercepts() {
		if e.CADir == "" {
			add(p+".ca_dir", "required to intercept: the directory of vigil ca init")
		} else if _, err := os.Stat(filepath.Join(e.CADir, "ca.json")); err != nil {
			add(p+".ca_dir", "%v (run vigil ca init --dir %s --trust-domain TD)", err, e.CADir)
		}
	}
	if id := e.Identity; id != "" {
		if err := checkPeerPattern(id); err != nil || strings.Contains(id, "*") || id == "unauthenticated" {
			add(p+".identity", "%q is not a SPIFFE ID (spiffe://trust-domain/path)", id)
		}
	}
	if e.TransparentPort < 0 || e.TransparentPort > 65535 {
		add(p+".transparent_port", "%d is not a port", e.TransparentPort)
	}
	for _, d := range []struct {
		k string
		v time.Duration
	}{{"leaf_ttl", e.LeafTTL}, {"handshake_timeout", e.HandshakeTimeout}, {"idle_timeout", e.IdleTimeout}, {"pin_ttl", e.PinTTL}} {
		if d.v < 0 || (d.v > 0 && d.v < time.Second) {
			add(p+"."+d.k, "%s: at least 1s", d.v)
		}
	}
	if e.LeafTTL > 0 && e.LeafTTL < time.Minute {
		add(p+".leaf_ttl", "%s: at least 1m", e.LeafTTL)
	}
	if e.CacheSize < 0 {
		add(p+".cache_size", "%d: must not be negative", e.CacheSize)
	}
	if e.MaxConnections < 0 {
		add(p+".max_connections", "%d: must not be negative", e.MaxConnections)
	}
	names := map[string]bool{}
	for i, r := range e.Rules {
		rp := fmt.Sprintf("%s.rules[%d]", p, i)
		if r.Name == "" {
			add(rp+".name", "required")
		} else if names[r.Name] {
			add(rp+".name", "%q is used twice", r.Name)
		}
		names[r.Name] = true
		switch r.Action {
		case EgressIntercept, EgressTunnel, EgressBlock:
		default:
			add(rp+".action", "%q is not one of intercept, tunnel, block", r.Action)
		}
		switch r.Fallback {
		case "", EgressTunnel, EgressBlock:
		default:
			add(rp+".fallback", "%q is not one of tunnel, block", r.Fallback)
		}
		if r.Fallback != "" && r.Action != EgressIntercept {
			add(rp+".fallback", "only an intercept rule has a fallback")
		}
		if r.Source != "" {
			if err := checkPeerPattern(r.Source); err != nil || r.Source == "unauthenticated" {
				add(rp+".source", "%q is not a SPIFFE ID, one ending in /*, or \"*\"", r.Source)
			}
		}
		if r.Destination == "" {
			add(rp+".destination", "required: a host, *.suffix or \"*\"")
		} else if err := checkHostPattern(r.Destination); err != nil || strings.ToLower(r.Destination) != r.Destination {
			add(rp+".destination", "%q is not *, a lower-case host name or *.suffix", r.Destination)
		}
		if len(r.Methods) > 0 && r.Action != EgressIntercept {
			add(rp+".methods", "only an intercept rule has methods: the others never see a request")
		}
		for j, m := range r.Methods {
			if !validMethod(m) {
				add(fmt.Sprintf("%s.methods[%d]", rp, j), "%q is not an HTTP method", m)
			}
		}
	}
}
