package bus

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Two control-plane replicas share one durable; one dies holding unacked
// messages. Its messages are redelivered to the other and nothing is lost.
func TestConsumerFailover(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	opts := Options{AckWait: time.Second, FetchBatch: 4}
	pubBus := openURL(t, srv.url(), opts)
	busA := openURL(t, srv.url(), opts)
	busB := openURL(t, srv.url(), opts)
	for _, b := range []*Bus{pubBus, busA, busB} {
		if err := b.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	c := newCollector()
	holding := make(chan struct{})
	release := make(chan struct{})
	var callsA atomic.Int32
	ctxA, cancelA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() {
		defer close(doneA)
		_ = Consume(ctxA, busA, "store", func(_ context.Context, evs []event.Event) error {
			if callsA.Add(1) == 3 {
				close(holding) // replica A "hangs" with this batch unacked
				<-release
				return errors.New("replica A died")
			}
			c.add(evs)
			return nil
		})
	}()
	var callsB atomic.Int32
	ctxB, cancelB := context.WithCancel(context.Background())
	doneB := make(chan struct{})
	go func() {
		defer close(doneB)
		_ = Consume(ctxB, busB, "store", func(_ context.Context, evs []event.Event) error {
			callsB.Add(1)
			c.add(evs)
			return nil
		})
	}()
	t.Cleanup(func() { cancelB(); <-doneB })

	const n = 400
	evs := testEvents(t, n)
	p := NewPublisher(pubBus, PublisherOptions{MaxBatch: 5})
	defer p.Close(context.Background())
	for i := range evs {
		if !p.Publish(&evs[i]) {
			t.Fatal("Publish refused")
		}
	}
	select {
	case <-holding:
	case <-time.After(15 * time.Second):
		t.Fatal("replica A never got a third batch")
	}
	busA.Close() // the replica is gone: no ack, no nak
	cancelA()
	close(release)
	<-doneA

	eventually(t, 20*time.Second, "all events processed by the surviving replica", func() bool { return c.distinct() == n })
	if callsB.Load() == 0 {
		t.Fatal("replica B processed nothing: the durable was not shared")
	}
}

func TestConsumeRedeliversOnError(t *testing.T) {
	t.Parallel()
	b := openEmbedded(t, t.TempDir(), Options{FetchBatch: 8})
	const n = 40
	evs := testEvents(t, n)
	p := NewPublisher(b, PublisherOptions{MaxBatch: 10})
	defer p.Close(context.Background())
	for i := range evs {
		p.Publish(&evs[i])
	}
	eventually(t, 10*time.Second, "published", func() bool { return p.Published() == n })

	c := newCollector()
	var failures atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = Consume(ctx, b, "store", func(_ context.Context, got []event.Event) error {
			if failures.Add(1) == 1 {
				return errors.New("store unavailable")
			}
			c.add(got)
			return nil
		})
	})
	eventually(t, 15*time.Second, "failed batch redelivered", func() bool { return c.distinct() == n })
	cancel()
	wg.Wait()
}

func TestConsumeBadDurable(t *testing.T) {
	t.Parallel()
	b := openEmbedded(t, t.TempDir(), Options{})
	for _, name := range []string{"", "a.b", "a b", "x>"} {
		err := Consume(t.Context(), b, name, func(context.Context, []event.Event) error { return nil })
		if err == nil {
			t.Errorf("Consume(durable %q) = nil, want an error", name)
		}
	}
}

func TestDecodeBatch(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantIDs []string
		wantBad int
	}{
		{"empty", "", nil, 0},
		{"one line no newline", `{"txn_id":"a"}`, []string{"a"}, 0},
		{"two lines", "{\"txn_id\":\"a\"}\n{\"txn_id\":\"b\"}\n", []string{"a", "b"}, 0},
		{"blank lines skipped", "\n\n{\"txn_id\":\"a\"}\r\n\n", []string{"a"}, 0},
		{"bad line kept apart", "{\"txn_id\":\"a\"}\nnot json\n{\"txn_id\":\"c\"}", []string{"a", "c"}, 1},
		{"wrong type", `{"txn_id":5}`, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, bad := decodeBatch([]byte(tt.in), nil)
			var ids []string
			for _, ev := range evs {
				ids = append(ids, ev.TxnID)
			}
			if bad != tt.wantBad || len(ids) != len(tt.wantIDs) {
				t.Fatalf("got ids %v bad %d, want %v bad %d", ids, bad, tt.wantIDs, tt.wantBad)
			}
			for i := range ids {
				if ids[i] != tt.wantIDs[i] {
					t.Fatalf("got ids %v, want %v", ids, tt.wantIDs)
				}
			}
		})
	}
}

func TestRedeliveryDelay(t *testing.T) {
	for _, tt := range []struct {
		delivered uint64
		want      time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {6, 30 * time.Second}, {1000, 30 * time.Second}} {
		if got := redeliveryDelay(tt.delivered); got != tt.want {
			t.Errorf("redeliveryDelay(%d) = %v, want %v", tt.delivered, got, tt.want)
		}
	}
}
