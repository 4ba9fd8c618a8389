// Package config holds Vigil's configuration: one YAML file, decoded
// strictly (unknown keys and bad values are errors naming the field path and
// line), defaulted and validated before it is used. The same path serves the
// first load and every reload.
package config

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigil-sec/vigil/internal/pathnorm"
)

// Config is the whole file. Top-level keys are fixed by SPEC; what is inside
// them may grow.
type Config struct {
	// Mode is enforce (default) or monitor: monitor records every decision
	// and blocks nothing.
	Mode   string `yaml:"mode"`
	Listen Listen `yaml:"listen"`
	// Admin is the admin listener (/healthz, /readyz, /metrics; /api/v1 on
	// the control plane). A bare address is shorthand for {addr: ...}.
	Admin     Admin     `yaml:"admin"`
	DataDir   string    `yaml:"data_dir"`
	Store     string    `yaml:"store"`
	Bus       string    `yaml:"bus"`
	Routes    []Route   `yaml:"routes"`
	Events    Events    `yaml:"events"`
	Discovery Discovery `yaml:"discovery"`
	Protect   Protect   `yaml:"protect"`
	Identity  Identity  `yaml:"identity"`
	Policies  []Policy  `yaml:"policies"`
	Transport Transport `yaml:"transport"`
	Audit     Audit     `yaml:"audit"`

	// File is the path the config was loaded from (not a YAML key).
	File string `yaml:"-"`
	// lines maps field paths to their line in File, for late errors.
	lines map[string]int
}

// Listen configures the data-plane listeners and their hardening limits.
type Listen struct {
	// HTTP is the plaintext listener (HTTP/1.1 and h2c).
	HTTP string `yaml:"http"`
	// HTTPS is the optional TLS listener (HTTP/1.1 and HTTP/2).
	HTTPS *HTTPS `yaml:"https"`
	// TrustedProxies lists the CIDRs whose X-Forwarded-For / Forwarded
	// headers are believed. From anyone else those headers are replaced.
	TrustedProxies []string  `yaml:"trusted_proxies"`
	Limits         Limits    `yaml:"limits"`
	Normalize      Normalize `yaml:"normalize"`
}

// Normalize configures how the request path is canonicalized before routing
// and every stage (see internal/pathnorm).
type Normalize struct {
	// EscapedSlashes is what %2F, %5C and a raw backslash do: reject
	// (default, 400), keep (forwarded as data) or decode_and_forward.
	EscapedSlashes string `yaml:"escaped_slashes"`
	// CaseInsensitiveMatch lower-cases the path for routes, stages and
	// the upstream (for upstreams that ignore case, e.g. IIS).
	CaseInsensitiveMatch bool `yaml:"case_insensitive_match"`
}

// Options is the pathnorm form of n (validated by Parse).
func (n Normalize) Options() pathnorm.Options {
	a, _ := pathnorm.ParseSlashAction(n.EscapedSlashes)
	return pathnorm.Options{EscapedSlashes: a, CaseInsensitive: n.CaseInsensitiveMatch}
}

// HTTPS is a TLS listener.
type HTTPS struct {
	Addr string `yaml:"addr"`
	// Cert and Key are PEM files (the certificate then its chain),
	// reloaded when they change; or SVID issues the listener's X509-SVID
	// from the Vigil CA and renews it at half-life.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	SVID *SVID  `yaml:"svid"`
	// Profile is modern (TLS 1.3 only, X25519MLKEM768 first) or
	// compatible (TLS 1.2+, AEAD suites; the default).
	Profile string `yaml:"profile"`
	// ClientCA is the trust bundle client certificates are verified
	// against (mutual TLS; default with svid: the CA's bundle.pem);
	// ClientAuth is require (the default when there is a bundle),
	// optional or none.
	ClientCA   string `yaml:"client_ca"`
	ClientAuth string `yaml:"client_auth"`
}

