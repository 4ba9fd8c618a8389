package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/vigil-sec/vigil/internal/pipeline"
)

// exchange is one request's use of a pool: the target it is on, what it
// tried, and the retries it took from the budget.
type exchange struct {
	p       *pool
	t       *target
	tx      *pipeline.Txn
	key     uint64
	hasKey  bool
	tried   triedSet
	retried int
	body    *noClose // a replayed body, closed by end
}

var errNoTarget = errors.New("the upstream pool has no target")

// begin picks the first target of a request (panic mode included) and
// counts the request in flight; end undoes the counts.
func (p *pool) begin(w http.ResponseWriter, in *http.Request) (exchange, bool) {
	ex := exchange{p: p}
	if rw, ok := w.(*pipeline.ResponseWriter); ok {
		ex.tx = rw.Txn()
	}
	if p.policy == consistentHash {
		ex.key, ex.hasKey = p.key(in, ex.tx)
	}
	ex.t = p.pick(ex.key, ex.hasKey, 0, true)
	if ex.t == nil {
		return ex, false
	}
	p.active.Add(1)
	ex.t.inflight.Add(1)
	if ex.tx != nil {
		ex.tx.Upstream = ex.t.raw
	}
	return ex, true
}

func (ex *exchange) end() {
	ex.t.inflight.Add(-1)
	ex.p.active.Add(-1)
	for range ex.retried {
		ex.p.releaseRetry()
	}
	if ex.body != nil {
		ex.body.Close()
	}
}

// idempotent lists the methods that may be retried (RFC 9110 §9.2.2, less
// TRACE, which Vigil has no reason to repeat).
func idempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// replayable reports whether the request may be sent again, and the body
// to send again (nil for none): an idempotent method whose body is empty,
// or was buffered whole for the stages.
func (ex *exchange) replayable(in, out *http.Request) ([]byte, bool) {
	if ex.p.retry.attempts == 0 || !idempotent(in.Method) {
		return nil, false
	}
	if out.Body == nil {
		return nil, true
	}
	if ex.tx != nil {
		if b, trunc := ex.tx.Body(); !trunc && len(b) > 0 && int64(len(b)) == in.ContentLength {
			return b, true
		}
	}
	return nil, false
}

// roundTrip sends out to the exchange's target, and again to other
// targets while the retry policy, the budget and the pool allow. Nothing
// has reached the client yet, so a retry is always safe to make. Every
// outcome feeds the target's outlier detection.
func (ex *exchange) roundTrip(f *forwarder, out, in *http.Request) (*http.Response, error) {
	p := ex.p
	replay, canRetry := ex.replayable(in, out)
	for attempt := 0; ; attempt++ {
		res, err := f.roundTrip(out)
		var cbe *ClientBodyError
		if err != nil && (errors.As(err, &cbe) || in.Context().Err() != nil) {
			return res, err // the client's doing, not the target's
		}
		failed := err != nil || res.StatusCode >= 500
		p.report(ex.t, failed)
		if !failed || !canRetry || attempt >= p.retry.attempts || !p.retry.wants(err, res) {
			return res, err
		}
		tried := ex.tried.with(ex.t)
		next := p.pick(ex.key, ex.hasKey, tried, false)
		if next == nil || !p.acquireRetry() {
			return res, err
		}
		ex.retried++
		p.retries.Inc()
		if res != nil {
			res.Body.Close()
		}
		ex.tried = tried
		ex.t.inflight.Add(-1)
		next.inflight.Add(1)
		ex.t = next
		if ex.tx != nil {
			ex.tx.Upstream = next.raw
		}
		setTarget(out, in, next.url)
		if replay != nil {
			if ex.body != nil {
				ex.body.Close()
			}
			ex.body = &noClose{r: io.NopCloser(bytes.NewReader(replay))}
			out.Body = ex.body
		}
	}
}

// wants reports whether the policy retries this outcome.
func (rp *retryPolicy) wants(err error, res *http.Response) bool {
	if err != nil {
		var oe *net.OpError
		switch {
		case errors.As(err, &oe) && oe.Op == "dial":
			return rp.onConnect
		case isUpstreamTimeout(err):
			return rp.onTimeout
		}
		return rp.onConnect // refused, reset or closed before an answer
	}
	return res.StatusCode >= 500 && res.StatusCode <= 599 && rp.onStatus[res.StatusCode-500]
}

func isUpstreamTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
