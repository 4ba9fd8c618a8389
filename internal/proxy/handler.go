// Package proxy is the data plane's HTTP handler: it routes a request,
// runs the route's pipeline, forwards the request upstream with
// httputil.ReverseProxy, and records one transaction event per request.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/metrics"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Events receives finished transaction events; Enqueue must not block.
type Events interface {
	Enqueue(ev *event.Event) bool
}

// Handler serves data-plane requests with the current Runtime.
type Handler struct {
	rt        atomic.Pointer[Runtime]
	events    Events
	metrics   *metrics.Metrics
	log       *slog.Logger
	placement string
}

// NewHandler returns a handler serving rt. events may be nil (no events).
func NewHandler(rt *Runtime, events Events, m *metrics.Metrics, log *slog.Logger, placement string) *Handler {
	h := &Handler{events: events, metrics: m, log: log, placement: placement}
	h.rt.Store(rt)
	return h
}

// Swap installs a new runtime and returns the old one. Requests already
// running finish on the old runtime.
func (h *Handler) Swap(rt *Runtime) *Runtime { return h.rt.Swap(rt) }

// Runtime returns the current runtime.
func (h *Handler) Runtime() *Runtime { return h.rt.Load() }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := h.rt.Load()
	rt.inflight.Add(1)
	defer rt.inflight.Add(-1)

	if r.TLS == nil {
		r.TLS = TLSStateFrom(r.Context())
	}
	tx := pipeline.NewTxn(r, time.Now(), r.Header.Get("Traceparent"))
	rw := tx.Writer(w, rt.limits.WriteTimeout)
	tx.Placement = h.placement
	tx.Mode = rt.Config.Mode
	peer := PeerAddr(r.RemoteAddr)
	tx.ClientIP = rt.trust.ClientAddr(peer, r.Header)
	if tx.ClientIP == peer && peer.Is4() && r.RemoteAddr[0] != '[' {
		tx.ClientIPText = peerHost(r.RemoteAddr) // no allocation
	} else {
		tx.ClientIPText = tx.ClientIP.String()
	}
	if rt.trust.Trusted(peer) {
		tx.ParentTxnID = r.Header.Get("Vigil-Txn")
	}
	tx.Auth = authKind(r)
	var route *Route
	var rawPath string // the client's spelling, when normalization changed it
	defer func() { h.finish(rt, route, tx, rw, rawPath) }()

	w.Header()["Vigil-Txn"] = tx.IDHeader()

	var fc *FramingConn
	if r.ProtoMajor == 1 {
		if fc = FramingFrom(r.Context()); fc != nil {
			if v, bad := fc.NextRequest(); bad {
				h.reject(rw, tx, http.StatusBadRequest, v.Code, v.Message, v.Kind)
				return
			}
		}
	}

	if headerSize(r) > int(rt.limits.MaxHeaderBytes) {
		h.reject(rw, tx, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "request headers exceed the limit", "oversized_headers")
		return
	}

	// One canonical host and path, before routing and every stage. The
	// upstream receives the canonical path, and the Host as the client
	// spelled it (an edge proxy keeps the client's Host; its case, a
	// trailing dot or a default port do not change which host it names).
	clientHost := r.Host
	if v, bad := canonicalHost(r); bad {
		h.reject(rw, tx, http.StatusBadRequest, v.Code, v.Message, v.Kind)
		return
	}
	raw, changes, err := canonicalPath(r, rt.norm)
	if err != nil || changes != 0 {
		rawPath = raw
	}
	if err != nil {
		h.reject(rw, tx, http.StatusBadRequest, "invalid_path", err.Error(), "invalid_path")
		return
	}
	if changes != 0 {
		tx.AddFinding(pathFinding(changes))
	}

	if (r.Header["Upgrade"] != nil || r.Header["Http2-Settings"] != nil) && stripH2C(r.Header) {
		// An h2c upgrade relayed to the upstream would let its 101 turn
		// the connection into a tunnel no stage sees. Clients that want
		// HTTP/2 can speak it to Vigil directly (prior knowledge).
		tx.AddFinding(event.Finding{Stage: "proxy", Layer: "proxy", Kind: "h2c_upgrade", Severity: "low", Action: "strip",
			Message: "Upgrade: h2c removed; the request is forwarded as HTTP/1.1"})
	}

	route, ok := rt.router.Match(r.Host, r.URL.Path)
	if !ok {
		tx.Decision = pipeline.Allow
		WriteError(rw, tx, http.StatusNotFound, "no_route", "no route matches this host and path")
		return
	}
	tx.Route = route.Name
	tx.Upstream = route.Upstream
	tx.Mode = route.Mode

	// Hardening: body size.
	maxBody := int64(rt.limits.MaxBodyBytes)
	if r.ContentLength > maxBody {
		h.reject(rw, tx, http.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds the limit", "")
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		tx.GuardBody(pipeline.BodyGuard{Idle: rt.limits.ReadTimeout, Total: rt.limits.BodyTimeout,
			Grace: rt.limits.BodyRateGrace, MinRate: int64(rt.limits.MinBodyRate)})
		// rw, not w: the Transport may read this body after the handler
		// returns, and net/http's own writer must not be touched then.
		// proxyError turns the MaxBytesError into a 413.
		r.Body = http.MaxBytesReader(rw, r.Body, maxBody)
	}

	chain := route.Chain
	if chain.WantsBody(tx) {
		if err := tx.BufferBody(int64(rt.limits.MaxInspectBytes), rt.limits.OversizeBody == "partial"); err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.Is(err, pipeline.ErrBodyTooLarge), errors.As(err, &mbe):
				h.reject(rw, tx, http.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds the inspection limit", "")
			case isTimeout(err):
				h.reject(rw, tx, http.StatusRequestTimeout, "request_timeout", "the request body did not arrive in time", "slow_body")
			default:
				h.reject(rw, tx, http.StatusBadRequest, "bad_request", "could not read the request body", "")
			}
			return
		}
	}
	if v := chain.Run(r.Context(), tx); v.Action != pipeline.Allow {
		status := v.HTTPStatus()
		switch v.Action {
		case pipeline.StepUp:
			rw.Header()["Www-Authenticate"] = []string{`Bearer error="insufficient_user_authentication"`}
		}
		if v.RetryAfter > 0 {
			rw.Header()["Retry-After"] = []string{strconv.Itoa(int(math.Ceil(v.RetryAfter.Seconds())))}
		} else if status == http.StatusTooManyRequests {
			rw.Header()["Retry-After"] = []string{"1"}
		}
		if len(v.Body) > 0 {
			for k, vs := range v.Header {
				rw.Header()[k] = vs
			}
			ct := v.ContentType
			if ct == "" {
				ct = "text/plain; charset=utf-8"
			}
			rw.Header()["Content-Type"] = []string{ct}
			rw.Header()["Cache-Control"] = []string{"no-store"}
			rw.WriteHeader(status)
			_, _ = rw.Write(v.Body)
			return
		}
		msg := v.Message
		if msg == "" {
			msg = "request blocked by policy"
		}
		writeError(rw, tx, status, decisionCode(v), msg, v.Header)
		return
	}
	chain.PrepareResponse(tx, int(rt.limits.ResponseInspectBytes))

	r.Header["Traceparent"] = tx.TraceparentHeader()
	r.Header["Vigil-Txn"] = tx.IDHeader()
	start := time.Now()
	canonHost := r.Host
	r.Host = clientHost // the forwarder and the ReverseProxy copy it at once
	route.proxy.ServeHTTP(rw, r)
	r.Host = canonHost // for the response stages and the event
	if at := rw.HeaderTime(); !at.IsZero() {
		tx.UpstreamTime = at.Sub(start)
	} else {
		tx.UpstreamTime = time.Since(start)
	}
	if fc != nil && rw.WroteHeader() && tx.Resp.Status != http.StatusSwitchingProtocols {
		if fc.Upgrading() {
			// The scanner stopped at an upgrade request that did not
			// upgrade: this connection can no longer be followed.
			rw.Header()["Connection"] = []string{"close"}
		}
	}
}

