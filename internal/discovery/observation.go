// Package discovery keeps Vigil's API inventory: every endpoint (host,
// method, path template) that receives traffic, with hits, status codes,
// latency, credentials seen, parameters, learned request and response
// schemas and the sensitive data classes they carry, compared with the
// OpenAPI specs the team wrote. It is fed from live traffic (the discovery
// pipeline stage, asynchronously) and from logs (`vigil discover`).
package discovery

import (
	"net/http"
	"net/url"
	"time"
)

// Observation is one request/response as discovery sees it. Bodies are
// present only when sampled (and then bounded prefixes).
type Observation struct {
	Time     time.Time
	Host     string
	Method   string
	Path     string // raw path, no query
	Query    string // raw query, no '?'
	Status   int
	Latency  time.Duration
	Auth     string // none, bearer_jwt, bearer, basic, api_key, mtls, other
	Upgrade  string // "websocket" for upgrade requests
	ReqType  string // request Content-Type
	RespType string // response Content-Type
	// Headers are the request's non-standard header names (X-..., custom):
	// header parameters. Values are never kept.
	Headers []string
	// Classes found in headers (api keys, JWTs, cookies), by header name.
	HeaderClasses map[string][]string
	ReqBody       []byte
	RespBody      []byte
	// Protected says whether an enforcing stage covered the request.
	Protected bool
	// Endpoint, when set, is a template assigned earlier (Vigil events).
	Endpoint string
}

// standardHeaders are not reported as header parameters.
var standardHeaders = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true, "Authorization": true, "Cache-Control": true,
	"Connection": true, "Content-Length": true, "Content-Type": true, "Cookie": true, "Host": true, "Origin": true,
	"Pragma": true, "Referer": true, "User-Agent": true, "Te": true, "Upgrade": true, "Upgrade-Insecure-Requests": true,
	"X-Forwarded-For": true, "X-Forwarded-Proto": true, "X-Forwarded-Host": true, "Forwarded": true, "X-Real-Ip": true,
	"Traceparent": true, "Tracestate": true, "Vigil-Txn": true, "If-None-Match": true, "If-Modified-Since": true,
	"Sec-Websocket-Key": true, "Sec-Websocket-Version": true, "Sec-Websocket-Extensions": true, "Sec-Websocket-Protocol": true,
	"Sec-Fetch-Mode": true, "Sec-Fetch-Site": true, "Sec-Fetch-Dest": true, "Sec-Fetch-User": true, "Sec-Ch-Ua": true,
	"Sec-Ch-Ua-Mobile": true, "Sec-Ch-Ua-Platform": true, "Dnt": true, "Grpc-Timeout": true, "Grpc-Accept-Encoding": true,
	"Grpc-Encoding": true, "Content-Encoding": true, "Transfer-Encoding": true, "Expect": true, "Range": true,
	"X-Request-Id": true, "X-B3-Traceid": true, "X-B3-Spanid": true, "X-B3-Sampled": true, "X-Envoy-Original-Path": true,
}

// HeaderParams lists h's non-standard header names (at most 16).
func HeaderParams(h http.Header) []string {
	var out []string
	for k := range h {
		if standardHeaders[k] || len(out) >= 16 {
			continue
		}
		out = append(out, k)
	}
	return out
}

// parseQuery parses a query for the form-body scanner.
func parseQuery(q string) url.Values {
	if q == "" {
		return nil
	}
	v, _ := url.ParseQuery(q)
	return v
}
