// Command httputilproxy is the Go baseline of bench/run.sh: a plain
// net/http/httputil.ReverseProxy in front of one upstream, with the transport
// tuned the way a production proxy tunes it (a pooled connection per wrk
// connection, dial and idle timeouts, a buffer pool). Whatever Vigil costs on
// top of this is the price of its pipeline.
//
//	go run ./bench/httputilproxy -addr 127.0.0.1:8080 -upstream http://127.0.0.1:9000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:9000", "upstream base URL")
	maxIdle := flag.Int("max-idle-per-host", 1024, "idle upstream connections kept per host (at least the number of client connections)")
	flag.Parse()

	target, err := parseUpstream(*upstream)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httputilproxy:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, *addr, newProxy(target, *maxIdle, logger), os.Stdout); err != nil {
		logger.Error("httputilproxy", "err", err)
		os.Exit(1)
	}
}

func parseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream: %q is not an http(s)://host[:port] URL", s)
	}
	return u, nil
}

// newTransport is an http.Transport sized for a proxy: it keeps up to
// maxIdlePerHost idle connections to the single upstream, so every client
// connection of the load generator maps to a reused upstream connection
// instead of a fresh dial (the default of 2 per host would make most requests
// dial).
func newTransport(maxIdlePerHost int) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil, // never an environment proxy between us and the upstream
		DialContext:           dialer.DialContext,
		MaxIdleConns:          maxIdlePerHost,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true, // pass Accept-Encoding and bodies through untouched
		ForceAttemptHTTP2:     true,
	}
}

// newProxy forwards every request to target, adding X-Forwarded-For/-Host/
// -Proto like nginx and Caddy are configured to.
func newProxy(target *url.URL, maxIdlePerHost int, logger *slog.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport:  newTransport(maxIdlePerHost),
		BufferPool: newBufferPool(32 * 1024),
		ErrorLog:   slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// bufferPool implements httputil.BufferPool with a sync.Pool of fixed-size
// buffers, so copying bodies allocates nothing in steady state.
type bufferPool struct{ p sync.Pool }

var _ httputil.BufferPool = (*bufferPool)(nil)

func newBufferPool(size int) *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}}}
}

func (bp *bufferPool) Get() []byte  { return *(bp.p.Get().(*[]byte)) }
func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }

// run serves h on addr until ctx is done. It prints "listening on ADDR" to
// out once the socket is bound.
func run(ctx context.Context, addr string, h http.Handler, out io.Writer) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	fmt.Fprintf(out, "listening on %s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
