package config

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/endpoint"
)

// Identity configures who callers are: JWT issuers, API keys, mTLS peers
// (see docs/identity.md).
//
//	identity:
//	  jwt:
//	    - issuer: https://id.shop.local
//	      jwks_file: ./jwks.json
//	      audiences: [shop]
//	      algorithms: [ES256, RS256]
type Identity struct {
	// JWT lists the trusted token issuers.
	JWT []JWTIssuer `yaml:"jwt"`
	// APIKeys are keys presented in a header, kept as hashes.
	APIKeys []APIKey `yaml:"api_keys"`
	// MTLS accepts client-certificate SPIFFE IDs as identities.
	MTLS IdentityMTLS `yaml:"mtls"`
	// CacheSize bounds the verified-token cache (default 10000).
	CacheSize int `yaml:"cache_size"`
	// MaxTokenBytes refuses longer credentials before parsing (default 8KB).
	MaxTokenBytes ByteSize `yaml:"max_token_bytes"`
	// Required is the default of routes[].identity: required or optional
	// (default optional: anonymous requests pass, bad tokens never do).
	Required string `yaml:"default"`
	// Behavior tunes the per-identity baselines and enumeration detection.
	Behavior Behavior `yaml:"behavior"`
	// AdminDefault requires roles on admin-looking functions that no
	// policy covers (BFLA).
	AdminDefault AdminDefault `yaml:"admin_default"`
	// Tuples are relationships (subject, relation, object) read by the
	// relation() policy function; TuplesFile holds more, one per line
	// "subject relation object" or as a YAML list.
	Tuples     []Tuple `yaml:"tuples"`
	TuplesFile string  `yaml:"tuples_file"`
	// Consent configures the data plane's consent cache.
	Consent ConsentConfig `yaml:"consent"`
}

// JWTIssuer is one trusted token issuer.
type JWTIssuer struct {
	Issuer string `yaml:"issuer"`
	// One key source: a JWKS file, a JWKS URL, or OIDC discovery (true
	// for ISSUER/.well-known/openid-configuration, or the document's URL).
	JWKSFile  string `yaml:"jwks_file"`
	JWKSURL   string `yaml:"jwks_url"`
	Discovery string `yaml:"discovery"`
	// Audiences: a token's aud must name one of them (not checked when
	// empty).
	Audiences []string `yaml:"audiences"`
	// Algorithms is the allow-list (required): ES256, RS256, EdDSA... HS256
	// only with a jwks_file holding kty "oct" keys (never an RSA or EC
	// key used as an HMAC secret).
	Algorithms []string `yaml:"algorithms"`
	// Leeway is the clock skew allowed on exp, nbf and iat (default 30s).
	Leeway time.Duration `yaml:"leeway"`
	// Refresh is the key set's background refresh interval (default 5m).
	Refresh time.Duration `yaml:"refresh"`
	// MinRefresh spaces the refreshes an unknown kid triggers (default 10s).
	MinRefresh time.Duration `yaml:"min_refresh"`
	// ClientIDClaims name the claims read as the client id (default
	// client_id, azp); RolesClaim the roles (default roles).
	ClientIDClaims []string `yaml:"client_id_claims"`
	RolesClaim     string   `yaml:"roles_claim"`
}

// APIKey is a key presented in a header; only its SHA-256 is configured.
type APIKey struct {
	Name string `yaml:"name"`
	// Header carrying the key (default X-API-Key).
	Header string `yaml:"header"`
	// Hash is "sha256:HEX" of the key (`printf %s KEY | sha256sum`).
	Hash    string   `yaml:"hash"`
	Subject string   `yaml:"subject"`
	Scopes  []string `yaml:"scopes"`
	Roles   []string `yaml:"roles"`
}

// IdentityMTLS accepts SPIFFE IDs from client certificates.
type IdentityMTLS struct {
	// TrustDomains are the accepted SPIFFE trust domains (demo.local).
	TrustDomains []string `yaml:"trust_domains"`
}

