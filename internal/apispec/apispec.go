// Package apispec enforces OpenAPI specs on traffic: it finds the operation
// a request calls, validates the request (parameters, headers, content type,
// body schema) and the response against it with kin-openapi's
// openapi3filter, and adds what a validator alone does not say: properties a
// body carries that the spec does not declare (mass assignment in requests,
// excessive data exposure in responses), which it can also strip.
//
// Specs are OpenAPI 3.0 or 3.1 documents. Servers are reduced to their
// paths, so a spec written for https://api.example.com/v1 judges requests
// to /v1/... on whatever host the gateway serves it.
package apispec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Problem kinds.
const (
	KindSchema         = "schema_violation"
	KindMassAssignment = "mass_assignment"
	KindUndocumented   = "undocumented_operation"
	KindResponseSchema = "response_schema_violation"
	KindExposure       = "excessive_data_exposure"
)

// Problem is one way a message differs from the spec. Field names where
// (query.limit, body.items[0].qty, $.user.password_hash); values are never
// copied into it.
type Problem struct {
	Kind    string
	Field   string
	Message string
}

// RuleID is the finding's rule id for a kind.
func RuleID(kind string) string {
	switch kind {
	case KindSchema:
		return "openapi:schema"
	case KindMassAssignment:
		return "openapi:mass-assignment"
	case KindUndocumented:
		return "openapi:undocumented"
	case KindResponseSchema:
		return "openapi:response-schema"
	case KindExposure:
		return "openapi:excessive-data"
	}
	return "openapi:" + kind
}

// Validator holds the loaded specs.
type Validator struct {
	specs []*spec
}

type spec struct {
	name   string
	doc    *openapi3.T
	router routers.Router
}

// MaxSpecBytes bounds a spec document.
const MaxSpecBytes = 32 << 20