// Limits are the hardening defaults of every data-plane listener.
type Limits struct {
	// MaxHeaderBytes caps the request line plus headers (431 beyond).
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxBodyBytes caps a request body (413 beyond). 0 means the default.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxInspectBytes caps how much of a body is buffered when a stage asks
	// to read it; the rest streams on uninspected only when
	// OversizeBody is "partial", otherwise the request gets 413.
	MaxInspectBytes ByteSize `yaml:"max_inspect_bytes"`
	OversizeBody    string   `yaml:"oversize_body"` // reject (default) | partial
	// ResponseInspectBytes is the response body prefix stages can see.
	ResponseInspectBytes ByteSize      `yaml:"response_inspect_bytes"`
	ReadHeaderTimeout    time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout is the longest wait for the next piece of a request body.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// BodyTimeout bounds the whole request body, however steadily it
	// trickles (408 beyond). Default 2m.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MinBodyRate is the slowest average upload accepted, in bytes per
	// second, once BodyRateGrace has passed (408 below). Default 1KB;
	// "off" disables the check.
	MinBodyRate ByteSize `yaml:"min_body_rate"`
	// BodyRateGrace is how long a body may start slowly. Default 5s.
	BodyRateGrace time.Duration `yaml:"body_rate_grace"`
	// WriteTimeout is the longest a single write to the client may block.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
	// MaxConnections caps concurrent client connections per listener.
	MaxConnections int `yaml:"max_connections"`
	// ShutdownTimeout is how long a graceful drain may take on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Admin is the admin listener.
type Admin struct {
	Addr string `yaml:"addr" shorthand:""`
	// Token guards /api/v1 (VIGIL_ADMIN_TOKEN overrides). /metrics and the
	// health endpoints are open.
	Token string `yaml:"token"`
	// ReadToken signs in to the dashboard (/ui/) with the read-only role
	// (VIGIL_READ_TOKEN overrides); empty: no read-only role.
	ReadToken string `yaml:"read_token"`
	// Pprof serves Go's profiler under /debug/pprof/ (off by default; the
	// admin address should not be reachable from untrusted networks).
	Pprof bool `yaml:"pprof"`
}

// Route sends matching requests to one upstream through a chain of stages.
type Route struct {
	Name     string `yaml:"name"`
	Match    Match  `yaml:"match"`
	Upstream string `yaml:"upstream"`
	// UpstreamCA is a PEM file of CAs trusted for an https upstream (the
	// system pool when empty).
	UpstreamCA string `yaml:"upstream_ca"`
	// UpstreamServerName overrides the SNI / verified name.
	UpstreamServerName string `yaml:"upstream_server_name"`
	// UpstreamTLS calls an https upstream with mutual TLS and verifies it
	// by SPIFFE ID (sidecar to sidecar); see docs/sidecar.md.
	UpstreamTLS *UpstreamTLS `yaml:"upstream_tls"`
	// InsecureSkipVerify disables upstream certificate checks. Never use it
	// outside a lab; it is logged at every load.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout bounds the wait for the upstream's response headers.
	Timeout time.Duration `yaml:"timeout"`
	// Stages restricts the chain to these stage names (all configured
	// stages when empty). Order is always the pipeline's fixed order.
	Stages []string `yaml:"stages"`
	// Mode overrides the global mode for this route.
	Mode string `yaml:"mode"`
	// Modes overrides the mode per stage on this route ({waf: monitor}).
	Modes map[string]string `yaml:"modes"`
	// Identity is required (a request without a valid credential gets
	// 401) or optional (default identity.default, else optional: a bad
	// credential is still refused).
	Identity string `yaml:"identity"`

	// Upstreams is a pool of targets, instead of one upstream (the two
	// are exclusive). Every target has the same scheme; upstream_ca and
	// upstream_server_name apply to all of them.
	Upstreams []Target `yaml:"upstreams"`
	// Balance picks a target of the pool per request.
	Balance *Balance `yaml:"balance"`
	// HealthCheck probes every target actively.
	HealthCheck *HealthCheck `yaml:"health_check"`
	// Outlier ejects a target passively, after consecutive failures.
	Outlier *Outlier `yaml:"outlier"`
	// Retries retries idempotent requests on another target.
	Retries *Retries `yaml:"retries"`
}

// Pooled reports whether the route forwards through an upstream pool
// (upstreams, or an upstream with any pool key).
func (r *Route) Pooled() bool {
	return len(r.Upstreams) > 0 || r.Balance != nil || r.HealthCheck != nil || r.Outlier != nil || r.Retries != nil
}

// Targets returns the pool's targets: upstreams, or upstream as a pool
// of one.
func (r *Route) Targets() []Target {
	if len(r.Upstreams) > 0 {
		return r.Upstreams
	}
	return []Target{{URL: r.Upstream, Weight: 1}}
}

// Target is one member of an upstream pool. A bare URL is shorthand for
// {url: URL}.
type Target struct {
	URL string `yaml:"url" shorthand:""`
	// Weight is the target's share relative to the others: 1 (default)
	// to 1000.
	Weight int `yaml:"weight"`
}

// Balancing policies.
const (
	RoundRobin     = "round_robin"
	LeastRequest   = "least_request"
	ConsistentHash = "consistent_hash"
)

// Balance chooses the load-balancing policy of a pool.
type Balance struct {
	// Policy is round_robin (default, weighted), least_request (the less
	// busy of two random targets) or consistent_hash.
	Policy string `yaml:"policy"`
	// HashOn is the consistent_hash key: header:NAME, cookie:NAME or ip
	// (the client address, after trusted_proxies).
	HashOn string `yaml:"hash_on"`
}

// HealthCheck is an active HTTP probe of every target of a pool.
type HealthCheck struct {
	// Path is requested with GET on every target (required).
	Path string `yaml:"path"`
	// Interval between probes of one target (default 10s).
	Interval time.Duration `yaml:"interval"`
	// Timeout of one probe (default 2s; below interval).
	Timeout time.Duration `yaml:"timeout"`
	// HealthyThreshold is how many passing probes in a row bring a
	// target back (default 2).
	HealthyThreshold int `yaml:"healthy_threshold"`
	// UnhealthyThreshold is how many failing probes in a row take a
	// target out (default 3).
	UnhealthyThreshold int `yaml:"unhealthy_threshold"`
	// ExpectStatus lists the statuses that pass (any 2xx when empty).
	ExpectStatus []int `yaml:"expect_status"`
}

// Outlier is passive health: a target that fails consecutive_failures
// requests in a row (a 5xx or no answer) is ejected for ejection_time,
// times the number of ejections in a row (capped at 10).
type Outlier struct {
	ConsecutiveFailures int           `yaml:"consecutive_failures"` // default 5
	EjectionTime        time.Duration `yaml:"ejection_time"`        // default 30s
	// MaxEjectedPercent caps the share of a pool ejected at once
	// (default 50); one target may always be ejected.
	MaxEjectedPercent int `yaml:"max_ejected_percent"`
}

// Retries retries a failed request on another target of the pool. Only
// idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) with an empty or
// buffered body are retried, and never once the response has started.
type Retries struct {
	// Attempts is the number of retries after the first try (default 1).
	Attempts int `yaml:"attempts"`
	// BudgetPercent caps retries in flight at this share of the route's
	// requests in flight (default 20; at least 3 retries are allowed).
	BudgetPercent int `yaml:"budget_percent"`
	// On lists what is retried: connect_failure (no answer: refused,
	// reset, closed), timeout (no response headers within timeout), or a
	// 5xx status. Default [connect_failure, 502, 503, 504].
	On []string `yaml:"on"`
}

// Match selects requests by host and path prefix.
type Match struct {
	// Host is "*", an exact host, or "*.suffix". The port is ignored.
	Host       string `yaml:"host"`
	PathPrefix string `yaml:"path_prefix"`
}

// Events configures the transaction event stream.
type Events struct {
	// File is a path for JSON lines, or "stdout"; empty disables the file.
	File string `yaml:"file"`
	// QueueSize bounds the in-memory queue between requests and writers.
	QueueSize int `yaml:"queue_size"`
	// FlushInterval is how often buffered lines reach the file.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Retention bounds the control plane's event store.
	Retention Retention `yaml:"retention"`
	// Alerts delivers the control plane's alerts to webhooks, Slack,
	// PagerDuty and syslog (alerts.go).
	Alerts Alerts `yaml:"alerts"`
}

// Retention bounds stored events by age and by count.
type Retention struct {
	MaxAge   time.Duration `yaml:"max_age"`
	MaxCount int64         `yaml:"max_count"`
}

// Protect configures the protection stages.
type Protect struct {
	// OnError is the default failure policy of every stage: fail_open
	// (default: a broken stage lets traffic through, recorded) or
	// fail_closed (a broken stage blocks with 503).
	OnError string `yaml:"on_error"`
	// StageTimeout bounds one stage's work on one request.
	StageTimeout time.Duration `yaml:"stage_timeout"`
	// Stages overrides failure policy per stage name.
	Stages     map[string]StagePolicy `yaml:"stages"`
	IPRules    *IPRules               `yaml:"ip_rules"`
	GeoIP      *GeoIP                 `yaml:"geoip"` // country database for ip_rules (protect_ip.go)
	RateLimits []RateLimit            `yaml:"rate_limits"`
	WAF        *WAF                   `yaml:"waf"`
	OpenAPI    *OpenAPIEnforce        `yaml:"openapi"`
	Bots       *Bots                  `yaml:"bots"`
	SSRF       *SSRF                  `yaml:"ssrf"`
	GraphQL    *GraphQLGuard          `yaml:"graphql"`
	// Limits caps page-size parameters and similar resource knobs.
	Limits *ResourceLimits `yaml:"limits"`
	Redis  *RateLimitRedis `yaml:"redis"` // shares rate limits across gateways
}

// StagePolicy is a per-stage override.
type StagePolicy struct {
	OnError string        `yaml:"on_error"`
	Timeout time.Duration `yaml:"timeout"`
	// Mode runs this stage in monitor mode (its stops become findings
	// with would_block) even on enforcing routes: enforce | monitor.
	Mode string `yaml:"mode"`
}

// Discovery configures API discovery (see internal/discovery).
type Discovery struct {
	Enabled *bool `yaml:"enabled"`
	// SampleRate is the share of request/response bodies profiled (0..1).
	SampleRate *float64 `yaml:"sample_rate"`
	// Specs are OpenAPI files or URLs to compare traffic with.
	Specs []string `yaml:"specs"`
	// SpecRefresh is how often URL specs are fetched again.
	SpecRefresh time.Duration `yaml:"spec_refresh"`
	// Pin maps any matching path to these templates; Split keeps these
	// paths constant even when their siblings merge.
	Pin   []string `yaml:"pin"`
	Split []string `yaml:"split"`
	// Sensitive adds custom data classes.
	Sensitive []SensitiveClass `yaml:"sensitive"`
	// Webhook receives change alerts as JSON POSTs.
	Webhook string `yaml:"webhook"`
	// MaxEndpoints bounds the inventory.
	MaxEndpoints int `yaml:"max_endpoints"`
}

// SensitiveClass is a custom data class.
type SensitiveClass struct {
	Name       string   `yaml:"name"`
	Pattern    string   `yaml:"pattern"`
	FieldNames []string `yaml:"field_names"`
}

// ByteSize is a size in bytes; YAML accepts 1048576, 512KB, 1MiB, 10MB.
type ByteSize int64

func (b *ByteSize) decodeScalar(s string) error {
	if strings.EqualFold(strings.TrimSpace(s), "off") {
		*b = -1 // a limit switched off (where the field says it may be)
		return nil
	}
	n, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = ByteSize(n)
	return nil
}

// ParseByteSize parses 123, 64KB, 1MiB, 2GB (KB=1000? no: all units are
// powers of 1024, as operators expect of buffer sizes).
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suf)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("%q is not a size (use e.g. 65536, 64KB, 10MB)", s)
	}
	return n * mult, nil
}

