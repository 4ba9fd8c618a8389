package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pathnorm"
)

// canonicalHost puts r.Host in canonical form (lower case, no trailing dot,
// no default port): routes, stages and events see that.
// An HTTP/2 request whose separate Host header names another host than its
// :authority (net/http keeps that header in r.Header) is refused; HTTP/1's
// absolute-form target against Host is checked by the FramingConn, below
// net/http, which drops that header.
func canonicalHost(r *http.Request) (Violation, bool) {
	https := r.TLS != nil
	r.Host = pathnorm.Host(r.Host, https)
	if r.ProtoMajor < 2 {
		return Violation{}, false
	}
	hv, ok := r.Header["Host"]
	if !ok {
		return Violation{}, false
	}
	if len(hv) != 1 || pathnorm.Host(hv[0], https) != r.Host {
		return hostMismatch("the :authority and the Host header name different hosts"), true
	}
	delete(r.Header, "Host") // :authority is what goes upstream
	return Violation{}, false
}

// canonicalPath normalizes the request path in place (URL.Path and
// URL.RawPath together, so the forwarder and the ReverseProxy send the
// canonical spelling) and returns the client's spelling and what changed.
// Requests without a path (OPTIONS *, CONNECT) are left alone.
func canonicalPath(r *http.Request, o pathnorm.Options) (raw string, ch pathnorm.Changes, err error) {
	raw, ok := requestPath(r)
	if !ok {
		return "", 0, nil
	}
	if raw == "" {
		// An absolute-form target without a path: the path is /.
		r.URL.Path, r.URL.RawPath = "/", ""
		return raw, 0, nil
	}
	canon, ch, err := pathnorm.Normalize(raw, o)
	if err != nil || ch == 0 {
		return raw, ch, err
	}
	setEscapedPath(r.URL, canon)
	return raw, ch, nil
}

// requestPath is the path of the request target exactly as the client
// spelled it (net/http's URL.RawPath is only kept when it differs from
// Go's own escaping, and loses a raw backslash). ok is false for targets
// without a path.
func requestPath(r *http.Request) (path string, ok bool) {
	t := r.RequestURI
	switch {
	case t == "":
		return r.URL.EscapedPath(), r.URL.Path != "" || r.URL.RawPath != ""
	case t[0] == '/':
	default:
		i := strings.Index(t, "://")
		if i < 0 {
			return "", false // *, or CONNECT's authority-form
		}
		t = t[i+3:]
		j := strings.IndexAny(t, "/?")
		if j < 0 || t[j] == '?' {
			return "", true
		}
		t = t[j:]
	}
	if q := strings.IndexByte(t, '?'); q >= 0 {
		t = t[:q]
	}
	return t, true
}

// setEscapedPath sets u's path from its canonical escaped form.
func setEscapedPath(u *url.URL, escaped string) {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		p = escaped // cannot happen: the canonical form escapes validly
	}
	u.Path, u.RawPath = p, ""
	if u.EscapedPath() != escaped {
		u.RawPath = escaped
	}
}

// pathFinding records that the gateway rewrote a request's path. Dot
// segments and decoded separators are what path-confusion attacks use;
// the rest (slashes, escapes, case) is mostly sloppy clients.
func pathFinding(ch pathnorm.Changes) event.Finding {
	sev := "low"
	if ch&(pathnorm.RemovedDotSegments|pathnorm.DecodedSlashes) != 0 {
		sev = "medium"
	}
	return event.Finding{Stage: "proxy", Kind: "path_normalized", Severity: sev, Message: "request path normalized: " + ch.String()}
}
