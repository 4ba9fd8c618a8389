package event

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Sink receives batches of events from the Queue's writer goroutine. It
// must not keep the events (they go back to a pool) nor block for long.
type Sink interface {
	WriteEvents(batch []*Event) error
}

// Flusher is implemented by sinks that buffer.
type Flusher interface {
	Flush() error
}

// Queue takes events off the request path: Enqueue never blocks; a full
// queue drops the event and counts it. One goroutine drains the queue in
// batches to the sinks.
type Queue struct {
	ch       chan *Event
	sinks    []Sink
	log      *slog.Logger
	interval time.Duration
	prepare  func(*Event)

	dropped  atomic.Uint64
	written  atomic.Uint64
	sinkErrs atomic.Uint64

	done     chan struct{}
	stopOnce sync.Once
	stop     chan struct{}
}

// QueueOptions configure a Queue.
type QueueOptions struct {
	// Capacity bounds the events waiting (default 1).
	Capacity int
	// Flush is how often buffered sinks are flushed when idle.
	Flush time.Duration
	Log   *slog.Logger
	// Prepare, when set, runs on the writer goroutine before the sinks see
	// an event (redaction happens here, off the request path).
	Prepare func(*Event)
}

// NewQueue makes a queue feeding sinks and starts its writer.
func NewQueue(o QueueOptions, sinks ...Sink) *Queue {
	if o.Capacity <= 0 {
		o.Capacity = 1
	}
	if o.Flush <= 0 {
		o.Flush = 200 * time.Millisecond
	}
	q := &Queue{ch: make(chan *Event, o.Capacity), sinks: sinks, log: o.Log, interval: o.Flush, prepare: o.Prepare,
		done: make(chan struct{}), stop: make(chan struct{})}
	go q.run()
	return q
}

// Enqueue hands ev to the writer; it returns false (and counts a drop) when
// the queue is full or closed. The queue owns ev afterwards.
func (q *Queue) Enqueue(ev *Event) bool {
	select {
	case <-q.stop:
		q.dropped.Add(1)
		Put(ev)
		return false
	default:
	}
	select {
	case q.ch <- ev:
		return true
	default:
		q.dropped.Add(1)
		Put(ev)
		return false
	}
}

// Depth is the number of events waiting.
func (q *Queue) Depth() int { return len(q.ch) }

// Dropped counts events lost to a full queue.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// Written counts events handed to the sinks.
func (q *Queue) Written() uint64 { return q.written.Load() }

// SinkErrors counts failed sink writes.
func (q *Queue) SinkErrors() uint64 { return q.sinkErrs.Load() }

// Close stops accepting events, drains what is queued to the sinks and
// flushes them, or gives up when ctx ends.
func (q *Queue) Close(ctx context.Context) error {
	q.stopOnce.Do(func() { close(q.stop) })
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

const maxBatch = 512

func (q *Queue) run() {
	defer close(q.done)
	batch := make([]*Event, 0, maxBatch)
	t := time.NewTicker(q.interval)
	defer t.Stop()
	dirty := false
	for {
		select {
		case ev := <-q.ch:
			batch = append(batch[:0], ev)
		fill:
			for len(batch) < maxBatch {
				select {
				case ev := <-q.ch:
					batch = append(batch, ev)
				default:
					break fill
				}
			}
			q.write(batch)
			dirty = true
		case <-t.C:
			if dirty {
				q.flush()
				dirty = false
			}
		case <-q.stop:
			for {
				batch = batch[:0]
				for len(batch) < maxBatch {
					select {
					case ev := <-q.ch:
						batch = append(batch, ev)
						continue
					default:
					}
					break
				}
				if len(batch) == 0 {
					break
				}
				q.write(batch)
			}
			q.flush()
			for _, s := range q.sinks {
				if c, ok := s.(io.Closer); ok {
					_ = c.Close()
				}
			}
			return
		}
	}
}

func (q *Queue) write(batch []*Event) {
	if q.prepare != nil {
		for _, ev := range batch {
			q.prepare(ev)
		}
	}
	for _, s := range q.sinks {
		if err := s.WriteEvents(batch); err != nil {
			q.sinkErrs.Add(1)
			if q.log != nil {
				q.log.Error("event sink failed", "err", err)
			}
		}
	}
	q.written.Add(uint64(len(batch)))
	for _, ev := range batch {
		Put(ev)
	}
}

func (q *Queue) flush() {
	for _, s := range q.sinks {
		if f, ok := s.(Flusher); ok {
			if err := f.Flush(); err != nil {
				q.sinkErrs.Add(1)
			}
		}
	}
}

// FileSink writes events as JSON lines to a file (appending) or stdout.
type FileSink struct {
	w    *bufio.Writer
	f    io.Writer
	c    io.Closer
	line []byte
}

// OpenFileSink opens path for appending ("stdout" writes to standard
// output), creating its directory.
func OpenFileSink(path string) (*FileSink, error) {
	if path == "stdout" || path == "-" {
		return &FileSink{w: bufio.NewWriterSize(os.Stdout, 64<<10), f: os.Stdout}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("events file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("events file: %w", err)
	}
	return &FileSink{w: bufio.NewWriterSize(f, 256<<10), f: f, c: f}, nil
}

// NewWriterSink writes JSON lines to w (tests, stdout).
func NewWriterSink(w io.Writer) *FileSink {
	return &FileSink{w: bufio.NewWriterSize(w, 64<<10), f: w}
}

// WriteEvents implements Sink.
func (s *FileSink) WriteEvents(batch []*Event) error {
	var err error
	for _, ev := range batch {
		s.line = ev.AppendJSON(s.line[:0])
		s.line = append(s.line, '\n')
		if _, werr := s.w.Write(s.line); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// Flush implements Flusher.
func (s *FileSink) Flush() error { return s.w.Flush() }

// Close flushes and closes the file.
func (s *FileSink) Close() error {
	err := s.w.Flush()
	if s.c != nil {
		err = errors.Join(err, s.c.Close())
	}
	return err
}
