// Package iprules is the ip_rules stage: it admits or refuses clients by
// address (after X-Forwarded-For resolution through trusted proxies).
package iprules

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Stage checks the client address against allow and deny lists.
type Stage struct {
	allow []netip.Prefix
	deny  []netip.Prefix
}

var _ pipeline.Stage = (*Stage)(nil)

// New builds the stage; it returns nil when no rules are configured.
func New(c *config.IPRules) (pipeline.Stage, error) {
	if c == nil || (len(c.Allow) == 0 && len(c.Deny) == 0) {
		return nil, nil
	}
	s := &Stage{}
	for _, p := range c.Allow {
		pp, err := config.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		s.allow = append(s.allow, pp)
	}
	for _, p := range c.Deny {
		pp, err := config.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		s.deny = append(s.deny, pp)
	}
	return s, nil
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "ip_rules" }

// Request implements pipeline.Stage.
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	ip := tx.ClientIP
	if len(s.allow) > 0 && !contains(s.allow, ip) {
		return pipeline.BlockWith(http.StatusForbidden, "ip_not_allowed", "ip_rules.allow", "client address is not in the allow list"), nil
	}
	if contains(s.deny, ip) {
		return pipeline.BlockWith(http.StatusForbidden, "ip_denied", "ip_rules.deny", "client address is denied"), nil
	}
	return pipeline.Continue, nil
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