// Defaults.
const (
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxBodyBytes         = 32 << 20
	DefaultMaxInspectBytes      = 1 << 20
	DefaultResponseInspectBytes = 64 << 10
	DefaultQueueSize            = 65536
)

// Load reads, decodes, defaults and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse decodes, defaults and validates YAML. file names the source in
// errors. The error, when not nil, is an Errors listing every problem.
func Parse(data []byte, file string) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if before, after, ok := strings.Cut(msg, "line "); ok {
			if n, rest, ok := strings.Cut(after, ":"); ok {
				if l, err := strconv.Atoi(n); err == nil {
					// The line goes in front, once: "file:3: did not find...".
					line, msg = l, before+strings.TrimSpace(rest)
				}
			}
		}
		if err.Error() == "EOF" {
			msg = errEmpty.Error()
		}
		return nil, Errors{{File: file, Line: line, Msg: msg}}
	}
	cfg := &Config{File: file}
	d := &decoder{file: file, lines: map[string]int{}}
	d.decode(&root, reflect.ValueOf(cfg).Elem(), "")
	cfg.lines = d.lines
	cfg.applyDefaults()
	errs := d.errs
	// Report semantic problems too, except on fields that failed to decode.
	for _, e := range cfg.validate() {
		if !hasPathPrefix(d.errs, e.Path) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return cfg, nil
}

