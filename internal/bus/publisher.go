package bus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-sec/vigil/internal/event"
)

// Defaults for PublisherOptions.
const (
	DefaultBufferSize     = 10000
	DefaultMaxBatch       = 256
	DefaultMaxBatchBytes  = 512 << 10
	DefaultSpoolMaxBytes  = 256 << 20
	DefaultPublishTimeout = 5 * time.Second
)

// PublisherOptions tunes a Publisher. The zero value is ready to use.
type PublisherOptions struct {
	// Placement is the last token of the subject the events go to
	// (vigil.events.<placement>). Default "gateway".
	Placement string

	// BufferSize is how many events are held in memory, including the
	// batch being sent. When it is full, Publish drops. Default 10000.
	BufferSize int

	// MaxBatch and MaxBatchBytes bound one NATS message: up to MaxBatch
	// events as JSON lines, up to MaxBatchBytes of payload (keep it under
	// the server's max_payload, 1 MiB by default). Defaults 256, 512 KiB.
	MaxBatch      int
	MaxBatchBytes int

	// SpoolDir, when set, is where events that do not fit in memory while
	// the bus is slow or down are written (usually <data_dir>/spool), up to
	// SpoolMaxBytes (default 256 MiB). The spool survives a restart: a new
	// Publisher on the same directory delivers it first.
	SpoolDir      string
	SpoolMaxBytes int64

	// PublishTimeout is how long one batch waits for its JetStream ack
	// before it is sent again. Default 5 s.
	PublishTimeout time.Duration

	// Logger defaults to the Bus's logger.
	Logger *slog.Logger
}

// Publisher sends events to the bus from a data plane. Publish never
// blocks: events go to a bounded buffer (and an optional disk spool) and a
// background goroutine delivers them in order, in batches, with JetStream
// acks, retrying while the bus is unreachable.
type Publisher struct {
	b       *Bus
	opts    PublisherOptions
	log     *slog.Logger
	subject string
	pubID   string

	mu       sync.Mutex
	ring     []record // circular, len == BufferSize
	head, n  int
	inflight int // events taken from the ring and not yet acked
	closed   bool

	spoolMu sync.Mutex
	spool   *spool        // nil when spooling is off
	cur     *loadedSeg    // head segment being sent
	memSeq  atomic.Uint64 // batch numbers when spooling is off

	wake      chan struct{}
	spoolWake chan struct{}
	stop      chan struct{}
	abortCtx  context.Context
	abort     context.CancelFunc
	done      chan struct{}
	spoolDone chan struct{}

	dropped   atomic.Uint64
	published atomic.Uint64
	spooled   atomic.Int64 // events on disk not yet acked
}

type loadedSeg struct {
	seg  segment
	recs []record
	pos  int // records already acked
	idx  int // batches already acked
}

// batch is one NATS message in the making.
type batch struct {
	recs      []record
	seq       uint64
	idx       int
	fromSpool bool
}

