// Package waf is Vigil's web application firewall: the Coraza v3 engine
// with the OWASP Core Rule Set v4 embedded (coraza-coreruleset, nothing
// downloaded), built once per configuration from protect.waf and shared by
// every route. It adds what a gateway needs around the engine: the CRS
// settings (paranoia level, anomaly thresholds) from config, SecLang inline
// and from files (hot-reloaded), virtual patches in a short YAML form
// compiled to SecLang on the same engine, exclusions scoped to a route or an
// endpoint template, and findings that name the CRS rule, its tags and the
// matched variable (masked when it is a secret).
//
// The stage that feeds it requests is internal/stage/waf.
package waf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/vigil-sec/vigil/internal/config"
)

// Limits are the body caps the engine inspects up to (the gateway's
// listen.limits.max_inspect_bytes and response_inspect_bytes).
type Limits struct {
	RequestBody  int64
	ResponseBody int64
}

// Engine is one compiled WAF: safe for concurrent use, immutable.
type Engine struct {
	waf    coraza.WAF
	newTx  func(id string) types.Transaction
	scoped []scopedRule
	// respRules: the engine has response-phase rules worth running
	// (response_body on, or custom SecLang in phase 3 or 4).
	respRules    bool
	requestBody  bool
	responseBody bool
	monitor      bool
	// Files are the SecLang files read for this engine, with the
	// contents they had.
	files []string
}

// Error is a build error that names the config field it comes from.
type Error struct {
	// Path is the config field ("protect.waf.directives",
	// "protect.waf.files[0]").
	Path string
	// Msg is Coraza's message (or Vigil's).
	Msg string
}

func (e *Error) Error() string { return e.Path + ": " + e.Msg }

// section is one piece of the SecLang the engine is built from, in load
// order, with the config field it comes from.
type section struct {
	path string
	file string
	text string
}

// Internal rule ids: outside the CRS (900000-999999) and the ranges users
// are told to pick from.
const (
	idSettings     = 9_990_001
	idExclusionMin = 9_991_000
)

// The CRS allows GET, HEAD, POST and OPTIONS (rule 911100); an API
// gateway allows PUT, PATCH and DELETE too.
//
// allowedContentTypes are the CRS defaults (rule 920420) plus the JSON
// family APIs use, and gRPC.
const allowedContentTypes = "|application/x-www-form-urlencoded| |multipart/form-data| |text/xml| |application/xml| |application/soap+xml| |application/json|" +
	" |application/merge-patch+json| |application/json-patch+json| |application/vnd.api+json| |application/problem+json| |application/cloudevents+json| |application/x-ndjson| |application/graphql|" +
	" |application/grpc| |application/grpc+proto| |application/grpc+json| |application/grpc-web| |application/grpc-web+proto| |application/grpc-web-text|"

// base replaces @coraza.conf-recommended: the same body processors and
// checks, without the audit log, the data dir or the debug log; the body
// limits come from the gateway.
const base = `SecRuleEngine On
SecRequestBodyAccess %s
SecRequestBodyLimit %d
SecRequestBodyInMemoryLimit %d
SecRequestBodyLimitAction ProcessPartial
SecRequestBodyJsonDepthLimit 1024
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "^application/[a-z0-9.-]+[+]json" "id:200006,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',logdata:'%%{reqbody_error_msg}',severity:2,tag:'attack-protocol'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation.',severity:2,tag:'attack-protocol'"
SecResponseBodyAccess %s
SecResponseBodyMimeType text/plain text/html text/xml application/json application/xml application/problem+json application/javascript
SecResponseBodyLimit %d
SecResponseBodyLimitAction ProcessPartial
SecAuditEngine Off
Include @crs-setup.conf.example
`

// Build compiles the engine for cfg. Errors are *Error values naming the
// field whose SecLang did not compile, with Coraza's message.
func Build(cfg *config.WAF, lim Limits) (*Engine, error) {
	if lim.RequestBody <= 0 {
		lim.RequestBody = config.DefaultMaxInspectBytes
	}
	if lim.ResponseBody <= 0 {
		lim.ResponseBody = config.DefaultResponseInspectBytes
	}
	c := *cfg
	cfg = &c
	if cfg.ParanoiaLevel == 0 {
		cfg.ParanoiaLevel = config.DefaultWAFParanoia
	}
	if cfg.InboundAnomalyThreshold == 0 {
		cfg.InboundAnomalyThreshold = config.DefaultWAFInboundAnomaly
	}
	if cfg.OutboundAnomalyThreshold == 0 {
		cfg.OutboundAnomalyThreshold = config.DefaultWAFOutboundAnomaly
	}
	e := &Engine{requestBody: cfg.WAFRequestBody(), responseBody: cfg.ResponseBody, monitor: cfg.Mode == "monitor"}
	secs, err := e.sections(cfg, lim)
	if err != nil {
		return nil, err
	}
	var all strings.Builder
	for _, s := range secs {
		all.WriteString(s.text)
		all.WriteByte('\n')
	}
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(all.String()))
	if err != nil {
		return nil, blame(secs, err)
	}
	e.waf = w
	e.newTx = func(string) types.Transaction { return w.NewTransaction() }
	if wo, ok := w.(experimental.WAFWithOptions); ok {
		e.newTx = func(id string) types.Transaction {
			if id == "" {
				return w.NewTransaction()
			}
			return wo.NewTransactionWithOptions(experimental.Options{ID: id})
		}
	}
	// Scoped rules are switched off per transaction; make sure this
	// Coraza can.
	if len(e.scoped) > 0 {
		tx := w.NewTransaction()
		_, ok := tx.(ruleRemover)
		_ = tx.Close()
		if !ok {
			return nil, &Error{Path: "protect.waf", Msg: "this Coraza build cannot scope rules to an endpoint or route"}
		}
	}
	return e, nil
}

