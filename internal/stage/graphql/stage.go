// Package graphql is the graphql stage: GraphQL requests to the configured
// paths are parsed (no schema needed) and refused when they nest too
// deep, use too many aliases, cost too much, batch too many operations or
// ask for introspection (OWASP API4). The analysis lives in
// internal/guard; see README.md and docs/guards.md.
package graphql

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/endpoint"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/guard"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// Stage enforces the GraphQL limits.
type Stage struct {
	paths         []endpoint.Template
	maxDepth      int
	maxAliases    int64
	maxCost       int64
	maxBatch      int
	listArgs      []string
	introspection bool // allowed
	blockInvalid  bool
	monitor       bool
}

var (
	_ pipeline.Stage      = (*Stage)(nil)
	_ pipeline.Layered    = (*Stage)(nil)
	_ pipeline.BodyReader = (*Stage)(nil)
)

// New builds the stage from protect.graphql; nil when it is not configured.
func New(cfg *config.Config) (pipeline.Stage, error) {
	g := cfg.Protect.GraphQL
	if !g.On() {
		return nil, nil
	}
	s := &Stage{maxDepth: g.MaxDepth, maxAliases: int64(g.MaxAliases), maxCost: g.MaxCost, maxBatch: g.MaxBatch,
		listArgs: g.ListArgs, introspection: g.Introspection == "allow", blockInvalid: g.Invalid == "block",
		monitor: g.Mode == "monitor"}
	paths := g.Paths
	if len(paths) == 0 {
		paths = []string{"/graphql"}
	}
	for i, p := range paths {
		t, err := endpoint.Parse(p)
		if err != nil {
			return nil, cfg.Errorf(fmt.Sprintf("protect.graphql.paths[%d]", i), "%v", err)
		}
		s.paths = append(s.paths, t)
	}
	return s, nil
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "graphql" }

// Layer implements pipeline.Layered.
func (s *Stage) Layer() string { return "graphql" }

func (s *Stage) applies(tx *pipeline.Txn) bool {
	for i := range s.paths {
		if s.paths[i].Match(tx.Req.Method, tx.Req.URL.Path) {
			return true
		}
	}
	return false
}

// WantsBody implements pipeline.BodyReader: POSTs to a GraphQL path.
func (s *Stage) WantsBody(tx *pipeline.Txn) bool {
	return tx.Req.Method == http.MethodPost && tx.Req.ContentLength != 0 && s.applies(tx)
}

// request is one GraphQL request of a POST body (or of a batch).
type request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// problem is a limit a request broke.
type problem struct {
	kind, msg string
	status    int
	value     string
}

// Request implements pipeline.Stage.
func (s *Stage) Request(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	if !s.applies(tx) {
		return pipeline.Continue, nil
	}
	var probs []problem
	r := tx.Req
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if r.URL.RawQuery == "" {
			return pipeline.Continue, nil
		}
		q := r.URL.Query()
		query := q.Get("query")
		if query == "" {
			return pipeline.Continue, nil
		}
		var vars map[string]any
		if v := q.Get("variables"); v != "" {
			_ = json.Unmarshal([]byte(v), &vars)
		}
		probs = s.check(probs, query, q.Get("operationName"), vars, "")
	case r.Method == http.MethodPost:
		body, truncated := tx.Body()
		if len(body) == 0 {
			return pipeline.Continue, nil
		}
		if truncated {
			probs = append(probs, s.invalid("the request body is larger than the inspection limit: it cannot be measured"))
			break
		}
		probs = s.checkBody(probs, r.Header.Get("Content-Type"), body)
	default:
		return pipeline.Continue, nil
	}
	if len(probs) == 0 {
		return pipeline.Continue, nil
	}
	return s.verdict(tx, probs), nil
}

func (s *Stage) checkBody(probs []problem, ct string, body []byte) []problem {
	mt := strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	if mt == "application/graphql" {
		return s.check(probs, string(body), "", nil, "")
	}
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") && mt != "" {
		// multipart uploads and the like: not measured (docs/guards.md).
		return probs
	}
	trimmed := strings.TrimLeft(string(body), " \t\r\n")
	if strings.HasPrefix(trimmed, "[") {
		var batch []request
		if err := json.Unmarshal(body, &batch); err != nil {
			return append(probs, s.invalid("the batch is not a JSON array of GraphQL requests: "+err.Error()))
		}
		if s.maxBatch > 0 && len(batch) > s.maxBatch {
			probs = append(probs, problem{kind: "graphql_batch", status: http.StatusBadRequest, value: strconv.Itoa(len(batch)),
				msg: fmt.Sprintf("a batch of %d operations exceeds the limit of %d", len(batch), s.maxBatch)})
		}
		for i := range batch {
			probs = s.check(probs, batch[i].Query, batch[i].OperationName, batch[i].Variables, fmt.Sprintf("batch[%d]: ", i))
		}
		return probs
	}
	var one request
	if err := json.Unmarshal(body, &one); err != nil {
		return append(probs, s.invalid("the body is not a GraphQL request: "+err.Error()))
	}
	return s.check(probs, one.Query, one.OperationName, one.Variables, "")
}