func (c *Config) applyDefaults() {
	if c.Mode == "" {
		c.Mode = "enforce"
	}
	if c.DataDir == "" {
		c.DataDir = "./vigil-data"
	}
	if c.Store == "" {
		c.Store = "sqlite"
	}
	if c.Bus == "" {
		c.Bus = "embedded"
	}
	l := &c.Listen.Limits
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxInspectBytes == 0 {
		l.MaxInspectBytes = DefaultMaxInspectBytes
	}
	if l.OversizeBody == "" {
		l.OversizeBody = "reject"
	}
	if l.ResponseInspectBytes == 0 {
		l.ResponseInspectBytes = DefaultResponseInspectBytes
	}
	if l.ReadHeaderTimeout == 0 {
		l.ReadHeaderTimeout = 10 * time.Second
	}
	if l.ReadTimeout == 0 {
		l.ReadTimeout = 30 * time.Second
	}
	if l.BodyTimeout == 0 {
		l.BodyTimeout = 2 * time.Minute
	}
	if l.MinBodyRate == 0 {
		l.MinBodyRate = 1 << 10
	}
	if l.BodyRateGrace == 0 {
		l.BodyRateGrace = 5 * time.Second
	}
	if l.WriteTimeout == 0 {
		l.WriteTimeout = 30 * time.Second
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = 120 * time.Second
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = 10000
	}
	if l.ShutdownTimeout == 0 {
		l.ShutdownTimeout = 15 * time.Second
	}
	if c.Listen.Normalize.EscapedSlashes == "" {
		c.Listen.Normalize.EscapedSlashes = pathnorm.Reject.String()
	}
	if c.Events.QueueSize == 0 {
		c.Events.QueueSize = DefaultQueueSize
	}
	if c.Events.FlushInterval == 0 {
		c.Events.FlushInterval = 200 * time.Millisecond
	}
	c.Audit.applyDefaults()
	if c.Protect.OnError == "" {
		c.Protect.OnError = "fail_open"
	}
	if c.Protect.StageTimeout == 0 {
		c.Protect.StageTimeout = 50 * time.Millisecond
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Match.Host == "" {
			r.Match.Host = "*"
		}
		if r.Match.PathPrefix == "" {
			r.Match.PathPrefix = "/"
		}
		if r.Timeout == 0 {
			r.Timeout = 30 * time.Second
		}
		if r.Mode == "" {
			r.Mode = c.Mode
		}
		r.applyPoolDefaults()
	}
	for i := range c.Protect.RateLimits {
		rl := &c.Protect.RateLimits[i]
		if rl.Key == "" {
			rl.Key = "ip"
		}
		if rl.Per == 0 {
			rl.Per = time.Second
		}
	}
}

