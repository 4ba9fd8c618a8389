package pipeline

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Txn is one transaction: a request, what the stages found and decided, and
// the response. A Txn is owned by one request and must not be kept after the
// request ends (they are pooled).
type Txn struct {
	ID string
	// TraceID is the W3C trace id (from an incoming traceparent, or new);
	// Traceparent is the header value sent upstream (our own span).
	TraceID      string
	Traceparent  string
	ParentTxnID  string
	Start        time.Time
	Req          *http.Request
	Route        string
	Upstream     string
	Mode         string // enforce | monitor
	Placement    string
	ClientIP     netip.Addr
	ClientIPText string
	// Country is the client address's ISO country code, when the ip
	// layer looked it up (protect.geoip).
	Country string
	// Endpoint is the endpoint template, when discovery knows it.
	Endpoint string
	// Auth is the kind of credential the request carried.
	Auth     string
	Identity *event.Identity
	Findings []event.Finding
	// Protected says an enforcing (not passive) stage inspected the request.
	Protected bool
	// Sample marks a transaction whose bodies are profiled by discovery.
	Sample bool
	// Decision is the final decision (Allow in monitor mode).
	Decision Action
	// Status is the status Vigil answered with when it stopped the request.
	Status int

	Resp ResponseInfo
	// UpstreamErr describes a failed upstream exchange.
	UpstreamErr string
	// UpstreamTime is the time spent waiting for the upstream.
	UpstreamTime time.Duration
	// UpstreamTLS is the upstream connection's TLS state, when it was TLS.
	UpstreamTLS *tls.ConnectionState
	// UpstreamMTLS: Vigil presented a client certificate on that hop.
	UpstreamMTLS bool

	body          []byte
	bodyRead      bool
	bodyTruncated bool
	idHdr         [1]string
	wantRespBody  bool
	respLimit     int
	respTrunc     bool
	respReplaced  bool
	monitor       bool
	stash         [4]stashed
	findingsBuf   [4]event.Finding
	noRecycle     bool
	rw            ResponseWriter
	tpHdr         [1]string
}

// ResponseInfo is what stages can see of the response.
type ResponseInfo struct {
	Status int
	Header http.Header
	// Body is a bounded prefix of the body, kept only when a stage asked.
	Body  []byte
	Bytes int64
}

var txnPool = sync.Pool{New: func() any { return new(Txn) }}

// NewTxn takes a Txn from the pool and gives it a fresh id and trace
// context. traceparent is the incoming header value ("" when absent).
func NewTxn(r *http.Request, now time.Time, traceparent string) *Txn {
	tx := txnPool.Get().(*Txn)
	tx.Req = r
	tx.Start = now
	tx.ID = NewID(now)
	tx.idHdr[0] = tx.ID
	tx.Findings = tx.findingsBuf[:0]
	tx.Traceparent, tx.TraceID = childTraceparent(traceparent)
	return tx
}

// Release returns the Txn to the pool.
func (tx *Txn) Release() {
	if tx.noRecycle {
		return
	}
	buf := tx.Resp.Body[:0]
	*tx = Txn{}
	if cap(buf) <= 64<<10 {
		tx.Resp.Body = buf
	}
	txnPool.Put(tx)
}

// TraceparentHeader is the traceparent header value as a slice.
func (tx *Txn) TraceparentHeader() []string {
	tx.tpHdr[0] = tx.Traceparent
	return tx.tpHdr[:]
}

// IDHeader is the Vigil-Txn header value, as a slice that needs no
// allocation to set.
func (tx *Txn) IDHeader() []string { return tx.idHdr[:] }

type stashed struct{ k, v any }

// Stash keeps a value for the rest of the transaction under a key of the
// stage's own type (what its request phase found, for its response
// phase). A few values fit without allocating; more are dropped (Stash
// reports false).
func (tx *Txn) Stash(k, v any) bool {
	for i := range tx.stash {
		if tx.stash[i].k == nil || tx.stash[i].k == k {
			tx.stash[i] = stashed{k, v}
			return true
		}
	}
	return false
}

// Stashed returns the value stashed under k, or nil.
func (tx *Txn) Stashed(k any) any {
	for i := range tx.stash {
		if tx.stash[i].k == k {
			return tx.stash[i].v
		}
	}
	return nil
}

// Monitor reports whether the running stage is in monitor mode (the route's
// mode or the stage's own): findings a stage records itself should then
// carry WouldBlock instead of stopping anything.
func (tx *Txn) Monitor() bool { return tx.monitor }

