package pipeline

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"
)

// ResponseWriter wraps the client's ResponseWriter for one transaction: it
// records status, size and (when a stage asked) a bounded body prefix,
// stamps the Vigil-Txn header, and keeps each write inside the write
// timeout. It lives inside the Txn, so wrapping costs no allocation.
type ResponseWriter struct {
	w            http.ResponseWriter
	tx           *Txn
	wroteHeader  bool
	hijacked     bool
	writeTimeout time.Duration
	headerAt     time.Time
	extendedAt   time.Time
}

// writeSlack is how much of a response is written before write deadlines
// are armed.
const writeSlack = 64 << 10

// deadliner is implemented by net/http's HTTP/1 and HTTP/2 writers.
type deadliner interface {
	SetWriteDeadline(time.Time) error
	SetReadDeadline(time.Time) error
}

// Writer returns the transaction's wrapped writer around w.
func (tx *Txn) Writer(w http.ResponseWriter, writeTimeout time.Duration) *ResponseWriter {
	tx.rw = ResponseWriter{w: w, tx: tx, writeTimeout: writeTimeout}
	return &tx.rw
}

// Txn returns the transaction the writer belongs to.
func (rw *ResponseWriter) Txn() *Txn { return rw.tx }

// Header implements http.ResponseWriter.
func (rw *ResponseWriter) Header() http.Header { return rw.w.Header() }

// WroteHeader reports whether the response has started.
func (rw *ResponseWriter) WroteHeader() bool { return rw.wroteHeader || rw.hijacked }

// HeaderTime is when the response headers were written.
func (rw *ResponseWriter) HeaderTime() time.Time { return rw.headerAt }

// WriteHeader implements http.ResponseWriter.
func (rw *ResponseWriter) WriteHeader(code int) {
	if rw.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		rw.w.WriteHeader(code)
		return
	}
	rw.wroteHeader = true
	rw.headerAt = time.Now()
	tx := rw.tx
	tx.Resp.Status = code
	h := rw.w.Header()
	h["Vigil-Txn"] = tx.idHdr[:]
	tx.Resp.Header = h
	rw.extend()
	rw.w.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (rw *ResponseWriter) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	tx := rw.tx
	if tx.wantRespBody {
		if room := tx.respLimit - len(tx.Resp.Body); room > 0 {
			tx.Resp.Body = append(tx.Resp.Body, p[:min(room, len(p))]...)
		}
	}
	rw.extend()
	n, err := rw.w.Write(p)
	tx.Resp.Bytes += int64(n)
	return n, err
}

// extend pushes the write deadline forward. The first writeSlack bytes of
// a response need none (the socket buffer takes them without blocking, and
// net/http's own deadlines bound the connection); after that it is
// refreshed when a quarter of the timeout has passed since the last
// refresh, so a write still gets at least three quarters of write_timeout.
func (rw *ResponseWriter) extend() {
	if rw.writeTimeout <= 0 || rw.tx.Resp.Bytes < writeSlack {
		return
	}
	now := time.Now()
	if !rw.extendedAt.IsZero() && now.Sub(rw.extendedAt) < rw.writeTimeout/4 {
		return
	}
	rw.extendedAt = now
	if d, ok := rw.w.(deadliner); ok {
		_ = d.SetWriteDeadline(now.Add(rw.writeTimeout))
	}
}

// Flush implements http.Flusher (server-sent events, gRPC streams).
func (rw *ResponseWriter) Flush() {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if f, ok := rw.w.(http.Flusher); ok {
		rw.extendNow()
		f.Flush()
	}
}

// extendNow arms the write deadline regardless of the bytes written: a
// flush of a stream (server-sent events, gRPC) can block on a slow reader.
func (rw *ResponseWriter) extendNow() {
	if rw.writeTimeout <= 0 {
		return
	}
	now := time.Now()
	if !rw.extendedAt.IsZero() && now.Sub(rw.extendedAt) < rw.writeTimeout/4 {
		return
	}
	rw.extendedAt = now
	if d, ok := rw.w.(deadliner); ok {
		_ = d.SetWriteDeadline(now.Add(rw.writeTimeout))
	}
}

