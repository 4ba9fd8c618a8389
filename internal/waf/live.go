package waf

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/iprep"
)

// Live is the running engine of one configuration. When the config names
// SecLang files, it watches them: a change rebuilds the engine, which
// replaces the running one atomically only when it compiles; a file that
// does not keeps the running engine, and the error is logged and kept
// (LastError). Requests in flight finish on the engine they started on.
type Live struct {
	cur     atomic.Pointer[Engine]
	cfg     *config.WAF
	lim     Limits
	log     *slog.Logger
	watcher *iprep.Watcher

	mu      sync.Mutex
	lastErr error
	reloads int
	closed  bool
	retired []retired
}

// LiveOptions tune Start.
type LiveOptions struct {
	// Log receives one line per reload (slog.Default when nil).
	Log *slog.Logger
	// Debounce is the quiet time after a change before the rebuild.
	Debounce time.Duration
	// OnReload, when set, is called after each rebuild attempt.
	OnReload func(err error)
}

// retireAfter is how long a replaced engine is kept before it is closed
// (requests in flight still use it).
const retireAfter = time.Minute

// Start builds the engine and, when cfg has files, starts watching them.
func Start(cfg *config.WAF, lim Limits, o LiveOptions) (*Live, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	e, err := Build(cfg, lim)
	if err != nil {
		return nil, err
	}
	l := &Live{cfg: cfg, lim: lim, log: o.Log}
	l.cur.Store(e)
	if len(cfg.Files) > 0 {
		rs := make([]iprep.Reloader, len(cfg.Files))
		for i, f := range cfg.Files {
			rs[i] = fileReloader{path: f, l: l}
		}
		w, err := iprep.Watch(rs, iprep.WatchOptions{Debounce: o.Debounce, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnReload: func(_ string, err error) {
				if o.OnReload != nil {
					o.OnReload(err)
				}
			}})
		if err != nil {
			_ = e.Close()
			return nil, fmt.Errorf("protect.waf.files: %w", err)
		}
		l.watcher = w
	}
	return l, nil
}

// Engine is the engine to use for a new transaction.
func (l *Live) Engine() *Engine { return l.cur.Load() }

// Reload rebuilds the engine from the config and the files as they are
// now. On error the running engine stays.
func (l *Live) Reload() error {
	e, err := Build(l.cfg, l.lim)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		if e != nil {
			_ = e.Close()
		}
		return nil
	}
	l.lastErr = err
	if err != nil {
		l.log.Warn("waf: SecLang files did not compile; the running rules stay", "err", err)
		return err
	}
	l.reloads++
	old := l.cur.Swap(e)
	l.retired = append(l.retired, retired{e: old, t: time.AfterFunc(retireAfter, func() { _ = old.Close() })})
	l.log.Info("waf: rules reloaded", "files", l.cfg.Files)
	return nil
}

// LastError is the error of the last rebuild (nil when it worked).
func (l *Live) LastError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

// Reloads counts the rebuilds that replaced the engine.
func (l *Live) Reloads() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reloads
}

// Close stops the watcher and releases the engine.
func (l *Live) Close() error {
	if l.watcher != nil {
		_ = l.watcher.Close()
	}
	l.mu.Lock()
	l.closed = true
	for _, r := range l.retired {
		if r.t.Stop() {
			_ = r.e.Close()
		}
	}
	l.retired = nil
	l.mu.Unlock()
	return l.cur.Load().Close()
}

type retired struct {
	e *Engine
	t *time.Timer
}

// fileReloader lets iprep's watcher (directory watch, debounce, renames
// and ConfigMap symlink swaps) drive the engine's rebuild.
type fileReloader struct {
	path string
	l    *Live
}

func (f fileReloader) Path() string  { return f.path }
func (f fileReloader) Reload() error { return f.l.Reload() }
