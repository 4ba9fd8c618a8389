// Package event defines Vigil's transaction event: one JSON object per
// request that passes through any placement (see SPEC "The transaction
// event"). Field names are part of the user-facing contract.
package event

import "time"

// Event is one transaction. It is written as one JSON line to events.file
// and published on the bus. Raw secrets never reach it: identity.token_id is
// a hash, findings carry masked values only.
type Event struct {
	// Type is empty for transaction events; other records that share the
	// events stream set it ("alert" for discovery change alerts,
	// "stage_failure" for a stage that panicked, timed out or failed,
	// "consent" for a consent grant or revocation, "alert_delivery" for
	// an attempt to deliver an alert to a sink).
	Type        string      `json:"type,omitempty"`
	TxnID       string      `json:"txn_id"`
	ParentTxnID string      `json:"parent_txn_id,omitempty"`
	TraceID     string      `json:"trace_id,omitempty"`
	Time        time.Time   `json:"time"`
	Placement   string      `json:"placement"`
	Mode        string      `json:"mode"`
	Route       string      `json:"route,omitempty"`
	Source      Source      `json:"source"`
	Destination Destination `json:"destination"`
	TLS         *TLS        `json:"tls,omitempty"`
	Request     Request     `json:"request"`
	Response    Response    `json:"response"`
	Identity    *Identity   `json:"identity,omitempty"`
	Findings    []Finding   `json:"findings,omitempty"`
	Decision    string      `json:"decision"`
	Error       string      `json:"error,omitempty"`
	Latency     Latency     `json:"latency_ms"`
	Alert       *Alert      `json:"alert,omitempty"`
	Consent     *Consent    `json:"consent,omitempty"`
	// Delivery is one outcome of delivering an alert to an alert sink
	// (events.alerts), when Type is "alert_delivery".
	Delivery *Delivery `json:"delivery,omitempty"`
	// Audit is the signature of the data plane that handled the hop over
	// the hop's audit record, when it signs (docs/audit.md).
	Audit *AuditSig `json:"audit,omitempty"`
}

// AuditSig is a data plane's signature over the audit record of its hop:
// Ed25519 over the canonical record that the control plane rebuilds from
// this event (package audit), by the key KeyID.
type AuditSig struct {
	// KeyID is the signing key's id (hex of the first 16 bytes of the
	// SHA-256 of the public key).
	KeyID string `json:"key_id"`
	// PublicKey is the key as a note verifier key (name+hash+base64),
	// what audit.trusted_keys lists.
	PublicKey string `json:"public_key"`
	// Sig is the signature, base64 (standard encoding, padded): over the
	// record itself, or with Batch over the batch the record was signed in.
	Sig string `json:"sig"`
	// Batch is the record's place in the batch of records its hop signed
	// at once (one signature over the RFC 6962 root of their hashes).
	Batch *AuditBatch `json:"batch,omitempty"`
}

// AuditBatch is a record's place in a signed batch: its index among size
// records and its RFC 6962 inclusion path (leaf upwards, base64) to the
// batch's root.
type AuditBatch struct {
	Size  uint64   `json:"size"`
	Index uint64   `json:"index"`
	Path  []string `json:"path"`
}