// Load reads and validates each spec (a file path or an http(s) URL).
func Load(ctx context.Context, sources []string) (*Validator, error) {
	v := &Validator{}
	for _, src := range sources {
		s, err := loadSpec(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		v.specs = append(v.specs, s)
	}
	return v, nil
}

func loadSpec(ctx context.Context, src string) (*spec, error) {
	l := openapi3.NewLoader()
	l.Context = ctx
	l.IsExternalRefsAllowed = false
	var (
		doc *openapi3.T
		err error
	)
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		u, perr := url.Parse(src)
		if perr != nil {
			return nil, perr
		}
		doc, err = l.LoadFromURI(u)
	} else {
		var data []byte
		f, oerr := os.Open(src)
		if oerr != nil {
			return nil, oerr
		}
		data, err = io.ReadAll(io.LimitReader(f, MaxSpecBytes+1))
		f.Close()
		if err == nil && len(data) > MaxSpecBytes {
			err = fmt.Errorf("larger than %d bytes", MaxSpecBytes)
		}
		if err == nil {
			doc, err = l.LoadFromData(data)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(ctx, openapi3.DisableExamplesValidation(), openapi3.AllowExtraSiblingFields("description")); err != nil {
		return nil, fmt.Errorf("not a valid OpenAPI document: %w", err)
	}
	// Servers are matched by path only: the gateway, not the spec, knows
	// which hosts it serves.
	var servers openapi3.Servers
	seen := map[string]bool{}
	for _, sv := range doc.Servers {
		p := "/"
		if u, err := url.Parse(sv.URL); err == nil && u.Path != "" {
			p = u.Path
		}
		if strings.Contains(sv.URL, "{") {
			p = "/" // templated servers: matched at the root
		}
		if !seen[p] {
			seen[p] = true
			servers = append(servers, &openapi3.Server{URL: p})
		}
	}
	doc.Servers = servers
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &spec{name: src, doc: doc, router: r}, nil
}

// Op is the operation a request calls.
type Op struct {
	spec   *spec
	route  *routers.Route
	params map[string]string
	// Template is "METHOD /path/{param}" as the spec writes it.
	Template string
}

// Find returns the operation r calls. When no spec lists it, it returns a
// Problem of kind undocumented_operation, and methodOnly says the path is
// in a spec under other methods (405 rather than 404).
func (v *Validator) Find(r *http.Request) (op *Op, undocumented *Problem, methodOnly bool) {
	if r.URL.Host != "" || r.URL.Scheme != "" {
		// Servers are paths only: match on the path whatever the host.
		u := *r.URL
		u.Scheme, u.Host = "", ""
		rr := *r
		rr.URL = &u
		r = &rr
	}
	for _, s := range v.specs {
		if route, params, err := s.router.FindRoute(r); err == nil {
			return &Op{spec: s, route: route, params: params, Template: r.Method + " " + route.Path}, nil, false
		}
	}
	// Does the path exist under another method? (405 rather than 404.)
	for _, m := range [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method || methodOnly {
			continue
		}
		rr := *r
		rr.Method = m
		for _, s := range v.specs {
			if _, _, err := s.router.FindRoute(&rr); err == nil {
				methodOnly = true
				break
			}
		}
	}
	msg := "no loaded spec lists " + r.Method + " " + r.URL.Path
	if methodOnly {
		msg = "the spec does not allow " + r.Method + " on " + r.URL.Path
	}
	return nil, &Problem{Kind: KindUndocumented, Field: r.Method + " " + r.URL.Path, Message: msg}, methodOnly
}

var filterOpts = &openapi3filter.Options{
	MultiError:         true,
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	// Defaults are the upstream's business, not the gateway's.
	SkipSettingDefaults: true,
}

var filterOptsNoBody = &openapi3filter.Options{
	MultiError:          true,
	AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
	SkipSettingDefaults: true,
	ExcludeRequestBody:  true,
}

// CheckRequest validates r (body already read: body, complete unless
// truncated) against op. It returns at most max problems.
func (v *Validator) CheckRequest(ctx context.Context, op *Op, r *http.Request, body []byte, truncated bool, max int) []Problem {
	in := requestInput(op, r, body, truncated)
	var out []Problem
	add := func(p Problem) bool {
		if len(out) >= max {
			return false
		}
		out = append(out, p)
		return true
	}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		for _, e := range flatten(err) {
			if !add(requestProblem(e)) {
				return out
			}
		}
	}
	if truncated || len(body) == 0 || !isJSON(r.Header.Get("Content-Type")) {
		return out
	}
	sch := bodySchema(op.route.Operation.RequestBody, r.Header.Get("Content-Type"))
	if sch == nil {
		return out
	}
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return out // the validator said so already
	}
	walkUndeclared(sch, doc, "body", 0, func(path string) bool {
		return add(Problem{Kind: KindMassAssignment, Field: path,
			Message: path + ": property not declared by the spec (mass assignment)"})
	}, nil)
	return out
}

