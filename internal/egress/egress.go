// Package egress is the sidecar's egress listener for the app's outbound
// HTTPS: an HTTP CONNECT proxy (the app sets HTTPS_PROXY) that also takes
// raw TLS (traffic redirected to it; the destination is the SNI). Each
// connection is decided by transport.egress.rules: intercept (terminate
// the app's TLS with a leaf minted from the Vigil CA and serve the
// decrypted requests through the gateway's own pipeline and routes),
// tunnel (splice the bytes, decrypting nothing) or block. Every decision
// is recorded in the gateway's event queue. See docs/egress.md.
package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/proxy"
	"github.com/vigil-sec/vigil/internal/tlsconf"
)

// Events receives egress events; Enqueue must not block (event.Queue).
type Events interface {
	Enqueue(ev *event.Event) bool
}

// Options configure a Server.
type Options struct {
	// Config returns the config in use: rules and routes follow reloads
	// (the listener, ca_dir and the limits are read once, at New).
	Config func() *config.Config
	// Handler serves intercepted, decrypted requests: the gateway's
	// handler, the whole pipeline and its routes.
	Handler http.Handler
	// Events receives tunnel, block and interception-failure events.
	Events Events
	// Log defaults to slog.Default.
	Log *slog.Logger
	// Placement names the data plane in events (sidecar).
	Placement string
	// Dial connects to tunnel destinations (default net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Server is a running egress listener.
type Server struct {
	o      Options
	log    *slog.Logger
	limits config.Egress // defaults filled in
	minter *Minter       // nil when nothing intercepted at start
	sem    chan struct{}
	pins   *pins

	cur     atomic.Pointer[compiled]
	handoff *connQueue

	mu    sync.Mutex
	conns map[net.Conn]struct{} // raw and tunnel connections, closed by Close
	meta  sync.Map              // handed-off net.Conn → *connInfo
	done  chan struct{}
	once  sync.Once

	rejected atomic.Uint64
}

// compiled is what a config decides with.
type compiled struct {
	cfg    *config.Config
	rules  *Rules
	routes *proxy.Router[*config.Route]
}

// connInfo travels from a handed-off connection to its requests.
type connInfo struct {
	host      string // the destination: CONNECT host or SNI, lower case
	authority string // host, with the port unless 443
	rule      Rule
	clientIP  string
	release   func()
}

type infoKey struct{}

// New prepares an egress server (it loads the CA when a rule or the
// default intercepts).
func New(o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Dial == nil {
		o.Dial = (&net.Dialer{}).DialContext
	}
	cfg := o.Config()
	e := cfg.Transport.Egress
	e.LeafTTL = orDur(e.LeafTTL, config.DefaultEgressLeafTTL)
	e.HandshakeTimeout = orDur(e.HandshakeTimeout, config.DefaultEgressHandshake)
	e.IdleTimeout = orDur(e.IdleTimeout, config.DefaultEgressIdleTimeout)
	e.PinTTL = orDur(e.PinTTL, config.DefaultEgressPinTTL)
	if e.CacheSize == 0 {
		e.CacheSize = config.DefaultEgressCacheSize
	}
	if e.MaxConnections == 0 {
		e.MaxConnections = config.DefaultEgressMaxConns
	}
	if e.TransparentPort == 0 {
		e.TransparentPort = config.DefaultEgressPort
	}
	s := &Server{o: o, log: o.Log, limits: e, sem: make(chan struct{}, e.MaxConnections), pins: newPins(4096),
		handoff: newConnQueue(), conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	if e.CADir != "" {
		m, err := NewMinter(e.CADir, e.LeafTTL, e.CacheSize)
		if err != nil {
			return nil, fmt.Errorf("transport.egress.ca_dir: %w", err)
		}
		s.minter = m
	} else if e.Intercepts() {
		return nil, errors.New("transport.egress.ca_dir: required to intercept")
	}
	return s, nil
}

func orDur(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Minter is the leaf minter (nil without ca_dir).
func (s *Server) Minter() *Minter { return s.minter }

// Rejected counts connections closed because max_connections was reached.
func (s *Server) Rejected() uint64 { return s.rejected.Load() }

func (s *Server) compiled() *compiled {
	cfg := s.o.Config()
	if c := s.cur.Load(); c != nil && c.cfg == cfg {
		return c
	}
	var specs []proxy.RouteSpec[*config.Route]
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		specs = append(specs, proxy.RouteSpec[*config.Route]{Host: rc.Match.Host, PathPrefix: rc.Match.PathPrefix, Value: rc})
	}
	c := &compiled{cfg: cfg, rules: NewRules(cfg), routes: proxy.NewRouter(specs)}
	s.cur.Store(c)
	return c
}

// Serve accepts egress connections on l until l is closed; srv serves
// the intercepted ones (its Handler, ConnContext and ConnState are set
// here). Close ends it.
func (s *Server) Serve(l net.Listener, srv *http.Server) error {
	srv.Handler = http.HandlerFunc(s.serveDecrypted)
	srv.ConnContext = s.connContext
	srv.ConnState = s.connState
	srv.IdleTimeout = s.limits.IdleTimeout
	go func() {
		if err := srv.Serve(s.handoff); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("egress: intercepted connections", "err", err)
		}
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			select {
			case <-s.done:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.rejected.Add(1)
			_ = c.Close()
			continue
		}
		go s.handle(c)
	}
}

// Close stops the server: intercepted connections are drained by the
// http.Server's own Shutdown; raw connections and tunnels close now.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	_ = s.handoff.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// conn is one egress connection being decided.
type conn struct {
	s       *Server
	c       net.Conn
	br      *bufio.Reader
	start   time.Time
	connect bool   // CONNECT, else raw TLS
	host    string // destination host
	port    string
	hello   *ClientHello
	raw     []byte // the ClientHello bytes read, replayed
}

func (s *Server) handle(c net.Conn) {
	released := false
	release := func() {
		if !released {
			released = true
			<-s.sem
		}
	}
	handedOff := false
	defer func() {
		if !handedOff {
			s.untrack(c)
			_ = c.Close()
			release()
		}
	}()
	if !s.track(c) {
		return
	}
	ec := &conn{s: s, c: c, br: bufio.NewReaderSize(c, 4096), start: time.Now()}
	_ = c.SetDeadline(ec.start.Add(s.limits.HandshakeTimeout))
	first, err := ec.br.Peek(1)
	if err != nil {
		return
	}
	cc := s.compiled()
	var rule Rule
	if first[0] == 0x16 {
		if !ec.readHello() {
			return
		}
		if ec.hello.ServerName == "" {
			ec.refuse(Rule{Name: DefaultRuleID, Action: config.EgressBlock}, "no_sni", "a TLS connection without SNI names no destination")
			return
		}
		ec.host, ec.port = ec.hello.ServerName, strconv.Itoa(s.limits.TransparentPort)
		rule = s.decide(cc, ec.host)
	} else if first[0] < 'A' || first[0] > 'Z' {
		return // neither TLS nor an HTTP request line
	} else {
		ec.connect = true
		host, port, err := readConnect(ec.br)
		if err != nil {
			status := "400 Bad Request"
			if errors.Is(err, errNotConnect) {
				status = "405 Method Not Allowed\r\nAllow: CONNECT"
			}
			s.log.Debug("egress: bad CONNECT", "remote", c.RemoteAddr().String(), "err", err)
			_, _ = io.WriteString(c, "HTTP/1.1 "+status+"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			return
		}
		ec.host, ec.port = host, port
		rule = s.decide(cc, host)
	}
	switch rule.Action {
	case config.EgressBlock:
		ec.refuse(rule, "egress_blocked", "egress to "+ec.host+" is blocked by rule "+rule.Name)
	case config.EgressTunnel:
		ec.tunnel(rule, nil)
	case config.EgressIntercept:
		if s.minter == nil {
			ec.refuse(rule, "interception_unavailable", "no CA is loaded (transport.egress.ca_dir needs a restart)")
			return
		}
		if ec.connect {
			ec.established()
			if !ec.readInnerHello(rule) {
				return
			}
		}
		handedOff = ec.intercept(rule, release)
	}
}

// decide applies the rules, and a pin left by an earlier refused
// interception.
func (s *Server) decide(cc *compiled, host string) Rule {
	r := cc.rules.Decide(host)
	if r.Action == config.EgressIntercept && r.Fallback == config.EgressTunnel && s.pins.has(host, time.Now()) {
		r.Action = config.EgressTunnel
		r.pinned = true
	}
	return r
}

func (ec *conn) readHello() bool {
	raw, h, err := readClientHello(ec.br)
	ec.raw = raw
	if err != nil {
		ec.s.log.Debug("egress: unreadable ClientHello", "remote", ec.c.RemoteAddr().String(), "err", err)
		return false
	}
	ec.hello = h
	return true
}

func (ec *conn) established() {
	_, _ = io.WriteString(ec.c, "HTTP/1.1 200 Connection established\r\n\r\n")
}

// readInnerHello reads the ClientHello inside a CONNECT tunnel that is to
// be intercepted; its SNI must name the CONNECT host.
func (ec *conn) readInnerHello(rule Rule) bool {
	b, err := ec.br.Peek(1)
	if err != nil {
		return false
	}
	if b[0] != 0x16 {
		ec.s.log.Debug("egress: CONNECT to an intercepted host carries no TLS", "host", ec.host)
		ec.event(rule, event.DecisionBlock, 0, 0, "", &event.Finding{Kind: "not_tls", Severity: "medium", Action: "block",
			Message: "the tunnel to " + ec.host + " does not carry TLS; it cannot be intercepted"})
		return false
	}
	if !ec.readHello() {
		return false
	}
	if sn := ec.hello.ServerName; sn != "" && sn != ec.host {
		ec.event(rule, event.DecisionBlock, 0, 0, "", &event.Finding{Kind: "sni_mismatch", Severity: "high", Action: "block",
			Message: "the ClientHello names " + sn + ", not the CONNECT host " + ec.host, Data: sn})
		ec.alert(alertAccessDenied)
		return false
	}
	return true
}

// TLS alerts sent when refusing a raw TLS connection.
const (
	alertHandshakeFailure = 40
	alertAccessDenied     = 49
	alertUnrecognizedName = 112
)

// alert writes a fatal TLS alert record (TLS 1.2 record framing, which
// every version's clients read before the handshake).
func (ec *conn) alert(code byte) {
	_, _ = ec.c.Write([]byte{0x15, 3, 3, 0, 2, 2, code})
}

// refuse blocks the connection: 403 to a CONNECT, an alert to raw TLS.
func (ec *conn) refuse(rule Rule, kind, msg string) {
	if ec.connect {
		body := `{"error":{"code":"egress_blocked","message":` + strconv.Quote(msg) + "}}\n"
		_, _ = io.WriteString(ec.c, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "+
			strconv.Itoa(len(body))+"\r\n\r\n"+body)
	} else if kind == "no_sni" {
		ec.alert(alertUnrecognizedName)
	} else {
		ec.alert(alertAccessDenied)
	}
	ec.event(rule, event.DecisionBlock, 0, 0, "", &event.Finding{Kind: kind, Severity: "medium", Action: "block", Message: msg})
}

// replay reads what was read while deciding, then the connection.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (ec *conn) replay() net.Conn {
	return &replayConn{Conn: ec.c, r: io.MultiReader(bytes.NewReader(ec.raw), ec.br)}
}

// tunnel splices the connection to the destination, decrypting nothing.
func (ec *conn) tunnel(rule Rule, extra *event.Finding) {
	s := ec.s
	addr := net.JoinHostPort(ec.host, ec.port)
	ctx, cancel := context.WithTimeout(context.Background(), s.limits.HandshakeTimeout)
	up, err := s.o.Dial(ctx, "tcp", addr)
	cancel()
	if err != nil {
		if ec.connect {
			_, _ = io.WriteString(ec.c, "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		}
		ec.event(rule, event.DecisionAllow, 0, 0, "dial "+addr+": "+err.Error(), extra)
		return
	}
	if !s.track(up) {
		_ = up.Close()
		return
	}
	defer func() { s.untrack(up); _ = up.Close() }()
	if ec.connect {
		ec.established()
		// The ClientHello, when the tunnel carries TLS, for the event's
		// SNI and offered version; it is replayed to the destination.
		// A protocol whose server speaks first sends nothing: wait a
		// little only.
		_ = ec.c.SetReadDeadline(time.Now().Add(min(time.Second, s.limits.HandshakeTimeout)))
		if b, err := ec.br.Peek(1); err == nil && b[0] == 0x16 {
			_ = ec.c.SetReadDeadline(time.Now().Add(s.limits.HandshakeTimeout))
			ec.readHello()
		}
	}
	_ = ec.c.SetDeadline(time.Time{})
	up2c, c2up := splice(ec.replay(), up, s.limits.IdleTimeout)
	ec.event(rule, event.DecisionAllow, c2up, up2c, "", extra)
}

// splice copies both ways until both ends are done or nothing moved in
// either direction for idle.
func splice(client, up net.Conn, idle time.Duration) (down, upBytes int64) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		down = copyIdle(client, up, idle, &last)
		closeWrite(client)
	}()
	upBytes = copyIdle(up, client, idle, &last)
	closeWrite(up)
	wg.Wait()
	return down, upBytes
}

func copyIdle(dst, src net.Conn, idle time.Duration, last *atomic.Int64) int64 {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		_ = src.SetReadDeadline(time.Now().Add(idle))
		k, err := src.Read(buf)
		if k > 0 {
			last.Store(time.Now().UnixNano())
			_ = dst.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := dst.Write(buf[:k]); werr != nil {
				_ = src.Close()
				return n
			}
			n += int64(k)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < idle {
				continue // the other direction is busy
			}
			if !errors.Is(err, io.EOF) {
				_ = dst.Close()
				_ = src.Close()
			}
			return n
		}
	}
}

