package control

import (
	"encoding/json"
	"strconv"
	"sync"

	"github.com/vigil-sec/vigil/internal/discovery"
)

// profileSet holds the latest discovery profile of every data plane for
// every endpoint, as the bus's profile bucket delivers them. Keys are the
// bus keys (one per data plane and endpoint), so a redelivered or
// re-announced profile replaces itself: nothing is counted twice.
type profileSet struct {
	mu    sync.Mutex
	byKey map[string]*discovery.Profile
	gen   uint64 // bumped by every change
}

func newProfileSet() *profileSet { return &profileSet{byKey: map[string]*discovery.Profile{}} }

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
	var p discovery.Profile
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

// index groups the profiles under the control plane's own endpoint ids:
// each profile's sample path is templated by this plane's engine, which
// may have merged more (or less) than the data plane had. It returns the
// groups and a stamp per id that changes when any of its profiles do.
func (s *profileSet) index(eng *discovery.Engine) (map[string][]*discovery.Profile, map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byKey) == 0 {
		return nil, nil
	}
	groups := make(map[string][]*discovery.Profile)
	stamps := make(map[string]string)
	for key, p := range s.byKey {
		path := eng.Template(p.Sample)
		id := discovery.EndpointID(hostOnly(p.Host), p.Method, path)
		groups[id] = append(groups[id], p)
		stamps[id] += key + "@" + strconv.FormatInt(p.Version, 10) + ";"
	}
	return groups, stamps
}