// NewPublisher starts a publisher on b. If the spool directory cannot be
// opened the publisher logs it and runs without a spool.
func NewPublisher(b *Bus, opts PublisherOptions) *Publisher {
	if opts.Placement == "" {
		opts.Placement = "gateway"
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultBufferSize
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if opts.SpoolMaxBytes <= 0 {
		opts.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.Logger == nil {
		opts.Logger = b.log
	}
	p := &Publisher{
		b:         b,
		opts:      opts,
		log:       opts.Logger.With("component", "bus.publisher"),
		subject:   b.subject + "." + subjectToken(opts.Placement),
		ring:      make([]record, opts.BufferSize),
		wake:      make(chan struct{}, 1),
		spoolWake: make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		spoolDone: make(chan struct{}),
	}
	p.abortCtx, p.abort = context.WithCancel(context.Background())
	var id [12]byte
	_, _ = rand.Read(id[:])
	p.pubID = hex.EncodeToString(id[:])
	if opts.SpoolDir != "" {
		s, err := openSpool(opts.SpoolDir, opts.SpoolMaxBytes)
		if err != nil {
			p.log.Error("spool disabled", "err", err)
		} else {
			p.spool, p.pubID = s, s.id
			p.spooled.Store(int64(s.events()))
		}
	}
	go p.run()
	if p.spool != nil {
		go p.spoolLoop()
	} else {
		close(p.spoolDone)
	}
	return p
}

// subjectToken makes s usable as one subject token.
func subjectToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c == '.' || c == '*' || c == '>' || c >= 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}

// Publish queues ev for delivery and reports whether it was accepted. It
// never blocks on the network or the disk: when the buffer is full it
// returns false and counts the event in Dropped. ev is encoded before
// Publish returns, so the caller may reuse it.
func (p *Publisher) Publish(ev *event.Event) bool {
	// AppendJSON writes what encoding/json would, several times faster.
	r := record{data: ev.AppendJSON(make([]byte, 0, 640))}
	if ev.Type == "" {
		r.id = ev.TxnID
	}
	size := len(p.ring)
	p.mu.Lock()
	if p.closed || p.n+p.inflight >= size {
		p.mu.Unlock()
		p.dropped.Add(1)
		return false
	}
	p.ring[(p.head+p.n)%size] = r
	p.n++
	n := p.n
	p.mu.Unlock()
	signal(p.wake)
	if p.spool != nil && n > size/2 {
		signal(p.spoolWake)
	}
	return true
}

// WriteEvents makes a Publisher an event.Sink of the data plane's event
// queue: each event is copied into the publisher's buffer (never blocking);
// what does not fit is counted in Dropped.
func (p *Publisher) WriteEvents(batch []*event.Event) error {
	for _, ev := range batch {
		p.Publish(ev)
	}
	return nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Dropped is the number of events that were not and will not be delivered:
// refused by Publish, lost to a spool write error, rejected by the server,
// or still queued when Close gave up without a spool.
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Published is the number of events JetStream acknowledged.
func (p *Publisher) Published() uint64 { return p.published.Load() }

// Buffered is the number of events accepted and not yet acknowledged, in
// memory and in the spool.
func (p *Publisher) Buffered() int {
	p.mu.Lock()
	n := p.n + p.inflight
	p.mu.Unlock()
	return n + int(p.spooled.Load())
}

// run is the sender: it takes the oldest batch (spool first, then memory),
// publishes it until it is acked, and repeats.
func (p *Publisher) run() {
	defer close(p.done)
	var payload bytes.Buffer
	for {
		// Read stop before next: once Close has begun nothing new is
		// accepted, so an empty next after that means all is delivered.
		stopped := isDone(p.stop)
		bt, ok := p.next()
		if !ok {
			if stopped {
				return
			}
			select {
			case <-p.stop:
			case <-p.wake:
			case <-p.abortCtx.Done():
				return
			}
			continue
		}
		backoff := 50 * time.Millisecond
		var failedAt time.Time
		for {
			err := p.send(bt, &payload)
			if err == nil {
				if !failedAt.IsZero() {
					p.log.Info("bus publishing resumed", "outage", time.Since(failedAt).Round(time.Millisecond))
				}
				p.commit(bt, false)
				break
			}
			if permanent(err) {
				p.log.Error("bus rejected batch, dropping it", "events", len(bt.recs), "err", err)
				p.commit(bt, true)
				break
			}
			if failedAt.IsZero() {
				failedAt = time.Now()
				p.log.Warn("bus publish failed, buffering", "err", err, "buffered", p.Buffered())
				signal(p.spoolWake)
			}
			if errors.Is(err, jetstream.ErrNoStreamResponse) {
				p.b.invalidate()
			}
			select {
			case <-p.abortCtx.Done():
				p.spill(bt)
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
		}
	}
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// next takes the oldest unsent batch: from the spool while it has events,
// then from memory.
func (p *Publisher) next() (batch, bool) {
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	for p.spool != nil && p.cur == nil && len(p.spool.segs) > 0 {
		g := p.spool.segs[0]
		recs, err := p.spool.read(g)
		if err != nil || len(recs) == 0 {
			if err != nil {
				p.log.Error("unreadable spool segment, dropping it", "seq", g.seq, "err", err)
			}
			p.dropped.Add(uint64(g.count))
			p.spooled.Add(-int64(g.count))
			_ = p.spool.remove(g)
			continue
		}
		if lost := g.count - len(recs); lost > 0 {
			p.dropped.Add(uint64(lost))
			p.spooled.Add(-int64(lost))
		}
		p.cur = &loadedSeg{seg: g, recs: recs}
	}
	if c := p.cur; c != nil {
		n := p.batchLen(c.recs[c.pos:])
		return batch{recs: c.recs[c.pos : c.pos+n], seq: c.seg.seq, idx: c.idx, fromSpool: true}, true
	}

	p.mu.Lock()
	size := len(p.ring)
	var recs []record
	nb := 0
	for p.n > 0 && len(recs) < p.opts.MaxBatch {
		r := p.ring[p.head]
		if len(recs) > 0 && nb+len(r.data)+1 > p.opts.MaxBatchBytes {
			break
		}
		nb += len(r.data) + 1
		recs = append(recs, r)
		p.ring[p.head] = record{}
		p.head = (p.head + 1) % size
		p.n--
	}
	p.inflight = len(recs)
	p.mu.Unlock()
	if len(recs) == 0 {
		return batch{}, false
	}
	var seq uint64
	if p.spool != nil {
		seq = p.spool.reserve()
	} else {
		seq = p.memSeq.Add(1)
	}
	return batch{recs: recs, seq: seq}, true
}

func (p *Publisher) batchLen(recs []record) int {
	n, nb := 0, 0
	for _, r := range recs {
		if n == p.opts.MaxBatch || (n > 0 && nb+len(r.data)+1 > p.opts.MaxBatchBytes) {
			break
		}
		n++
		nb += len(r.data) + 1
	}
	return n
}

// msgID is the JetStream dedupe ID of a batch: the txn_id of a lone
// transaction event, otherwise <publisher id>.<seq>.<idx>, which is the same
// when a batch is sent again, even by the next process on the same spool.
func (p *Publisher) msgID(bt batch) string {
	if len(bt.recs) == 1 && bt.recs[0].id != "" {
		return bt.recs[0].id
	}
	return p.pubID + "." + strconv.FormatUint(bt.seq, 10) + "." + strconv.Itoa(bt.idx)
}

func (p *Publisher) send(bt batch, payload *bytes.Buffer) error {
	ctx, cancel := context.WithTimeout(p.abortCtx, p.opts.PublishTimeout)
	defer cancel()
	if err := p.b.ensure(ctx); err != nil {
		return err
	}
	payload.Reset()
	for _, r := range bt.recs {
		payload.Write(r.data)
		payload.WriteByte('\n')
	}
	msg := &nats.Msg{Subject: p.subject, Data: payload.Bytes(), Header: nats.Header{}}
	msg.Header.Set(headerEvents, strconv.Itoa(len(bt.recs)))
	_, err := p.b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(p.msgID(bt)), jetstream.WithExpectStream(p.b.stream))
	return err
}

// headerEvents carries the number of events in a message.
const headerEvents = "Vigil-Events"

// permanent reports errors that sending again cannot fix.
func permanent(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) {
		return true
	}
	// The server refuses a message over its max_payload or the stream's
	// max_msg_size with a 4xx API error other than "not found".
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.Code != 404 &&
		apiErr.ErrorCode != jetstream.JSErrCodeStreamNotFound
}

// commit retires an acked (or rejected) batch.
func (p *Publisher) commit(bt batch, dropped bool) {
	n := uint64(len(bt.recs))
	if dropped {
		p.dropped.Add(n)
	} else {
		p.published.Add(n)
	}
	if !bt.fromSpool {
		p.mu.Lock()
		p.inflight = 0
		p.mu.Unlock()
		return
	}
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	p.spooled.Add(-int64(n))
	c := p.cur
	c.pos += len(bt.recs)
	c.idx++
	if c.pos >= len(c.recs) {
		if err := p.spool.remove(c.seg); err != nil {
			p.log.Error("spool", "err", err)
		}
		p.cur = nil
	}
}

// spill saves an unacked memory batch to the spool under its reserved seq,
// or counts it dropped when there is no room or no spool.
func (p *Publisher) spill(bt batch) {
	if bt.fromSpool {
		return // still on disk
	}
	p.mu.Lock()
	p.inflight = 0
	p.mu.Unlock()
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	p.saveLocked(bt.seq, bt.recs)
}

// saveLocked writes recs as segment seq, as many as fit; the rest are
// dropped. p.spoolMu is held.
func (p *Publisher) saveLocked(seq uint64, recs []record) {
	if len(recs) == 0 {
		return
	}
	n := 0
	if p.spool != nil {
		n = p.spool.fit(recs)
		if n > 0 {
			if err := p.spool.write(seq, recs[:n]); err != nil {
				p.log.Error("spool write failed", "err", err)
				n = 0
			} else {
				p.spooled.Add(int64(n))
			}
		}
	}
	if lost := len(recs) - n; lost > 0 {
		p.dropped.Add(uint64(lost))
	}
}

// spoolLoop moves the oldest events from memory to the spool when memory
// fills up, so that Publish keeps accepting while the bus is down.
func (p *Publisher) spoolLoop() {
	defer close(p.spoolDone)
	for {
		select {
		case <-p.spoolWake:
		case <-p.stop:
			return
		}
		p.spillOverflow()
	}
}

func (p *Publisher) spillOverflow() {
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	size := len(p.ring)
	p.mu.Lock()
	if p.n <= size/2 {
		p.mu.Unlock()
		return
	}
	// Keep a quarter in memory; never take more than the spool can hold.
	take := p.n - size/4
	recs := make([]record, 0, take)
	for i := range take {
		recs = append(recs, p.ring[(p.head+i)%size])
	}
	k := p.spool.fit(recs)
	recs = recs[:k]
	for range k {
		p.ring[p.head] = record{}
		p.head = (p.head + 1) % size
		p.n--
	}
	p.spooled.Add(int64(k)) // counted before mu is released: Buffered stays exact
	p.mu.Unlock()
	if k == 0 {
		return
	}
	seq := p.spool.reserve()
	if err := p.spool.write(seq, recs); err != nil {
		p.log.Error("spool write failed, events dropped", "events", k, "err", err)
		p.spooled.Add(-int64(k))
		p.dropped.Add(uint64(k))
	}
}

// Close stops accepting events and delivers what is buffered until ctx is
// done. What is still undelivered then goes to the spool when there is
// one (and is delivered by the next Publisher on that directory), else it
// is counted in Dropped and Close returns an error. Close does not close
// the Bus.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	before := p.dropped.Load()
	close(p.stop)
	select {
	case <-p.done:
	case <-ctx.Done():
		p.abort()
		<-p.done
	}
	p.abort()
	<-p.spoolDone

	p.spoolMu.Lock()
	p.mu.Lock()
	size := len(p.ring)
	recs := make([]record, 0, p.n)
	for i := range p.n {
		recs = append(recs, p.ring[(p.head+i)%size])
	}
	p.n = 0
	p.mu.Unlock()
	if len(recs) > 0 {
		var seq uint64
		if p.spool != nil {
			seq = p.spool.reserve()
		}
		p.saveLocked(seq, recs)
	}
	p.spoolMu.Unlock()
	if lost := p.dropped.Load() - before; lost > 0 {
		cause := ctx.Err()
		if cause == nil {
			cause = errors.New("spool full")
		}
		return fmt.Errorf("bus: publisher closed with %d events undelivered: %w", lost, cause)
	}
	if n := p.spooled.Load(); n > 0 {
		p.log.Info("bus publisher closed with events in the spool", "events", n, "dir", p.opts.SpoolDir)
	}
	return nil
}