func closeWrite(c net.Conn) {
	if rc, ok := c.(*replayConn); ok {
		c = rc.Conn
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		_ = c.Close()
	}
}

// intercept terminates the client's TLS with a minted leaf and hands the
// connection to the http.Server. It reports whether it did.
func (ec *conn) intercept(rule Rule, release func()) bool {
	s := ec.s
	name := ec.host
	if ec.hello != nil && ec.hello.ServerName != "" {
		name = ec.hello.ServerName
	}
	t := tls.Server(ec.replay(), tlsServerConfig(s.minter, name))
	ctx, cancel := context.WithTimeout(context.Background(), s.limits.HandshakeTimeout)
	err := t.HandshakeContext(ctx)
	cancel()
	if err != nil {
		ec.interceptFailed(rule, err)
		return false
	}
	_ = ec.c.SetDeadline(time.Time{})
	var out net.Conn = t
	if t.ConnectionState().NegotiatedProtocol != "h2" {
		out = &tlsFramingConn{FramingConn: proxy.NewFramingConn(t), tc: t}
	}
	authority := ec.host
	if ec.port != "443" {
		authority = net.JoinHostPort(ec.host, ec.port)
	}
	s.untrack(ec.c)
	s.meta.Store(out, &connInfo{host: ec.host, authority: authority, rule: rule, clientIP: hostOf(ec.c.RemoteAddr()), release: release})
	if !s.handoff.push(out) {
		s.meta.Delete(out)
		_ = t.Close()
		release()
	}
	return true
}

