package bus

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// update is one fn call seen by a watcher.
type update struct {
	value string
	rev   uint64
	at    time.Time
}

type watchLog struct {
	mu  sync.Mutex
	got []update
	ch  chan update
}

func newWatchLog() *watchLog { return &watchLog{ch: make(chan update, 64)} }

func (w *watchLog) fn(v []byte, rev uint64) {
	u := update{value: string(v), rev: rev, at: time.Now()}
	w.mu.Lock()
	w.got = append(w.got, u)
	w.mu.Unlock()
	w.ch <- u
}

// next waits for the next update, at most d.
func (w *watchLog) next(t *testing.T, d time.Duration) update {
	t.Helper()
	select {
	case u := <-w.ch:
		return u
	case <-time.After(d):
		t.Fatalf("no config update within %v", d)
		return update{}
	}
}

func watch(t *testing.T, b *Bus, key, cache string, w *watchLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.WatchConfig(ctx, key, cache, w.fn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchConfig: %v", err)
		}
	})
}

// Two data planes watch one key; a put reaches both in well under a
// second, and each starts with the current value.
func TestWatchConfigTwoWatchers(t *testing.T) {
	t.Parallel()
	control := openEmbedded(t, t.TempDir(), Options{Listen: "127.0.0.1:0"})
	url := control.ClientURL()
	if url == "" {
		t.Fatal("embedded bus with Listen has no ClientURL")
	}
	ctx := t.Context()
	rev1, err := control.PutConfig(ctx, "policies.gateway", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var watchers []*watchLog
	for i := range 2 {
		dp := openURL(t, url, Options{})
		w := newWatchLog()
		watch(t, dp, "policies.gateway", filepath.Join(dir, "cache", string(rune('a'+i))+".json"), w)
		if u := w.next(t, 5*time.Second); u.value != "v1" || u.rev != rev1 {
			t.Fatalf("watcher %d started with %+v, want v1@%d", i, u, rev1)
		}
		watchers = append(watchers, w)
	}

	for _, v := range []string{"v2", "v3"} {
		start := time.Now()
		rev, err := control.PutConfig(ctx, "policies.gateway", []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range watchers {
			u := w.next(t, time.Second) // the contract: well under 1 s
			if u.value != v || u.rev != rev {
				t.Fatalf("watcher %d got %+v, want %s@%d", i, u, v, rev)
			}
			t.Logf("watcher %d saw %s after %v", i, v, u.at.Sub(start))
		}
	}
	// Other keys do not wake the watchers.
	if _, err := control.PutConfig(ctx, "policies.sidecar", []byte("other")); err != nil {
		t.Fatal(err)
	}
	rev, err := control.PutConfig(ctx, "policies.gateway", []byte("v4"))
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range watchers {
		if u := w.next(t, time.Second); u.value != "v4" || u.rev != rev {
			t.Fatalf("watcher %d got %+v, want v4@%d", i, u, rev)
		}
	}
}

// A data plane that starts while the bus is down runs on its cached
// config at once, and picks up new config when the bus comes back.
func TestWatchConfigCachedWhileDown(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	cache := filepath.Join(t.TempDir(), "config-cache.json")

	// First life: the data plane sees v1 and caches it.
	{
		control := openURL(t, srv.url(), Options{})
		rev, err := control.PutConfig(t.Context(), "routes", []byte("v1"))
		if err != nil {
			t.Fatal(err)
		}
		dp := openURL(t, srv.url(), Options{})
		w := newWatchLog()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- dp.WatchConfig(ctx, "routes", cache, w.fn) }()
		if u := w.next(t, 5*time.Second); u.value != "v1" || u.rev != rev {
			t.Fatalf("got %+v, want v1@%d", u, rev)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		control.Close()
		dp.Close()
	}

	srv.stop()
	dp := openURL(t, srv.url(), Options{}) // bus down: Open must still succeed
	if dp.Connected() {
		t.Fatal("connected to a stopped server")
	}
	w := newWatchLog()
	watch(t, dp, "routes", cache, w)
	if u := w.next(t, 500*time.Millisecond); u.value != "v1" {
		t.Fatalf("with the bus down got %+v, want the cached v1", u)
	}

	srv.start()
	control := openURL(t, srv.url(), Options{})
	rev, err := control.PutConfig(t.Context(), "routes", []byte("v2"))
	if err != nil {
		t.Fatal(err)
	}
	if u := w.next(t, 15*time.Second); u.value != "v2" || u.rev != rev {
		t.Fatalf("after the bus came back got %+v, want v2@%d", u, rev)
	}
	data, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCache(data, "routes")
	if err != nil || string(c.Value) != "v2" {
		t.Fatalf("cache file holds %q (%v), want v2", data, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.got) != 2 {
		t.Fatalf("fn called %d times (%+v), want 2: cached v1, then v2", len(w.got), w.got)
	}
}

func TestWatchConfigDelete(t *testing.T) {
	t.Parallel()
	b := openEmbedded(t, t.TempDir(), Options{})
	cache := filepath.Join(t.TempDir(), "c.json")
	if _, err := b.PutConfig(t.Context(), "k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	w := newWatchLog()
	watch(t, b, "k", cache, w)
	if u := w.next(t, 5*time.Second); u.value != "x" {
		t.Fatalf("got %+v", u)
	}
	if err := b.kvHandle().Delete(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if u := w.next(t, time.Second); u.value != "" {
		t.Fatalf("after delete got %+v, want nil value", u)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Fatalf("cache file still there after delete: %v", err)
	}
}

func TestConfigKeyValidation(t *testing.T) {
	t.Parallel()
	b := openEmbedded(t, t.TempDir(), Options{})
	for _, tt := range []struct {
		key string
		ok  bool
	}{
		{"policies", true}, {"policies.gateway", true}, {"a/b=c_d-e", true},
		{"", false}, {".a", false}, {"a.", false}, {"a..b", false}, {"a b", false}, {"a*", false}, {"a>", false},
	} {
		_, err := b.PutConfig(t.Context(), tt.key, []byte("v"))
		if (err == nil) != tt.ok {
			t.Errorf("PutConfig(%q) error = %v, want ok=%v", tt.key, err, tt.ok)
		}
		if !tt.ok {
			if err := b.WatchConfig(t.Context(), tt.key, "", func([]byte, uint64) {}); err == nil {
				t.Errorf("WatchConfig(%q) = nil, want an error", tt.key)
			}
		}
	}
}

func TestParseCache(t *testing.T) {
	for _, tt := range []struct {
		name, in, key string
		ok            bool
	}{
		{"good", `{"key":"k","revision":3,"value":"djE="}`, "k", true},
		{"other key", `{"key":"j","revision":3,"value":"djE="}`, "k", false},
		{"no value", `{"key":"k","revision":3}`, "k", false},
		{"not json", `garbage`, "k", false},
		{"bad base64", `{"key":"k","revision":3,"value":"!!"}`, "k", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseCache([]byte(tt.in), tt.key)
			if (err == nil) != tt.ok {
				t.Fatalf("parseCache error = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (string(c.Value) != "v1" || c.Revision != 3) {
				t.Fatalf("got %+v", c)
			}
		})
	}
}

// A watch that is running when the bus restarts keeps delivering after.
func TestWatchConfigAcrossRestart(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	dp := openURL(t, srv.url(), Options{})
	if _, err := dp.PutConfig(t.Context(), "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	w := newWatchLog()
	watch(t, dp, "k", "", w)
	if u := w.next(t, 5*time.Second); u.value != "v1" {
		t.Fatalf("got %+v", u)
	}
	srv.stop()
	srv.start()
	control := openURL(t, srv.url(), Options{})
	rev, err := control.PutConfig(t.Context(), "k", []byte("v2"))
	if err != nil {
		t.Fatal(err)
	}
	if u := w.next(t, 15*time.Second); u.value != "v2" || u.rev != rev {
		t.Fatalf("after restart got %+v, want v2@%d", u, rev)
	}
}
