package control

import (
	"encoding/json"
	"sync"

	"github.com/vigil-sec/vigil/internal/discovery"
)

// profileSet holds the latest discovery profile of every data plane for
// every endpoint, as the bus's profile bucket delivers them. Keys are the
// bus keys (one per data plane and endpoint), so a redelivered or
// re-announced profile replaces itself: nothing is counted twice.
type profileSet struct {
	mu    sync.Mutex
	byKey map[string]*discovery.ScaleOutProfile
	gen   uint64 // bumped by every change
}

func newProfileSet() *profileSet {
	return &profileSet{byKey: map[string]*discovery.ScaleOutProfile{}}
}

// update applies one bus update: a nil value removes the key. A value that
// does not decode is dropped (and reported) rather than trusted.
func (s *profileSet) update(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == nil {
		if _, ok := s.byKey[key]; ok {
			delete(s.byKey, key)
			s.gen++
		}
		return nil
	}
	var p discovery.ScaleOutProfile
	if err := json.Unmarshal(value, &p); err != nil {
		return err
	}
	if cur, ok := s.byKey[key]; ok && cur.Version == p.Version && cur.Sample == p.Sample {
		return nil // a replay after a reconnect
	}
	s.byKey[key] = &p
	s.gen++
	return nil
}

// read calls fn with the profiles by key and their generation, under the
// set's lock: fn must not keep the map.
func (s *profileSet) read(fn func(byKey map[string]*discovery.ScaleOutProfile, gen uint64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.byKey, s.gen)
}