// Delivery is what became of one alert at one alert sink: an attempt
// (delivered, retry, dead_letter) or why none was made (rate_limited,
// dropped). The event's Alert is the alert, its ParentTxnID the alert
// event's txn_id. Never a secret, a URL's path or query.
type Delivery struct {
	Sink     string `json:"sink"`
	SinkType string `json:"sink_type"` // webhook, slack, pagerduty, syslog
	Attempt  int    `json:"attempt"`
	Status   string `json:"status"`
	// HTTPStatus is the receiver's answer, when it gave one.
	HTTPStatus int    `json:"http_status,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Consent is a consent grant or revocation made through the control
// plane's API, carried by an Event whose Type is "consent".
type Consent struct {
	Action    string `json:"action"` // grant, revoke
	ID        string `json:"id"`
	Subject   string `json:"subject"`
	Grantee   string `json:"grantee"`
	Scope     string `json:"scope"`
	Resource  string `json:"resource,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"` // RFC 3339
}

// Alert is a change that discovery noticed (a new endpoint, a new sensitive
// class, a changed schema, a new shadow or zombie endpoint). It is carried by
// an Event whose Type is "alert".
type Alert struct {
	Kind     string `json:"kind"` // new_endpoint, new_sensitive, schema_changed, shadow_endpoint, zombie_endpoint
	Host     string `json:"host"`
	Method   string `json:"method"`
	Endpoint string `json:"endpoint"`
	Detail   string `json:"detail,omitempty"`
}

// Source is the calling side.
type Source struct {
	IP       string `json:"ip"`
	Workload string `json:"workload,omitempty"`
	// Country is the ISO 3166 code of the client address, when a GeoIP
	// database is configured (protect.geoip).
	Country string `json:"country,omitempty"`
}

// Destination is the called side.
type Destination struct {
	Host     string `json:"host"`
	Workload string `json:"workload,omitempty"`
	Upstream string `json:"upstream,omitempty"`
	// TLS is the connection to the upstream, when it was TLS (mtls: a
	// client certificate was sent).
	TLS *TLS `json:"tls,omitempty"`
}

// TLS describes the client connection's TLS, when there was one.
type TLS struct {
	Version     string `json:"version"`
	Cipher      string `json:"cipher"`
	Group       string `json:"group,omitempty"`
	MTLS        bool   `json:"mtls"`
	Intercepted bool   `json:"intercepted"`
}

// Request holds the layer-7 request attributes.
type Request struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// RawPath is the path as the client spelled it (escaped), when the
	// gateway normalized it: Path is what the stages judged and the
	// upstream received.
	RawPath     string `json:"raw_path,omitempty"`
	Endpoint    string `json:"endpoint,omitempty"`
	Query       string `json:"query,omitempty"`
	Bytes       int64  `json:"bytes"`
	UserAgent   string `json:"user_agent,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Auth        string `json:"auth,omitempty"` // none, bearer_jwt, bearer, basic, api_key, mtls
	// TokenID is the hash of a bearer token no identity source verified
	// (as identity.token_id hashes verified ones: "sha256:" and 16 hex
	// digits), so which token was used is known either way.
	TokenID string `json:"token_id,omitempty"`
}

// Response holds what came back.
type Response struct {
	Status      int    `json:"status"`
	Bytes       int64  `json:"bytes"`
	ContentType string `json:"content_type,omitempty"`
}

// Identity is the verified caller, when a stage established one.
type Identity struct {
	Sub      string   `json:"sub,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	TokenID  string   `json:"token_id,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
}

// Finding is something a stage noticed.
//
// Layer names the protection layer that fired (waf, openapi, ratelimit, ip,
// bot, ssrf, graphql, proxy...); Action is what the layer did or would have
// done (block, challenge, strip, log). Tags are the rule's tags (CRS
// "attack-sqli", "OWASP_CRS"...) and Variable the matched variable
// ("ARGS:q"); Data is the matched value, masked when it is a secret.
type Finding struct {
	Stage      string   `json:"stage"`
	Layer      string   `json:"layer,omitempty"`
	RuleID     string   `json:"rule_id,omitempty"`
	Kind       string   `json:"kind"`
	Severity   string   `json:"severity,omitempty"`
	Action     string   `json:"action,omitempty"`
	Message    string   `json:"message,omitempty"`
	Variable   string   `json:"variable,omitempty"`
	Data       string   `json:"data,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	WouldBlock bool     `json:"would_block,omitempty"`
}

// Latency in milliseconds: total wall time and Vigil's own share
// (total minus the time spent waiting on the upstream).
type Latency struct {
	Total float64 `json:"total"`
	Vigil float64 `json:"vigil"`
}

// Decisions.
const (
	DecisionAllow     = "allow"
	DecisionBlock     = "block"
	DecisionChallenge = "challenge"
	DecisionStepUp    = "step_up"
)
