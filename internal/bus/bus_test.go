package bus

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, dir string
		opts           Options
		want           string
	}{
		{"bad prefix", Embedded, t.TempDir(), Options{Prefix: "a.b"}, "prefix"},
		{"not a nats url", "http://x:4222", "", Options{}, "nats://"},
		{"one bad url in a list", "nats://a:4222,redis://b", "", Options{}, "nats://"},
		{"listen on external", "nats://127.0.0.1:1", "", Options{Listen: "127.0.0.1:0"}, "embedded"},
		{"embedded without data dir", Embedded, "", Options{}, "data_dir"},
		{"embedded bad listen", Embedded, t.TempDir(), Options{Listen: "nohostport"}, "listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Logger = quietLogger()
			b, err := Open(t.Context(), tt.url, tt.dir, tt.opts)
			if err == nil {
				b.Close()
				t.Fatalf("Open succeeded, want an error about %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// The embedded bus keeps its JetStream files under <data_dir>/nats, has no
// listener unless asked, and keeps events across a restart.
func TestEmbeddedStorageAndListener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := openEmbedded(t, dir, Options{})
	if b.ClientURL() != "" {
		t.Fatalf("embedded bus without Listen exposes %q", b.ClientURL())
	}
	p := NewPublisher(b, PublisherOptions{})
	evs := testEvents(t, 10)
	for i := range evs {
		p.Publish(&evs[i])
	}
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := os.Stat(dir + "/nats/jetstream"); err != nil {
		t.Fatalf("no JetStream store under data_dir/nats: %v", err)
	}

	b2 := openEmbedded(t, dir, Options{Listen: "127.0.0.1:0"})
	u := b2.ClientURL()
	if u == "" {
		t.Fatal("no ClientURL with Listen set")
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(u, "nats://"), time.Second)
	if err != nil {
		t.Fatalf("embedded listener %s not reachable: %v", u, err)
	}
	conn.Close()
	c := newCollector()
	consume(t, b2, "store", c)
	eventually(t, 10*time.Second, "events kept across restart", func() bool { return c.distinct() == len(evs) })
}

func TestStreamLimits(t *testing.T) {
	t.Parallel()
	b := openEmbedded(t, t.TempDir(), Options{Prefix: "lim", EventsMaxAge: time.Hour, EventsMaxBytes: 1 << 20})
	st, err := b.js.Stream(t.Context(), b.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.Name != "lim_VIGIL_EVENTS" || cfg.Subjects[0] != "lim.vigil.events.>" || b.BucketName() != "lim_vigil_config" {
		t.Fatalf("names not prefixed: %s %v %s", cfg.Name, cfg.Subjects, b.BucketName())
	}
	if cfg.MaxAge != time.Hour || cfg.MaxBytes != 1<<20 || cfg.Storage != jetstream.FileStorage ||
		cfg.Retention != jetstream.LimitsPolicy || cfg.Duplicates != DefaultDuplicateWindow {
		t.Fatalf("stream config %+v", cfg)
	}
}

// One round trip against the machine's NATS server (127.0.0.1:4222, or
// VIGIL_TEST_NATS_URL), on names of its own that it removes afterwards.
func TestExternalNATS(t *testing.T) {
	url := os.Getenv("VIGIL_TEST_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "nats://"), time.Second); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS at %s unreachable under CI: %v", url, err)
		}
		t.Skipf("NATS at %s unreachable: %v", url, err)
	} else {
		c.Close()
	}
	prefix := "vigiltest_" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "_")
	b := openURL(t, url, Options{Prefix: prefix, EventsMaxAge: time.Hour, EventsMaxBytes: 64 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Ready(ctx); err != nil {
		t.Fatalf("external NATS not ready (JetStream enabled?): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.js.DeleteStream(ctx, b.StreamName()); err != nil {
			t.Errorf("delete stream: %v", err)
		}
		if err := b.js.DeleteKeyValue(ctx, b.BucketName()); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.Errorf("delete bucket: %v", err)
		}
	})

	evs := testEvents(t, 200)
	p := NewPublisher(b, PublisherOptions{MaxBatch: 32})
	for i := range evs {
		p.Publish(&evs[i])
	}
	c := newCollector()
	consume(t, b, "store", c)
	eventually(t, 15*time.Second, "round trip through external NATS", func() bool { return c.distinct() == len(evs) })
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}

	w := newWatchLog()
	watch(t, b, "policies", "", w)
	rev, err := b.PutConfig(ctx, "policies", []byte("p1"))
	if err != nil {
		t.Fatal(err)
	}
	if u := w.next(t, time.Second); u.value != "p1" || u.rev != rev {
		t.Fatalf("got %+v, want p1@%d", u, rev)
	}
}
