package control

import (
	"encoding/json"
	"testing"

	"github.com/vigil-sec/vigil/internal/discovery"
)

func TestProfileSetUpdates(t *testing.T) {
	enc := func(p discovery.ScaleOutProfile) []byte { b, _ := json.Marshal(p); return b }
	p1 := discovery.ScaleOutProfile{Profile: discovery.Profile{Host: "shop.local", Method: "GET", Path: "/users/{parameter}",
		Sample: "/users/alice", Version: 1}, Headers: map[string]int64{"X-Tenant": 1}}
	p2 := p1
	p2.Version = 2
	tests := []struct {
		name    string
		key     string
		value   []byte
		wantErr bool
		bump    bool // the generation changes
		size    int
	}{
		{"first", "p.gw1.a", enc(p1), false, true, 1},
		{"replay after a reconnect", "p.gw1.a", enc(p1), false, false, 1},
		{"newer version", "p.gw1.a", enc(p2), false, true, 1},
		{"another data plane", "p.gw2.a", enc(p1), false, true, 2},
		{"garbage", "p.gw3.a", []byte("{not json"), true, false, 2},
		{"withdrawn", "p.gw2.a", nil, false, true, 1},
		{"withdrawn twice", "p.gw2.a", nil, false, false, 1},
	}
	s := newProfileSet()
	for _, tc := range tests {
		before := s.gen
		err := s.update(tc.key, tc.value)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%s: err %v", tc.name, err)
		}
		if (s.gen != before) != tc.bump {
			t.Errorf("%s: generation %d -> %d, bump %v", tc.name, before, s.gen, tc.bump)
		}
		if len(s.byKey) != tc.size {
			t.Errorf("%s: %d profiles, want %d", tc.name, len(s.byKey), tc.size)
		}
	}
	s.read(func(byKey map[string]*discovery.ScaleOutProfile, gen uint64) {
		if p := byKey["p.gw1.a"]; p == nil || p.Version != 2 || p.Headers["X-Tenant"] != 1 || gen != s.gen {
			t.Fatalf("read: %+v gen %d", byKey, gen)
		}
	})
}
