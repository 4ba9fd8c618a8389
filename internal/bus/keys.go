package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// KeySink receives the keys under a prefix of the config bucket
// (WatchPrefix): one record per key, such as a consent grant.
type KeySink interface {
	// Begin is called when a watch (re)starts: the current keys follow.
	Begin()
	// Put delivers a key's value; an error is logged, not retried.
	Put(key string, value []byte) error
	// Delete reports a key deleted.
	Delete(key string)
	// Synced is called once the current keys are all delivered; a key
	// not delivered since Begin no longer exists.
	Synced()
}

func checkPrefix(prefix string) error {
	if !strings.HasSuffix(prefix, ".") || checkKey(strings.TrimSuffix(prefix, ".")) != nil {
		return fmt.Errorf("bus: key prefix %q: dot-separated tokens ending in a dot", prefix)
	}
	return nil
}

// WatchPrefix follows every key under prefix ("consent.") in the config
// bucket until ctx is done: sink.Begin, the current keys, sink.Synced,
// then every change within milliseconds. After a reconnect it starts
// again with Begin, so the sink can drop what was deleted meanwhile.
func (b *Bus) WatchPrefix(ctx context.Context, prefix string, sink KeySink) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	log := b.log.With("component", "bus.keys", "prefix", prefix)
	b.watchKV(ctx, log, b.kvHandle,
		func(kv jetstream.KeyValue) (jetstream.KeyWatcher, error) { return kv.Watch(ctx, prefix+">") },
		func(w jetstream.KeyWatcher, reconn <-chan struct{}) {
			sink.Begin()
			for {
				select {
				case <-ctx.Done():
					return
				case <-reconn:
					return
				case e, ok := <-w.Updates():
					if !ok {
						return
					}
					if e == nil {
						sink.Synced()
						continue
					}
					if e.Operation() != jetstream.KeyValuePut {
						sink.Delete(e.Key())
						continue
					}
					if err := sink.Put(e.Key(), e.Value()); err != nil {
						log.Warn("value ignored", "key", e.Key(), "err", err)
					}
				}
			}
		})
	return nil
}

// DeleteConfig deletes key from the config bucket; watchers see it go.
// Deleting a key that does not exist is not an error.
func (b *Bus) DeleteConfig(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := b.ensure(ctx); err != nil {
		return err
	}
	if err := b.kvHandle().Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) {
			b.invalidate()
		}
		return fmt.Errorf("bus: delete config %s: %w", key, err)
	}
	return nil
}

// ConfigKeys lists the keys under prefix in the config bucket.
func (b *Bus) ConfigKeys(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	if err := b.ensure(ctx); err != nil {
		return nil, err
	}
	l, err := b.kvHandle().ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("bus: list %s: %w", prefix, err)
	}
	defer func() { _ = l.Stop() }()
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}