// tlsServerConfig terminates an intercepted connection: the compatible
// profile (TLS 1.2 and 1.3, AEAD suites, X25519MLKEM768 first), HTTP/2 and
// HTTP/1.1, the leaf minted for name.
func tlsServerConfig(m *Minter, name string) *tls.Config {
	tc := tlsconf.Profile(tlsconf.ProfileCompatible)
	tc.NextProtos = []string{"h2", "http/1.1"}
	tc.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return m.Certificate(name) }
	return tc
}

// interceptFailed records a failed interception handshake. When the
// client refused the minted certificate (it sent an alert: it does not
// trust the Vigil CA, or pins the real one) and the rule's fallback is
// tunnel, the host is tunneled for pin_ttl from the next connection on:
// this one cannot be saved, the client has already seen the certificate.
func (ec *conn) interceptFailed(rule Rule, err error) {
	var oe *net.OpError
	refused := errors.As(err, &oe) && oe.Op == "remote error"
	f := &event.Finding{Kind: "interception_failed", Severity: "medium", Action: "block",
		Message: "the interception handshake failed: " + err.Error()}
	if refused {
		f.Kind = "interception_refused"
		f.Message = "the client refused the minted certificate (" + err.Error() + ")"
		if rule.Fallback == config.EgressTunnel {
			ec.s.pins.add(ec.host, time.Now().Add(ec.s.limits.PinTTL))
			f.Action = "tunnel"
			f.Message += "; " + ec.host + " is tunneled from now on for " + ec.s.limits.PinTTL.String()
		}
	}
	ec.event(rule, event.DecisionBlock, 0, 0, "", f)
}

