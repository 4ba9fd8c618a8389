package waf

import (
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/endpoint"
)

// scopedRule is a rule that only applies to some requests: a virtual patch
// for one endpoint, an exclusion for a route or an endpoint. It is compiled
// into the engine like any rule, and switched off (RemoveRuleByID, what
// ctl:ruleRemoveById does) on every transaction it does not apply to. The
// endpoint is matched in Go with internal/endpoint, against the canonical
// path, so "/cart/{parameter}" means exactly what it means to every other
// layer (one segment: never /cart/x/y).
type scopedRule struct {
	id    int
	route string
	ep    *endpoint.Template
}

// applies reports whether the rule is meant for this request.
func (s *scopedRule) applies(route, method, path string) bool {
	if s.route != "" && s.route != route {
		return false
	}
	return s.ep == nil || s.ep.Match(method, path)
}

// PatchTag is the tag of every rule compiled from protect.waf.patches.
const PatchTag = "vigil-virtual-patch"

// patchVariables maps a patch's where to SecLang variables.
func patchVariables(where string) string {
	var vs []string
	for _, t := range config.WAFPatchWhere(where) {
		kind, name, _ := strings.Cut(t, ":")
		switch kind {
		case "args":
			vs = append(vs, "ARGS")
		case "query":
			vs = append(vs, "ARGS_GET")
		case "body":
			// The raw body: REQUEST_BODY for forms and unparsed types,
			// the JSON processor's copy, the XML document.
			vs = append(vs, "REQUEST_BODY", "TX:json_request_body", "XML:/*")
		case "path":
			vs = append(vs, "REQUEST_FILENAME")
		case "method":
			vs = append(vs, "REQUEST_METHOD")
		case "header":
			vs = append(vs, "REQUEST_HEADERS:"+name)
		case "cookie":
			vs = append(vs, "REQUEST_COOKIES:"+name)
		case "json":
			vs = append(vs, "ARGS_POST:json."+name)
		case "arg":
			vs = append(vs, "ARGS:"+name)
		}
	}
	return strings.Join(vs, "|")
}

// compilePatches turns the short form into SecLang rules (phase 2, so the
// body is parsed) and lists those scoped to an endpoint.
func compilePatches(ps []config.WAFPatch) (string, []scopedRule) {
	var b strings.Builder
	var scoped []scopedRule
	for _, p := range ps {
		msg := p.Message
		if msg == "" {
			msg = "virtual patch " + itoa(p.ID)
		}
		action := "pass"
		if p.Action != "log" {
			status := p.Status
			if status == 0 {
				status = 403
			}
			action = fmt.Sprintf("deny,status:%d", status)
		}
		fmt.Fprintf(&b, "SecRule %s \"@rx %s\" \"id:%d,phase:2,t:none,log,%s,msg:'%s',logdata:'%%{MATCHED_VAR_NAME}',tag:'%s',severity:'CRITICAL'\"\n",
			patchVariables(p.Where), p.Pattern, p.ID, action, msg, PatchTag)
		if p.Endpoint != "" {
			t, err := endpoint.Parse(p.Endpoint)
			if err == nil {
				scoped = append(scoped, scopedRule{id: p.ID, ep: &t})
			}
		}
	}
	return b.String(), scoped
}

// compileExclusions turns each exclusion into one phase-1 SecAction of
// ctl: actions, loaded before the CRS, and scopes it to its route and
// endpoint.
func compileExclusions(es []config.WAFExclusion) (string, []scopedRule) {
	var b strings.Builder
	var scoped []scopedRule
	for i, e := range es {
		id := idExclusionMin + i
		var ctl []string
		if len(e.Variables) == 0 {
			for _, r := range e.RuleIDs {
				ctl = append(ctl, "ctl:ruleRemoveById="+r)
			}
			for _, t := range e.Tags {
				ctl = append(ctl, "ctl:ruleRemoveByTag="+t)
			}
		} else {
			for _, v := range e.Variables {
				for _, r := range e.RuleIDs {
					ctl = append(ctl, "ctl:ruleRemoveTargetById="+r+";"+v)
				}
				for _, t := range e.Tags {
					ctl = append(ctl, "ctl:ruleRemoveTargetByTag="+t+";"+v)
				}
				if len(e.RuleIDs) == 0 && len(e.Tags) == 0 {
					ctl = append(ctl, "ctl:ruleRemoveTargetByTag=OWASP_CRS;"+v)
				}
			}
		}
		if len(ctl) == 0 {
			continue
		}
		fmt.Fprintf(&b, "SecAction \"id:%d,phase:1,pass,t:none,nolog,%s\"\n", id, strings.Join(ctl, ","))
		sr := scopedRule{id: id, route: e.Route}
		if e.Endpoint != "" {
			if t, err := endpoint.Parse(e.Endpoint); err == nil {
				sr.ep = &t
			}
		}
		scoped = append(scoped, sr)
	}
	return b.String(), scoped
}
