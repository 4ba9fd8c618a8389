// Package schema learns the shape of API message bodies from samples —
// JSON, URL-encoded forms, multipart forms and query strings — and emits it
// as JSON Schema 2020-12, the dialect of OpenAPI 3.1.
//
// A Schema is a learner for one message kind (say, the request body of
// POST /orders on one host). Feed it samples with the Observe methods;
// read it with JSONSchema, Sensitive and Diff; store it with MarshalJSON
// and combine learners with Merge. Memory is bounded by Options whatever
// the traffic.
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
	"sync"

	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
)

// ErrUnsupportedMediaType is returned by ObserveBody for a content type the
// learner does not parse (XML, plain text, binary ...). The caller records
// the content type only.
var ErrUnsupportedMediaType = errors.New("schema: unsupported media type")

// Options bound what a Schema learns. The zero value of each field selects
// its default.
type Options struct {
	// MaxProperties caps the properties learned per object (default 200).
	// Occurrences of further properties are counted, not learned, and the
	// object's schema then says additionalProperties: true.
	MaxProperties int `yaml:"max_properties" json:"max_properties,omitempty"`
	// MaxDepth caps nesting (default 16). Values deeper than this are
	// typed but their contents are not learned.
	MaxDepth int `yaml:"max_depth" json:"max_depth,omitempty"`
	// MaxNodes caps the schema nodes of one learner (default 4096), the
	// bound on its memory.
	MaxNodes int `yaml:"max_nodes" json:"max_nodes,omitempty"`
	// MaxArrayItems caps the elements of one array examined per sample
	// (default 64).
	MaxArrayItems int `yaml:"max_array_items" json:"max_array_items,omitempty"`
	// RequiredMinSamples is how many times an object must have been seen
	// before properties present in every one of them are called required
	// (default 3).
	RequiredMinSamples int64 `yaml:"required_min_samples" json:"required_min_samples,omitempty"`
	// EnumMaxValues: a string field becomes an enum when it took at most
	// this many distinct values (default 10) ...
	EnumMaxValues int `yaml:"enum_max_values" json:"enum_max_values,omitempty"`
	// EnumMinSamples: ... over at least this many samples (default 30) ...
	EnumMinSamples int64 `yaml:"enum_min_samples" json:"enum_min_samples,omitempty"`
	// EnumMaxLength: ... each at most this long (default 64 bytes), and
	// the field is neither sensitive nor of a detected format.
	EnumMaxLength int `yaml:"enum_max_length" json:"enum_max_length,omitempty"`
	// MapMinKeys: an object that has had this many distinct id-like keys
	// (numbers, UUIDs, long hex, emails) is a map; those keys collapse into
	// one additionalProperties schema (default 8).
	MapMinKeys int `yaml:"map_min_keys" json:"map_min_keys,omitempty"`
	// Classifier finds sensitive values; nil uses the built-in classes.
	Classifier *sensitive.Classifier `yaml:"-" json:"-"`
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxProperties, 200)
	def(&o.MaxDepth, 16)
	def(&o.MaxNodes, 4096)
	def(&o.MaxArrayItems, 64)
	def(&o.EnumMaxValues, 10)
	def(&o.EnumMaxLength, 64)
	def(&o.MapMinKeys, 8)
	if o.RequiredMinSamples <= 0 {
		o.RequiredMinSamples = 3
	}
	if o.EnumMinSamples <= 0 {
		o.EnumMinSamples = 30
	}
	if o.Classifier == nil {
		o.Classifier, _ = sensitive.New(nil) // no custom classes: cannot fail
	}
	return o
}

// Schema is a learned schema. It is safe for concurrent use; the zero value
// is ready with default Options.
type Schema struct {
	mu    sync.Mutex
	opts  Options
	init  bool
	root  *node
	nodes int
}

// New returns an empty learner.
func New(opts Options) *Schema {
	s := &Schema{}
	s.setup(opts)
	return s
}

func (s *Schema) setup(opts Options) {
	s.opts = opts.withDefaults()
	s.root = &node{}
	s.nodes = 1
	s.init = true
}

func (s *Schema) lock() {
	s.mu.Lock()
	if !s.init {
		s.setup(Options{})
	}
}

// Samples returns how many samples were learned.
func (s *Schema) Samples() int64 {
	s.lock()
	defer s.mu.Unlock()
	return s.root.N
}

// ObserveJSON learns one JSON body. Invalid or truncated JSON (a bounded
// prefix of a larger body) returns an error and learns nothing.
func (s *Schema) ObserveJSON(body []byte) error {
	v, err := sensitive.DecodeJSON(body)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	s.ObserveValue(v)
	return nil
}

// ObserveValue learns one decoded JSON value (from sensitive.DecodeJSON,
// or json.Unmarshal into any): map[string]any, []any, string,
// json.Number, float64, bool or nil. Other types are ignored.
func (s *Schema) ObserveValue(v any) {
	s.lock()
	defer s.mu.Unlock()
	s.observe(s.root, v, 0, "")
}

