package logs

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// FormatJSON is a JSON access log of another shape than Envoy's: one
// object per line whose fields go by the names the common servers and
// log shippers use (below). Which names a line uses is decided per line.
const FormatJSON = "json"

// Field names, tried in order; a dot walks into a nested object. They
// cover nginx `log_format … escape=json` conventions ($request_method,
// $request_uri, $status, $host, $time_iso8601, $request_time), Caddy's
// access log (request.method, request.uri, request.host, status, ts,
// duration), Traefik (RequestMethod, RequestPath, DownstreamStatus,
// RequestHost, StartUTC, Duration in ns), Kong (request.method,
// request.uri, response.status, started_at in ms), Google Cloud's
// httpRequest (requestMethod, requestUrl, status, latency) and ECS
// (http.request.method, url.path, http.response.status_code).
var (
	jsonMethod = []string{"method", "request_method", "http_method", "requestMethod", "RequestMethod", "verb",
		"request.method", "http.request.method", "http.method", "httpRequest.requestMethod", "req.method"}
	jsonTarget = []string{"request_uri", "uri", "path", "url", "requestUrl", "RequestPath", "request.uri", "request.url",
		"request.path", "url.original", "url.path", "http.url", "http.target", "httpRequest.requestUrl", "req.url"}
	jsonQuery  = []string{"query_string", "args", "url.query", "request.querystring"}
	jsonStatus = []string{"status", "status_code", "statusCode", "response_code", "DownstreamStatus", "response.status",
		"response.status_code", "http.response.status_code", "http.status_code", "httpRequest.status", "res.statusCode"}
	jsonHost = []string{"host", "http_host", "authority", "server_name", "RequestHost", "request.host", "url.domain",
		"http.host", "request.headers.host", "req.headers.host"}
	jsonRemote = []string{"remote_addr", "remote_ip", "client_ip", "clientip", "ClientHost", "request.remote_ip",
		"request.client_ip", "client.ip", "source.ip", "httpRequest.remoteIp"}
	jsonUA   = []string{"http_user_agent", "user_agent", "userAgent", "user_agent.original", "httpRequest.userAgent", "request_User-Agent"}
	jsonTime = []string{"time", "timestamp", "@timestamp", "time_iso8601", "time_local", "StartUTC", "start_time", "ts",
		"started_at", "datetime", "date"}
	jsonRequestLine = []string{"request"} // nginx $request: "GET /x HTTP/1.1"
)

// parseJSONAccess reads one line of FormatJSON.
func parseJSONAccess(b []byte, rec *Record, st *parseState) bool {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if d.Decode(&m) != nil {
		return false
	}
	method, target := jsonString(m, jsonMethod), jsonString(m, jsonTarget)
	switch {
	case method != "" && target != "":
		if !validMethod(method) {
			return false
		}
		rec.Method = internMethod(method)
		splitURI(target, rec)
		if rec.Query == "" {
			rec.Query = strings.TrimPrefix(jsonString(m, jsonQuery), "?")
		}
	default:
		line := jsonString(m, jsonRequestLine)
		if line == "" || !parseRequestLine(line, rec) {
			return false
		}
	}
	if rec.Path == "" {
		return false
	}
	if n, ok := jsonNumber(m, jsonStatus); ok && n >= 100 && n <= 999 {
		rec.Status = int(n)
	}
	if rec.Host == "" {
		rec.Host = jsonString(m, jsonHost)
	}
	rec.RemoteIP = hostOnly(jsonString(m, jsonRemote))
	rec.UserAgent = dash(jsonString(m, jsonUA))
	if t, ok := jsonTimeOf(m, st); ok {
		rec.Time = t
	}
	return true
}

// lookup walks a dotted name; a name that exists literally wins.
func lookup(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	cur := m
	for {
		k, rest, more := strings.Cut(name, ".")
		v, ok := cur[k]
		if !ok {
			return nil, false
		}
		if !more {
			return v, true
		}
		next, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, name = next, rest
	}
}

func jsonString(m map[string]any, names []string) string {
	for _, n := range names {
		if v, ok := lookup(m, n); ok {
			if s, ok := v.(string); ok && s != "" && s != "-" {
				return s
			}
		}
	}
	return ""
}

func jsonNumber(m map[string]any, names []string) (float64, bool) {
	for _, n := range names {
		v, ok := lookup(m, n)
		if !ok {
			continue
		}
		switch x := v.(type) {
		case json.Number:
			if f, err := x.Float64(); err == nil {
				return f, true
			}
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f, true
			}
		}
	}
	return 0, false
}

// jsonTimeOf reads the request time: RFC 3339, the access-log layout
// (10/Oct/2000:13:55:36 -0700), or a Unix epoch in seconds, milliseconds
// or microseconds.
func jsonTimeOf(m map[string]any, st *parseState) (time.Time, bool) {
	for _, n := range jsonTime {
		v, ok := lookup(m, n)
		if !ok {
			continue
		}
		switch x := v.(type) {
		case string:
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return t, true
			}
			if t, ok := parseCLFTime(x, st); ok {
				return t, true
			}
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return epoch(f)
			}
		case json.Number:
			if f, err := x.Float64(); err == nil {
				return epoch(f)
			}
		}
	}
	return time.Time{}, false
}

func epoch(f float64) (time.Time, bool) {
	switch {
	case f <= 0 || math.IsNaN(f) || math.IsInf(f, 0):
		return time.Time{}, false
	case f > 1e14: // microseconds
		f /= 1e6
	case f > 1e11: // milliseconds
		f /= 1e3
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
