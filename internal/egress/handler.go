package egress

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pathnorm"
	"github.com/vigil-sec/vigil/internal/proxy"
)

// serveDecrypted serves one request of an intercepted connection: its
// Host becomes the connection's destination, then the request goes
// through the gateway's handler (the pipeline, then the route for that
// host) unless the rule's methods exclude it or no route would forward
// it, verified, to an https upstream.
func (s *Server) serveDecrypted(w http.ResponseWriter, r *http.Request) {
	info, _ := r.Context().Value(infoKey{}).(*connInfo)
	if info == nil {
		http.Error(w, "not an egress connection", http.StatusInternalServerError)
		return
	}
	r.Host = info.authority
	delete(r.Header, "Host") // HTTP/2: the :authority is the destination
	if !info.rule.allows(r.Method) {
		s.refuseRequest(w, r, info, http.StatusForbidden, "method_not_allowed", "method "+r.Method+" to "+info.host+
			" is not allowed by egress rule "+info.rule.Name+" (only "+strings.Join(info.rule.Methods, ", ")+")")
		return
	}
	if msg := s.routeProblem(s.compiled(), info.host, r); msg != "" {
		s.refuseRequest(w, r, info, http.StatusBadGateway, "no_verified_route", msg)
		return
	}
	s.o.Handler.ServeHTTP(w, r)
}

// routeProblem says why the route the proxy would pick for host and the
// request's path (as sent, and as the proxy will normalize it) does not
// forward it to a verified https upstream of that host; "" if it does. A
// catch-all route (host "*") never serves an intercepted host: the app's
// request for api.example.com must not land at whatever else it fronts.
func (s *Server) routeProblem(cc *compiled, host string, r *http.Request) string {
	paths := []string{r.URL.Path}
	if canon, _, err := pathnorm.Normalize(r.URL.EscapedPath(), cc.cfg.Listen.Normalize.Options()); err == nil {
		if p, err := url.PathUnescape(canon); err == nil && p != r.URL.Path {
			paths = append(paths, p)
		}
	}
	for _, p := range paths {
		rc, ok := cc.routes.Match(host, p)
		if !ok {
			return fmt.Sprintf("no route for the intercepted host %s: add one with match.host %s and an https upstream", host, host)
		}
		if msg := verifiedRoute(rc, host); msg != "" {
			return msg
		}
	}
	return ""
}

func verifiedRoute(rc *config.Route, host string) string {
	if h := rc.Match.Host; h == "" || h == "*" {
		return fmt.Sprintf("the route for %s is %q, a catch-all (host *): an intercepted host needs its own route with match.host %s and an https upstream",
			host, rc.Name, host)
	}
	if rc.InsecureSkipVerify {
		return fmt.Sprintf("route %q skips upstream certificate verification: intercepted traffic is never forwarded unverified", rc.Name)
	}
	for _, t := range rc.Targets() {
		if !strings.HasPrefix(strings.ToLower(t.URL), "https://") {
			return fmt.Sprintf("route %q forwards %s to %s, not to an https upstream", rc.Name, host, t.URL)
		}
	}
	return ""
}

// refuseRequest answers a decrypted request Vigil refuses before the
// pipeline, in the gateway's JSON error shape, and records its event.
func (s *Server) refuseRequest(w http.ResponseWriter, r *http.Request, info *connInfo, status int, kind, msg string) {
	start := time.Now()
	id := newID()
	code := "egress_blocked"
	if status == http.StatusBadGateway {
		code = "bad_gateway"
	}
	body := `{"error":{"code":"` + code + `","message":` + strconv.Quote(msg) + `,"txn_id":"` + id + "\"}}\n"
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Vigil-Txn", id)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
	if s.o.Events == nil {
		return
	}
	cfg := s.o.Config()
	ev := event.Get()
	ev.TxnID = id
	ev.Time = start.UTC()
	ev.Placement = s.o.Placement
	ev.Mode = cfg.Mode
	ev.Source.IP = info.clientIP
	ev.Source.Workload = cfg.SourceIdentity()
	ev.Destination.Host = info.authority
	ev.Request.Method = r.Method
	ev.Request.Path = r.URL.Path
	ev.Request.Query = r.URL.RawQuery
	ev.Request.UserAgent = r.Header.Get("User-Agent")
	ev.TLS = &event.TLS{Intercepted: true}
	if cs := cmp.Or(r.TLS, proxy.TLSStateFrom(r.Context())); cs != nil {
		ev.TLS.Version, ev.TLS.Cipher, ev.TLS.Group = versionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID.String()
	}
	ev.Response.Status = status
	ev.Response.Bytes = int64(len(body))
	ev.Findings = append(ev.Findings, event.Finding{Stage: "egress", Layer: "egress", RuleID: info.rule.Name, Kind: kind,
		Severity: "medium", Action: "block", Message: msg})
	ev.Decision = event.DecisionBlock
	ms := float64(time.Since(start).Microseconds()) / 1000
	ev.Latency.Total, ev.Latency.Vigil = ms, ms
	s.o.Events.Enqueue(ev)
}