func hasPathPrefix(errs Errors, path string) bool {
	for _, e := range errs {
		if e.Path == path || strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[") || strings.HasPrefix(e.Path, path+".") {
			return true
		}
	}
	return false
}

// Line returns the line of a field path in the file (0 if unknown).
func (c *Config) Line(path string) int { return c.lines[path] }

// Errorf builds a FieldError located at path, for checks made after Parse
// (a stage's Provision, say).
func (c *Config) Errorf(path, format string, args ...any) *FieldError {
	return &FieldError{File: c.File, Line: c.Line(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// KnownStages is filled in by the pipeline so that routes[].stages and
// protect.stages can be checked; the config package itself knows no stage.
type StageNames interface{ Has(name string) bool }

func (c *Config) validate() Errors {
	var errs Errors
	var add addFunc = func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }
	oneOf := func(path, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	oneOf("mode", c.Mode, "enforce", "monitor")
	checkAddr := func(path, a string) {
		if a == "" {
			return
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			add(path, "%q is not a host:port address", a)
		}
	}
	checkAddr("listen.http", c.Listen.HTTP)
	checkAddr("admin.addr", c.Admin.Addr)
	if c.Admin.Addr != "" && c.lines["admin.addr"] == 0 {
		c.lines["admin.addr"] = c.lines["admin"]
	}
	if h := c.Listen.HTTPS; h != nil {
		if h.Addr == "" {
			add("listen.https.addr", "required")
		}
		checkAddr("listen.https.addr", h.Addr)
		if (h.Cert == "" || h.Key == "") && h.SVID == nil {
			add("listen.https", "cert and key (or svid) are required")
		}
	}
	for i, p := range c.Listen.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			add(fmt.Sprintf("listen.trusted_proxies[%d]", i), "%v", err)
		}
	}
	oneOf("listen.limits.oversize_body", c.Listen.Limits.OversizeBody, "reject", "partial")
	if c.Listen.Limits.MaxInspectBytes > c.Listen.Limits.MaxBodyBytes {
		add("listen.limits.max_inspect_bytes", "must not exceed max_body_bytes (%d)", c.Listen.Limits.MaxBodyBytes)
	}
	for k, v := range map[string]ByteSize{"max_header_bytes": c.Listen.Limits.MaxHeaderBytes, "max_body_bytes": c.Listen.Limits.MaxBodyBytes,
		"max_inspect_bytes": c.Listen.Limits.MaxInspectBytes, "response_inspect_bytes": c.Listen.Limits.ResponseInspectBytes} {
		if v < 0 {
			add("listen.limits."+k, "cannot be switched off; give a size")
		}
	}
	if c.Listen.Limits.MinBodyRate < -1 {
		add("listen.limits.min_body_rate", "must be a rate in bytes per second, or off")
	}
	if c.Listen.Limits.BodyTimeout < 0 || c.Listen.Limits.BodyRateGrace < 0 {
		add("listen.limits", "body_timeout and body_rate_grace must not be negative")
	}
	if c.Listen.Limits.MaxConnections < 0 {
		add("listen.limits.max_connections", "must not be negative")
	}
	if _, err := pathnorm.ParseSlashAction(c.Listen.Normalize.EscapedSlashes); err != nil {
		add("listen.normalize.escaped_slashes", "%v", err)
	}
	// A prefix is compared with normalized paths: one that normalization
	// rewrites (// or dot segments, capitals with case_insensitive_match)
	// would never match.
	norm := c.Listen.Normalize.Options()
	canonicalPrefix := func(path, prefix string) {
		if !strings.HasPrefix(prefix, "/") {
			return // reported on its own
		}
		out, _, err := pathnorm.Normalize((&url.URL{Path: prefix}).EscapedPath(), norm)
		if err != nil {
			add(path, "%q never matches a normalized path: %v", prefix, err)
		} else if p, _ := url.PathUnescape(out); p != prefix {
			add(path, "%q never matches a normalized path (use %q)", prefix, p)
		}
	}
	for i, r := range c.Routes {
		canonicalPrefix(fmt.Sprintf("routes[%d].match.path_prefix", i), r.Match.PathPrefix)
	}
	for i, rl := range c.Protect.RateLimits {
		if rl.PathPrefix != "" {
			canonicalPrefix(fmt.Sprintf("protect.rate_limits[%d].path_prefix", i), rl.PathPrefix)
		}
	}
	if !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") && c.Store != "sqlite" && !strings.HasPrefix(c.Store, "sqlite:") {
		add("store", "%q is not sqlite or a postgres:// URL", c.Store)
	}
	if c.Bus != "embedded" && c.Bus != "none" && !strings.HasPrefix(c.Bus, "nats://") && !strings.HasPrefix(c.Bus, "tls://") {
		add("bus", "%q is not embedded, none or a nats:// URL list", c.Bus)
	}
	names := map[string]int{}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if r.Name == "" {
			add(p+".name", "required")
		} else if j, dup := names[r.Name]; dup {
			add(p+".name", "duplicate route name %q (also routes[%d])", r.Name, j)
		} else {
			names[r.Name] = i
		}
		if err := checkHostPattern(r.Match.Host); err != nil {
			add(p+".match.host", "%v", err)
		}
		if !strings.HasPrefix(r.Match.PathPrefix, "/") {
			add(p+".match.path_prefix", "%q must start with /", r.Match.PathPrefix)
		}
		switch {
		case r.Upstream != "" && len(r.Upstreams) > 0:
			add(p+".upstreams", "upstream and upstreams are exclusive: give one URL or a pool")
		case len(r.Upstreams) > 0:
			// checked by validatePool
		case r.Upstream == "":
			add(p+".upstream", "required (or upstreams, a pool)")
		case !upstreamURLOK(r.Upstream):
			add(p+".upstream", "%q is not an http://, https:// or h2c:// URL with a host", r.Upstream)
		}
		c.validatePool(&r, p, add)
		if r.UpstreamTLS != nil {
			c.validateUpstreamTLS(p+".upstream_tls", r.UpstreamTLS, add)
		}
		if r.UpstreamCA != "" {
			if _, err := os.Stat(r.UpstreamCA); err != nil {
				add(p+".upstream_ca", "%v", err)
			}
		}
		if r.Mode != c.Mode {
			oneOf(p+".mode", r.Mode, "enforce", "monitor")
		}
	}
	if c.Events.QueueSize < 0 {
		add("events.queue_size", "must not be negative")
	}
	oneOf("protect.on_error", c.Protect.OnError, "fail_open", "fail_closed")
	for name, sp := range c.Protect.Stages {
		if sp.OnError != "" {
			oneOf("protect.stages."+name+".on_error", sp.OnError, "fail_open", "fail_closed")
		}
	}
	for name, sp := range c.Protect.Stages {
		if sp.Mode != "" {
			oneOf("protect.stages."+name+".mode", sp.Mode, "enforce", "monitor")
		}
	}
	for i, r := range c.Routes {
		for name, m := range r.Modes {
			oneOf(fmt.Sprintf("routes[%d].modes.%s", i, name), m, "enforce", "monitor")
		}
	}
	c.validateIPRules(add)
	c.validateRateLimits(add)
	c.validateWAF(add)
	c.validateOpenAPI(add)
	c.validateBots(add)
	c.validateGuards(add)
	c.validateIdentity(add)
	c.validateTransport(add)
	c.validateAudit(add)
	c.validateAlerts(add)
	if d := c.Discovery.SampleRate; d != nil && (*d < 0 || *d > 1) {
		add("discovery.sample_rate", "%v is not between 0 and 1", *d)
	}
	for i, p := range c.Discovery.Pin {
		if !strings.HasPrefix(p, "/") {
			add(fmt.Sprintf("discovery.pin[%d]", i), "%q must be a path template starting with /", p)
		}
	}
	for i, p := range c.Discovery.Split {
		if !strings.HasPrefix(p, "/") {
			add(fmt.Sprintf("discovery.split[%d]", i), "%q must be a path starting with /", p)
		}
	}
	for i, sc := range c.Discovery.Sensitive {
		p := fmt.Sprintf("discovery.sensitive[%d]", i)
		if sc.Name == "" {
			add(p+".name", "required")
		}
		if sc.Pattern == "" && len(sc.FieldNames) == 0 {
			add(p, "needs a pattern or field_names")
		}
		if sc.Pattern != "" {
			if _, err := regexp.Compile(sc.Pattern); err != nil {
				add(p+".pattern", "%v", err)
			}
		}
	}
	for i, sp := range c.Discovery.Specs {
		if strings.HasPrefix(sp, "http://") || strings.HasPrefix(sp, "https://") {
			continue
		}
		if _, err := os.Stat(sp); err != nil {
			add(fmt.Sprintf("discovery.specs[%d]", i), "%v", err)
		}
	}
	if u := c.Discovery.Webhook; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		add("discovery.webhook", "%q is not an http(s) URL", u)
	}
	return errs
}

