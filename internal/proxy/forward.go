package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"

	"github.com/vigil-sec/vigil/internal/pipeline"
)

// forwarder sends a request upstream and streams the answer back. It does
// what httputil.ReverseProxy does for ordinary requests, with less work per
// request: the inbound request is owned by the handler, so its header map
// and URL are edited in place rather than cloned (the stages have already
// seen them). Protocol upgrades (WebSocket) go to the ReverseProxy, which
// owns the hijack dance.
//
// Kept from ReverseProxy: hop-by-hop headers stripped both ways (including
// those named in Connection), "Te: trailers" passed on, unparsable query
// parameters re-encoded, no Go User-Agent added, announced and unannounced
// trailers, immediate flushing of streams (unknown length, event streams),
// and an aborted response (not a truncated 200) when the upstream body
// breaks. Not kept: 1xx informational responses other than 101 are not
// relayed (the transport consumes them).
type forwarder struct {
	target *url.URL // scheme and host, and a base path when the upstream URL has one
	rt     http.RoundTripper
	// clientCert: the upstream is called with a client certificate
	// (upstream_tls), so its TLS hop is mutual.
	clientCert bool
	trust      Trust
	bufs       bufferPool
	errh       func(http.ResponseWriter, *http.Request, error)
	upgrades   *httputil.ReverseProxy
	// chain judges responses before they are sent, when one of its stages
	// is a response inspector; respLimit caps what is buffered for it.
	chain     *pipeline.Chain
	respLimit int
	// pool, when set, replaces target and upgrades: a target is picked
	// per request (and per retry) from it.
	pool *pool
}

// hopHeaders are removed in both directions (RFC 9110 §7.6.1).
var hopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

var (
	noUserAgent = []string{""}
	teTrailers  = []string{"trailers"}
)

func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for sf := range strings.SplitSeq(v, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, in *http.Request) {
	target, upgrades := f.target, f.upgrades
	var ex exchange
	if f.pool != nil {
		var ok bool
		if ex, ok = f.pool.begin(w, in); !ok {
			f.errh(w, in, errNoTarget)
			return
		}
		defer ex.end()
		target, upgrades = ex.t.url, ex.t.upgrades
	}
	if in.Header["Upgrade"] != nil && httpguts.HeaderValuesContainsToken(in.Header["Connection"], "Upgrade") {
		upgrades.ServeHTTP(w, in)
		return
	}
	out := new(http.Request)
	*out = *in // shares the header map, URL and context: edited below
	out.RequestURI = ""
	out.Close = false
	if in.ContentLength == 0 {
		out.Body = nil // lets the transport retry on a dead keep-alive connection
	}
	if out.Body != nil {
		// The transport closes the body it was given, also on failure;
		// closing the server's request body would drain it.
		nb := &noClose{r: out.Body}
		out.Body = nb
		defer nb.Close()
	}
	setTarget(out, in, target)
	h := out.Header
	te := httpguts.HeaderValuesContainsToken(h["Te"], "trailers")
	// The gateway's own trace headers are end-to-end whatever the client
	// lists in Connection: a client must not unlink the hops of its own
	// transaction by naming them hop-by-hop.
	tp, txn := h["Traceparent"], h["Vigil-Txn"]
	removeHopByHop(h)
	if te {
		h["Te"] = teTrailers
	}
	if tp != nil {
		h["Traceparent"] = tp
	}
	if txn != nil {
		h["Vigil-Txn"] = txn
	}
	f.trust.SetForwarded(out, in, in.TLS != nil)
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noUserAgent // the transport then sends none
	}

	var res *http.Response
	var err error
	if f.pool != nil {
		res, err = ex.roundTrip(f, out, in)
	} else {
		res, err = f.roundTrip(out)
	}
	if err != nil {
		f.errh(w, in, err)
		return
	}
	defer res.Body.Close()
	if res.TLS != nil {
		if rw, ok := w.(*pipeline.ResponseWriter); ok {
			tx := rw.Txn() // the event records the upstream hop's TLS
			tx.UpstreamTLS, tx.UpstreamMTLS = res.TLS, f.clientCert
		}
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		f.errh(w, in, errors.New("upstream switched protocols on a request that asked for no upgrade"))
		return
	}
	removeHopByHop(res.Header)
	var body io.Reader = res.Body
	if f.chain != nil {
		if rw, ok := w.(*pipeline.ResponseWriter); ok {
			var stop bool
			if body, stop = f.inspect(rw, in, res); stop {
				return
			}
		}
	}
	dst := w.Header()
	for k, vv := range res.Header {
		if k == "Vigil-Txn" {
			continue // the gateway's own id is already set
		}
		dst[k] = vv // res.Header is ours: no copy
	}
	if n := len(res.Trailer); n > 0 {
		keys := make([]string, 0, n)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(res.StatusCode)

	flush := res.ContentLength == -1 || isEventStream(res.Header)
	if err := f.copyBody(w, body, flush); err != nil {
		// The status line is out: the only honest signal left is to
		// abort the response so the client sees it incomplete.
		panic(http.ErrAbortHandler)
	}
	if len(res.Trailer) > 0 {
		// Force chunking, so the trailers can follow the body.
		_ = http.NewResponseController(w).Flush()
		for k, vv := range res.Trailer {
			dst[http.TrailerPrefix+k] = vv
		}
	}
}

