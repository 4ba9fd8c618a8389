// Package bus carries transaction events from data planes (gateways,
// sidecars) to the control plane, and configuration from the control plane
// back to every data plane, over NATS JetStream.
//
// The bus is either embedded (a nats-server running inside the process,
// JetStream stored under <data_dir>/nats, no network listener unless one is
// configured) or external (one or more nats:// URLs of a server or cluster).
// The code paths above Open are the same in both cases.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Embedded is the value of the `bus` config key that runs NATS inside the
// process. An empty URL means the same.
const Embedded = "embedded"

// Defaults for Options.
const (
	DefaultEventsMaxAge    = 7 * 24 * time.Hour
	DefaultEventsMaxBytes  = 1 << 30 // 1 GiB
	DefaultDuplicateWindow = 2 * time.Minute
	DefaultAckWait         = 30 * time.Second
	DefaultMaxAckPending   = 1024
	DefaultFetchBatch      = 64
	DefaultConfigHistory   = 5
)

// Options tunes a Bus. The zero value is ready to use.
type Options struct {
	// Listen, in embedded mode only, is a host:port on which the embedded
	// server also accepts client connections so that other processes can
	// use it ("127.0.0.1:4222"; port 0 picks a free port, see ClientURL).
	// Empty means no network listener at all: the process talks to its
	// server in memory.
	Listen string

	// Prefix, when set, is prepended to every stream, subject and bucket
	// name so that several tenants or tests can share one NATS account:
	// stream "<prefix>_VIGIL_EVENTS", subjects "<prefix>.vigil.events.>",
	// bucket "<prefix>_vigil_config". Letters, digits, '-' and '_' only.
	Prefix string

	// EventsMaxAge and EventsMaxBytes bound the events stream (limits
	// retention, oldest discarded first). Defaults: 7 days, 1 GiB.
	EventsMaxAge   time.Duration
	EventsMaxBytes int64

	// DuplicateWindow is how long JetStream remembers message IDs to
	// discard re-sent batches. Default 2 minutes.
	DuplicateWindow time.Duration

	// Replicas of the stream and bucket in an external cluster. Default 1.
	// Ignored in embedded mode.
	Replicas int

	// AckWait is how long a consumer may hold a message before it is
	// redelivered to another replica. Default 30 s.
	AckWait time.Duration

	// MaxAckPending bounds the messages (batches) handed out and not yet
	// acknowledged, across all replicas of a durable. Default 1024.
	MaxAckPending int

	// FetchBatch is how many messages Consume fetches at once. Default 64.
	FetchBatch int

	// ConfigHistory is how many revisions per config key the bucket keeps.
	// Default 5.
	ConfigHistory int

	// Name identifies this process to the NATS server (shows in monitoring).
	Name string

	// NATSOptions are appended to the connection options in external mode
	// (credentials, TLS, ...).
	NATSOptions []nats.Option

	// Logger receives the bus's and the embedded server's logs.
	// Default slog.Default().
	Logger *slog.Logger
}

// Bus is an open connection to the event bus, and in embedded mode the
// server itself. It is safe for concurrent use.
type Bus struct {
	opts     Options
	log      *slog.Logger
	srv      *server.Server // nil in external mode
	nc       *nats.Conn
	js       jetstream.JetStream
	embedded bool

	stream  string // events stream name
	subject string // events subject prefix, without the trailing token
	bucket  string // config KV bucket name
	pbucket string // profiles KV bucket name

	mu      sync.Mutex
	ensured bool
	kv      jetstream.KeyValue
	prof    jetstream.KeyValue

	reconnMu sync.Mutex
	reconnCh chan struct{} // closed at the next reconnect
}

// reconnected returns a channel that is closed when the connection is next
// re-established (watches are restarted then: they do not survive a
// server restart on their own).
func (b *Bus) reconnected() <-chan struct{} {
	b.reconnMu.Lock()
	defer b.reconnMu.Unlock()
	return b.reconnCh
}

