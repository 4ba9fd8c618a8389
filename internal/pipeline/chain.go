package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// FailurePolicy says what a stage's failure (panic, timeout, error) does.
type FailurePolicy uint8

const (
	// FailOpen lets the request continue; the failure is recorded.
	FailOpen FailurePolicy = iota
	// FailClosed stops the request with 503; the failure is recorded.
	FailClosed
)

// ParseFailurePolicy maps the config words.
func ParseFailurePolicy(s string) FailurePolicy {
	if s == "fail_closed" {
		return FailClosed
	}
	return FailOpen
}

// Link is one stage in a chain with its policy.
type Link struct {
	Stage   Stage
	OnError FailurePolicy
	Timeout time.Duration
	// Monitor runs this stage in monitor mode whatever the route's mode:
	// its stops become findings with WouldBlock (protect.stages.NAME.mode,
	// routes[].modes.NAME).
	Monitor bool

	layer        string
	blocking     bool
	inspector    ResponseInspector
	wantsBody    BodyReader
	observer     ResponseObserver
	wantsRspBody ResponseBodyReader
}

// Observer receives per-stage timings and failures (metrics). It must be
// cheap and safe for concurrent use.
type Observer interface {
	StageDone(index int, d time.Duration)
	StageFailed(index int, kind string)
}

// Chain is an ordered, immutable list of stages for one route.
type Chain struct {
	links []Link
	obs   Observer
	// WantsBody is true when any stage may ask for the request body.
	anyBody    bool
	anyResp    bool
	anyInspect bool
	protected  bool
}

// NewChain builds a chain. obs may be nil.
func NewChain(links []Link, obs Observer) *Chain {
	c := &Chain{links: links, obs: obs}
	for i := range c.links {
		l := &c.links[i]
		if b, ok := l.Stage.(Blocking); ok && b.Blocking() {
			l.blocking = true
		}
		l.layer = l.Stage.Name()
		if ly, ok := l.Stage.(Layered); ok {
			l.layer = ly.Layer()
		}
		if ri, ok := l.Stage.(ResponseInspector); ok {
			l.inspector = ri
			c.anyInspect = true
		}
		if b, ok := l.Stage.(BodyReader); ok {
			l.wantsBody = b
			c.anyBody = true
		}
		if o, ok := l.Stage.(ResponseObserver); ok {
			l.observer = o
			c.anyResp = true
		}
		if o, ok := l.Stage.(ResponseBodyReader); ok {
			l.wantsRspBody = o
		}
		if p, ok := l.Stage.(Passive); !ok || !p.Passive() {
			c.protected = true
		}
	}
	return c
}

// Len is the number of stages.
func (c *Chain) Len() int { return len(c.links) }

// Names lists the stage names in order.
func (c *Chain) Names() []string {
	n := make([]string, len(c.links))
	for i, l := range c.links {
		n[i] = l.Stage.Name()
	}
	return n
}

// WantsBody reports whether any stage wants the body of this request.
func (c *Chain) WantsBody(tx *Txn) bool {
	if !c.anyBody {
		return false
	}
	for i := range c.links {
		if w := c.links[i].wantsBody; w != nil && w.WantsBody(tx) {
			return true
		}
	}
	return false
}

// PrepareResponse decides whether a response body prefix must be kept.
func (c *Chain) PrepareResponse(tx *Txn, limit int) {
	for i := range c.links {
		if w := c.links[i].wantsRspBody; w != nil && w.WantsResponseBody(tx) {
			tx.wantRespBody = true
			tx.respLimit = limit
			return
		}
	}
}

// Run passes the transaction through every stage in order and returns the
// verdict that stops it, or Continue. In monitor mode nothing stops: each
// would-be stop becomes a finding with WouldBlock set. A stage's failure is
// recorded as a finding of kind "stage_failure" and then follows the link's
// policy.
func (c *Chain) Run(ctx context.Context, tx *Txn) Verdict {
	tx.Protected = c.protected
	for i := range c.links {
		l := &c.links[i]
		if v, stop := c.step(ctx, i, l, tx, l.Stage.Request); stop {
			return v
		}
	}
	return Continue
}

// WantsResponse reports whether a stage wants to judge this response before
// it is sent (called once status and headers are in tx.Resp).
func (c *Chain) WantsResponse(tx *Txn) bool {
	if !c.anyInspect {
		return false
	}
	for i := range c.links {
		if ri := c.links[i].inspector; ri != nil && ri.WantsResponse(tx) {
			return true
		}
	}
	return false
}

// RunResponse passes the upstream's response through every response
// inspector, in order, with the same monitor and failure rules as Run. A
// non-Continue verdict means the response must not reach the client.
func (c *Chain) RunResponse(ctx context.Context, tx *Txn) Verdict {
	if !c.anyInspect {
		return Continue
	}
	for i := range c.links {
		l := &c.links[i]
		if l.inspector == nil || !l.inspector.WantsResponse(tx) {
			continue
		}
		if v, stop := c.step(ctx, i, l, tx, l.inspector.InspectResponse); stop {
			return v
		}
	}
	return Continue
}