// setTarget points out at target: only scheme and host change, so what the
// stages saw stays true, unless the target has a base path.
func setTarget(out, in *http.Request, target *url.URL) {
	u := in.URL
	if target.Path != "" || target.RawPath != "" {
		cp := *in.URL // the upstream's base path must not leak into events
		u = &cp
		u.Path, u.RawPath = joinPath(target, in.URL)
	}
	out.URL = u
	u.Scheme, u.Host = target.Scheme, target.Host
	if u.RawQuery != "" {
		u.RawQuery = cleanQuery(u.RawQuery)
	}
}

// roundTrip sends out once.
func (f *forwarder) roundTrip(out *http.Request) (*http.Response, error) {
	res, err := f.rt.RoundTrip(out)
	if nb, ok := out.Body.(*noClose); ok {
		if berr := nb.readErr(); berr != nil {
			// The client's body failed (malformed chunking, a trickle
			// past the read timeout, over the size limit): the client's
			// fault, not the upstream's. An answer the upstream gave to
			// the truncated request is not passed on as if it were to
			// the request the client meant.
			if err == nil {
				res.Body.Close()
			}
			err = &ClientBodyError{Err: berr}
		}
	}
	return res, err
}

// inspect runs the chain's response inspectors on res before anything of
// it reaches the client. It buffers the body (up to respLimit) unless the
// response streams or is compressed, in which case the inspectors see the
// headers only. It returns the body to send (the buffered bytes, followed by
// the rest when only a prefix was read), or stop when the response was
// replaced by an error.
func (f *forwarder) inspect(rw *pipeline.ResponseWriter, in *http.Request, res *http.Response) (io.Reader, bool) {
	tx := rw.Txn()
	tx.Resp.Status, tx.Resp.Header = res.StatusCode, res.Header
	if !f.chain.WantsResponse(tx) {
		return res.Body, false
	}
	var body io.Reader = res.Body
	var buf []byte
	full := false
	if bufferable(res) {
		n := 4 << 10
		if res.ContentLength >= 0 {
			n = int(min(res.ContentLength, int64(f.respLimit))) + 1
		}
		buf = make([]byte, 0, min(n, f.respLimit+1))
		for len(buf) <= f.respLimit {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)] // grow
			}
			m, err := res.Body.Read(buf[len(buf):min(cap(buf), f.respLimit+1)])
			buf = buf[:len(buf)+m]
			if err == io.EOF {
				break
			}
			if err != nil {
				f.errh(rw, in, err)
				return nil, true
			}
		}
		if len(buf) <= f.respLimit {
			full = true
			body = bytes.NewReader(buf)
		} else {
			body = io.MultiReader(bytes.NewReader(buf), res.Body)
			buf = buf[:f.respLimit] // the inspectors see the prefix
		}
	}
	saved := tx.Resp.Body
	tx.Resp.Body = buf
	tx.SetRespTruncated(!full)
	v := f.chain.RunResponse(in.Context(), tx)
	replaced := tx.ResponseReplaced() && full
	out := tx.Resp.Body
	tx.Resp.Body = saved[:0] // the writer records what is really sent
	if v.Action != pipeline.Allow {
		msg := v.Message
		if msg == "" {
			msg = "response blocked by policy"
		}
		tx.Resp.Header = nil
		WriteError(rw, tx, v.HTTPStatus(), "response_blocked", msg)
		return nil, true
	}
	if replaced {
		res.ContentLength = int64(len(out))
		res.Header["Content-Length"] = []string{strconv.Itoa(len(out))}
		delete(res.Header, "Etag")
		delete(res.Header, "Content-Md5")
		body = bytes.NewReader(out)
	}
	return body, false
}