// Hijack implements http.Hijacker for protocol upgrades (WebSocket). The
// connection's deadlines are cleared: an upgraded stream lives as long as
// its peers keep it.
func (rw *ResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rw.w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	rw.hijacked = true
	rw.headerAt = time.Now()
	rw.tx.Resp.Status = http.StatusSwitchingProtocols
	rw.tx.Resp.Header = rw.w.Header()
	_ = c.SetDeadline(time.Time{})
	return c, brw, nil
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *ResponseWriter) Unwrap() http.ResponseWriter { return rw.w }

// SetWriteDeadline and SetReadDeadline pass through to the connection.
func (rw *ResponseWriter) SetWriteDeadline(t time.Time) error {
	return http.NewResponseController(rw.w).SetWriteDeadline(t)
}

// SetReadDeadline implements the ResponseController deadline interface.
func (rw *ResponseWriter) SetReadDeadline(t time.Time) error {
	return http.NewResponseController(rw.w).SetReadDeadline(t)
}

// BodyGuard bounds how a request body may arrive: each read must make
// progress within Idle; the whole body must be in by Total; after Grace
// the average rate must stay at or above MinRate bytes per second.
type BodyGuard struct {
	Idle, Total, Grace time.Duration
	MinRate            int64 // bytes per second; <= 0 disables
}

// ErrBodyTooSlow is the error of a body read cut by a BodyGuard (a
// timeout, as net.Error, so it is answered 408).
var ErrBodyTooSlow error = bodySlowError{}

type bodySlowError struct{}

func (bodySlowError) Error() string   { return "request body arrived too slowly" }
func (bodySlowError) Timeout() bool   { return true }
func (bodySlowError) Temporary() bool { return false }

// bodyReader keeps the wait for each piece of a request body under the
// read timeout, the whole body under the total deadline and its average
// rate above the minimum, so a client that trickles its body cannot hold
// the proxy.
type bodyReader struct {
	r     io.ReadCloser
	d     deadliner
	g     BodyGuard
	start time.Time
	n     int64
	err   error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	now := time.Now()
	dl := now.Add(b.g.Idle)
	if b.g.Total > 0 {
		if end := b.start.Add(b.g.Total); end.Before(dl) {
			dl = end
		}
	}
	if b.g.MinRate > 0 {
		// The read must not outlast the moment the average rate would fall
		// below the minimum (the grace period first).
		need := time.Duration(float64(b.n+1) / float64(b.g.MinRate) * float64(time.Second))
		if need < b.g.Grace {
			need = b.g.Grace
		}
		if end := b.start.Add(need); end.Before(dl) {
			dl = end
		}
	}
	if !dl.After(now) {
		b.err = ErrBodyTooSlow
		_ = b.d.SetReadDeadline(now) // the connection is not reused
		return 0, b.err
	}
	_ = b.d.SetReadDeadline(dl)
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		// Body complete: the server manages the connection's deadlines
		// again. On any other error the deadline stays, so the server's
		// attempt to drain the rest fails fast and the connection closes.
		_ = b.d.SetReadDeadline(time.Time{})
	} else if err != nil && dl.Before(now.Add(b.g.Idle)) && !time.Now().Before(dl) {
		// Cut by the total deadline or the rate, not by idleness.
		b.err = ErrBodyTooSlow
		return n, b.err
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.r.Close() }

// GuardBody wraps the request body so each read must make progress within
// timeout. The wrapper is its own allocation, not part of the pooled Txn:
// net/http's Transport may go on reading a request body after the round
// trip returns (an upstream that answers before the upload ends), so the
// reader can outlive the Txn that made it.
func (tx *Txn) GuardBody(g BodyGuard) {
	r := tx.Req
	if g.Idle <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	d, ok := tx.rw.w.(deadliner)
	if !ok {
		return
	}
	r.Body = &bodyReader{r: r.Body, d: d, g: g, start: tx.Start}
}
