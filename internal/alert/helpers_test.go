package alert

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
)

// t0 is when the test alerts happened.
var t0 = time.Date(2026, 1, 17, 12, 51, 3, 0, time.UTC)

// alertEvent is an alert event as the control plane stores it.
func alertEvent(kind, host, method, endpoint, detail string) event.Event {
	return event.Event{Type: "alert", TxnID: "alert-" + kind + "-" + host + endpoint, Time: t0, Placement: "control",
		Decision: event.DecisionAllow, Alert: &event.Alert{Kind: kind, Host: host, Method: method, Endpoint: endpoint, Detail: detail}}
}

// parse reads an events.alerts section (indented under events.alerts).
func parse(t testing.TB, alerts string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte("events:\n  alerts:\n"+indent(alerts, "    ")), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func indent(s, by string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = by + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// start starts a dispatcher over cfg recording its events in a memory
// store; it is closed at the end of the test.
func start(t testing.TB, cfg *config.Config, o Options) (*Dispatcher, *memStore) {
	t.Helper()
	st := &memStore{}
	o.Events = st
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Hostname == "" {
		o.Hostname = "vigil-test"
	}
	if o.Version == "" {
		o.Version = "1.2.3"
	}
	d, err := Start(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, st
}

// memStore is an EventStore in memory.
type memStore struct {
	mu  sync.Mutex
	evs []event.Event
}

func (m *memStore) InsertEvents(_ context.Context, evs []event.Event) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evs = append(m.evs, evs...)
	return make([]bool, len(evs)), nil
}

// statuses are the delivery statuses recorded, in order.
func (m *memStore) statuses() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, ev := range m.evs {
		out = append(out, ev.Delivery.Status)
	}
	return out
}

func (m *memStore) events() []event.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.evs)
}

// request is what a receiver got.
type request struct {
	header http.Header
	path   string
	body   []byte
	at     time.Time
}

// receiver is an HTTP receiver answering each request with the next of
// its statuses (the last one repeats), recording what it got.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []request
	statuses []int
	header   http.Header // added to every answer
	arrived  chan struct{}
}

func newReceiver(t testing.TB, statuses ...int) *receiver {
	t.Helper()
	if len(statuses) == 0 {
		statuses = []int{http.StatusOK}
	}
	r := &receiver{statuses: statuses, header: http.Header{}, arrived: make(chan struct{}, 1000)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, request{header: req.Header.Clone(), path: req.URL.RequestURI(), body: body, at: time.Now()})
		st := r.statuses[min(len(r.got), len(r.statuses))-1]
		for k, v := range r.header {
			w.Header()[k] = v
		}
		r.mu.Unlock()
		w.WriteHeader(st)
		_, _ = io.WriteString(w, http.StatusText(st))
		r.arrived <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// wait waits for n requests (failing after 5 s).
func (r *receiver) wait(t testing.TB, n int) []request {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for len(r.requests()) < n {
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d", len(r.requests()), n)
		}
	}
	return r.requests()
}

// eventually polls cond for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