// CheckResponse validates a response to a request of op. With strip set it
// also returns the body without the undeclared fields (nil when nothing was
// removed). Truncated bodies are not judged.
func (v *Validator) CheckResponse(ctx context.Context, op *Op, r *http.Request, status int, h http.Header, body []byte, strip bool, max int) ([]Problem, []byte) {
	var out []Problem
	add := func(p Problem) bool {
		if len(out) >= max {
			return false
		}
		out = append(out, p)
		return true
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: requestInput(op, r, nil, true),
		Status:                 status,
		Header:                 h,
		Options:                &openapi3filter.Options{MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		for _, e := range flatten(err) {
			if !add(responseProblem(e)) {
				break
			}
		}
	}
	if !isJSON(h.Get("Content-Type")) {
		return out, nil
	}
	sch := responseSchema(op.route.Operation, status, h.Get("Content-Type"))
	if sch == nil {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return out, nil
	}
	removed := false
	var del func(parent map[string]any, key string)
	if strip {
		del = func(parent map[string]any, key string) { delete(parent, key); removed = true }
	}
	walkUndeclared(sch, doc, "$", 0, func(path string) bool {
		return add(Problem{Kind: KindExposure, Field: path,
			Message: path + ": field not declared by the spec (excessive data exposure)"})
	}, del)
	if !removed {
		return out, nil
	}
	nb, err := json.Marshal(doc)
	if err != nil {
		return out, nil
	}
	return out, nb
}

func requestInput(op *Op, r *http.Request, body []byte, noBody bool) *openapi3filter.RequestValidationInput {
	rr := r.Clone(r.Context())
	opts := filterOpts
	if noBody {
		opts = filterOptsNoBody
		rr.Body = http.NoBody
	} else {
		rr.Body = io.NopCloser(bytes.NewReader(body))
	}
	return &openapi3filter.RequestValidationInput{Request: rr, PathParams: op.params, Route: op.route, Options: opts}
}

func flatten(err error) []error {
	if me, ok := err.(openapi3.MultiError); ok {
		var out []error
		for _, e := range me {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func requestProblem(err error) Problem {
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		field := "request"
		switch {
		case re.Parameter != nil:
			field = re.Parameter.In + "." + re.Parameter.Name
		case re.RequestBody != nil:
			field = "body"
		}
		var pe *openapi3filter.ParseError
		if errors.As(re.Err, &pe) {
			// Parse errors quote the value; say what was expected instead.
			msg := "cannot be parsed"
			if re.Parameter != nil && re.Parameter.Schema != nil && re.Parameter.Schema.Value != nil && re.Parameter.Schema.Value.Type != nil {
				msg = "expected " + strings.Join(*re.Parameter.Schema.Value.Type, " or ")
			} else if re.RequestBody != nil {
				msg = "the body does not parse as its content type"
			}
			return Problem{Kind: KindSchema, Field: field, Message: field + ": " + msg}
		}
		var se *openapi3.SchemaError
		if errors.As(re.Err, &se) {
			if p := se.JSONPointer(); len(p) > 0 && re.RequestBody != nil {
				field = "body." + strings.Join(p, ".")
			}
			return Problem{Kind: KindSchema, Field: field, Message: field + ": " + se.Reason}
		}
		var me openapi3.MultiError
		if errors.As(re.Err, &me) && len(me) > 0 {
			if errors.As(me[0], &se) {
				if p := se.JSONPointer(); len(p) > 0 && re.RequestBody != nil {
					field = "body." + strings.Join(p, ".")
				}
				return Problem{Kind: KindSchema, Field: field, Message: field + ": " + se.Reason}
			}
		}
		reason := re.Reason
		if reason == "" && re.Err != nil {
			reason = re.Err.Error()
		}
		return Problem{Kind: KindSchema, Field: field, Message: field + ": " + clip(reason)}
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		field := "body"
		if p := se.JSONPointer(); len(p) > 0 {
			field = "body." + strings.Join(p, ".")
		}
		return Problem{Kind: KindSchema, Field: field, Message: field + ": " + se.Reason}
	}
	return Problem{Kind: KindSchema, Field: "request", Message: clip(err.Error())}
}

func responseProblem(err error) Problem {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		field := "$"
		if p := se.JSONPointer(); len(p) > 0 {
			field = "$." + strings.Join(p, ".")
		}
		return Problem{Kind: KindResponseSchema, Field: field, Message: field + ": " + se.Reason}
	}
	var re *openapi3filter.ResponseError
	if errors.As(err, &re) && re.Reason != "" {
		return Problem{Kind: KindResponseSchema, Field: "response", Message: "response: " + clip(re.Reason)}
	}
	return Problem{Kind: KindResponseSchema, Field: "response", Message: clip(err.Error())}
}

// clip keeps messages short; kin-openapi's reasons do not hold values.
func clip(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func bodySchema(rb *openapi3.RequestBodyRef, ct string) *openapi3.Schema {
	if rb == nil || rb.Value == nil {
		return nil
	}
	return contentSchema(rb.Value.Content, ct)
}

func contentSchema(c openapi3.Content, ct string) *openapi3.Schema {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	m := c.Get(mt)
	if m == nil {
		m = c.Get("application/json")
	}
	if m == nil || m.Schema == nil {
		return nil
	}
	return m.Schema.Value
}

func responseSchema(op *openapi3.Operation, status int, ct string) *openapi3.Schema {
	if op == nil || op.Responses == nil {
		return nil
	}
	r := op.Responses.Status(status)
	if r == nil {
		r = op.Responses.Value(strconv.Itoa(status/100) + "XX")
	}
	if r == nil {
		r = op.Responses.Default()
	}
	if r == nil || r.Value == nil {
		return nil
	}
	return contentSchema(r.Value.Content, ct)
}

const maxWalkDepth = 32

// walkUndeclared reports each object property in doc that schema s does not
// declare (through properties of s and of its allOf, oneOf and anyOf
// subschemas). Objects that allow additional properties explicitly
// (additionalProperties: true or a schema) and free-form objects (no
// properties anywhere) are not judged. report returns false to stop; del,
// when set, removes the property from its parent.
func walkUndeclared(s *openapi3.Schema, doc any, path string, depth int, report func(string) bool, del func(map[string]any, string)) bool {
	if s == nil || depth > maxWalkDepth {
		return true
	}
	switch v := doc.(type) {
	case map[string]any:
		props, extra, freeForm := declared(s, 0)
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + "." + k
			if ps, ok := props[k]; ok {
				if !walkUndeclared(ps, v[k], p, depth+1, report, del) {
					return false
				}
				continue
			}
			if extra != nil {
				if !walkUndeclared(extra, v[k], p, depth+1, report, del) {
					return false
				}
				continue
			}
			if freeForm {
				continue
			}
			if !report(p) {
				return false
			}
			if del != nil {
				del(v, k)
			}
		}
	case []any:
		items := itemsOf(s, 0)
		for i, x := range v {
			if !walkUndeclared(items, x, path+"["+strconv.Itoa(i)+"]", depth+1, report, del) {
				return false
			}
		}
	}
	return true
}

// declared collects the properties s declares, the schema of additional
// properties (nil when none), and whether s is free-form (additional
// properties allowed, or no properties declared at all).
func declared(s *openapi3.Schema, depth int) (props map[string]*openapi3.Schema, extra *openapi3.Schema, freeForm bool) {
	props = map[string]*openapi3.Schema{}
	anyProps := false
	var visit func(s *openapi3.Schema, depth int)
	visit = func(s *openapi3.Schema, depth int) {
		if s == nil || depth > 8 {
			return
		}
		for k, p := range s.Properties {
			anyProps = true
			if p != nil && p.Value != nil {
				if _, ok := props[k]; !ok {
					props[k] = p.Value
				}
			}
		}
		ap := s.AdditionalProperties
		if ap.Has != nil && *ap.Has {
			freeForm = true
		}
		if ap.Schema != nil && ap.Schema.Value != nil {
			extra = ap.Schema.Value
		}
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
			for _, r := range list {
				if r != nil {
					visit(r.Value, depth+1)
				}
			}
		}
	}
	visit(s, depth)
	if !anyProps && extra == nil {
		freeForm = true
	}
	return props, extra, freeForm
}

func itemsOf(s *openapi3.Schema, depth int) *openapi3.Schema {
	if s == nil || depth > 8 {
		return nil
	}
	if s.Items != nil && s.Items.Value != nil {
		return s.Items.Value
	}
	for _, list := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
		for _, r := range list {
			if r != nil {
				if it := itemsOf(r.Value, depth+1); it != nil {
					return it
				}
			}
		}
	}
	return nil
}
