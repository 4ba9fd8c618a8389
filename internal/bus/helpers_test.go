package bus

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/vigil-sec/vigil/internal/event"
)

const apacheLogs = "/work/shared/data/apache_logs"

var combinedRE = regexp.MustCompile(`^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+|-) "[^"]*" "([^"]*)"`)

// testEvents builds n transaction events from the real Apache log (cycled
// when n is larger), falling back to synthetic ones when it is missing.
func testEvents(t testing.TB, n int) []event.Event {
	t.Helper()
	var lines []string
	if f, err := os.Open(apacheLogs); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() && len(lines) < 10000 {
			lines = append(lines, sc.Text())
		}
		f.Close()
	}
	evs := make([]event.Event, n)
	for i := range evs {
		ev := event.Event{
			TxnID: fmt.Sprintf("txn-%07d", i), Placement: "gateway", Mode: "enforce",
			Time: time.Date(2026, 1, 17, 12, 0, 0, i*1000, time.UTC), Decision: event.DecisionAllow,
			Source: event.Source{IP: "10.0.0.1"}, Destination: event.Destination{Host: "shop"},
			Request:  event.Request{Method: "GET", Path: fmt.Sprintf("/products/%d", i)},
			Response: event.Response{Status: 200},
			Latency:  event.Latency{Total: 1.5, Vigil: 0.2},
		}
		if len(lines) > 0 {
			if m := combinedRE.FindStringSubmatch(lines[i%len(lines)]); m != nil {
				ev.Source.IP, ev.Request.Method, ev.Request.Path, ev.Request.UserAgent = m[1], m[3], m[4], m[7]
				ev.Response.Status, _ = strconv.Atoi(m[5])
				ev.Response.Bytes, _ = strconv.ParseInt(m[6], 10, 64)
				if ts, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[2]); err == nil {
					ev.Time = ts.UTC().Add(time.Duration(i) * time.Microsecond)
				}
			}
		}
		evs[i] = ev
	}
	return evs
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func openEmbedded(t testing.TB, dir string, opts Options) *Bus {
	t.Helper()
	opts.Logger = quietLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := Open(ctx, Embedded, dir, opts)
	if err != nil {
		t.Fatalf("Open embedded: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func openURL(t testing.TB, url string, opts Options) *Bus {
	t.Helper()
	opts.Logger = quietLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Open(ctx, url, "", opts)
	if err != nil {
		t.Fatalf("Open %s: %v", url, err)
	}
	t.Cleanup(b.Close)
	return b
}

// natsServer is a stand-alone nats-server with its own loopback listener,
// which a test can stop and start again on the same port and store.
type natsServer struct {
	t     testing.TB
	dir   string
	port  int
	srv   *server.Server
	mu    sync.Mutex
	alive bool
}

func startNATS(t testing.TB) *natsServer {
	t.Helper()
	s := &natsServer{t: t, dir: t.TempDir(), port: server.RANDOM_PORT}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *natsServer) start() {
	s.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: s.port, JetStream: true, StoreDir: s.dir, NoSigs: true, NoLog: true,
	})
	if err != nil {
		s.t.Fatalf("nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.t.Fatal("nats server not ready")
	}
	s.mu.Lock()
	s.srv, s.alive = srv, true
	s.port = srv.Addr().(*net.TCPAddr).Port
	s.mu.Unlock()
}

func (s *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

func (s *natsServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.alive {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.alive = false
	}
}

// collector gathers what a consumer handled, by txn_id, in order.
type collector struct {
	mu    sync.Mutex
	order []string
	seen  map[string]int
}

func newCollector() *collector { return &collector{seen: map[string]int{}} }

func (c *collector) add(evs []event.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range evs {
		c.order = append(c.order, ev.TxnID)
		c.seen[ev.TxnID]++
	}
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// consume runs Consume in the background until the test ends.
func consume(t testing.TB, b *Bus, durable string, c *collector) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Consume(ctx, b, durable, func(_ context.Context, evs []event.Event) error {
			c.add(evs)
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
	return cancel
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