// ObserveText learns one textual value (a query parameter, a header),
// typed as ObserveValues types it: "42" is an integer, "true" a boolean.
func (s *Schema) ObserveText(v string) { s.ObserveValue(inferScalar(v)) }

// ObserveValues learns one set of query parameters or form fields as an
// object: a name seen once is a scalar, a repeated name an array. Values
// are typed: integer ("42", no leading zero), number ("4.5"), boolean
// ("true"/"false"), otherwise string.
func (s *Schema) ObserveValues(v url.Values) {
	obj := make(map[string]any, len(v))
	for k, vals := range v {
		switch len(vals) {
		case 0:
		case 1:
			obj[k] = inferScalar(vals[0])
		default:
			arr := make([]any, len(vals))
			for i, x := range vals {
				arr[i] = inferScalar(x)
			}
			obj[k] = arr
		}
	}
	s.ObserveValue(obj)
}

// ObserveForm learns an application/x-www-form-urlencoded body.
func (s *Schema) ObserveForm(body []byte) error {
	t := bytes.TrimSpace(body)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[' || t[0] == '<') {
		return errors.New("schema: form body looks like JSON or XML")
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return fmt.Errorf("schema: form: %w", err)
	}
	for k := range v {
		if len(k) > 256 || strings.ContainsAny(k, "\x00\r\n\t{}\"") {
			return errors.New("schema: form: implausible field name")
		}
	}
	s.ObserveValues(v)
	return nil
}

// maxPartValue is how much of a non-file multipart field is read.
const maxPartValue = 1024

// ObserveMultipart learns a multipart/form-data body: its field names and
// values (typed as ObserveValues does) and its file parts, which become
// strings of format "binary" with contentMediaType when the part has one.
// body may be a bounded prefix: the parts whose headers were read are
// learned. A body in which no part could be read is an error.
func (s *Schema) ObserveMultipart(body []byte, boundary string) error {
	if boundary == "" {
		return errors.New("schema: multipart: no boundary")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	obj := map[string]any{}
	parts := 0
	add := func(name string, v any) {
		if prev, ok := obj[name]; ok {
			if arr, ok := prev.([]any); ok {
				obj[name] = append(arr, v)
			} else {
				obj[name] = []any{prev, v}
			}
			return
		}
		obj[name] = v
	}
	var perr error
	for parts < 1000 {
		p, err := r.NextPart()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				perr = err
			}
			break
		}
		parts++
		name := p.FormName()
		if name == "" {
			continue
		}
		if p.FileName() != "" {
			media := p.Header.Get("Content-Type")
			if mt, _, err := mime.ParseMediaType(media); err == nil {
				media = mt
			} else {
				media = ""
			}
			add(name, fileValue{media: media})
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(p, maxPartValue+1))
		if len(b) > maxPartValue {
			add(name, string(b[:maxPartValue]))
		} else {
			add(name, inferScalar(string(b)))
		}
	}
	if len(obj) == 0 {
		if perr != nil {
			return fmt.Errorf("schema: multipart: %w", perr)
		}
		return errors.New("schema: multipart: no form parts")
	}
	s.ObserveValue(obj)
	return nil
}

// ObserveBody learns a body by its Content-Type: JSON (application/json
// and any +json), URL-encoded forms and multipart/form-data. Any other
// type returns ErrUnsupportedMediaType.
func (s *Schema) ObserveBody(contentType string, body []byte) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrUnsupportedMediaType, contentType)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return s.ObserveJSON(body)
	case mt == "application/x-www-form-urlencoded":
		return s.ObserveForm(body)
	case mt == "multipart/form-data":
		return s.ObserveMultipart(body, params["boundary"])
	}
	return fmt.Errorf("%w: %s", ErrUnsupportedMediaType, mt)
}

// fileValue is a multipart file part.
type fileValue struct{ media string }

// inferScalar types a form or query value.
func inferScalar(s string) any {
	switch s {
	case "true", "false":
		return s == "true"
	case "":
		return s
	}
	if len(s) > 18 {
		return s
	}
	i := 0
	if s[0] == '-' {
		i = 1
	}
	if i == len(s) || !isDigit(s[i]) || s[i] == '0' && len(s) > i+1 && s[i+1] != '.' {
		return s // "-", "abc", "007" (a code, not a number); "0.5" is a number
	}
	dot := false
	for j := i; j < len(s); j++ {
		switch {
		case isDigit(s[j]):
		case s[j] == '.' && !dot && j > i && j < len(s)-1:
			dot = true
		default:
			return s
		}
	}
	return json.Number(s)
}

// Merge adds what other learned into s, under s's Options. other is read
// under its own lock and not changed; s.Merge(s) doubles the counts.
func (s *Schema) Merge(other *Schema) {
	if other == nil {
		return
	}
	other.lock()
	snap := other.root.clone()
	other.mu.Unlock()
	s.lock()
	defer s.mu.Unlock()
	s.mergeNode(s.root, snap, 0)
}