// RequireListener reports a config that has no data-plane listener (what
// gateway, sidecar and up need; the control plane needs none).
func (c *Config) RequireListener() error {
	if c.Listen.HTTP == "" && c.Listen.HTTPS == nil {
		return Errors{c.Errorf("listen", "at least one of listen.http or listen.https is required")}
	}
	return nil
}

// ParsePrefix accepts a CIDR or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not a CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func checkHostPattern(h string) error {
	if h == "*" {
		return nil
	}
	s := strings.TrimPrefix(h, "*.")
	if s == "" || strings.ContainsAny(s, "*/ :") {
		return fmt.Errorf("%q is not *, a host name or *.suffix", h)
	}
	return nil
}

func upstreamURLOK(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "h2c")
}

// Pool defaults, applied when the key is present.
const (
	DefaultHealthInterval      = 10 * time.Second
	DefaultHealthTimeout       = 2 * time.Second
	DefaultHealthyThreshold    = 2
	DefaultUnhealthyThreshold  = 3
	DefaultConsecutiveFailures = 5
	DefaultEjectionTime        = 30 * time.Second
	DefaultMaxEjectedPercent   = 50
	DefaultRetryBudgetPercent  = 20
	MaxTargetWeight            = 1000
	MaxRetryAttempts           = 10
)