// step runs one stage's phase and applies its verdict: it returns the
// verdict and true when the transaction must stop here.
func (c *Chain) step(ctx context.Context, i int, l *Link, tx *Txn, phase func(context.Context, *Txn) (Verdict, error)) (Verdict, bool) {
	monitor := tx.Mode == "monitor" || l.Monitor
	tx.monitor = monitor
	start := time.Now()
	v, err := c.call(ctx, l, tx, phase)
	d := time.Since(start)
	if c.obs != nil {
		c.obs.StageDone(i, d)
	}
	if err == nil && l.Timeout > 0 && d > l.Timeout {
		if v.Action != Allow {
			// The stage overran but did decide to stop the request: a
			// late "no" is still a "no" (a GC pause must not turn a
			// deny into an allow). The overrun is recorded.
			tx.AddFinding(event.Finding{Stage: l.Stage.Name(), Layer: l.layer, Kind: "stage_failure", Severity: "low",
				Message: "timeout: " + (&stageTimeout{d: d, limit: l.Timeout}).Error() + " (its verdict was kept)"})
			if c.obs != nil {
				c.obs.StageFailed(i, "timeout")
			}
		} else {
			err = &stageTimeout{d: d, limit: l.Timeout}
		}
	}
	if err != nil {
		kind := failureKind(err)
		if c.obs != nil {
			c.obs.StageFailed(i, kind)
		}
		f := event.Finding{Stage: l.Stage.Name(), Layer: l.layer, Kind: "stage_failure", Severity: "high",
			Message: fmt.Sprintf("%s: %v", kind, err)}
		if l.OnError == FailOpen {
			f.Action = "log"
			tx.AddFinding(f)
			return Continue, false
		}
		v = Verdict{Action: Block, Status: http.StatusServiceUnavailable, Kind: "stage_failure",
			Severity: "high", Message: f.Message}
		// The failure itself is the finding; the block is its consequence.
		f.WouldBlock = monitor
		f.Action = Block.String()
		tx.AddFinding(f)
		if monitor {
			return Continue, false
		}
		tx.Decision = Block
		tx.Status = v.HTTPStatus()
		return v, true
	}
	if v.Action == Allow {
		return Continue, false
	}
	tx.AddFinding(event.Finding{Stage: l.Stage.Name(), Layer: l.layer, RuleID: v.RuleID, Kind: v.Kind,
		Severity: v.Severity, Action: v.Action.String(), Message: v.Message, Variable: v.Variable, Data: v.Data,
		Tags: v.Tags, WouldBlock: monitor})
	if monitor {
		return Continue, false
	}
	tx.Decision = v.Action
	tx.Status = v.HTTPStatus()
	return v, true
}

// Respond calls every response observer. It runs after the response was
// written, inside the request's deferred finish.
func (c *Chain) Respond(tx *Txn) {
	if !c.anyResp {
		return
	}
	for i := range c.links {
		if o := c.links[i].observer; o != nil {
			func() {
				defer func() {
					if p := recover(); p != nil && c.obs != nil {
						c.obs.StageFailed(i, "panic")
					}
				}()
				o.Response(tx)
			}()
		}
	}
}

// Close releases stage resources.
func (c *Chain) Close() error {
	var errs []error
	for _, l := range c.links {
		if cl, ok := l.Stage.(Closer); ok {
			if err := cl.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", l.Stage.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

type stagePanic struct{ v any }

func (p *stagePanic) Error() string { return fmt.Sprintf("%v", p.v) }

type stageTimeout struct{ d, limit time.Duration }

func (t *stageTimeout) Error() string {
	return fmt.Sprintf("took %s, limit %s", t.d.Round(time.Microsecond), t.limit)
}

func failureKind(err error) string {
	var p *stagePanic
	var t *stageTimeout
	switch {
	case errors.As(err, &p):
		return "panic"
	case errors.As(err, &t), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}

func (c *Chain) call(ctx context.Context, l *Link, tx *Txn, phase func(context.Context, *Txn) (Verdict, error)) (v Verdict, err error) {
	if l.blocking && l.Timeout > 0 {
		return callWithDeadline(ctx, l, tx, phase)
	}
	defer func() {
		if p := recover(); p != nil {
			v, err = Verdict{}, &stagePanic{p}
		}
	}()
	return phase(ctx, tx)
}

// callWithDeadline runs a blocking stage in its own goroutine so a stage
// that ignores its context still cannot hold the request past its timeout.
func callWithDeadline(ctx context.Context, l *Link, tx *Txn, phase func(context.Context, *Txn) (Verdict, error)) (Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	type result struct {
		v   Verdict
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: &stagePanic{p}}
			}
		}()
		v, err := phase(ctx, tx)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		// The stage may still touch tx: never recycle this one.
		tx.noRecycle = true
		return Verdict{}, &stageTimeout{d: l.Timeout, limit: l.Timeout}
	}
}
