package control

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// OpenAudit opens the audit log of a control plane over st, as cfg.Audit
// says: the signing key is read from (or generated into, mode 0600)
// data_dir/audit.key. Nil, nil when audit.disabled.
//
// Transaction records are logged with the signature of the data plane
// that handled the hop when the event carries a valid one (its key is
// registered in the log on first use; with audit.require_pinned only the
// keys of audit.trusted_keys are accepted); the others, and the consent and
// config records, are signed here with the control plane's key
// (docs/audit.md).
func OpenAudit(st store.Store, cfg *config.Config) (*audit.Log, error) {
	if cfg.Audit.Disabled {
		return nil, nil
	}
	key, err := audit.LoadOrCreateKey(cfg.AuditKeyPath(), cfg.Audit.Origin)
	if err != nil {
		return nil, err
	}
	pinned := make([]audit.PublicKey, 0, len(cfg.Audit.TrustedKeys))
	for i, v := range cfg.Audit.TrustedKeys {
		pk, err := audit.ParsePublicKey(v)
		if err != nil {
			return nil, fmt.Errorf("audit.trusted_keys[%d]: %w", i, err)
		}
		pinned = append(pinned, pk)
	}
	l, err := audit.New(st, key, cfg.Audit.Origin)
	if err != nil {
		return nil, err
	}
	l.TrustHopKeys(pinned, cfg.Audit.RequirePinned)
	return l, nil
}

// auditEvents appends the audit records of the transaction and consent
// events among evs. It is called for every batch, fresh or redelivered:
// the log skips the txn_ids it holds, so a batch whose audit append failed
// (and which the bus then redelivers) is logged on the next delivery.
func (p *Plane) auditEvents(ctx context.Context, evs []event.Event) error {
	if p.o.Audit == nil {
		return nil
	}
	res, err := p.o.Audit.AppendEvents(ctx, evs)
	if err != nil {
		return err
	}
	for _, id := range res.Registered {
		p.log.Info("audit: data-plane key registered (trust on first use)", "key_id", id)
	}
	if len(res.Rejected) > 0 {
		p.badHopSignatures(ctx, evs, res.Rejected)
	}
	return nil
}

// AlertAuditBadSignature is the alert kind of a hop signature the control
// plane rejected (its record is logged signed by the control plane).
const AlertAuditBadSignature = "audit_bad_signature"

// badHopSignatures logs and stores an alert per rejected hop signature:
// the event changed between the data plane and here, a key or signature
// was forged, or (audit.require_pinned) the key is not pinned.
func (p *Plane) badHopSignatures(ctx context.Context, evs []event.Event, rejected []audit.RejectedHop) {
	byTxn := make(map[string]*event.Event, len(evs))
	for i := range evs {
		byTxn[evs[i].TxnID] = &evs[i]
	}
	alerts := make([]event.Event, 0, len(rejected))
	for _, rj := range rejected {
		p.log.Error("audit: hop signature rejected; record signed by the control plane", "txn_id", rj.TxnID, "key_id", rj.KeyID,
			"status", rj.Status, "entry", rj.Index, "reason", rj.Reason)
		a := event.Event{Type: "alert", TxnID: "alert-audit-signature-" + rj.TxnID, Time: time.Now().UTC(), Placement: "control",
			Decision: event.DecisionAllow, Alert: &event.Alert{Kind: AlertAuditBadSignature,
				Detail: fmt.Sprintf("txn %s, key %s: %s: %s (audit entry %d)", rj.TxnID, rj.KeyID, rj.Status, rj.Reason, rj.Index)}}
		if ev := byTxn[rj.TxnID]; ev != nil {
			a.Source, a.Destination = ev.Source, ev.Destination
			a.Alert.Host, a.Alert.Method, a.Alert.Endpoint = ev.Destination.Host, ev.Request.Method, ev.Request.Endpoint
		}
		alerts = append(alerts, a)
	}
	fresh, err := p.o.Store.InsertEvents(ctx, alerts)
	if err != nil {
		p.log.Warn("audit signature alerts not stored", "alerts", len(alerts), "err", err)
		return
	}
	p.deliverAlerts(alerts, fresh)
}

// auditConfig records a distributed configuration overlay.
func (p *Plane) auditConfig(ctx context.Context, rev int64, overlay []byte) error {
	if p.o.Audit == nil {
		return nil
	}
	_, err := p.o.Audit.Append(ctx, []audit.Record{audit.ConfigRecord(rev, overlay, time.Now())})
	return err
}

// auditRecordOne logs one event's record, warning when it fails (consent
// changes: the change itself has been made).
func (p *Plane) auditRecordOne(ctx context.Context, ev event.Event) {
	if err := p.auditEvents(ctx, []event.Event{ev}); err != nil {
		p.log.Error("audit record not appended", "txn_id", ev.TxnID, "err", err)
	}
}

// runCheckpoints signs a checkpoint every interval when the log grew,
// and a last one when ctx ends.
func (p *Plane) runCheckpoints(ctx context.Context) {
	if p.o.Audit == nil {
		return
	}
	every := p.o.AuditCheckpointEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	have := false
	checkpoint := func(ctx context.Context) {
		size, err := p.o.Audit.Size(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("audit checkpoint: head unreadable", "err", err)
			}
			return
		}
		if have && size == last {
			return
		}
		c, err := p.o.Audit.Checkpoint(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("audit checkpoint failed", "err", err)
			}
			return
		}
		last, have = c.Size, true
	}
	checkpoint(ctx)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			checkpoint(fctx)
			cancel()
			return
		case <-t.C:
			checkpoint(ctx)
		}
	}
}

// AuditCheckpoint signs a checkpoint now (on demand).
func (p *Plane) AuditCheckpoint(ctx context.Context) (audit.Checkpoint, error) {
	if p.o.Audit == nil {
		return audit.Checkpoint{}, fmt.Errorf("control: the audit log is disabled")
	}
	return p.o.Audit.Checkpoint(ctx)
}
