package alert

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/ratelimit"
	"github.com/vigil-sec/vigil/internal/tokenbucket"
)

// Outcomes of an alert at a sink (event.Delivery.Status).
const (
	StatusDelivered   = "delivered"
	StatusRetry       = "retry"
	StatusDeadLetter  = "dead_letter"
	StatusRateLimited = "rate_limited"
	StatusDropped     = "dropped"
)

// maxRetryAfter caps how long a receiver's Retry-After holds a sink.
const maxRetryAfter = 5 * time.Minute

// dedupMemory bounds the alert keys a sink remembers; beyond it, keys
// older than the window are forgotten first, then all.
const dedupMemory = 10000

// runner is one sink with its filters, dedup memory, rate, queue and
// delivery goroutine.
type runner struct {
	name, typ   string
	sink        Sink
	kinds       []string // empty: every kind
	minSeverity Severity
	severity    func(kind string) Severity
	window      time.Duration
	attempts    int
	backoff     time.Duration
	maxBackoff  time.Duration
	timeout     time.Duration
	log         *slog.Logger
	record      func(event.Event)

	queue chan Alert

	mu     sync.Mutex
	seen   map[string]time.Time // alert key -> when last accepted
	rate   *ratelimit.Rate
	bucket tokenbucket.Bucket
	// lastErr, lastErrAt are the last failure (p.mu).
	lastErr   string
	lastErrAt time.Time

	delivered, retries, dead, deduped, limited, dropped atomic.Uint64
}

func newRunner(sc *config.AlertSink, sink Sink, window time.Duration, severity func(string) Severity, log *slog.Logger) *runner {
	r := &runner{name: sc.Name, typ: sc.Type, sink: sink, kinds: sc.Types, severity: severity, window: window,
		attempts: sc.MaxAttempts, backoff: sc.Backoff, maxBackoff: sc.MaxBackoff, timeout: sc.Timeout,
		log: log.With("sink", sc.Name, "sink_type", sc.Type), seen: map[string]time.Time{}, record: func(event.Event) {}}
	if sc.MinSeverity != "" {
		r.minSeverity = parseSeverity(sc.MinSeverity)
	}
	if r.attempts <= 0 {
		r.attempts = 5
	}
	if r.backoff <= 0 {
		r.backoff = time.Second
	}
	if r.maxBackoff <= 0 {
		r.maxBackoff = max(time.Minute, r.backoff)
	}
	if r.timeout <= 0 {
		r.timeout = 5 * time.Second
	}
	q := sc.QueueSize
	if q <= 0 {
		q = 256
	}
	r.queue = make(chan Alert, q)
	if sc.Rate != "" {
		if rt, err := ratelimit.ParseRate(sc.Rate); err == nil {
			r.rate = &rt
			r.bucket = tokenbucket.New(float64(rt.N), time.Now())
		}
	}
	return r
}

// offer filters, deduplicates, rate-limits and queues a (Send's share of
// the work for one sink); it never blocks.
func (r *runner) offer(a Alert) {
	if len(r.kinds) > 0 && !slices.Contains(r.kinds, a.Kind) {
		return
	}
	a.Severity = r.severity(a.Kind)
	if a.Severity < r.minSeverity {
		return
	}
	now := time.Now()
	k := a.Key()
	r.mu.Lock()
	if last, ok := r.seen[k]; ok && r.window > 0 && now.Sub(last) < r.window {
		r.mu.Unlock()
		r.deduped.Add(1)
		return
	}
	if r.rate != nil {
		if ok, _ := r.bucket.Take(now, r.rate.PerSecond(), float64(r.rate.N)); !ok {
			r.mu.Unlock()
			r.limited.Add(1)
			r.outcome(&a, 0, StatusRateLimited, nil)
			return
		}
	}
	if r.window > 0 {
		r.remember(k, now)
	}
	r.mu.Unlock()
	select {
	case r.queue <- a:
	default:
		r.dropped.Add(1)
		r.outcome(&a, 0, StatusDropped, errors.New("queue full"))
	}
}

// remember records key as accepted at now (r.mu held), within
// dedupMemory keys.
func (r *runner) remember(key string, now time.Time) {
	if len(r.seen) >= dedupMemory {
		for k, t := range r.seen {
			if now.Sub(t) >= r.window {
				delete(r.seen, k)
			}
		}
		if len(r.seen) >= dedupMemory {
			clear(r.seen)
		}
	}
	r.seen[key] = now
}

func (r *runner) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-r.queue:
			r.deliver(ctx, &a)
		}
	}
}

