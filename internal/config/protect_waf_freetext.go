package config

import (
	"fmt"
	"regexp"

	"github.com/vigil-sec/vigil/internal/endpoint"
)

// WAF free_text values.
const (
	WAFFreeTextScore = "score"
	WAFFreeTextOff   = "off"
)

// WAFTextField names the JSON fields of one endpoint that carry text
// (titles, bodies, bios): the CRS rules that match vocabulary (command,
// SQL function, HTML tag, file and host names; internal/waf's free-text
// rules) skip them there, whatever they hold. Every other rule still runs
// on them (libinjection's SQLi and XSS, script tags, event handlers, path
// traversal...), and the vocabulary rules still run everywhere else.
type WAFTextField struct {
	// Endpoint is an endpoint template ("POST /posts"); required.
	Endpoint string `yaml:"endpoint"`
	// Fields are JSON fields, dotted for nested ones ("title",
	// "post.body"; array items "items.0.note").
	Fields []string `yaml:"fields"`
}

var wafTextFieldRE = regexp.MustCompile(`^[^\s"',;:/|]+$`)

// validateFreeText defaults protect.waf.free_text to score and checks
// text_fields.
func (w *WAF) validateFreeText(add addFunc) {
	for i, f := range w.TextFields {
		path := fmt.Sprintf("%s.text_fields[%d]", wafPath, i)
		if f.Endpoint == "" {
			add(path+".endpoint", "required: an endpoint template like \"POST /posts\"")
		} else if _, err := endpoint.Parse(f.Endpoint); err != nil {
			add(path+".endpoint", "%v", err)
		}
		if len(f.Fields) == 0 {
			add(path+".fields", "required: the JSON fields that carry text")
		}
		for j, name := range f.Fields {
			if !wafTextFieldRE.MatchString(name) {
				add(fmt.Sprintf("%s.fields[%d]", path, j), "%q is not a JSON field name (dotted for nested fields)", name)
			}
		}
	}
	switch w.FreeText {
	case "":
		w.FreeText = WAFFreeTextScore
	case WAFFreeTextScore, WAFFreeTextOff:
	default:
		add(wafPath+".free_text", "%q is not one of score, off", w.FreeText)
	}
}
