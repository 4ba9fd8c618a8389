package bus

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/discovery"
)

func TestProfileKey(t *testing.T) {
	tests := []struct{ source, id, want string }{
		{"gw-1", "0123abcd", "p.gw-1.0123abcd"},
		{"host.example-gateway-127.0.0.1:8080", "ff", "p.host_example-gateway-127_0_0_1_8080.ff"},
		{"ünï code", "x", "p._n__code.x"},
	}
	for _, tc := range tests {
		got := ProfileKey(tc.source, tc.id)
		if got != tc.want {
			t.Errorf("ProfileKey(%q, %q) = %q, want %q", tc.source, tc.id, got, tc.want)
		}
		if err := checkKey(got); err != nil {
			t.Errorf("ProfileKey(%q) is not a valid key: %v", tc.source, err)
		}
	}
}

// TestProfilesRoundTrip: profiles put by data planes reach a watcher that
// starts later (the bucket keeps the latest per key), and later puts reach
// it as they happen; an oversized profile is refused, not truncated.
func TestProfilesRoundTrip(t *testing.T) {
	t.Parallel()
	b := openEmbedded(t, t.TempDir(), Options{})
	ctx := t.Context()
	if err := b.PutProfile(ctx, ProfileKey("gw1", "e1"), []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.PutProfile(ctx, ProfileKey("gw1", "e1"), []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.PutProfile(ctx, ProfileKey("gw2", "e1"), []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.PutProfile(ctx, ProfileKey("gw1", "big"), []byte(strings.Repeat("x", MaxProfileBytes+1))); err == nil {
		t.Error("an oversized profile was accepted")
	}
	got := make(chan string, 16)
	go func() {
		_ = b.WatchProfiles(ctx, func(key string, value []byte) { got <- key + "=" + string(value) })
	}()
	want := map[string]bool{`p.gw1.e1={"v":2}`: true, `p.gw2.e1={"v":1}`: true}
	for len(want) > 0 {
		select {
		case s := <-got:
			if !want[s] {
				t.Fatalf("unexpected update %s (history must not be replayed)", s)
			}
			delete(want, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("missing updates %v", want)
		}
	}
	if err := b.PutProfile(ctx, ProfileKey("gw2", "e1"), []byte(`{"v":3}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != `p.gw2.e1={"v":3}` {
			t.Fatalf("got %s", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a later put did not reach the watcher")
	}
}

// TestPublishProfiles: the data plane's loop puts what its source reports
// changed under its own keys, does not put an unchanged profile again, and
// withdraws the profile of an endpoint its inventory no longer holds.
func TestPublishProfiles(t *testing.T) {
	t.Parallel()
	b := openEmbedded(t, t.TempDir(), Options{})
	ctx := t.Context()
	var mu sync.Mutex
	state := map[string]int64{"e1": 1, "e2": 1} // endpoint -> version
	source := func(sent map[string]int64) (ups []discovery.ProfileUpdate, gone []string) {
		mu.Lock()
		defer mu.Unlock()
		for id, v := range state {
			if sent[id] < v {
				ups = append(ups, discovery.ProfileUpdate{ID: id, Version: v, JSON: fmt.Appendf(nil, `{"v":%d}`, v)})
			}
		}
		for id := range sent {
			if _, ok := state[id]; !ok {
				gone = append(gone, id)
			}
		}
		return ups, gone
	}
	got := make(chan string, 16)
	go func() {
		_ = b.WatchProfiles(ctx, func(key string, value []byte) { got <- key + "=" + string(value) })
	}()
	go b.PublishProfiles(ctx, "gw1", 20*time.Millisecond, source)
	expect := func(want ...string) {
		t.Helper()
		pending := map[string]bool{}
		for _, w := range want {
			pending[w] = true
		}
		for len(pending) > 0 {
			select {
			case s := <-got:
				if !pending[s] {
					t.Fatalf("unexpected update %s (want %v)", s, pending)
				}
				delete(pending, s)
			case <-time.After(5 * time.Second):
				t.Fatalf("missing updates %v", pending)
			}
		}
	}
	expect(`p.gw1.e1={"v":1}`, `p.gw1.e2={"v":1}`)
	mu.Lock()
	delete(state, "e1") // folded into e2 by a merge
	state["e2"] = 2
	mu.Unlock()
	expect(`p.gw1.e1=`, `p.gw1.e2={"v":2}`)
	select {
	case s := <-got:
		t.Fatalf("unchanged profiles were put again: %s", s)
	case <-time.After(100 * time.Millisecond):
	}
}