func (b *Bus) noteReconnect() {
	b.invalidate() // the server may have come back without our stream
	b.reconnMu.Lock()
	close(b.reconnCh)
	b.reconnCh = make(chan struct{})
	b.reconnMu.Unlock()
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Open connects to the bus. url is "embedded" (or empty) for an in-process
// server whose JetStream files live in <dataDir>/nats, or a comma-separated
// list of nats:// URLs.
//
// In embedded mode Open starts the server and creates the events stream and
// the config bucket before it returns. In external mode an unreachable
// server is not an error: the connection keeps retrying in the background
// and the stream and bucket are created when it comes up, so that a data
// plane can start (and serve with cached config) while the bus is down.
// Call Ready to wait for the bus.
func Open(ctx context.Context, url string, dataDir string, opts Options) (*Bus, error) {
	if opts.Prefix != "" && !prefixRE.MatchString(opts.Prefix) {
		return nil, fmt.Errorf("bus: prefix %q: only letters, digits, '-' and '_' allowed", opts.Prefix)
	}
	opts = opts.withDefaults()
	b := &Bus{opts: opts, log: opts.Logger.With("component", "bus"), reconnCh: make(chan struct{})}
	b.stream, b.subject, b.bucket, b.pbucket = "VIGIL_EVENTS", "vigil.events", "vigil_config", "vigil_profiles"
	if p := opts.Prefix; p != "" {
		b.stream, b.subject, b.bucket, b.pbucket = p+"_"+b.stream, p+"."+b.subject, p+"_"+b.bucket, p+"_"+b.pbucket
	}

	url = strings.TrimSpace(url)
	if url == "" || url == Embedded {
		if err := b.startEmbedded(dataDir); err != nil {
			return nil, err
		}
		if err := b.ensure(ctx); err != nil {
			b.Close()
			return nil, err
		}
		return b, nil
	}
	if opts.Listen != "" {
		return nil, errors.New("bus: listen is only for the embedded bus")
	}
	for _, u := range strings.Split(url, ",") {
		u = strings.TrimSpace(u)
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			return nil, fmt.Errorf("bus: %q: want %q or nats://host:port[,nats://...]", u, Embedded)
		}
	}
	nopts := []nats.Option{
		nats.Name(opts.Name),
		nats.Timeout(2 * time.Second),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		// No hidden buffer inside the client while reconnecting: the
		// Publisher keeps its own bounded buffer and counts what it drops.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("bus disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("bus reconnected", "server", nc.ConnectedUrlRedacted())
			b.noteReconnect()
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			// First connection after Open found the server down.
			b.log.Info("bus connected", "server", nc.ConnectedUrlRedacted())
			b.noteReconnect()
		}),
	}
	nopts = append(nopts, opts.NATSOptions...)
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", url, err)
	}
	b.nc = nc
	if b.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: %w", err)
	}
	if nc.IsConnected() {
		if err := b.ensure(ctx); err != nil {
			b.log.Warn("bus: stream setup deferred", "err", err)
		}
	} else {
		b.log.Warn("bus unreachable, retrying in the background", "url", url)
	}
	return b, nil
}

