// Package e2e holds whole-system tests: real listeners on loopback, a real
// gateway built from a YAML config, real upstreams.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
)

// gw is a running gateway under test.
type gw struct {
	t      *testing.T
	g      *server.Gateway
	URL    string
	Admin  string
	dir    string
	file   string
	events string
	cancel context.CancelFunc
	done   chan error
}

// startGateway writes yaml (with {{DIR}} replaced by a temp dir) to a file,
// loads it and serves it. Listeners default to 127.0.0.1:0.
func startGateway(t *testing.T, yaml string, opts server.Options) *gw {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	yaml = strings.ReplaceAll(yaml, "{{DIR}}", dir)
	file := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	g, err := server.New(cfg, opts)
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &gw{t: t, g: g, dir: dir, file: file, events: cfg.Events.File, cancel: cancel, done: make(chan error, 1)}
	if a := g.Addr("http"); a != "" {
		h.URL = "http://" + a
	}
	if a := g.Addr("admin"); a != "" {
		h.Admin = "http://" + a
	}
	go func() { h.done <- g.Serve(ctx) }()
	t.Cleanup(h.stop)
	// Wait until the data plane answers.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if h.Admin != "" {
			if r, err := http.Get(h.Admin + "/readyz"); err == nil {
				r.Body.Close()
				if r.StatusCode == 200 {
					return h
				}
			}
		} else {
			time.Sleep(50 * time.Millisecond)
			return h
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("gateway did not become ready")
	return nil
}

func (h *gw) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Logf("gateway stopped: %v", err)
		}
	case <-time.After(20 * time.Second):
		h.t.Error("gateway did not stop")
	}
}

// rewrite replaces the config file (for reload tests).
func (h *gw) rewrite(yaml string) {
	h.t.Helper()
	yaml = strings.ReplaceAll(yaml, "{{DIR}}", h.dir)
	tmp := h.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(yaml), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, h.file); err != nil {
		h.t.Fatal(err)
	}
}

// readEvents returns the events written so far, waiting until at least n
// are there (the writer flushes asynchronously).
func (h *gw) readEvents(n int) []event.Event {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := readEventFile(h.t, h.events)
		if len(evs) >= n || time.Now().After(deadline) {
			if len(evs) < n {
				h.t.Fatalf("got %d events, want at least %d", len(evs), n)
			}
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventFor waits for the event of one transaction.
func (h *gw) eventFor(txnID string) event.Event {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range readEventFile(h.t, h.events) {
			if e.TxnID == txnID {
				return e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("no event for txn %q", txnID)
	return event.Event{}
}

func readEventFile(t *testing.T, path string) []event.Event {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []event.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, e)
	}
	return out
}

// metric returns the value of one sample line from /metrics (0 if absent).
func (h *gw) metric(sample string) float64 {
	h.t.Helper()
	r, err := http.Get(h.Admin + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, sample+" ") {
			var v float64
			fmt.Sscanf(line[len(sample)+1:], "%g", &v)
			return v
		}
	}
	return 0
}

// baseConfig is a minimal config with one catch-all route to upstream.
func baseConfig(upstream string, extra string) string {
	return fmt.Sprintf(`mode: enforce
listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
data_dir: {{DIR}}/data
routes:
  - name: main
    match: {host: "*", path_prefix: /}
    upstream: %s
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
%s`, upstream, extra)
}

// errorBody is the JSON error every refusal carries.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		TxnID   string `json:"txn_id"`
	} `json:"error"`
}

func decodeError(t *testing.T, r *http.Response) errorBody {
	t.Helper()
	var e errorBody
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", b)
	}
	if e.Error.TxnID == "" || e.Error.TxnID != r.Header.Get("Vigil-Txn") {
		t.Fatalf("error body txn_id %q, Vigil-Txn header %q", e.Error.TxnID, r.Header.Get("Vigil-Txn"))
	}
	return e
}

func mustOpen(path string) io.Reader {
	f, err := os.Open(path)
	if err != nil {
		return strings.NewReader("")
	}
	b, _ := io.ReadAll(f)
	f.Close()
	return strings.NewReader(string(b))
}

// withListen adds keys to the listen mapping of a baseConfig.
func withListen(cfg, extra string) string {
	return strings.Replace(cfg, "listen: {http: 127.0.0.1:0}", "listen: {http: 127.0.0.1:0, "+extra+"}", 1)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
