// Package openapi is the openapi stage: requests and responses judged
// against the loaded OpenAPI specs (internal/apispec). Requests: wrong
// types, missing required fields, bad enums and formats (schema_violation),
// properties the spec does not declare (mass_assignment), operations no spec
// lists (undocumented_operation, blocked with undocumented: block).
// Responses: type errors (response_schema_violation) and fields the spec
// does not declare (excessive_data_exposure), stripped with responses:
// enforce.
package openapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/apispec"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Stage enforces the specs.
type Stage struct {
	v                 *apispec.Validator
	requests          string // enforce | monitor | off
	responses         string
	blockUndocumented bool
	max               int
}

// opKey stashes the request's operation for the response phase.
type opKey struct{}

// New builds the stage from protect.openapi; nil when it is not set.
func New(cfg *config.Config) (pipeline.Stage, error) {
	o := cfg.Protect.OpenAPI
	if o == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := apispec.Load(ctx, o.Specs)
	if err != nil {
		return nil, cfg.Errorf("protect.openapi.specs", "%v", err)
	}
	return &Stage{v: v, requests: o.Requests, responses: o.Responses,
		blockUndocumented: o.Undocumented == "block", max: max(o.MaxFindings, 1)}, nil
}

// Name implements pipeline.Stage.
func (*Stage) Name() string { return "openapi" }

// Layer implements pipeline.Layered.
func (*Stage) Layer() string { return "openapi" }

// WantsBody implements pipeline.BodyReader: bodies are validated unless
// requests are off; streams (gRPC) are not read.
func (s *Stage) WantsBody(tx *pipeline.Txn) bool {
	r := tx.Req
	if s.requests == "off" || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return false
	}
	ct := r.Header.Get("Content-Type")
	return !strings.HasPrefix(ct, "application/grpc")
}

// Request implements pipeline.Stage.
func (s *Stage) Request(ctx context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	op, undoc, methodOnly := s.v.Find(tx.Req)
	if op == nil {
		if s.blockUndocumented {
			status := http.StatusNotFound
			if methodOnly {
				status = http.StatusMethodNotAllowed
			}
			return pipeline.Verdict{Action: pipeline.Block, Status: status, Kind: undoc.Kind, RuleID: apispec.RuleID(undoc.Kind),
				Severity: "medium", Message: undoc.Message, Variable: "operation"}, nil
		}
		tx.AddFinding(event.Finding{Stage: "openapi", Layer: "openapi", Kind: undoc.Kind, RuleID: apispec.RuleID(undoc.Kind),
			Severity: "low", Action: "log", Message: undoc.Message})
		return pipeline.Continue, nil
	}
	tx.Stash(opKey{}, op)
	if s.requests == "off" {
		return pipeline.Continue, nil
	}
	body, truncated := tx.Body()
	probs := s.v.CheckRequest(ctx, op, tx.Req, body, truncated, s.max)
	if len(probs) == 0 {
		return pipeline.Continue, nil
	}
	monitor := s.requests == "monitor"
	first := 1
	if monitor {
		first = 0
	}
	for _, p := range probs[first:] {
		tx.AddFinding(event.Finding{Stage: "openapi", Layer: "openapi", Kind: p.Kind, RuleID: apispec.RuleID(p.Kind),
			Severity: severity(p.Kind), Action: pipeline.Block.String(), Message: p.Message, Variable: p.Field,
			WouldBlock: monitor || tx.Monitor()})
	}
	if monitor {
		return pipeline.Continue, nil
	}
	p := probs[0]
	return pipeline.Verdict{Action: pipeline.Block, Status: http.StatusBadRequest, Kind: p.Kind, RuleID: apispec.RuleID(p.Kind),
		Severity: severity(p.Kind), Message: p.Message, Variable: p.Field}, nil
}

func severity(kind string) string {
	switch kind {
	case apispec.KindMassAssignment, apispec.KindExposure:
		return "high"
	}
	return "medium"
}

// WantsResponse implements pipeline.ResponseInspector: JSON responses of
// operations the spec lists.
func (s *Stage) WantsResponse(tx *pipeline.Txn) bool {
	if s.responses == "off" || tx.Stashed(opKey{}) == nil || tx.Resp.Header == nil {
		return false
	}
	ct := tx.Resp.Header.Get("Content-Type")
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(strings.ToLower(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// InspectResponse implements pipeline.ResponseInspector. A body cut at the
// inspection limit is not judged: half a document says nothing reliable.
func (s *Stage) InspectResponse(ctx context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	op, _ := tx.Stashed(opKey{}).(*apispec.Op)
	if op == nil || tx.RespTruncated() || len(tx.Resp.Body) == 0 {
		return pipeline.Continue, nil
	}
	strip := s.responses == "enforce" && !tx.Monitor()
	probs, stripped := s.v.CheckResponse(ctx, op, tx.Req, tx.Resp.Status, tx.Resp.Header, tx.Resp.Body, strip, s.max)
	for _, p := range probs {
		f := event.Finding{Stage: "openapi", Layer: "openapi", Kind: p.Kind, RuleID: apispec.RuleID(p.Kind),
			Severity: severity(p.Kind), Action: "log", Message: p.Message, Variable: p.Field}
		if p.Kind == apispec.KindExposure {
			f.Action = "strip"
			f.WouldBlock = !strip
		}
		tx.AddFinding(f)
	}
	if stripped != nil {
		tx.ReplaceResponseBody(stripped)
	}
	return pipeline.Continue, nil
}