// DefaultRetryOn is what retries.on defaults to.
var DefaultRetryOn = []string{"connect_failure", "502", "503", "504"}

func (r *Route) applyPoolDefaults() {
	for i := range r.Upstreams {
		if r.Upstreams[i].Weight == 0 {
			r.Upstreams[i].Weight = 1
		}
	}
	if b := r.Balance; b != nil && b.Policy == "" {
		b.Policy = RoundRobin
	}
	if h := r.HealthCheck; h != nil {
		if h.Interval == 0 {
			h.Interval = DefaultHealthInterval
		}
		if h.Timeout == 0 {
			h.Timeout = min(DefaultHealthTimeout, h.Interval)
		}
		if h.HealthyThreshold == 0 {
			h.HealthyThreshold = DefaultHealthyThreshold
		}
		if h.UnhealthyThreshold == 0 {
			h.UnhealthyThreshold = DefaultUnhealthyThreshold
		}
	}
	if o := r.Outlier; o != nil {
		if o.ConsecutiveFailures == 0 {
			o.ConsecutiveFailures = DefaultConsecutiveFailures
		}
		if o.EjectionTime == 0 {
			o.EjectionTime = DefaultEjectionTime
		}
		if o.MaxEjectedPercent == 0 {
			o.MaxEjectedPercent = DefaultMaxEjectedPercent
		}
	}
	if rt := r.Retries; rt != nil {
		if rt.Attempts == 0 {
			rt.Attempts = 1
		}
		if rt.BudgetPercent == 0 {
			rt.BudgetPercent = DefaultRetryBudgetPercent
		}
		if len(rt.On) == 0 {
			rt.On = append([]string(nil), DefaultRetryOn...)
		}
	}
}

