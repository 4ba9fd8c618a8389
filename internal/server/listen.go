package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/proxy"
)

// framingListener wraps every accepted connection in a proxy.FramingConn.
type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return proxy.NewFramingConn(c), nil
}

// newHTTPServer returns a data-plane server with the hardening limits.
func newHTTPServer(h http.Handler, lim config.Limits, log *slog.Logger, h2c bool) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	if h2c {
		p.SetUnencryptedHTTP2(true)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		// The handler enforces max_header_bytes itself (JSON 431 with an
		// event); net/http's own cap, at twice that, is the backstop for
		// headers too large to even parse.
		MaxHeaderBytes: 2 * int(lim.MaxHeaderBytes),
		ConnContext:    proxy.ConnContext,
		Protocols:      &p,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// listenHTTP serves plaintext HTTP/1.1 and h2c on l.
func listenHTTP(l net.Listener, srv *http.Server, lim config.Limits) error {
	l = netutil.LimitListener(l, lim.MaxConnections)
	err := srv.Serve(framingListener{l})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// tlsListener terminates TLS itself so that HTTP/1.1 connections can be
// scanned for ambiguous framing (the scanner must see decrypted bytes,
// which net/http's own TLS handling would hide): HTTP/2 connections are
// handed to the server as *tls.Conn (served by net/http's HTTP/2), HTTP/1
// connections as a FramingConn around the *tls.Conn.
type tlsListener struct {
	inner     net.Listener
	cfg       *tls.Config
	handshake time.Duration
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	log       *slog.Logger
}

func newTLSListener(l net.Listener, cfg *tls.Config, handshake time.Duration, log *slog.Logger) *tlsListener {
	t := &tlsListener{inner: l, cfg: cfg, handshake: handshake, conns: make(chan net.Conn), done: make(chan struct{}), log: log}
	go t.acceptLoop()
	return t
}

func (t *tlsListener) acceptLoop() {
	for {
		c, err := t.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			t.Close()
			return
		}
		go t.handshakeConn(c)
	}
}

func (t *tlsListener) handshakeConn(c net.Conn) {
	tc := tls.Server(c, t.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), t.handshake)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		t.log.Debug("tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		_ = c.Close()
		return
	}
	var out net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		out = &tlsFramingConn{FramingConn: proxy.NewFramingConn(tc), tc: tc}
	}
	select {
	case t.conns <- out:
	case <-t.done:
		_ = c.Close()
	}
}

func (t *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-t.conns:
		return c, nil
	case <-t.done:
		return nil, net.ErrClosed
	}
}

func (t *tlsListener) Close() error {
	t.closeOnce.Do(func() { close(t.done) })
	return t.inner.Close()
}

func (t *tlsListener) Addr() net.Addr { return t.inner.Addr() }

// tlsFramingConn exposes the TLS state of a scanned HTTP/1 connection.
type tlsFramingConn struct {
	*proxy.FramingConn
	tc *tls.Conn
}

// ConnectionState returns the TLS state (proxy.TLSState finds it).
func (c *tlsFramingConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// listenHTTPS serves HTTP/1.1 and HTTP/2 over TLS on l.
func listenHTTPS(l net.Listener, srv *http.Server, cfg *tls.Config, lim config.Limits, log *slog.Logger) error {
	srv.TLSConfig = cfg
	tl := newTLSListener(netutil.LimitListener(l, lim.MaxConnections), cfg, lim.ReadHeaderTimeout, log)
	err := srv.Serve(tl)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