// Behavior tunes identity.behavior.
type Behavior struct {
	// Window is the enumeration window (default 1m).
	Window time.Duration `yaml:"window"`
	// EnumerationThreshold distinct object ids of one endpoint per
	// identity per window are an enumeration finding (default 50).
	EnumerationThreshold int `yaml:"enumeration_threshold"`
	// Enumeration is what an enumeration does: block (default) or log.
	Enumeration string `yaml:"enumeration"`
	// MaxIdentities bounds the baselines kept (default 100000).
	MaxIdentities int `yaml:"max_identities"`
	// Warmup requests before a baseline scores anomalies (default 50).
	Warmup int `yaml:"warmup"`
	// Off switches behaviour tracking off.
	Off bool `yaml:"off"`
}

// AdminDefault is identity.admin_default.
type AdminDefault struct {
	// Roles required on admin-looking paths no policy matches
	// (default [admin]).
	Roles []string `yaml:"roles"`
	// Patterns are path segments that look administrative (default admin,
	// internal, manage, management, debug, actuator, superuser).
	Patterns []string `yaml:"patterns"`
	// Off switches the default off.
	Off bool `yaml:"off"`
}

// Tuple is one relationship: subject has relation to object.
type Tuple struct {
	Subject  string `yaml:"subject"`
	Relation string `yaml:"relation"`
	Object   string `yaml:"object"`
}

// ConsentConfig is identity.consent.
type ConsentConfig struct {
	// CacheFile keeps the last known grants so a data plane that starts
	// while the bus is down still enforces them (default
	// data_dir/consent.json).
	CacheFile string `yaml:"cache_file"`
}

// Policy is a named CEL rule (see docs/policies.md).
type Policy struct {
	Name  string      `yaml:"name"`
	Match PolicyMatch `yaml:"match"`
	// AllowIf must hold for a matching request to pass; DenyIf must not;
	// StepUpIf asks for a stronger authentication (401 with the RFC 9470
	// challenge built from StepUp) unless the token already meets it.
	AllowIf  string `yaml:"allow_if"`
	DenyIf   string `yaml:"deny_if"`
	StepUpIf string `yaml:"step_up_if"`
	StepUp   StepUp `yaml:"step_up"`
	// RequireScopes and RequireRoles are function-level rules: the token
	// must carry every one of them.
	RequireScopes []string `yaml:"require_scopes"`
	RequireRoles  []string `yaml:"require_roles"`
}

// PolicyMatch selects the requests a policy judges; every field set must
// match.
type PolicyMatch struct {
	// Endpoint is a template: "GET /users/{id}" (its {names} become
	// path.NAME) or "/users/{id}" for any method.
	Endpoint   string   `yaml:"endpoint"`
	PathPrefix string   `yaml:"path_prefix"`
	Methods    []string `yaml:"methods"`
	Route      string   `yaml:"route"`
	Host       string   `yaml:"host"`
}

// StepUp is what a step-up asks for.
type StepUp struct {
	// ACRValues are space-separated ACR values, any of which satisfies.
	ACRValues string `yaml:"acr_values"`
	// MaxAge is the longest time since the user authenticated (seconds
	// or a duration: 300, 5m).
	MaxAge Seconds `yaml:"max_age"`
}

// Seconds is a duration that YAML may give as bare seconds (300) or as a
// duration (5m).
type Seconds time.Duration

func (s *Seconds) decodeScalar(v string) error {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return fmt.Errorf("%d must not be negative", n)
		}
		*s = Seconds(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("%q is not a number of seconds or a duration (300, 5m)", v)
	}
	*s = Seconds(d)
	return nil
}

// Duration is s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) }

// Known JWS algorithms (RFC 7518, RFC 8037).
var jwsAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}

