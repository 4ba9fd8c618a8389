package proxy

import (
	"net/http"
	"strconv"

	"github.com/vigil-sec/vigil/internal/pipeline"
)

// WriteError is the one place that answers a client with an error, for the
// pipeline's verdicts and the proxy's failures alike: a JSON body
// {"error":{"code","message","txn_id"}} with the given status.
func WriteError(w http.ResponseWriter, tx *pipeline.Txn, status int, code, msg string) {
	writeError(w, tx, status, code, msg, nil)
}

// writeError is WriteError with extra headers (a verdict's RateLimit-*).
func writeError(w http.ResponseWriter, tx *pipeline.Txn, status int, code, msg string, extra http.Header) {
	h := w.Header()
	for k := range h {
		// Drop anything an upstream may have set before failing.
		if k != "Vigil-Txn" && k != "Connection" && k != "Retry-After" && k != "Www-Authenticate" {
			delete(h, k)
		}
	}
	for k, vs := range extra {
		h[k] = vs
	}
	h["Content-Type"] = []string{"application/json"}
	h["Cache-Control"] = []string{"no-store"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	b := make([]byte, 0, 128+len(msg))
	b = append(b, `{"error":{"code":`...)
	b = strconv.AppendQuote(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	if tx != nil {
		b = append(b, `,"txn_id":"`...)
		b = append(b, tx.ID...)
		b = append(b, '"')
	}
	b = append(b, "}}\n"...)
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	if tx != nil && tx.Status == 0 {
		tx.Status = status
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[r>>4], "0123456789abcdef"[r&0xf])
		default:
			b = append(b, string(r)...)
		}
	}
	return append(b, '"')
}

// CodeFor names the error code of a status.
func CodeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "no_route"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusRequestHeaderFieldsTooLarge:
		return "headers_too_large"
	case http.StatusBadGateway:
		return "bad_gateway"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusGatewayTimeout:
		return "upstream_timeout"
	}
	return "error"
}
