package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-sec/vigil/internal/event"
)

var durableRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Consume processes the events stream through the durable pull consumer
// named durable, shared by every control-plane replica that uses the same
// name: each message goes to one replica. It fetches up to
// Options.FetchBatch messages at a time and calls handle once with all
// their events, so the store can insert them in one batch.
//
// Delivery is at least once: the messages are acked after handle returns
// nil and nak'ed (redelivered after a growing delay) when it returns an
// error. Messages a replica holds when it dies are redelivered to another
// after Options.AckWait. handle must therefore tolerate duplicates (txn_id
// is the natural key).
//
// Consume blocks until ctx is done and then returns nil; while the bus is
// unreachable it keeps retrying. It returns an error only for a bad
// durable name.
func Consume(ctx context.Context, b *Bus, durable string, handle func(ctx context.Context, evs []event.Event) error) error {
	if !durableRE.MatchString(durable) {
		return fmt.Errorf("bus: durable %q: only letters, digits, '-' and '_' allowed", durable)
	}
	log := b.log.With("component", "bus.consumer", "durable", durable)
	var cons jetstream.Consumer
	backoff := newBackoff()
	var evs []event.Event
	var msgs []jetstream.Msg
	for ctx.Err() == nil {
		if cons == nil {
			var err error
			if err = b.ensure(ctx); err == nil {
				cons, err = b.js.CreateOrUpdateConsumer(ctx, b.stream, jetstream.ConsumerConfig{
					Durable:       durable,
					Description:   "Vigil control plane event ingestion",
					DeliverPolicy: jetstream.DeliverAllPolicy,
					AckPolicy:     jetstream.AckExplicitPolicy,
					AckWait:       b.opts.AckWait,
					MaxAckPending: b.opts.MaxAckPending,
					MaxDeliver:    -1,
					FilterSubject: b.subject + ".>",
				})
			}
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("bus consumer not ready, retrying", "err", err)
				}
				backoff.wait(ctx)
				continue
			}
		}

		msgs, evs = msgs[:0], evs[:0]
		var err error
		msgs, evs, err = fetch(ctx, cons, b.opts.FetchBatch, msgs, evs, log)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) ||
				errors.Is(err, jetstream.ErrConsumerDeleted) {
				cons = nil
				b.invalidate()
			}
			log.Debug("bus fetch failed", "err", err)
			backoff.wait(ctx)
			continue
		}
		backoff.reset()
		if len(msgs) == 0 {
			continue
		}
		if err := handle(ctx, evs); err != nil {
			log.Warn("event handler failed, messages will be redelivered", "messages", len(msgs), "events", len(evs), "err", err)
			for _, m := range msgs {
				delay := time.Second
				if md, err := m.Metadata(); err == nil {
					delay = redeliveryDelay(md.NumDelivered)
				}
				_ = m.NakWithDelay(delay)
			}
			continue
		}
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				log.Debug("ack failed, message will be redelivered", "err", err)
			}
		}
	}
	return nil
}

// fetch waits up to a second for one message, then takes whatever else is
// already waiting, up to n messages in all. Messages that hold no
// decodable event are terminated (they would fail forever).
func fetch(ctx context.Context, cons jetstream.Consumer, n int, msgs []jetstream.Msg, evs []event.Event, log interface {
	Warn(string, ...any)
}) ([]jetstream.Msg, []event.Event, error) {
	take := func(mb jetstream.MessageBatch) error {
		for m := range mb.Messages() {
			got, bad := decodeBatch(m.Data(), nil)
			if bad > 0 {
				log.Warn("undecodable events in bus message", "bad", bad, "good", len(got), "subject", m.Subject())
			}
			if len(got) == 0 {
				_ = m.Term()
				continue
			}
			msgs = append(msgs, m)
			evs = append(evs, got...)
		}
		err := mb.Error()
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) {
			err = nil
		}
		return err
	}
	wait := time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, max(time.Until(dl), 10*time.Millisecond))
	}
	mb, err := cons.Fetch(1, jetstream.FetchMaxWait(wait))
	if err != nil {
		return msgs, evs, err
	}
	if err := take(mb); err != nil || len(msgs) == 0 || n == 1 {
		if len(msgs) > 0 {
			err = nil // hand over what arrived; a lasting fault shows next time
		}
		return msgs, evs, err
	}
	mb, err = cons.FetchNoWait(n - 1)
	if err != nil {
		return msgs, evs, nil // deliver what we have
	}
	_ = take(mb)
	return msgs, evs, nil
}

// decodeBatch parses a message payload: events as JSON lines. It returns
// the events it could decode and how many lines it could not.
func decodeBatch(data []byte, evs []event.Event) ([]event.Event, int) {
	bad := 0
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var ev event.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			bad++
			continue
		}
		evs = append(evs, ev)
	}
	return evs, bad
}

// redeliveryDelay grows with each failed delivery: 1 s, 2 s, 4 s ... 30 s.
func redeliveryDelay(delivered uint64) time.Duration {
	d := time.Second
	for i := uint64(1); i < delivered && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// backoff is a capped exponential wait for retry loops.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) reset() { b.d = 100 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) {
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	b.d = min(b.d*2, 2*time.Second)
}
