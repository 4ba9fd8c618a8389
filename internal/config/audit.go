package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Audit configures the tamper-evident audit log (docs/audit.md). It is on
// by default wherever a control plane runs (vigil up, vigil control).
type Audit struct {
	// Disabled turns the audit log off.
	Disabled bool `yaml:"disabled"`
	// Origin is the first line of every checkpoint, naming the log
	// (default vigil.audit/default); also the signing key's name when
	// the key is generated. No spaces or plus signs.
	Origin string `yaml:"origin"`
	// Key is the signing key file (default data_dir/audit.key), a note
	// signer key generated with mode 0600 on first start.
	Key string `yaml:"key"`
	// CheckpointInterval is how often a signed checkpoint is made when
	// the log grew (default 10s).
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// TrustedKeys are the note verifier keys (name+hash+base64) that
	// vigil audit verify accepts besides the key in Key: those of other
	// control-plane replicas and witnesses, and the pinned keys of data
	// planes.
	TrustedKeys []string `yaml:"trusted_keys"`
	// RequirePinned makes the control plane accept hop signatures only by
	// the keys in TrustedKeys (or its own): a record signed by any other
	// data-plane key is signed by the control plane instead, marked
	// hop_signature "unpinned", and alerted. Default: trust on first use.
	RequirePinned bool `yaml:"require_pinned"`
	// SignHops has each data plane that reports over the bus sign the
	// audit record of every transaction it handles (event.audit), so a
	// record is vouched for by the hop itself. Unset, it is on for a
	// data plane that reports to a remote control plane (vigil gateway
	// or vigil sidecar with bus: nats://...; batch-signed, ~8 µs per
	// event on the data plane) and off for the gateway inside vigil up,
	// which shares the control plane's process and key: there the
	// control plane's signature is the hop's (docs/audit.md).
	SignHops *bool `yaml:"sign_hops"`
}

// HopSigning reports whether a data plane signs its hops' records:
// audit.sign_hops when set, else remote (the data plane reports to a
// control plane in another process).
func (a *Audit) HopSigning(remote bool) bool {
	if a.Disabled {
		return false
	}
	if a.SignHops != nil {
		return *a.SignHops
	}
	return remote
}

// DefaultAuditOrigin is audit.origin unless set.
const DefaultAuditOrigin = "vigil.audit/default"

func (a *Audit) applyDefaults() {
	if a.Origin == "" {
		a.Origin = DefaultAuditOrigin
	}
	if a.CheckpointInterval == 0 {
		a.CheckpointInterval = 10 * time.Second
	}
}

// AuditKeyPath is the signing key file: audit.key, or data_dir/audit.key.
// A control plane signs its records and checkpoints with it; a data plane
// that reports to a control plane signs its hops' records with it.
func (c *Config) AuditKeyPath() string {
	if c.Audit.Key != "" {
		return c.Audit.Key
	}
	return filepath.Join(c.DataDir, "audit.key")
}

func (c *Config) validateAudit(add addFunc) {
	a := &c.Audit
	if strings.ContainsFunc(a.Origin, func(r rune) bool { return r <= ' ' || r == '+' || r == 0x7f }) {
		add("audit.origin", "%q: no spaces, control characters or plus signs", a.Origin)
	}
	if a.CheckpointInterval < 100*time.Millisecond {
		add("audit.checkpoint_interval", "%v: at least 100ms", a.CheckpointInterval)
	}
	for i, k := range a.TrustedKeys {
		if _, err := note.NewVerifier(strings.TrimSpace(k)); err != nil {
			add(fmt.Sprintf("audit.trusted_keys[%d]", i), "not a note verifier key (name+hash+base64): %v", err)
		}
	}
}
