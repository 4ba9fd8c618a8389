// Package identity is the identity stage: it verifies the credential a
// request carries (a JWT against the configured issuers' keys, an API key,
// an mTLS peer's SPIFFE ID), records which one was used on the event
// (sub, client id, scopes, a hash of the credential, never the credential),
// and refuses a bad credential — or a missing one where routes[].identity
// is required — with 401 before anything reaches the upstream. The
// verification lives in internal/authz/token; see README.md and
// docs/identity.md.
package identity

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/authz/token"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Verifier turns a request's credential into a Principal: (nil, nil) when
// the request carries none, (nil, err) when it carries a bad one.
type Verifier interface {
	FromRequest(ctx context.Context, r *http.Request) (*authz.Principal, error)
	Close() error
}

// Stage verifies credentials.
type Stage struct {
	v        Verifier
	required map[string]bool // route name -> identity required
	realm    string
}

var (
	_ pipeline.Stage   = (*Stage)(nil)
	_ pipeline.Layered = (*Stage)(nil)
	_ pipeline.Closer  = (*Stage)(nil)
)

// New builds the stage from identity; nil when no identity source is
// configured.
func New(cfg *config.Config) (pipeline.Stage, error) {
	if !cfg.Identity.Configured() {
		return nil, nil
	}
	o := Options(cfg)
	// Stage setups get no logger (stage.Setup has none to give); like the
	// ip_rules and waf stages' file watchers, key-refresh events go to
	// slog.Default().
	o.Logger = slog.Default()
	v, err := token.New(context.Background(), o)
	if err != nil {
		return nil, cfg.Errorf("identity", "%v", err)
	}
	return NewWith(cfg, v), nil
}

// NewWith builds the stage around a Verifier (tests, embedding programs).
func NewWith(cfg *config.Config, v Verifier) *Stage {
	s := &Stage{v: v, required: map[string]bool{}, realm: "vigil"}
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		s.required[r.Name] = cfg.RouteIdentity(r) == "required"
	}
	return s
}

// Options maps the identity section to the verifier's options.
func Options(cfg *config.Config) token.Options {
	id := &cfg.Identity
	o := token.Options{CacheSize: id.CacheSize, TrustDomains: id.MTLS.TrustDomains}
	for _, j := range id.JWT {
		ic := token.IssuerConfig{
			Issuer: j.Issuer, JWKSFile: j.JWKSFile, JWKSURL: j.JWKSURL,
			Audiences: j.Audiences, Algorithms: j.Algorithms, Leeway: j.Leeway,
			Refresh: j.Refresh, MinRefresh: j.MinRefresh,
			ClientIDClaims: j.ClientIDClaims, RolesClaim: j.RolesClaim,
			MaxTokenBytes: int(id.MaxTokenBytes),
		}
		switch j.Discovery {
		case "":
		case "true":
			ic.Discovery = strings.TrimSuffix(j.Issuer, "/") + "/.well-known/openid-configuration"
		default:
			ic.Discovery = j.Discovery
		}
		o.Issuers = append(o.Issuers, ic)
	}
	for _, k := range id.APIKeys {
		o.APIKeys = append(o.APIKeys, token.APIKey{Name: k.Name, Header: k.Header, Hash: k.Hash, Subject: k.Subject, Scopes: k.Scopes, Roles: k.Roles})
	}
	return o
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "identity" }

// Layer implements pipeline.Layered.
func (s *Stage) Layer() string { return "identity" }

// Close implements pipeline.Closer: it stops the key refreshes.
func (s *Stage) Close() error { return s.v.Close() }

// Request implements pipeline.Stage.
func (s *Stage) Request(ctx context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	p, err := s.v.FromRequest(ctx, tx.Req)
	if err != nil {
		reason := Reason(err)
		v := pipeline.Verdict{
			Action: pipeline.Block, Status: http.StatusUnauthorized,
			Kind: "invalid_token", RuleID: "identity." + reason, Severity: "high",
			Message:  "credential refused: " + reason,
			Variable: "REQUEST_HEADERS:Authorization",
			Header: http.Header{"Www-Authenticate": {`Bearer realm="` + s.realm +
				`", error="invalid_token", error_description="` + reason + `"`}},
		}
		if tx.Auth == "api_key" {
			v.Variable = "REQUEST_HEADERS:X-API-Key"
		}
		return v, nil
	}
	if p == nil {
		if s.required[tx.Route] {
			return pipeline.Verdict{
				Action: pipeline.Block, Status: http.StatusUnauthorized,
				Kind: "missing_credential", RuleID: "identity.required", Severity: "medium",
				Message: "this route requires a credential",
				Header:  http.Header{"Www-Authenticate": {`Bearer realm="` + s.realm + `"`}},
			}, nil
		}
		return pipeline.Continue, nil
	}
	tx.Stash(authz.PrincipalKey{}, p)
	tx.Identity = &event.Identity{Sub: p.Subject, ClientID: p.ClientID, TokenID: p.TokenID, Scopes: p.Scopes}
	return pipeline.Continue, nil
}

// Reason is the short, secret-free reason a credential was refused, as
// WWW-Authenticate's error_description and the finding's rule id carry it.
func Reason(err error) string {
	var te *token.Error
	if errors.As(err, &te) && te.Reason != "" {
		return te.Reason
	}
	return "invalid"
}