func (s *Stage) invalid(msg string) problem {
	return problem{kind: "graphql_invalid", status: http.StatusBadRequest, msg: msg}
}

func (s *Stage) check(probs []problem, query, op string, vars map[string]any, where string) []problem {
	if strings.TrimSpace(query) == "" {
		return append(probs, s.invalid(where+"no query"))
	}
	rep := guard.AnalyzeGraphQL(query, op, vars, s.listArgs)
	if rep.Err != nil {
		return append(probs, s.invalid(where+"the query cannot be parsed: "+rep.Err.Error()))
	}
	if s.maxDepth > 0 && rep.Depth > s.maxDepth {
		probs = append(probs, problem{kind: "graphql_depth", status: http.StatusBadRequest, value: strconv.Itoa(rep.Depth),
			msg: fmt.Sprintf("%squery depth %d exceeds the limit of %d", where, rep.Depth, s.maxDepth)})
	}
	if s.maxAliases > 0 && rep.Aliases > s.maxAliases {
		probs = append(probs, problem{kind: "graphql_aliases", status: http.StatusBadRequest, value: strconv.FormatInt(rep.Aliases, 10),
			msg: fmt.Sprintf("%s%d aliased fields exceed the limit of %d", where, rep.Aliases, s.maxAliases)})
	}
	if s.maxCost > 0 && rep.Cost > s.maxCost {
		msg := fmt.Sprintf("%squery cost %d exceeds the limit of %d", where, rep.Cost, s.maxCost)
		if rep.MaxList > 1 {
			msg += fmt.Sprintf(" (%s asks for %d items)", rep.ListField, rep.MaxList)
		}
		probs = append(probs, problem{kind: "graphql_cost", status: http.StatusBadRequest, value: strconv.FormatInt(rep.Cost, 10), msg: msg})
	}
	if rep.Introspection && !s.introspection {
		probs = append(probs, problem{kind: "graphql_introspection", status: http.StatusForbidden,
			msg: where + "introspection (__schema, __type) is disabled"})
	}
	return probs
}

// blocks reports whether a problem stops the request (an invalid query
// does only with invalid: block).
func (s *Stage) blocks(p *problem) bool { return p.kind != "graphql_invalid" || s.blockInvalid }

func (s *Stage) verdict(tx *pipeline.Txn, probs []problem) pipeline.Verdict {
	monitor := s.monitor || tx.Monitor()
	stop := -1
	if !s.monitor {
		for i := range probs {
			if s.blocks(&probs[i]) {
				stop = i
				break
			}
		}
	}
	for i := range probs {
		if i == stop || i >= 8 {
			continue
		}
		p := &probs[i]
		f := event.Finding{Stage: "graphql", Layer: "graphql", RuleID: p.kind, Kind: p.kind, Severity: "medium",
			Message: p.msg, Data: p.value, Variable: "graphql"}
		if s.blocks(p) {
			f.Action, f.WouldBlock = pipeline.Block.String(), monitor
		} else {
			f.Action, f.Severity = "log", "low"
		}
		tx.AddFinding(f)
	}
	if stop < 0 {
		return pipeline.Continue
	}
	p := &probs[stop]
	return pipeline.Verdict{Action: pipeline.Block, Status: p.status, Kind: p.kind, RuleID: p.kind, Severity: "medium",
		Message: p.msg, Body: errorBody(tx, p), ContentType: "application/json"}
}

// errorBody answers in both shapes a client may read: GraphQL's errors
// array (what GraphQL clients show) and Vigil's error document.
func errorBody(tx *pipeline.Txn, p *problem) []byte {
	type gqlErr struct {
		Message    string            `json:"message"`
		Extensions map[string]string `json:"extensions"`
	}
	doc := struct {
		Errors []gqlErr `json:"errors"`
		Error  struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			TxnID   string `json:"txn_id"`
		} `json:"error"`
	}{Errors: []gqlErr{{Message: p.msg, Extensions: map[string]string{"code": strings.ToUpper(p.kind), "txn_id": tx.ID}}}}
	doc.Error.Code, doc.Error.Message, doc.Error.TxnID = p.kind, p.msg, tx.ID
	b, _ := json.Marshal(doc)
	return append(b, '\n')
}
