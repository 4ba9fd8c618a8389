package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"

	"github.com/nats-io/nats.go/jetstream"
)

// Config keys follow the JetStream KV key rules.
var keyRE = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$`)

func checkKey(key string) error {
	if !keyRE.MatchString(key) {
		return fmt.Errorf("bus: config key %q: letters, digits and -/_= in dot-separated tokens only", key)
	}
	return nil
}

// PutConfig stores value under key in the config bucket (control plane
// side) and returns its revision. Every data plane watching key sees it.
func (b *Bus) PutConfig(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if err := b.ensure(ctx); err != nil {
		return 0, err
	}
	rev, err := b.kvHandle().Put(ctx, key, value)
	if err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) {
			b.invalidate()
		}
		return 0, fmt.Errorf("bus: put config %s: %w", key, err)
	}
	return rev, nil
}

func (b *Bus) kvHandle() jetstream.KeyValue {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.kv
}

// WatchConfig follows key in the config bucket (data plane side). It calls
// fn with the current value when the watch starts and again with every
// change, within milliseconds; a deleted key is reported as fn(nil, rev).
//
// When cacheFile is set, each value is also saved there, and WatchConfig
// first calls fn with the cached value before it touches the network, so a
// data plane that starts while the bus is down runs on its last known
// config; the watch connects in the background when the bus comes up. fn
// is not called again for a revision it has already seen.
//
// WatchConfig blocks until ctx is done and then returns nil. It returns an
// error at once for an invalid key.
func (b *Bus) WatchConfig(ctx context.Context, key string, cacheFile string, fn func(value []byte, revision uint64)) error {
	if err := checkKey(key); err != nil {
		return err
	}
	log := b.log.With("component", "bus.config", "key", key)
	var last *configCache
	if cacheFile != "" {
		c, err := readCache(cacheFile, key)
		switch {
		case err == nil:
			last = c
			fn(c.Value, c.Revision)
		case !errors.Is(err, fs.ErrNotExist):
			log.Warn("config cache unusable", "file", cacheFile, "err", err)
		}
	}
	b.watchKV(ctx, log, b.kvHandle,
		func(kv jetstream.KeyValue) (jetstream.KeyWatcher, error) { return kv.Watch(ctx, key) },
		func(w jetstream.KeyWatcher, reconn <-chan struct{}) {
			last = b.follow(ctx, w, reconn, key, cacheFile, last, fn, log)
		})
	return nil
}

// watchKV keeps a watcher on a bucket until ctx is done: it opens one when
// the bus is up (with backoff while it is not), hands it to follow, which
// returns when the watcher ends or the connection is re-established, and
// then opens a fresh one (watches do not survive a server restart).
func (b *Bus) watchKV(ctx context.Context, log *slog.Logger, kv func() jetstream.KeyValue,
	open func(jetstream.KeyValue) (jetstream.KeyWatcher, error), follow func(jetstream.KeyWatcher, <-chan struct{})) {
	backoff := newBackoff()
	for ctx.Err() == nil {
		if err := b.ensure(ctx); err != nil {
			backoff.wait(ctx)
			continue
		}
		reconn := b.reconnected()
		w, err := open(kv())
		if err != nil {
			if ctx.Err() == nil {
				log.Debug("watch failed, retrying", "err", err)
			}
			if errors.Is(err, jetstream.ErrBucketNotFound) {
				b.invalidate()
			}
			backoff.wait(ctx)
			continue
		}
		backoff.reset()
		follow(w, reconn)
		_ = w.Stop()
	}
}

// follow delivers watch updates until ctx is done, the watcher ends or the
// connection is re-established.
func (b *Bus) follow(ctx context.Context, w jetstream.KeyWatcher, reconn <-chan struct{}, key, cacheFile string,
	last *configCache, fn func([]byte, uint64), log interface{ Warn(string, ...any) }) *configCache {
	for {
		select {
		case <-ctx.Done():
			return last
		case <-reconn:
			return last
		case e, ok := <-w.Updates():
			if !ok {
				return last
			}
			if e == nil { // initial values delivered
				continue
			}
			var val []byte
			if e.Operation() == jetstream.KeyValuePut {
				val = e.Value()
				if val == nil {
					val = []byte{}
				}
			}
			if last != nil && last.Revision == e.Revision() && bytes.Equal(last.Value, val) {
				continue
			}
			last = &configCache{Key: key, Revision: e.Revision(), Value: val}
			if cacheFile != "" {
				var err error
				if val == nil {
					err = os.Remove(cacheFile)
					if errors.Is(err, fs.ErrNotExist) {
						err = nil
					}
				} else {
					err = writeCache(cacheFile, last)
				}
				if err != nil {
					log.Warn("config cache not written", "file", cacheFile, "err", err)
				}
			}
			fn(val, e.Revision())
		}
	}
}

// configCache is the content of a cache file.
type configCache struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
	Value    []byte `json:"value"` // base64 in the file
}

func readCache(path, key string) (*configCache, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCache(data, key)
}

func parseCache(data []byte, key string) (*configCache, error) {
	var c configCache
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("bus: config cache: %w", err)
	}
	if c.Key != key {
		return nil, fmt.Errorf("bus: config cache holds key %q, not %q", c.Key, key)
	}
	if c.Value == nil {
		return nil, errors.New("bus: config cache has no value")
	}
	return &c, nil
}

func writeCache(path string, c *configCache) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}