func decisionCode(v pipeline.Verdict) string {
	switch v.Action {
	case pipeline.Challenge:
		return "challenge"
	case pipeline.StepUp:
		return "step_up_required"
	}
	if v.HTTPStatus() == http.StatusTooManyRequests {
		return "rate_limited"
	}
	if v.Kind == "stage_failure" || v.HTTPStatus() == http.StatusServiceUnavailable {
		return "unavailable"
	}
	return "blocked"
}

// stripH2C removes the h2c protocol from an Upgrade request (and with it
// HTTP2-Settings), leaving other upgrades (WebSocket) alone. It reports
// whether it removed anything.
func stripH2C(h http.Header) bool {
	var keep []string
	found := false
	for _, v := range h["Upgrade"] {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if name, _, _ := strings.Cut(p, "/"); strings.EqualFold(strings.TrimSpace(name), "h2c") {
				found = true
				continue
			}
			keep = append(keep, p)
		}
	}
	if !found && h["Http2-Settings"] == nil {
		return false
	}
	delete(h, "Http2-Settings")
	if len(keep) == 0 {
		delete(h, "Upgrade")
	} else {
		h["Upgrade"] = []string{strings.Join(keep, ", ")}
	}
	var conn []string
	for _, v := range h["Connection"] {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" || strings.EqualFold(p, "http2-settings") || (len(keep) == 0 && strings.EqualFold(p, "upgrade")) {
				continue
			}
			conn = append(conn, p)
		}
	}
	if len(conn) == 0 {
		delete(h, "Connection")
	} else {
		h["Connection"] = []string{strings.Join(conn, ", ")}
	}
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, pipeline.ErrBodyTooSlow) || errors.As(err, &ne) && ne.Timeout()
}

