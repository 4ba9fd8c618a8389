package consent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Cache is a data plane's copy of the active grants, indexed by subject
// and grantee. It answers Granted (the policy engine's ConsentChecker)
// under a read lock, and follows the bus as a bus.KeySink: Begin when a
// watch (re)starts, Put and Delete per key, Synced once the current keys
// are all delivered — grants not delivered again since Begin are gone.
type Cache struct {
	mu     sync.RWMutex
	byPair map[string][]*entry // subject \x00 grantee
	byID   map[string]*entry
	gen    uint64
	dirty  bool
	// Invalid counts values Put could not use.
	invalid uint64
}

type entry struct {
	g   Grant
	gen uint64
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{byPair: map[string][]*entry{}, byID: map[string]*entry{}}
}

func pair(subject, grantee string) string { return subject + "\x00" + grantee }

// Granted implements the policy engine's ConsentChecker: does an active
// grant of subject to grantee cover scope on resource at time at?
func (c *Cache) Granted(subject, grantee, scope, resource string, at time.Time) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.byPair[pair(subject, grantee)] {
		if e.g.ActiveAt(at) && e.g.Covers(scope, resource) {
			return true
		}
	}
	return false
}

// Len is the number of grants held.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byID)
}

// Invalid counts bus values that were not a usable grant.
func (c *Cache) Invalid() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.invalid
}

// Begin starts a (re)delivery of the current grants.
func (c *Cache) Begin() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// Put takes the value of key Key(id): a grant as JSON. A revoked grant, or
// one whose id is not its key's, is removed or ignored. It returns an
// error for a value it could not use (the caller logs it).
func (c *Cache) Put(key string, value []byte) error {
	id, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return nil // not a consent key
	}
	var g Grant
	if err := json.Unmarshal(value, &g); err != nil || g.ID != id {
		c.mu.Lock()
		c.invalid++
		c.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("id %q under key %q", g.ID, key)
		}
		return fmt.Errorf("consent: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(id)
	if g.RevokedAt != nil {
		return nil
	}
	e := &entry{g: g, gen: c.gen}
	c.byID[id] = e
	k := pair(g.Subject, g.Grantee)
	c.byPair[k] = append(c.byPair[k], e)
	c.dirty = true
	return nil
}

// Delete removes the grant of key (revoked, or gone from the bus).
func (c *Cache) Delete(key string) {
	id, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return
	}
	c.mu.Lock()
	c.removeLocked(id)
	c.mu.Unlock()
}

// Synced drops the grants that the delivery since Begin did not repeat:
// deleted while this data plane was not watching.
func (c *Cache) Synced() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.byID {
		if e.gen < c.gen {
			c.removeLocked(id)
		}
	}
}

func (c *Cache) removeLocked(id string) {
	e, ok := c.byID[id]
	if !ok {
		return
	}
	delete(c.byID, id)
	k := pair(e.g.Subject, e.g.Grantee)
	list := slices.DeleteFunc(c.byPair[k], func(x *entry) bool { return x == e })
	if len(list) == 0 {
		delete(c.byPair, k)
	} else {
		c.byPair[k] = list
	}
	c.dirty = true
}

// Grants returns a copy of the grants held, by id.
func (c *Cache) Grants() []Grant {
	c.mu.RLock()
	out := make([]Grant, 0, len(c.byID))
	for _, e := range c.byID {
		out = append(out, e.g)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b Grant) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Save writes the grants to file (mode 0600, replaced atomically) when
// they changed since the last Save or Load. A data plane that starts
// while the bus is down loads it, so it keeps enforcing what it knew.
func (c *Cache) Save(file string) error {
	c.mu.Lock()
	dirty := c.dirty
	c.dirty = false
	c.mu.Unlock()
	if !dirty {
		return nil
	}
	data, err := json.Marshal(c.Grants())
	if err == nil {
		err = writeFileAtomic(file, data)
	}
	if err != nil {
		c.mu.Lock()
		c.dirty = true
		c.mu.Unlock()
		return fmt.Errorf("consent: save %s: %w", file, err)
	}
	return nil
}

// Load reads grants saved by Save. A missing file is not an error.
func (c *Cache) Load(file string) error {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("consent: %w", err)
	}
	var gs []Grant
	if err := json.Unmarshal(data, &gs); err != nil {
		return fmt.Errorf("consent: %s: %w", file, err)
	}
	for i := range gs {
		v, _ := json.Marshal(&gs[i])
		if err := c.Put(Key(gs[i].ID), v); err != nil {
			return fmt.Errorf("consent: %s: %w", file, err)
		}
	}
	c.mu.Lock()
	c.dirty = false
	c.mu.Unlock()
	return nil
}

func writeFileAtomic(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".consent-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
