package bus

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-sec/vigil/internal/event"
)

func TestEmbeddedRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts PublisherOptions
	}{
		{"one event per message", PublisherOptions{MaxBatch: 1}},
		{"batches of 64", PublisherOptions{MaxBatch: 64}},
		{"batches cut by bytes", PublisherOptions{MaxBatch: 1000, MaxBatchBytes: 2048}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := openEmbedded(t, t.TempDir(), Options{})
			const n = 300
			evs := testEvents(t, n)
			p := NewPublisher(b, tt.opts)
			for i := range evs {
				if !p.Publish(&evs[i]) {
					t.Fatalf("Publish(%d) refused with an empty buffer", i)
				}
			}
			var got []event.Event
			c := newCollector()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = Consume(ctx, b, "store", func(_ context.Context, batch []event.Event) error {
					got = append(got, batch...)
					c.add(batch)
					return nil
				})
			}()
			eventually(t, 30*time.Second, "all events consumed", func() bool { return c.distinct() == n })
			cancel()
			<-done
			if err := p.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if p.Published() != n || p.Dropped() != 0 || p.Buffered() != 0 {
				t.Fatalf("published=%d dropped=%d buffered=%d, want %d/0/0", p.Published(), p.Dropped(), p.Buffered(), n)
			}
			if len(got) != n {
				t.Fatalf("handled %d events, want %d (no duplicates in a clean run)", len(got), n)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], evs[i]) {
					t.Fatalf("event %d arrived as\n%+v\nwant\n%+v", i, got[i], evs[i])
				}
			}
		})
	}
}

func TestPublishAfterCloseIsDropped(t *testing.T) {
	t.Parallel()
	b := openEmbedded(t, t.TempDir(), Options{})
	p := NewPublisher(b, PublisherOptions{})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev := testEvents(t, 1)[0]
	if p.Publish(&ev) {
		t.Fatal("Publish after Close accepted the event")
	}
	if p.Dropped() != 1 {
		t.Fatalf("Dropped = %d, want 1", p.Dropped())
	}
}

// Idempotence aids: a lone transaction event travels with its txn_id as
// message ID, so the same event published twice is stored once; a re-sent
// batch with the same batch ID is recognised as a duplicate.
func TestDedupe(t *testing.T) {
	t.Parallel()
	b := openEmbedded(t, t.TempDir(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ev := testEvents(t, 1)[0]
	p := NewPublisher(b, PublisherOptions{MaxBatch: 1})
	for range 3 {
		p.Publish(&ev)
		eventually(t, 5*time.Second, "publish acked", func() bool { return p.Buffered() == 0 })
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := b.js.Stream(ctx, b.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages after publishing one txn_id three times, want 1", info.State.Msgs)
	}

	// A batch sent again under the same ID.
	pb := NewPublisher(b, PublisherOptions{})
	defer pb.Close(ctx)
	bt := batch{recs: []record{{data: []byte(`{"txn_id":"a"}`)}, {data: []byte(`{"txn_id":"b"}`)}}, seq: 7}
	for i, wantDup := range []bool{false, true} {
		msg := &nats.Msg{Subject: pb.subject, Data: []byte("{\"txn_id\":\"a\"}\n{\"txn_id\":\"b\"}\n")}
		ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(pb.msgID(bt)))
		if err != nil {
			t.Fatal(err)
		}
		if ack.Duplicate != wantDup {
			t.Fatalf("send %d: duplicate=%v, want %v", i, ack.Duplicate, wantDup)
		}
	}
}

// The bus goes down mid-stream; Publish keeps accepting, and after the
// server comes back on the same port and store every event arrives, or
// the drop counter accounts for exactly those that did not.
func TestOutage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		buffer    int
		spool     bool
		wantDrops bool
	}{
		{name: "buffer big enough", buffer: 1000},
		{name: "tiny buffer", buffer: 10, wantDrops: true},
		{name: "small buffer with spool", buffer: 100, spool: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startNATS(t)
			b := openURL(t, srv.url(), Options{})
			opts := PublisherOptions{BufferSize: tt.buffer, MaxBatch: 8, PublishTimeout: time.Second}
			if tt.spool {
				opts.SpoolDir = t.TempDir()
			}
			p := NewPublisher(b, opts)
			const before, during = 50, 400
			evs := testEvents(t, before+during)
			for i := range before {
				eventually(t, 5*time.Second, "room in the buffer", func() bool { return p.Buffered() < tt.buffer })
				if !p.Publish(&evs[i]) {
					t.Fatalf("Publish(%d) refused while the bus is up", i)
				}
			}
			eventually(t, 10*time.Second, "first events acked", func() bool { return p.Published() == before })

			srv.stop()
			refused := 0
			for i := before; i < len(evs); i++ {
				if !p.Publish(&evs[i]) {
					refused++
				}
				if i%10 == 0 {
					time.Sleep(2 * time.Millisecond) // bursts of 10, as real traffic would
				}
			}
			if !tt.wantDrops && refused > 0 {
				t.Fatalf("%d events refused during the outage, want none", refused)
			}
			if tt.wantDrops && refused == 0 {
				t.Fatalf("a %d-event buffer accepted all %d events of an outage", tt.buffer, during)
			}
			if uint64(refused) != p.Dropped() {
				t.Fatalf("Publish refused %d, Dropped() = %d", refused, p.Dropped())
			}
			if tt.spool && p.spooled.Load() == 0 {
				t.Fatal("an outage of 4x the buffer did not use the spool")
			}
			if got, want := p.Buffered(), during-refused; got != want {
				t.Fatalf("Buffered() = %d during the outage, want %d", got, want)
			}

			srv.start()
			eventually(t, 20*time.Second, "buffer drained", func() bool { return p.Buffered() == 0 })
			c := newCollector()
			consume(t, b, "store", c)
			want := len(evs) - int(p.Dropped())
			eventually(t, 15*time.Second, "delivered events consumed", func() bool { return c.distinct() == want })
			if err := p.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if delivered := c.distinct(); uint64(delivered)+p.Dropped() != uint64(len(evs)) {
				t.Fatalf("delivered %d + dropped %d != sent %d", delivered, p.Dropped(), len(evs))
			}
			if p.Published() != uint64(want) {
				t.Fatalf("Published() = %d, want %d", p.Published(), want)
			}
			assertInOrder(t, c, evs)
		})
	}
}

