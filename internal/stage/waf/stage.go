// Package waf is the waf stage: every request (and, when configured, its
// response) through Coraza v3 with the OWASP CRS v4, plus Vigil's virtual
// patches, custom SecLang and exclusions (internal/waf). One engine is
// built per configuration and shared by every route; each request gets its
// own Coraza transaction. See README.md and docs/waf.md.
package waf

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/waf"
)

// Name and Layer of the stage.
const (
	Name  = "waf"
	Layer = "waf"
)

// Stage runs the WAF.
type Stage struct {
	live    *waf.Live
	monitor bool
	// pending holds the Coraza transactions that still have response
	// phases to run, by pipeline transaction (the pipeline owns a Txn
	// until its finish, which calls Response, so the key is not reused
	// before it is deleted).
	pending sync.Map
}

var (
	_ pipeline.Stage             = (*Stage)(nil)
	_ pipeline.Layered           = (*Stage)(nil)
	_ pipeline.BodyReader        = (*Stage)(nil)
	_ pipeline.ResponseInspector = (*Stage)(nil)
	_ pipeline.ResponseObserver  = (*Stage)(nil)
	_ pipeline.Closer            = (*Stage)(nil)
)

// New builds the stage from protect.waf; nil when it is not enabled. A
// SecLang error names the field it is in, with Coraza's message.
func New(cfg *config.Config) (pipeline.Stage, error) {
	w := cfg.Protect.WAF
	if w == nil || !w.Enabled {
		return nil, nil
	}
	live, err := waf.Start(w, waf.Limits{RequestBody: int64(cfg.Listen.Limits.MaxInspectBytes),
		ResponseBody: int64(cfg.Listen.Limits.ResponseInspectBytes)}, waf.LiveOptions{})
	if err != nil {
		if p, m := waf.FieldPath(err); p != "" {
			return nil, cfg.Errorf(p, "%s", m)
		}
		return nil, cfg.Errorf("protect.waf", "%v", err)
	}
	return &Stage{live: live, monitor: w.Mode == "monitor"}, nil
}

// Name is the stage name.
func (s *Stage) Name() string { return Name }

// Layer is the layer its findings carry.
func (s *Stage) Layer() string { return Layer }

// Live is the running engine (tests, reload status).
func (s *Stage) Live() *waf.Live { return s.live }

// WantsBody asks for the body of requests whose body the engine parses or
// inspects: forms, multipart, JSON, XML, text and bodies with no type (the
// CRS inspects those raw, and an upstream that ignores Content-Type would
// otherwise be a way around it). Streams (gRPC, WebSocket, SSE) and binary
// media are judged on their headers only, by design.
func (s *Stage) WantsBody(tx *pipeline.Txn) bool {
	r := tx.Req
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody || !s.live.Engine().RequestBodyOn() || streaming(r) {
		return false
	}
	return parsedType(r.Header["Content-Type"])
}

// streaming: traffic that is never buffered.
func streaming(r *http.Request) bool {
	if ct := r.Header["Content-Type"]; len(ct) > 0 {
		v := strings.ToLower(ct[0])
		if strings.HasPrefix(v, "application/grpc") || strings.HasPrefix(v, "text/event-stream") {
			return true
		}
	}
	if up := r.Header["Upgrade"]; len(up) > 0 && up[0] != "" {
		return true
	}
	return false
}

// parsedType reports whether a Content-Type is one the engine reads.
func parsedType(ct []string) bool {
	if len(ct) == 0 || strings.TrimSpace(ct[0]) == "" {
		return true
	}
	v := strings.ToLower(strings.TrimSpace(ct[0]))
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	switch {
	case v == "application/x-www-form-urlencoded", v == "multipart/form-data", v == "application/json",
		v == "application/xml", v == "text/xml", strings.HasSuffix(v, "+json"), strings.HasSuffix(v, "+xml"),
		strings.HasPrefix(v, "text/"):
		return true
	}
	return false
}

// Request runs the request phases.
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	e := s.live.Engine()
	r := tx.Req
	req := waf.Request{ID: tx.ID, Method: r.Method, URI: r.URL.RequestURI(), Path: r.URL.Path, Proto: r.Proto,
		Host: r.Host, Header: r.Header, TransferEncoding: r.TransferEncoding, ClientIP: tx.ClientIPText,
		ClientPort: port(r.RemoteAddr), Route: tx.Route}
	if req.ClientIP == "" && tx.ClientIP.IsValid() {
		req.ClientIP = tx.ClientIP.String()
	}
	if s.WantsBody(tx) {
		req.Body, _ = tx.Body()
	}
	wt := e.Request(&req)
	if wt.Interruption() == nil && wt.WantsResponse() {
		tx.Findings = wt.Findings(tx.Findings, Name, Layer, false, false)
		s.pending.Store(tx, wt)
		return pipeline.Continue, nil
	}
	defer wt.Close()
	return s.decide(tx, wt), nil
}

// decide records the findings of the phases just run and turns an
// interruption into a verdict.
func (s *Stage) decide(tx *pipeline.Txn, wt *waf.Tx) pipeline.Verdict {
	blocked := wt.Interruption() != nil
	monitor := tx.Monitor() || s.monitor
	tx.Findings = wt.Findings(tx.Findings, Name, Layer, blocked, monitor)
	if !blocked {
		return pipeline.Continue
	}
	status, kind, ruleID, msg, redirect := wt.Verdict()
	if s.monitor && !tx.Monitor() {
		// protect.waf.mode: monitor. The chain enforces this link, so
		// the stage records the would-be block itself.
		tx.AddFinding(event.Finding{Stage: Name, Layer: Layer, RuleID: ruleID, Kind: kind, Severity: "high",
			Action: pipeline.Block.String(), Message: msg, WouldBlock: true})
		return pipeline.Continue
	}
	v := pipeline.Verdict{Action: pipeline.Block, Status: status, Kind: kind, RuleID: ruleID, Message: msg, Severity: "high"}
	if redirect != "" {
		v.Header = http.Header{"Location": {redirect}}
	}
	return v
}

// WantsResponse: the request phases passed and the engine has response
// rules to run (response_body on, or custom rules in phase 3 or 4).
func (s *Stage) WantsResponse(tx *pipeline.Txn) bool {
	_, ok := s.pending.Load(tx)
	return ok
}

// InspectResponse runs the response phases: the headers, then the body
// prefix the proxy buffered (none for streams). An outbound anomaly score
// over the threshold, or a custom rule's deny, blocks the response.
func (s *Stage) InspectResponse(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	v, ok := s.pending.LoadAndDelete(tx)
	if !ok {
		return pipeline.Continue, nil
	}
	wt := v.(*waf.Tx)
	defer wt.Close()
	wt.Response(tx.Resp.Status, tx.Req.Proto, tx.Resp.Header, tx.Resp.Body)
	return s.decide(tx, wt), nil
}

// Response releases a transaction whose response was never inspected
// (the upstream failed, or another stage stopped the request).
func (s *Stage) Response(tx *pipeline.Txn) {
	if v, ok := s.pending.LoadAndDelete(tx); ok {
		v.(*waf.Tx).Close()
	}
}

// Close stops the file watcher and releases the engine.
func (s *Stage) Close() error {
	s.pending.Range(func(k, _ any) bool {
		if v, ok := s.pending.LoadAndDelete(k); ok {
			v.(*waf.Tx).Close()
		}
		return true
	})
	return s.live.Close()
}

func port(remote string) int {
	i := strings.LastIndexByte(remote, ':')
	if i < 0 {
		return 0
	}
	p, _ := strconv.Atoi(remote[i+1:])
	return p
}
