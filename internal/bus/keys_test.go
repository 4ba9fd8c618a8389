package bus

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// keySink keeps what WatchPrefix delivered, with the sweep a real sink
// does at Synced, and logs every call.
type keySink struct {
	mu    sync.Mutex
	vals  map[string]string
	seen  map[string]bool // since Begin
	calls []string
	wake  chan struct{}
}

func newKeySink() *keySink {
	return &keySink{vals: map[string]string{}, seen: map[string]bool{}, wake: make(chan struct{}, 1000)}
}

func (s *keySink) log(c string) {
	s.calls = append(s.calls, c)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *keySink) Begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.seen)
	s.log("begin")
}

func (s *keySink) Put(k string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals[k], s.seen[k] = string(v), true
	s.log("put " + k + "=" + string(v))
	return nil
}

func (s *keySink) Delete(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.vals, k)
	s.log("delete " + k)
}

func (s *keySink) Synced() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.vals {
		if !s.seen[k] {
			delete(s.vals, k)
		}
	}
	s.log("synced")
}

func (s *keySink) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var kv []string
	for k, v := range s.vals {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

// waitState waits until the sink holds want.
func (s *keySink) waitState(t *testing.T, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(within)
	for s.state() != want {
		select {
		case <-s.wake:
		case <-deadline:
			s.mu.Lock()
			calls := strings.Join(s.calls, "; ")
			s.mu.Unlock()
			t.Fatalf("sink holds %q, want %q after %v (calls: %s)", s.state(), want, within, calls)
		}
	}
	return time.Since(start)
}

func TestWatchPrefix(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	control := openURL(t, srv.url(), Options{})
	ctx := t.Context()
	for _, kv := range [][2]string{{"consent.a", "1"}, {"consent.b", "2"}, {"other.c", "3"}} {
		if _, err := control.PutConfig(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	dp := openURL(t, srv.url(), Options{})
	sink := newKeySink()
	go func() { _ = dp.WatchPrefix(ctx, "consent.", sink) }()
	sink.waitState(t, "consent.a=1,consent.b=2", 5*time.Second)

	// Live changes arrive within the second the consent contract allows.
	if _, err := control.PutConfig(ctx, "consent.d", []byte("4")); err != nil {
		t.Fatal(err)
	}
	sink.waitState(t, "consent.a=1,consent.b=2,consent.d=4", time.Second)
	if err := control.DeleteConfig(ctx, "consent.a"); err != nil {
		t.Fatal(err)
	}
	took := sink.waitState(t, "consent.b=2,consent.d=4", time.Second)
	t.Logf("delete seen after %v", took)

	keys, err := control.ConfigKeys(ctx, "consent.")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if got := strings.Join(keys, ","); got != "consent.b,consent.d" {
		t.Fatalf("ConfigKeys = %s", got)
	}

	// Deleted while the data plane is cut off: the resync drops it.
	srv.stop()
	srv.start()
	other := openURL(t, srv.url(), Options{})
	if err := other.DeleteConfig(ctx, "consent.b"); err != nil {
		t.Fatal(err)
	}
	sink.waitState(t, "consent.d=4", 15*time.Second)

	if err := dp.WatchPrefix(ctx, "consent", sink); err == nil {
		t.Error("a prefix without its dot was accepted")
	}
}