// bufferable reports whether a response's body may be held back for
// inspection: not a stream (SSE, gRPC, unknown length with no end in
// sight is still read up to the cap), not compressed, not a HEAD/304.
func bufferable(res *http.Response) bool {
	if res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusNotModified || res.Request.Method == http.MethodHead {
		return false
	}
	if isEventStream(res.Header) {
		return false
	}
	if ce := res.Header["Content-Encoding"]; len(ce) > 0 && ce[0] != "" && !strings.EqualFold(ce[0], "identity") {
		return false
	}
	if ct := res.Header["Content-Type"]; len(ct) > 0 && strings.HasPrefix(ct[0], "application/grpc") {
		return false
	}
	return true
}

func isEventStream(h http.Header) bool {
	ct := h["Content-Type"]
	return len(ct) > 0 && strings.HasPrefix(ct[0], "text/event-stream")
}

// copyBody streams src to w through a pooled buffer, flushing after every
// write when flush is set.
func (f *forwarder) copyBody(w http.ResponseWriter, src io.Reader, flush bool) error {
	bp := f.bufs.p.Get().(*[]byte)
	defer f.bufs.p.Put(bp)
	buf := *bp
	var fl http.Flusher
	if flush {
		fl, _ = w.(http.Flusher)
	}
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// noClose hands the request body to the transport without letting it
// close the server's body. Once closed (by the transport, or by the
// handler as it returns) it refuses reads: the transport's writer may
// outlive the handler, and must not read a body net/http has recycled.
type noClose struct {
	r      io.ReadCloser
	closed atomic.Bool
	err    atomic.Pointer[error] // the first read error other than EOF
}

var errBodyClosed = errors.New("proxy: request body read after the handler returned")

func (n *noClose) Read(p []byte) (int, error) {
	if n.closed.Load() {
		return 0, errBodyClosed
	}
	c, err := n.r.Read(p)
	if err != nil && err != io.EOF {
		n.err.CompareAndSwap(nil, &err)
	}
	return c, err
}

func (n *noClose) readErr() error {
	if p := n.err.Load(); p != nil {
		return *p
	}
	return nil
}

// ClientBodyError is a forwarding failure caused by reading the client's
// request body.
type ClientBodyError struct{ Err error }

func (e *ClientBodyError) Error() string { return "reading the request body: " + e.Err.Error() }
func (e *ClientBodyError) Unwrap() error { return e.Err }

func (n *noClose) Close() error { n.closed.Store(true); return nil }

// joinPath puts the upstream's base path in front of the request path.
func joinPath(base, u *url.URL) (path, rawpath string) {
	if base.RawPath == "" && u.RawPath == "" {
		return singleJoin(base.Path, u.Path), ""
	}
	bp, up := base.EscapedPath(), u.EscapedPath()
	p := singleJoin(bp, up)
	unesc, err := url.PathUnescape(p)
	if err != nil {
		return singleJoin(base.Path, u.Path), ""
	}
	return unesc, p
}

func singleJoin(a, b string) string {
	as, bs := strings.HasSuffix(a, "/"), strings.HasPrefix(b, "/")
	switch {
	case as && bs:
		return a + b[1:]
	case !as && !bs:
		return a + "/" + b
	}
	return a + b
}

// cleanQuery re-encodes a query that Go's parser would not read the way
// the upstream might (semicolons, bad escapes), as ReverseProxy does: what
// the stages inspected and what the upstream receives must agree.
func cleanQuery(s string) string {
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencode(s)
		case '%':
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return reencode(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

func reencode(s string) string {
	v, _ := url.ParseQuery(s)
	return v.Encode()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