// deliver tries a until it is delivered, refused or out of attempts.
func (r *runner) deliver(ctx context.Context, a *Alert) {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.timeout)
		err := r.sink.Deliver(actx, a, attempt)
		cancel()
		if err == nil {
			r.delivered.Add(1)
			r.outcome(a, attempt, StatusDelivered, nil)
			return
		}
		if ctx.Err() != nil {
			r.log.Warn("alert not delivered at shutdown", "kind", a.Kind, "alert_id", a.ID)
			return
		}
		var de *Error
		retry, after := true, time.Duration(0)
		if errors.As(err, &de) {
			retry, after = de.Retry, de.After
		}
		r.mu.Lock()
		r.lastErr, r.lastErrAt = err.Error(), time.Now()
		r.mu.Unlock()
		if !retry || attempt >= r.attempts {
			r.dead.Add(1)
			r.outcome(a, attempt, StatusDeadLetter, err)
			r.log.Warn("alert dead-lettered", "kind", a.Kind, "alert_id", a.ID, "attempts", attempt, "err", err)
			return
		}
		r.retries.Add(1)
		r.outcome(a, attempt, StatusRetry, err)
		wait := r.backoffFor(attempt)
		if after > wait {
			wait = min(after, maxRetryAfter)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			r.log.Warn("alert not delivered at shutdown", "kind", a.Kind, "alert_id", a.ID)
			return
		case <-t.C:
		}
	}
}

// backoffFor is the wait after a failed attempt: backoff doubled per
// attempt, capped at maxBackoff, the upper half of it jittered (so that
// replicas and sinks do not retry in step).
func (r *runner) backoffFor(attempt int) time.Duration {
	d := r.backoff
	for i := 1; i < attempt && d < r.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// outcome records what became of a at this sink as an alert_delivery
// event.
func (r *runner) outcome(a *Alert, attempt int, status string, err error) {
	d := &event.Delivery{Sink: r.name, SinkType: r.typ, Attempt: attempt, Status: status}
	if err != nil {
		d.Error = truncate(err.Error(), 500)
		var de *Error
		if errors.As(err, &de) {
			d.HTTPStatus = de.Status
		}
	}
	id := "delivery-" + a.ID + "-" + r.name + "-"
	if attempt > 0 {
		id += strconv.Itoa(attempt)
	} else {
		id += status + "-" + time.Now().UTC().Format("20060102T150405.000000000")
	}
	r.record(event.Event{Type: "alert_delivery", TxnID: id, ParentTxnID: a.ID, Time: time.Now().UTC(), Placement: "control",
		Decision: event.DecisionAllow, Destination: event.Destination{Host: a.Host},
		Request: event.Request{Method: a.Method, Endpoint: a.Endpoint},
		Alert:   &event.Alert{Kind: a.Kind, Host: a.Host, Method: a.Method, Endpoint: a.Endpoint, Detail: a.Detail}, Delivery: d})
}

func (r *runner) stats() SinkStats {
	r.mu.Lock()
	le, lt := r.lastErr, r.lastErrAt
	r.mu.Unlock()
	return SinkStats{Name: r.name, Type: r.typ, Delivered: r.delivered.Load(), Retries: r.retries.Load(),
		DeadLetters: r.dead.Load(), Deduplicated: r.deduped.Load(), RateLimited: r.limited.Load(), Dropped: r.dropped.Load(),
		Queued: len(r.queue), LastError: le, LastErrorTime: lt}
}

// recorderQueue bounds the alert_delivery events waiting to be stored.
const recorderQueue = 1024

// recorder stores alert_delivery events in batches, off the sinks'
// goroutines.
type recorder struct {
	st      EventStore
	log     *slog.Logger
	ch      chan event.Event
	dropped atomic.Uint64
}

func newRecorder(st EventStore, log *slog.Logger) *recorder {
	return &recorder{st: st, log: log, ch: make(chan event.Event, recorderQueue)}
}

func (rc *recorder) add(ev event.Event) {
	if rc.st == nil {
		return
	}
	select {
	case rc.ch <- ev:
	default:
		rc.dropped.Add(1)
	}
}

func (rc *recorder) run(ctx context.Context) {
	if rc.st == nil {
		return
	}
	batch := make([]event.Event, 0, 64)
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-rc.ch:
			batch = append(batch[:0], ev)
		drain:
			for len(batch) < cap(batch) {
				select {
				case ev := <-rc.ch:
					batch = append(batch, ev)
				default:
					break drain
				}
			}
			if _, err := rc.st.InsertEvents(ctx, batch); err != nil {
				rc.dropped.Add(uint64(len(batch)))
				if ctx.Err() == nil {
					rc.log.Warn("alert_delivery events not stored", "events", len(batch), "err", err)
				}
			}
		}
	}
}
