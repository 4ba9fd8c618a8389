package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-sec/vigil/internal/discovery"
)

// ProfileTTL is how long a profile lives in the bus without being put
// again. Data planes put every profile again well within it, so only the
// profiles of data planes that went away (or of endpoints a template merge
// folded away) expire.
const ProfileTTL = 24 * time.Hour

// MaxProfileBytes bounds one profile value (NATS' default payload limit
// is 1 MiB).
const MaxProfileBytes = 900 << 10

// ProfileKey is the key of a data plane's profile of one endpoint. source
// is cut to the characters keys allow.
func ProfileKey(source, endpointID string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
				return r
			}
			return '_'
		}, s)
	}
	return "p." + clean(source) + "." + clean(endpointID)
}

// PutProfile stores a data plane's latest profile of one endpoint.
func (b *Bus) PutProfile(ctx context.Context, key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > MaxProfileBytes {
		return fmt.Errorf("bus: profile %s: %d bytes, over the %d limit", key, len(value), MaxProfileBytes)
	}
	if err := b.ensure(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	kv := b.prof
	b.mu.Unlock()
	if _, err := kv.Put(ctx, key, value); err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) {
			b.invalidate()
		}
		return fmt.Errorf("bus: put profile %s: %w", key, err)
	}
	return nil
}

// DeleteProfile withdraws a data plane's profile of one endpoint (its
// endpoint was folded into another by a template merge). Watchers see the
// key go, as when it expires.
func (b *Bus) DeleteProfile(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := b.ensure(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	kv := b.prof
	b.mu.Unlock()
	if err := kv.Delete(ctx, key); err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) {
			b.invalidate()
		}
		return fmt.Errorf("bus: delete profile %s: %w", key, err)
	}
	return nil
}

// ProfileSource reports a data plane's profiles: those whose version grew
// past sent[id] (encoded, with the version to remember) and the ids of
// sent that its inventory no longer holds (discovery's
// Engine.ScaleOutProfilesSince).
type ProfileSource func(sent map[string]int64) (updates []discovery.ProfileUpdate, gone []string)

// PublishProfiles runs a data plane's side of the profiles bucket until ctx
// ends: every `every` (default 5 s) it puts the profiles that changed under
// the keys of source (this data plane's name, see ProfileKey), withdraws
// those of endpoints a template merge folded away, and puts every profile
// again each ProfileTTL/4, so that only the profiles of data planes that
// went away expire. A bus outage only delays them: what was not
// acknowledged goes on a later tick.
func (b *Bus) PublishProfiles(ctx context.Context, source string, every time.Duration, profiles ProfileSource) {
	if every <= 0 {
		every = 5 * time.Second
	}
	log := b.log.With("component", "bus.profiles")
	sent := map[string]int64{}
	renewed := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(renewed) > ProfileTTL/4 {
			clear(sent)
			renewed = time.Now()
		}
		if err := b.publishProfiles(ctx, source, sent, profiles); err != nil && ctx.Err() == nil {
			log.Debug("discovery profiles not published; retrying later", "err", err)
		}
	}
}

func (b *Bus) publishProfiles(ctx context.Context, source string, sent map[string]int64, profiles ProfileSource) error {
	updates, gone := profiles(sent)
	for _, id := range gone {
		if err := b.DeleteProfile(ctx, ProfileKey(source, id)); err != nil {
			return err
		}
		delete(sent, id)
	}
	for _, u := range updates {
		if len(u.JSON) > MaxProfileBytes {
			b.log.Warn("discovery profile too large for the bus; not sent", "endpoint", u.ID, "bytes", len(u.JSON))
			sent[u.ID] = u.Version
			continue
		}
		if err := b.PutProfile(ctx, ProfileKey(source, u.ID), u.JSON); err != nil {
			return err
		}
		sent[u.ID] = u.Version
	}
	return nil
}

// WatchProfiles calls fn with every profile in the bucket, then with every
// change, until ctx is done (then it returns nil). A deleted or expired
// key is reported with a nil value. After a reconnect the whole bucket is
// delivered again: fn must treat a value it already has as a no-op.
func (b *Bus) WatchProfiles(ctx context.Context, fn func(key string, value []byte)) error {
	profiles := func() jetstream.KeyValue {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.prof
	}
	b.watchKV(ctx, b.log.With("component", "bus.profiles"), profiles,
		func(kv jetstream.KeyValue) (jetstream.KeyWatcher, error) { return kv.WatchAll(ctx) },
		func(w jetstream.KeyWatcher, reconn <-chan struct{}) {
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
						continue // the initial values are all delivered
					}
					var val []byte
					if e.Operation() == jetstream.KeyValuePut {
						val = e.Value()
					}
					fn(e.Key(), val)
				}
			}
		})
	return nil
}
