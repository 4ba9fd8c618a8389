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
// Records are signed here, by the control plane's key, when it stores the
// events: data planes do not sign their hops yet (docs/audit.md).
func OpenAudit(st store.Store, cfg *config.Config) (*audit.Log, error) {
	if cfg.Audit.Disabled {
		return nil, nil
	}
	key, err := audit.LoadOrCreateKey(cfg.AuditKeyPath(), cfg.Audit.Origin)
	if err != nil {
		return nil, err
	}
	return audit.New(st, key, cfg.Audit.Origin)
}

// auditEvents appends the audit records of the transaction and consent
// events among evs. It is called for every batch, fresh or redelivered:
// the log skips the txn_ids it holds, so a batch whose audit append failed
// (and which the bus then redelivers) is logged on the next delivery.
func (p *Plane) auditEvents(ctx context.Context, evs []event.Event) error {
	if p.o.Audit == nil {
		return nil
	}
	recs := make([]audit.Record, 0, len(evs))
	for i := range evs {
		if r, ok := audit.FromEvent(&evs[i]); ok {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	_, err := p.o.Audit.Append(ctx, recs)
	return err
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
