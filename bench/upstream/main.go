// Command upstream is the benchmark origin server: it answers every request
// with the same ~1 KB JSON document, keep-alive, doing as little work per
// request as net/http allows. It is the (a) target of bench/run.sh and the
// upstream of every proxy the script measures.
//
//	go run ./bench/upstream -addr 127.0.0.1:9000
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
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, *addr, os.Stdout); err != nil {
		slog.Error("upstream", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is done. It prints "listening on ADDR" to out once the
// socket is bound, so a caller that passed port 0 learns the real port.
func run(ctx context.Context, addr string, out io.Writer) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           newHandler(),
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

// body is the fixed response: a product listing of about 1 KB.
func body() []byte {
	b := []byte(`{"items":[`)
	for i := 1; i <= 8; i++ {
		if i > 1 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":%d,"sku":"SKU-%06d","name":"Wool socks, size %d","price_cents":%d,"currency":"EUR","in_stock":true}`,
			i, 100000+i, 36+i, 1299+i*100)
	}
	b = append(b, `],"next_cursor":"eyJvZmZzZXQiOjh9","count":8}`...)
	return b
}

// handler writes the same body to every request. Header values are built once
// and shared: net/http only reads them.
type handler struct {
	body          []byte
	contentType   []string
	contentLength []string
}

func newHandler() *handler {
	b := body()
	return &handler{
		body:          b,
		contentType:   []string{"application/json"},
		contentLength: []string{strconv.Itoa(len(b))},
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	hdr := w.Header()
	hdr["Content-Type"] = h.contentType
	hdr["Content-Length"] = h.contentLength
	_, _ = w.Write(h.body)
}
