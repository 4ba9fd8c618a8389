// Package discovery is the discovery stage: it names each request's
// endpoint template (for the event) and hands what it saw to the discovery
// engine's queue after the response. It never blocks a request and keeps
// its own cost off the request's latency: the heavy work (templating
// evidence, schema learning, sensitive-data scanning) runs on the engine's
// goroutine, and only a sampled share of bodies is copied.
package discovery

import (
	"bytes"
	"context"
	"mime"
	"strings"
	"time"

	eng "github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// maxSampledBody bounds the request bodies read for profiling.
const maxSampledBody = 64 << 10

// Stage feeds the discovery engine.
type Stage struct {
	e   *eng.Engine
	cls *sensitive.Classifier
}

var (
	_ pipeline.Stage              = (*Stage)(nil)
	_ pipeline.ResponseObserver   = (*Stage)(nil)
	_ pipeline.BodyReader         = (*Stage)(nil)
	_ pipeline.ResponseBodyReader = (*Stage)(nil)
	_ pipeline.Passive            = (*Stage)(nil)
)

// New returns the stage for engine e.
func New(e *eng.Engine) *Stage {
	cls, _ := sensitive.New(nil)
	return &Stage{e: e, cls: cls}
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "discovery" }

// Passive implements pipeline.Passive: discovery never blocks.
func (s *Stage) Passive() bool { return true }

// Template names path's endpoint template as the engine knows it now
// (other stages read it through a small interface of their own).
func (s *Stage) Template(path string) string { return s.e.Template(path) }

// Request names the endpoint (when WantsBody has not already).
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	if tx.Endpoint == "" {
		tx.Endpoint = s.e.Template(tx.Req.URL.Path)
	}
	return pipeline.Continue, nil
}

// WantsBody decides whether this transaction is sampled (the pipeline
// asks before any stage runs) and asks for small, profilable request
// bodies of sampled transactions only.
func (s *Stage) WantsBody(tx *pipeline.Txn) bool {
	r := tx.Req
	tx.Endpoint = s.e.Template(r.URL.Path)
	tx.Sample = s.e.Sample(tx.Endpoint)
	return tx.Sample && r.ContentLength > 0 && r.ContentLength <= maxSampledBody && profilable(r.Header.Get("Content-Type"))
}

// WantsResponseBody asks for the response prefix of sampled transactions.
func (s *Stage) WantsResponseBody(tx *pipeline.Txn) bool { return tx.Sample }

// Response queues the observation for the engine.
func (s *Stage) Response(tx *pipeline.Txn) {
	r := tx.Req
	if tx.Endpoint == "" {
		// An earlier stage stopped the request before Request ran.
		tx.Endpoint = s.e.Template(r.URL.Path)
	}
	o := eng.Observation{
		Time: tx.Start, Host: hostOnly(r.Host), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Status: tx.Resp.Status, Latency: time.Since(tx.Start), Auth: tx.Auth, ReqType: r.Header.Get("Content-Type"),
		Protected: tx.Protected, Endpoint: "",
	}
	if r.Header.Get("Upgrade") != "" {
		o.Upgrade = strings.ToLower(r.Header.Get("Upgrade"))
	}
	if tx.Resp.Header != nil {
		o.RespType = tx.Resp.Header.Get("Content-Type")
	}
	if tx.Sample {
		o.Headers = eng.HeaderParams(r.Header)
		s.cls.ScanHeaders(r.Header, func(name string, c sensitive.Class) {
			if o.HeaderClasses == nil {
				o.HeaderClasses = map[string][]string{}
			}
			o.HeaderClasses[name] = append(o.HeaderClasses[name], string(c))
		})
		if b, truncated := tx.Body(); len(b) > 0 && !truncated {
			o.ReqBody = b // not pooled: safe to hand over
		}
		if profilable(o.RespType) && len(tx.Resp.Body) > 0 && int64(len(tx.Resp.Body)) == tx.Resp.Bytes {
			o.RespBody = bytes.Clone(tx.Resp.Body) // the Txn's buffer is reused
		}
	}
	s.e.Submit(o)
}

func profilable(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "application/x-www-form-urlencoded"
}

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.Trim(strings.ToLower(h), "[]")
}