// sections lays out the SecLang in load order.
func (e *Engine) sections(cfg *config.WAF, lim Limits) ([]section, error) {
	onOff := func(b bool) string {
		if b {
			return "On"
		}
		return "Off"
	}
	secs := []section{{path: "protect.waf", text: fmt.Sprintf(base, onOff(e.requestBody), lim.RequestBody, lim.RequestBody,
		onOff(e.responseBody), lim.ResponseBody)}}
	secs = append(secs, section{path: "protect.waf", text: fmt.Sprintf(
		`SecAction "id:%d,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=%d,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE',setvar:'tx.allowed_request_content_type=%s'"`,
		idSettings, cfg.ParanoiaLevel, cfg.InboundAnomalyThreshold, cfg.OutboundAnomalyThreshold, allowedContentTypes)})
	if strings.TrimSpace(cfg.Setup) != "" {
		secs = append(secs, section{path: "protect.waf.setup", text: cfg.Setup})
	}
	excl, scoped := compileExclusions(append(slices.Clone(cfg.Exclusions), textFieldExclusions(cfg.TextFields)...))
	e.scoped = append(e.scoped, scoped...)
	if excl != "" {
		secs = append(secs, section{path: "protect.waf.exclusions", text: excl})
	}
	crs, err := crsIncludes(cfg.FreeText != config.WAFFreeTextOff)
	if err != nil {
		return nil, &Error{Path: "protect.waf", Msg: err.Error()}
	}
	secs = append(secs, section{path: "protect.waf", text: crs})
	if strings.TrimSpace(cfg.Directives) != "" {
		secs = append(secs, section{path: "protect.waf.directives", text: cfg.Directives})
	}
	if len(cfg.Patches) > 0 {
		text, scoped := compilePatches(cfg.Patches)
		e.scoped = append(e.scoped, scoped...)
		secs = append(secs, section{path: "protect.waf.patches", text: text})
	}
	custom := cfg.Directives
	for i, f := range cfg.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, &Error{Path: fmt.Sprintf("protect.waf.files[%d]", i), Msg: err.Error()}
		}
		e.files = append(e.files, f)
		secs = append(secs, section{path: fmt.Sprintf("protect.waf.files[%d]", i), file: f, text: string(b)})
		custom += "\n" + string(b)
	}
	e.respRules = e.responseBody || hasResponsePhase(custom) || hasResponsePhase(cfg.Setup)
	return secs, nil
}

// crsIncludes includes the CRS rule files in order; with freeText, Vigil's
// free-text rule goes before the blocking evaluation (REQUEST-949).
func crsIncludes(freeText bool) (string, error) {
	files, err := fs.Glob(coreruleset.FS, "@owasp_crs/*.conf")
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("the embedded CRS has no rule files (%v)", err)
	}
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		if freeText && strings.HasPrefix(path.Base(f), "REQUEST-949-") {
			b.WriteString(freeTextRule())
			b.WriteByte('\n')
			freeText = false
		}
		b.WriteString("Include " + f + "\n")
	}
	return b.String(), nil
}

// hasResponsePhase reports whether SecLang has a rule for the response
// headers or body.
func hasResponsePhase(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "phase:3") || strings.Contains(s, "phase:4") || strings.Contains(s, "phase:response") ||
		strings.Contains(s, "phase:'3'") || strings.Contains(s, "phase:'4'")
}

// blame finds the section a compile error comes from: it builds the
// sections one more at a time until the error appears (only on the error
// path; the CRS is compiled at most twice more).
func blame(secs []section, err error) error {
	msg := strings.TrimPrefix(err.Error(), "invalid WAF config from string: ")
	var acc strings.Builder
	for i, s := range secs {
		acc.WriteString(s.text)
		acc.WriteByte('\n')
		if s.path == "protect.waf" && i+1 < len(secs) && secs[i+1].path == "protect.waf" {
			continue
		}
		if _, e2 := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(acc.String())); e2 != nil {
			m := strings.TrimPrefix(e2.Error(), "invalid WAF config from string: ")
			if s.file != "" {
				m = s.file + ": " + m
			}
			return &Error{Path: s.path, Msg: m}
		}
	}
	return &Error{Path: "protect.waf", Msg: msg}
}

// ruleRemover is what Coraza's transactions offer to switch a rule off for
// one transaction (what ctl:ruleRemoveById does).
type ruleRemover interface {
	RemoveRuleByID(id int)
}

// RequestBodyOn reports whether request bodies are inspected.
func (e *Engine) RequestBodyOn() bool { return e.requestBody }

// Files lists the SecLang files the engine was built from.
func (e *Engine) Files() []string { return e.files }

// Close releases the engine.
func (e *Engine) Close() error {
	if c, ok := e.waf.(experimental.WAFCloser); ok {
		return c.Close()
	}
	return nil
}

// FieldPath returns the config field of a build error ("" if not one).
func FieldPath(err error) (path, msg string) {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Path, fe.Msg
	}
	return "", ""
}

func itoa(i int) string { return strconv.Itoa(i) }
