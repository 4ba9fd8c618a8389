package iprep

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Reloader is a file-backed source: a List or Countries.
type Reloader interface {
	Path() string
	Reload() error
}

var (
	_ Reloader = (*List)(nil)
	_ Reloader = (*Countries)(nil)
)

// DefaultDebounce is how long a Watcher waits after the last change to a
// file before reading it (writers often write a file in several steps).
const DefaultDebounce = 250 * time.Millisecond

// WatchOptions tune a Watcher.
type WatchOptions struct {
	// Debounce is the quiet time after a change before the reload
	// (DefaultDebounce when zero).
	Debounce time.Duration
	// Log receives one line per reload (slog.Default when nil): info when
	// it worked, warn with the file and line of the error when it did not.
	Log *slog.Logger
	// OnReload, when set, is called after every reload attempt.
	OnReload func(path string, err error)
}

// Watcher reloads sources when their files change. It watches their
// directories, so files replaced by rename (editors, curl -o tmp && mv, the
// ..data symlink swap of a Kubernetes ConfigMap) are seen too.
type Watcher struct {
	fs      *fsnotify.Watcher
	opts    WatchOptions
	targets map[string][]Reloader // by absolute path
	dirs    map[string][]string   // absolute dir -> absolute paths in it
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// Watch starts watching the sources' files. Close stops it.
func Watch(rs []Reloader, o WatchOptions) (*Watcher, error) {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{fs: fw, opts: o, targets: map[string][]Reloader{}, dirs: map[string][]string{},
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, r := range rs {
		abs, err := filepath.Abs(r.Path())
		if err != nil {
			fw.Close()
			return nil, err
		}
		if _, ok := w.targets[abs]; !ok {
			d := filepath.Dir(abs)
			if _, ok := w.dirs[d]; !ok {
				if err := fw.Add(d); err != nil {
					fw.Close()
					return nil, err
				}
			}
			w.dirs[d] = append(w.dirs[d], abs)
		}
		w.targets[abs] = append(w.targets[abs], r)
	}
	go w.loop()
	return w, nil
}

func (w *Watcher) loop() {
	defer close(w.done)
	fire := make(chan string, 16)
	timers := map[string]*time.Timer{}
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	schedule := func(abs string) {
		if t, ok := timers[abs]; ok {
			t.Reset(w.opts.Debounce)
			return
		}
		timers[abs] = time.AfterFunc(w.opts.Debounce, func() {
			select {
			case fire <- abs:
			case <-w.stop:
			}
		})
	}
	for {
		select {
		case <-w.stop:
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) == 0 {
				continue
			}
			name := filepath.Clean(ev.Name)
			if _, ok := w.targets[name]; ok {
				schedule(name)
			} else if strings.HasPrefix(filepath.Base(name), "..") {
				// A symlinked directory swap: every file here may have changed.
				for _, p := range w.dirs[filepath.Dir(name)] {
					schedule(p)
				}
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.opts.Log.Warn("ip list watch error", "err", err)
		case abs := <-fire:
			for _, r := range w.targets[abs] {
				err := r.Reload()
				w.report(r.Path(), err)
			}
		}
	}
}

func (w *Watcher) report(path string, err error) {
	if err == nil {
		w.opts.Log.Info("ip list reloaded", "file", path)
	} else {
		var pe *ParseError
		if errors.As(err, &pe) && pe.Line > 0 {
			w.opts.Log.Warn("ip list not reloaded; the previous contents keep serving", "file", path, "line", pe.Line, "err", pe.Msg)
		} else {
			w.opts.Log.Warn("ip list not reloaded; the previous contents keep serving", "file", path, "err", err)
		}
	}
	if w.opts.OnReload != nil {
		w.opts.OnReload(path, err)
	}
}

// Close stops watching.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		close(w.stop)
		err = w.fs.Close()
		<-w.done
	})
	return err
}