// tlsFramingConn is an HTTP/1 connection scanned for ambiguous framing
// that still exposes its TLS state (proxy.TLSStateFrom finds it).
type tlsFramingConn struct {
	*proxy.FramingConn
	tc *tls.Conn
}

// ConnectionState returns the TLS state.
func (c *tlsFramingConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	ctx = proxy.ConnContext(ctx, c)
	if v, ok := s.meta.Load(c); ok {
		ctx = context.WithValue(ctx, infoKey{}, v.(*connInfo))
		ctx = pipeline.WithIntercepted(ctx)
	}
	return ctx
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	if st == http.StateClosed || st == http.StateHijacked {
		if v, ok := s.meta.LoadAndDelete(c); ok {
			v.(*connInfo).release()
		}
	}
}

// event records a connection-level egress event: type "egress", the
// destination, the TLS version offered, the bytes each way.
func (ec *conn) event(rule Rule, decision string, up, down int64, errMsg string, f *event.Finding) {
	s := ec.s
	if s.o.Events == nil {
		return
	}
	cfg := s.o.Config()
	ev := event.Get()
	ev.Type = "egress"
	ev.TxnID = newID()
	ev.Time = ec.start.UTC()
	ev.Placement = s.o.Placement
	ev.Mode = cfg.Mode
	ev.Route = rule.Name
	ev.Source.IP = hostOf(ec.c.RemoteAddr())
	ev.Source.Workload = cfg.SourceIdentity()
	ev.Destination.Host = ec.host
	if ec.host != "" && ec.port != "" {
		ev.Destination.Upstream = net.JoinHostPort(ec.host, ec.port)
	}
	if ec.connect {
		ev.Request.Method = http.MethodConnect
	}
	if h := ec.hello; h != nil {
		if h.ServerName != "" {
			ev.Destination.Host = h.ServerName
		}
		ev.TLS = &event.TLS{Version: versionName(h.MaxVersion())}
	}
	ev.Request.Bytes = up
	ev.Response.Bytes = down
	if f != nil {
		f.Stage, f.Layer, f.RuleID = "egress", "egress", rule.Name
		if rule.pinned && f.Kind == "" {
			f.Kind = "pinned_client"
		}
		ev.Findings = append(ev.Findings, *f)
	} else if rule.pinned {
		ev.Findings = append(ev.Findings, event.Finding{Stage: "egress", Layer: "egress", RuleID: rule.Name, Kind: "pinned_client",
			Severity: "info", Action: "tunnel", Message: "tunneled: this host's client refused an earlier interception"})
	}
	ev.Decision = decision
	ev.Error = errMsg
	ms := float64(time.Since(ec.start).Microseconds()) / 1000
	ev.Latency.Total, ev.Latency.Vigil = ms, ms
	s.o.Events.Enqueue(ev)
}

func versionName(v uint16) string {
	if v == 0 {
		return ""
	}
	return strings.TrimPrefix(tls.VersionName(v), "TLS ")
}

func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "egress-" + hex.EncodeToString(b[:])
}