// reject answers a request Vigil refuses before its pipeline runs.
func (h *Handler) reject(rw *pipeline.ResponseWriter, tx *pipeline.Txn, status int, code, msg, kind string) {
	tx.Decision = pipeline.Block
	if kind != "" {
		tx.AddFinding(event.Finding{Stage: "proxy", Kind: kind, Severity: "high", Message: msg})
		rw.Header()["Connection"] = []string{"close"}
	}
	h.metrics.Rejected.WithLabelValues(code).Inc()
	WriteError(rw, tx, status, code, msg)
}

// proxyError is httputil's ErrorHandler: every transport failure ends here.
func (rt *Runtime) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	rw, ok := w.(*pipeline.ResponseWriter)
	if !ok {
		WriteError(w, nil, http.StatusBadGateway, "bad_gateway", "upstream request failed")
		return
	}
	tx := rw.Txn()
	route, _ := rt.router.Match(r.Host, r.URL.Path)
	var mbe *http.MaxBytesError
	var ne net.Error
	var cbe *ClientBodyError
	clientBody := errors.As(err, &cbe)
	status, code, kind := http.StatusBadGateway, "bad_gateway", "connect"
	switch {
	case errors.As(err, &mbe):
		status, code, kind = http.StatusRequestEntityTooLarge, "body_too_large", "client_body"
	case clientBody && errors.As(cbe.Err, &ne) && ne.Timeout():
		// net/http cancels the request's context when a body read times
		// out, so this comes before the client-gone case.
		status, code, kind = http.StatusRequestTimeout, "request_timeout", "slow_body"
		tx.AddFinding(event.Finding{Stage: "proxy", Layer: "proxy", Kind: "slow_body", Severity: "medium", Action: "block",
			Message: "the request body did not arrive in time: " + cbe.Err.Error()})
		if w.Header()["Connection"] == nil {
			w.Header()["Connection"] = []string{"close"}
		}
	case r.Context().Err() != nil && (errors.Is(err, context.Canceled) || clientBody):
		// The client went away; nobody is left to answer.
		status, code, kind = 499, "client_closed", "client_closed"
	case clientBody:
		status, code, kind = http.StatusBadRequest, "bad_request", "client_body"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		status, code, kind = http.StatusGatewayTimeout, "upstream_timeout", "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "refused"
	default:
		kind = "protocol"
	}
	tx.UpstreamErr = err.Error()
	if route != nil {
		route.upErrs.WithLabelValues(route.Name, kind).Inc()
	}
	if status == 499 {
		tx.Resp.Status = 499
		if !rw.WroteHeader() {
			// Returning would make net/http send an empty 200 to a
			// client that half-closed but still listens; abort the
			// connection instead (the event is still recorded).
			panic(http.ErrAbortHandler)
		}
		return
	}
	if rw.WroteHeader() {
		return
	}
	msg := "the upstream service could not be reached"
	switch status {
	case http.StatusGatewayTimeout:
		msg = "the upstream service did not answer in time"
	case http.StatusRequestEntityTooLarge:
		msg = "request body exceeds the limit"
	case http.StatusRequestTimeout:
		msg = "the request body did not arrive in time"
	case http.StatusBadRequest:
		msg = "the request body could not be read (malformed or cut short)"
	}
	WriteError(w, tx, status, code, msg)
}

// finish runs after the response (in a defer, so blocked and failed
// requests are recorded too): response observers, metrics, the event.
func (h *Handler) finish(rt *Runtime, route *Route, tx *pipeline.Txn, rw *pipeline.ResponseWriter, rawPath string) {
	end := time.Now()
	if tx.Resp.Status == 0 {
		tx.Resp.Status = http.StatusOK
		if !rw.WroteHeader() && tx.Status != 0 {
			tx.Resp.Status = tx.Status
		}
	}
	if route != nil {
		route.Chain.Respond(tx)
		route.requests[tx.Decision].Inc()
		route.latency[tx.Decision].Observe(end.Sub(tx.Start).Seconds())
	} else {
		h.metrics.Requests.WithLabelValues("", tx.Decision.String()).Inc()
	}
	if h.events != nil {
		ev := event.Get()
		tx.FillEvent(ev, end)
		ev.Request.RawPath = rawPath
		h.events.Enqueue(ev)
	}
	tx.Release()
}

// headerSize approximates the request line plus headers as sent.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len(r.Host) + 12
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// authKind names the credential a request carries (never its value).
func authKind(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		switch {
		case len(a) > 7 && (a[:7] == "Bearer " || a[:7] == "bearer "):
			tok := a[7:]
			dots := 0
			for i := 0; i < len(tok); i++ {
				if tok[i] == '.' {
					dots++
				}
			}
			if dots == 2 && len(tok) > 2 && tok[0] == 'e' && tok[1] == 'y' {
				return "bearer_jwt"
			}
			return "bearer"
		case len(a) > 6 && (a[:6] == "Basic " || a[:6] == "basic "):
			return "basic"
		}
		return "other"
	}
	if r.Header.Get("X-Api-Key") != "" || r.Header.Get("Api-Key") != "" {
		return "api_key"
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return "mtls"
	}
	return "none"
}