// validatePool checks upstreams, balance, health_check, outlier and
// retries of the route at path p.
func (c *Config) validatePool(r *Route, p string, add addFunc) {
	// A missing key is reported on the line of its parent.
	inherit := func(path, parent string) {
		if c.lines != nil && c.lines[path] == 0 {
			c.lines[path] = c.lines[parent]
		}
	}
	inherit(p+".health_check.path", p+".health_check")
	inherit(p+".balance.hash_on", p+".balance")
	scheme := ""
	seen := map[string]int{}
	for i, t := range r.Upstreams {
		tp := fmt.Sprintf("%s.upstreams[%d]", p, i)
		inherit(tp+".url", tp) // a bare URL (shorthand), or none
		switch {
		case t.URL == "":
			add(tp+".url", "required")
		case !upstreamURLOK(t.URL):
			add(tp+".url", "%q is not an http://, https:// or h2c:// URL with a host", t.URL)
		default:
			u, _ := url.Parse(t.URL)
			if scheme == "" {
				scheme = u.Scheme
			} else if u.Scheme != scheme {
				add(tp+".url", "%q: every target of a pool has the same scheme (%s://)", t.URL, scheme)
			}
			if j, dup := seen[t.URL]; dup {
				add(tp+".url", "duplicate target %q (also upstreams[%d]); use weight", t.URL, j)
			} else {
				seen[t.URL] = i
			}
		}
		if t.Weight < 1 || t.Weight > MaxTargetWeight {
			add(tp+".weight", "%d is not between 1 and %d", t.Weight, MaxTargetWeight)
		}
	}
	if b := r.Balance; b != nil {
		switch b.Policy {
		case RoundRobin, LeastRequest:
			if b.HashOn != "" {
				add(p+".balance.hash_on", "applies to policy consistent_hash only")
			}
		case ConsistentHash:
			if b.HashOn == "" {
				add(p+".balance.hash_on", "required with policy consistent_hash (header:NAME, cookie:NAME or ip)")
			} else if _, _, err := ParseHashOn(b.HashOn); err != nil {
				add(p+".balance.hash_on", "%v", err)
			}
		default:
			add(p+".balance.policy", "%q is not one of %s, %s, %s", b.Policy, RoundRobin, LeastRequest, ConsistentHash)
		}
	}
	if h := r.HealthCheck; h != nil {
		hp := p + ".health_check"
		if h.Path == "" {
			add(hp+".path", "required")
		} else if !strings.HasPrefix(h.Path, "/") {
			add(hp+".path", "%q must start with /", h.Path)
		}
		if h.Timeout >= h.Interval {
			add(hp+".timeout", "%v must be shorter than interval (%v)", h.Timeout, h.Interval)
		}
		if h.HealthyThreshold < 1 {
			add(hp+".healthy_threshold", "must be a positive number")
		}
		if h.UnhealthyThreshold < 1 {
			add(hp+".unhealthy_threshold", "must be a positive number")
		}
		for i, s := range h.ExpectStatus {
			if s < 100 || s > 599 {
				add(fmt.Sprintf("%s.expect_status[%d]", hp, i), "%d is not an HTTP status", s)
			}
		}
	}
	if o := r.Outlier; o != nil {
		if o.ConsecutiveFailures < 1 {
			add(p+".outlier.consecutive_failures", "must be a positive number")
		}
		if o.MaxEjectedPercent < 1 || o.MaxEjectedPercent > 100 {
			add(p+".outlier.max_ejected_percent", "%d is not between 1 and 100", o.MaxEjectedPercent)
		}
	}
	if rt := r.Retries; rt != nil {
		if rt.Attempts < 1 || rt.Attempts > MaxRetryAttempts {
			add(p+".retries.attempts", "%d is not between 1 and %d", rt.Attempts, MaxRetryAttempts)
		}
		if rt.BudgetPercent < 1 || rt.BudgetPercent > 100 {
			add(p+".retries.budget_percent", "%d is not between 1 and 100", rt.BudgetPercent)
		}
		for i, on := range rt.On {
			if on == "connect_failure" || on == "timeout" {
				continue
			}
			if n, err := strconv.Atoi(on); err == nil && n >= 500 && n <= 599 {
				continue
			}
			add(fmt.Sprintf("%s.retries.on[%d]", p, i), "%q is not connect_failure, timeout or a 5xx status", on)
		}
	}
}

// ParseHashOn splits a consistent_hash key: header:NAME, cookie:NAME or
// ip (name empty).
func ParseHashOn(s string) (kind, name string, err error) {
	if s == "ip" {
		return "ip", "", nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if ok && (kind == "header" || kind == "cookie") && name != "" && !strings.ContainsAny(name, " \t:;=,") {
		return kind, name, nil
	}
	return "", "", fmt.Errorf("%q is not header:NAME, cookie:NAME or ip", s)
}