// assertInOrder checks that the first delivery of each event follows the
// order they were published in.
func assertInOrder(t *testing.T, c *collector, evs []event.Event) {
	t.Helper()
	pos := make(map[string]int, len(evs))
	for i, ev := range evs {
		pos[ev.TxnID] = i
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen, last := map[string]bool{}, -1
	for _, id := range c.order {
		if seen[id] {
			continue
		}
		seen[id] = true
		if pos[id] < last {
			t.Fatalf("event %s (#%d) arrived after #%d", id, pos[id], last)
		}
		last = pos[id]
	}
}

// Close while the bus is down writes what is left to the spool, and the
// next publisher on that directory delivers it, in order, without loss.
func TestSpoolSurvivesRestart(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	b := openURL(t, srv.url(), Options{})
	eventually(t, 10*time.Second, "bus ready", func() bool { return b.Ready(context.Background()) == nil })
	spoolDir := t.TempDir()
	srv.stop()

	evs := testEvents(t, 300)
	p := NewPublisher(b, PublisherOptions{BufferSize: 100, MaxBatch: 16, SpoolDir: spoolDir, PublishTimeout: 500 * time.Millisecond})
	for i := range evs {
		if !p.Publish(&evs[i]) {
			t.Fatalf("Publish(%d) refused with a spool", i)
		}
		if i%25 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close with a spool: %v", err)
	}
	if p.Dropped() != 0 || p.Buffered() != len(evs) {
		t.Fatalf("after Close: dropped=%d buffered=%d, want 0/%d", p.Dropped(), p.Buffered(), len(evs))
	}

	srv.start()
	p2 := NewPublisher(b, PublisherOptions{MaxBatch: 16, SpoolDir: spoolDir})
	if p2.Buffered() != len(evs) {
		t.Fatalf("new publisher sees %d spooled events, want %d", p2.Buffered(), len(evs))
	}
	eventually(t, 20*time.Second, "spool delivered", func() bool { return p2.Buffered() == 0 })
	if err := p2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	consume(t, b, "store", c)
	eventually(t, 15*time.Second, "all consumed", func() bool { return c.distinct() == len(evs) })
	assertInOrder(t, c, evs)
}

// Without a spool, Close gives up at its deadline and says how many events
// it could not deliver.
func TestCloseDeadlineWithoutSpool(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	b := openURL(t, srv.url(), Options{})
	eventually(t, 10*time.Second, "bus ready", func() bool { return b.Ready(context.Background()) == nil })
	srv.stop()
	p := NewPublisher(b, PublisherOptions{BufferSize: 100, PublishTimeout: 200 * time.Millisecond})
	evs := testEvents(t, 40)
	for i := range evs {
		p.Publish(&evs[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := p.Close(ctx)
	if err == nil {
		t.Fatal("Close returned nil with 40 events undeliverable")
	}
	if p.Dropped() != 40 || p.Buffered() != 0 {
		t.Fatalf("dropped=%d buffered=%d, want 40/0 (%v)", p.Dropped(), p.Buffered(), err)
	}
}