func (o Options) withDefaults() Options {
	if o.EventsMaxAge <= 0 {
		o.EventsMaxAge = DefaultEventsMaxAge
	}
	if o.EventsMaxBytes <= 0 {
		o.EventsMaxBytes = DefaultEventsMaxBytes
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.MaxAckPending <= 0 {
		o.MaxAckPending = DefaultMaxAckPending
	}
	if o.FetchBatch <= 0 {
		o.FetchBatch = DefaultFetchBatch
	}
	if o.ConfigHistory <= 0 {
		o.ConfigHistory = DefaultConfigHistory
	}
	if o.Name == "" {
		o.Name = "vigil"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (b *Bus) startEmbedded(dataDir string) error {
	if dataDir == "" {
		return errors.New("bus: embedded bus needs a data_dir")
	}
	sopts := &server.Options{
		ServerName: "vigil-embedded",
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "nats"),
		NoSigs:     true,
		DontListen: true,
	}
	if b.opts.Listen != "" {
		host, port, err := net.SplitHostPort(b.opts.Listen)
		if err != nil {
			return fmt.Errorf("bus: listen %q: %w", b.opts.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("bus: listen %q: bad port", b.opts.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		sopts.DontListen = false
		sopts.Host, sopts.Port = host, p
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return fmt.Errorf("bus: embedded server: %w", err)
	}
	srv.SetLoggerV2(serverLogger{b.log.With("component", "nats")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return errors.New("bus: embedded server did not start")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name(b.opts.Name), nats.MaxReconnects(-1),
		nats.ReconnectBufSize(-1))
	if err != nil {
		srv.Shutdown()
		return fmt.Errorf("bus: in-process connection: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		srv.Shutdown()
		return fmt.Errorf("bus: %w", err)
	}
	b.srv, b.nc, b.js, b.embedded = srv, nc, js, true
	return nil
}

// ensure creates or updates the events stream and the config bucket once
// per connection lifetime; it is retried on each use until it succeeds.
func (b *Bus) ensure(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ensured {
		return nil
	}
	replicas := b.opts.Replicas
	if b.embedded {
		replicas = 1
	}
	_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        b.stream,
		Description: "Vigil transaction events (JSON lines, one batch per message)",
		Subjects:    []string{b.subject + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      b.opts.EventsMaxAge,
		MaxBytes:    b.opts.EventsMaxBytes,
		Duplicates:  b.opts.DuplicateWindow,
		Replicas:    replicas,
	})
	if err != nil {
		return fmt.Errorf("bus: events stream %s: %w", b.stream, err)
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      b.bucket,
		Description: "Vigil configuration and policies",
		History:     uint8(min(b.opts.ConfigHistory, 64)),
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return fmt.Errorf("bus: config bucket %s: %w", b.bucket, err)
	}
	prof, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      b.pbucket,
		Description: "Vigil discovery profiles: the latest of each data plane, per endpoint",
		History:     1,
		TTL:         ProfileTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return fmt.Errorf("bus: profiles bucket %s: %w", b.pbucket, err)
	}
	b.kv, b.prof, b.ensured = kv, prof, true
	return nil
}

// invalidate forgets that the stream and bucket exist (the server may have
// lost them), so the next use recreates them.
func (b *Bus) invalidate() {
	b.mu.Lock()
	b.ensured = false
	b.mu.Unlock()
}

// Ready waits until the bus is connected and its stream and bucket exist,
// or ctx is done.
func (b *Bus) Ready(ctx context.Context) error {
	for {
		err := b.ensure(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Connected reports whether the bus connection is up right now.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// ClientURL is the nats:// URL other processes can use to reach the
// embedded server, or "" when it has no listener or the bus is external.
func (b *Bus) ClientURL() string {
	if b.srv == nil || b.opts.Listen == "" {
		return ""
	}
	return b.srv.ClientURL()
}

// StreamName is the name of the events stream.
func (b *Bus) StreamName() string { return b.stream }

// BucketName is the name of the config bucket.
func (b *Bus) BucketName() string { return b.bucket }

// Close closes the connection and, in embedded mode, shuts the server down.
// Publishers and consumers should be closed first.
func (b *Bus) Close() {
	if b.nc != nil {
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// serverLogger hands the embedded nats-server's logs to slog.
type serverLogger struct{ l *slog.Logger }

func (s serverLogger) Noticef(f string, v ...any) { s.l.Debug(fmt.Sprintf(f, v...)) }
func (s serverLogger) Warnf(f string, v ...any)   { s.l.Warn(fmt.Sprintf(f, v...)) }
func (s serverLogger) Fatalf(f string, v ...any)  { s.l.Error(fmt.Sprintf(f, v...)) }
func (s serverLogger) Errorf(f string, v ...any)  { s.l.Error(fmt.Sprintf(f, v...)) }
func (s serverLogger) Debugf(f string, v ...any)  {}
func (s serverLogger) Tracef(f string, v ...any)  {}

var _ server.Logger = serverLogger{}