// RespTruncated reports whether tx.Resp.Body is only a prefix of the body.
func (tx *Txn) RespTruncated() bool { return tx.respTrunc }

// SetRespTruncated is set by the proxy when it buffered a prefix only.
func (tx *Txn) SetRespTruncated(t bool) { tx.respTrunc = t }

// ReplaceResponseBody makes body the response sent to the client in place
// of the upstream's (a response inspector stripping fields). It is only
// honoured for a fully buffered body.
func (tx *Txn) ReplaceResponseBody(body []byte) {
	tx.Resp.Body = body
	tx.respReplaced = true
}

// ResponseReplaced reports whether a stage replaced the response body.
func (tx *Txn) ResponseReplaced() bool { return tx.respReplaced }

// AddFinding records a finding.
func (tx *Txn) AddFinding(f event.Finding) { tx.Findings = append(tx.Findings, f) }

// Body returns the buffered request body (nil if no stage asked for it or
// the request had none) and whether it was cut at the inspection cap.
func (tx *Txn) Body() (body []byte, truncated bool) { return tx.body, tx.bodyTruncated }

// ErrBodyTooLarge is returned by BufferBody when the body exceeds the
// inspection cap and the policy is to reject.
var ErrBodyTooLarge = errors.New("request body exceeds the inspection limit")

// BufferBody reads the request body once, up to limit bytes, and puts an
// equivalent reader back on the request so the upstream still gets every
// byte. With partial set, a longer body is inspected up to limit and the
// rest streams on; otherwise ErrBodyTooLarge is returned.
func (tx *Txn) BufferBody(limit int64, partial bool) error {
	if tx.bodyRead {
		return nil
	}
	tx.bodyRead = true
	r := tx.Req
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	if r.ContentLength > limit && !partial {
		return ErrBodyTooLarge
	}
	size := limit + 1
	if r.ContentLength >= 0 && r.ContentLength < size {
		size = r.ContentLength + 1
	}
	var buf bytes.Buffer
	buf.Grow(int(min(size, 64<<10)))
	n, err := io.Copy(&buf, io.LimitReader(r.Body, limit+1))
	if err != nil {
		return err
	}
	b := buf.Bytes()
	if n > limit {
		if !partial {
			return ErrBodyTooLarge
		}
		tx.bodyTruncated = true
		tx.body = b[:limit]
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		return nil
	}
	tx.body = b
	orig := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{bytes.NewReader(b), orig}
	r.ContentLength = int64(len(b))
	return nil
}

// NewID returns a transaction id: 32 lowercase hex digits, the first 12 the
// Unix time in milliseconds (so ids sort by time), the rest random.
func NewID(now time.Time) string {
	var b [32]byte
	ms := uint64(now.UnixMilli())
	for i := 11; i >= 0; i-- {
		b[i] = hexDigits[ms&0xf]
		ms >>= 4
	}
	r1, r2 := rand.Uint64(), rand.Uint64()
	for i := 12; i < 28; i++ {
		b[i] = hexDigits[r1&0xf]
		r1 >>= 4
	}
	for i := 28; i < 32; i++ {
		b[i] = hexDigits[r2&0xf]
		r2 >>= 4
	}
	return string(b[:])
}

const hexDigits = "0123456789abcdef"

// childTraceparent returns the traceparent to send upstream (a new span of
// the incoming trace, or a new trace) and the trace id. The trace id is a
// substring of the returned header, so only one string is allocated.
func childTraceparent(in string) (out, traceID string) {
	var b [55]byte
	copy(b[:], "00-")
	flags := "01"
	if validTraceparent(in) {
		copy(b[3:35], in[3:35])
		flags = in[53:55]
	} else {
		r1, r2 := rand.Uint64(), rand.Uint64()
		putHex(b[3:19], r1)
		putHex(b[19:35], r2|1)
	}
	b[35] = '-'
	putHex(b[36:52], rand.Uint64()|1)
	b[52] = '-'
	copy(b[53:], flags)
	out = string(b[:])
	return out, out[3:35]
}

func putHex(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

// validTraceparent checks a version-00 W3C traceparent: lowercase hex,
// non-zero trace and parent ids.
func validTraceparent(s string) bool {
	if len(s) != 55 || s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	zeroT, zeroP := true, true
	for i := 3; i < 55; i++ {
		if i == 35 || i == 52 {
			continue
		}
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
		if c != '0' {
			if i < 35 {
				zeroT = false
			} else if i < 52 {
				zeroP = false
			}
		}
	}
	return !zeroT && !zeroP
}