func (c *Config) validateIdentity(add addFunc) {
	id := &c.Identity
	issuers := map[string]int{}
	for i := range id.JWT {
		j := &id.JWT[i]
		p := fmt.Sprintf("identity.jwt[%d]", i)
		if j.Issuer == "" {
			add(p+".issuer", "required (the tokens' iss, e.g. https://id.example.com)")
		} else if k, dup := issuers[j.Issuer]; dup {
			add(p+".issuer", "issuer %q is also identity.jwt[%d]", j.Issuer, k)
		}
		issuers[j.Issuer] = i
		n := 0
		for _, s := range []string{j.JWKSFile, j.JWKSURL, j.Discovery} {
			if s != "" {
				n++
			}
		}
		switch {
		case n == 0:
			add(p, "needs one key source: jwks_file, jwks_url or discovery")
		case n > 1:
			add(p, "set one of jwks_file, jwks_url, discovery, not several")
		}
		if j.JWKSFile != "" {
			if _, err := os.Stat(j.JWKSFile); err != nil {
				add(p+".jwks_file", "%v", err)
			}
		}
		if j.JWKSURL != "" {
			checkHTTPURL(add, p+".jwks_url", j.JWKSURL)
		}
		if d := j.Discovery; d != "" && d != "true" {
			checkHTTPURL(add, p+".discovery", d)
		}
		if len(j.Algorithms) == 0 {
			add(p+".algorithms", "required: the allow-list of signature algorithms (e.g. [ES256, RS256])")
		}
		for k, a := range j.Algorithms {
			switch {
			case strings.EqualFold(a, "none"):
				add(fmt.Sprintf("%s.algorithms[%d]", p, k), "\"none\" is never accepted: unsigned tokens prove nothing")
			case (a == "HS256" || a == "HS384" || a == "HS512") && j.JWKSFile == "":
				// A shared secret fetched over the network is a secret
				// every reader of that URL holds.
				add(fmt.Sprintf("%s.algorithms[%d]", p, k), "%s verifies with a shared secret (a kty \"oct\" key): it must come from jwks_file, not a URL", a)
			case !slices.Contains(jwsAlgorithms, a):
				add(fmt.Sprintf("%s.algorithms[%d]", p, k), "unknown algorithm %q (known: %s)", a, strings.Join(jwsAlgorithms, ", "))
			}
		}
		if j.Leeway < 0 || j.Leeway > 10*time.Minute {
			add(p+".leeway", "%s: between 0 and 10m", j.Leeway)
		}
		if j.Leeway == 0 {
			j.Leeway = 30 * time.Second
		}
		if j.Refresh == 0 {
			j.Refresh = 5 * time.Minute
		} else if j.Refresh < time.Second {
			add(p+".refresh", "%s is too often (at least 1s)", j.Refresh)
		}
		if j.MinRefresh == 0 {
			j.MinRefresh = 10 * time.Second
		}
	}
	for i := range id.APIKeys {
		k := &id.APIKeys[i]
		p := fmt.Sprintf("identity.api_keys[%d]", i)
		if k.Header == "" {
			k.Header = "X-API-Key"
		}
		if k.Name == "" {
			k.Name = fmt.Sprintf("api_keys[%d]", i)
		}
		hexs, ok := strings.CutPrefix(k.Hash, "sha256:")
		if !ok || len(hexs) != 64 || strings.Trim(strings.ToLower(hexs), "0123456789abcdef") != "" {
			add(p+".hash", "must be sha256: and 64 hex digits (printf %%s KEY | sha256sum); the key itself never goes in the config")
		}
		if k.Subject == "" {
			add(p+".subject", "required: who the key speaks for")
		}
		if strings.EqualFold(k.Header, "Authorization") {
			add(p+".header", "Authorization carries bearer tokens; use another header for API keys")
		}
	}
	for i, td := range id.MTLS.TrustDomains {
		if td == "" || strings.ContainsAny(td, "/:@ ") {
			add(fmt.Sprintf("identity.mtls.trust_domains[%d]", i), "%q is not a trust domain (e.g. demo.local)", td)
		}
	}
	switch id.Required {
	case "", "optional", "required":
	default:
		add("identity.default", "%q is not required or optional", id.Required)
	}
	for i, r := range c.Routes {
		switch r.Identity {
		case "", "optional", "required":
		default:
			add(fmt.Sprintf("routes[%d].identity", i), "%q is not required or optional", r.Identity)
		}
		if r.Identity == "required" && !id.Configured() {
			add(fmt.Sprintf("routes[%d].identity", i), "required, but identity has no jwt issuer, api key or mtls trust domain")
		}
	}
	b := &id.Behavior
	if b.Window == 0 {
		b.Window = time.Minute
	}
	if b.EnumerationThreshold == 0 {
		b.EnumerationThreshold = 50
	}
	if b.EnumerationThreshold < 2 {
		add("identity.behavior.enumeration_threshold", "must be at least 2")
	}
	switch b.Enumeration {
	case "":
		b.Enumeration = "block"
	case "block", "log":
	default:
		add("identity.behavior.enumeration", "%q is not block or log", b.Enumeration)
	}
	if b.MaxIdentities == 0 {
		b.MaxIdentities = 100000
	}
	if b.Warmup == 0 {
		b.Warmup = 50
	}
	if b.MaxIdentities < 0 || b.Warmup < 0 || b.Window < 0 {
		add("identity.behavior", "max_identities, warmup and window must not be negative")
	}
	if len(id.AdminDefault.Roles) == 0 {
		id.AdminDefault.Roles = []string{"admin"}
	}
	if len(id.AdminDefault.Patterns) == 0 {
		id.AdminDefault.Patterns = []string{"admin", "internal", "manage", "management", "debug", "actuator", "superuser"}
	}
	for i, t := range id.Tuples {
		if t.Subject == "" || t.Relation == "" || t.Object == "" {
			add(fmt.Sprintf("identity.tuples[%d]", i), "needs subject, relation and object")
		}
	}
	if id.TuplesFile != "" {
		if _, err := os.Stat(id.TuplesFile); err != nil {
			add("identity.tuples_file", "%v", err)
		}
	}
	if id.CacheSize < 0 {
		add("identity.cache_size", "must not be negative")
	}
	if id.CacheSize == 0 {
		id.CacheSize = 10000
	}
	if id.MaxTokenBytes == 0 {
		id.MaxTokenBytes = 8 << 10
	}
	if id.MaxTokenBytes < 256 {
		add("identity.max_token_bytes", "at least 256 bytes")
	}

	routes := map[string]bool{}
	for _, r := range c.Routes {
		routes[r.Name] = true
	}
	names := map[string]int{}
	for i := range c.Policies {
		pl := &c.Policies[i]
		p := fmt.Sprintf("policies[%d]", i)
		if pl.Name == "" {
			add(p+".name", "required: findings and decisions name the policy")
		} else if j, dup := names[pl.Name]; dup {
			add(p+".name", "duplicate policy name %q (also policies[%d])", pl.Name, j)
		}
		names[pl.Name] = i
		if pl.AllowIf == "" && pl.DenyIf == "" && pl.StepUpIf == "" && len(pl.RequireScopes) == 0 && len(pl.RequireRoles) == 0 {
			add(p, "needs allow_if, deny_if, step_up_if, require_scopes or require_roles")
		}
		if pl.StepUpIf != "" && pl.StepUp.ACRValues == "" && pl.StepUp.MaxAge == 0 {
			add(p+".step_up", "step_up_if needs step_up.acr_values or step_up.max_age: what the stronger authentication is")
		}
		if pl.StepUpIf == "" && (pl.StepUp.ACRValues != "" || pl.StepUp.MaxAge != 0) {
			add(p+".step_up", "set without step_up_if")
		}
		m := pl.Match
		if m.Endpoint != "" {
			if _, err := endpoint.Parse(m.Endpoint); err != nil {
				add(p+".match.endpoint", "%v", err)
			}
		}
		if m.PathPrefix != "" && !strings.HasPrefix(m.PathPrefix, "/") {
			add(p+".match.path_prefix", "%q must start with /", m.PathPrefix)
		}
		if m.Route != "" && !routes[m.Route] {
			add(p+".match.route", "no route is named %q", m.Route)
		}
		for k, meth := range m.Methods {
			if meth == "" || strings.ToUpper(meth) != meth {
				add(fmt.Sprintf("%s.match.methods[%d]", p, k), "%q is not an upper-case HTTP method", meth)
			}
		}
	}
}

// Configured says some identity source is set.
func (id *Identity) Configured() bool {
	return len(id.JWT) > 0 || len(id.APIKeys) > 0 || len(id.MTLS.TrustDomains) > 0
}

// RouteIdentity is routes[].identity with the default applied.
func (c *Config) RouteIdentity(r *Route) string {
	if r.Identity != "" {
		return r.Identity
	}
	if c.Identity.Required != "" {
		return c.Identity.Required
	}
	return "optional"
}

func checkHTTPURL(add addFunc, path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add(path, "%q is not an http(s) URL", s)
	}
}
