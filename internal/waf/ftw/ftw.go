// Package ftw reads the OWASP CRS regression tests (the go-ftw YAML format
// the coraza-coreruleset module ships in tests/) and turns each stage into
// the bytes go-ftw would put on the wire, so the suite can be replayed
// through something that is not go-ftw's own runner: Vigil's gateway.
//
// What it reproduces of go-ftw (ftwhttp.BuildRequest): the request line as
// written ("%s %s %s\r\n", however broken), headers as a one-value map
// written in name order, autocomplete_headers (the default; stop_magic: true
// turns it off) adding Content-Type: application/x-www-form-urlencoded to a
// request with data, url-encoding unencoded form data, Connection: close and
// Content-Length; multipart bodies get CRLF line ends; encoded_request
// (base64) and raw_request are sent exactly as given.
package ftw

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// File is one YAML file: the tests of one rule.
type File struct {
	// Path is the file's path in the tests tree
	// ("REQUEST-920-PROTOCOL-ENFORCEMENT/920100.yaml").
	Path   string
	RuleID int
	Tests  []Test
}

// Test is one test case (a test_id), made of stages sent in turn.
type Test struct {
	RuleID int
	TestID int
	Desc   string
	Stages []Stage
}

// Name is the go-ftw name of a test: "920100-4".
func (t Test) Name() string { return strconv.Itoa(t.RuleID) + "-" + strconv.Itoa(t.TestID) }

// Stage is one request and what is expected of it.
type Stage struct {
	Input  Input
	Output Output
}

// Header is one request header as the test writes it (name case kept).
type Header struct{ Name, Value string }

// Input is the request of a stage.
type Input struct {
	DestAddr string
	Port     int
	Protocol string
	Method   string
	URI      string
	Version  string
	// Headers in the order of the file (go-ftw writes them sorted by
	// name; Request does too).
	Headers []Header
	Data    []byte
	// AutocompleteHeaders (default true) lets go-ftw add the headers a
	// request needs (see Request); stop_magic: true is its old negation.
	AutocompleteHeaders bool
	// EncodedRequest is a whole request, base64; RawRequest the same in
	// clear. Either one replaces every other field.
	EncodedRequest string
	RawRequest     string
	SaveCookie     bool
	FollowRedirect bool
}

// Output is what a stage expects.
type Output struct {
	// Status is the expected response status (0: not checked). Old
	// files give a list; any of them passes.
	Status []int
	// ResponseContains is a regular expression the response must match.
	ResponseContains string
	// ExpectIDs must all be among the rules logged for the request,
	// NoExpectIDs none of them.
	ExpectIDs   []int
	NoExpectIDs []int
	// MatchRegex must match the request's log, NoMatchRegex must not.
	MatchRegex   string
	NoMatchRegex string
	// LogContains and NoLogContains are the old names of MatchRegex and
	// NoMatchRegex.
	LogContains   string
	NoLogContains string
	// ExpectError: the exchange fails (no response can be read).
	ExpectError bool
	RetryOnce   bool
	Isolated    bool
}

// Raw form of the YAML, decoded loosely and then checked.
type rawFile struct {
	Meta struct {
		Enabled *bool `yaml:"enabled"`
	} `yaml:"meta"`
	RuleID int       `yaml:"rule_id"`
	Tests  []rawTest `yaml:"tests"`
}

type rawTest struct {
	TestID int        `yaml:"test_id"`
	Title  string     `yaml:"test_title"`
	Desc   string     `yaml:"desc"`
	Stages []rawStage `yaml:"stages"`
}

type rawStage struct {
	Input  *rawInput  `yaml:"input"`
	Output *rawOutput `yaml:"output"`
	// Stage is the legacy wrapper: "- stage: {input, output}".
	Stage *struct {
		Input  *rawInput  `yaml:"input"`
		Output *rawOutput `yaml:"output"`
	} `yaml:"stage"`
}

type rawInput struct {
	DestAddr            *string   `yaml:"dest_addr"`
	Port                *int      `yaml:"port"`
	Protocol            *string   `yaml:"protocol"`
	Method              *string   `yaml:"method"`
	URI                 *string   `yaml:"uri"`
	Version             *string   `yaml:"version"`
	Headers             yaml.Node `yaml:"headers"`
	Ordered             yaml.Node `yaml:"ordered_headers"`
	Data                *string   `yaml:"data"`
	SaveCookie          bool      `yaml:"save_cookie"`
	StopMagic           *bool     `yaml:"stop_magic"`
	AutocompleteHeaders *bool     `yaml:"autocomplete_headers"`
	EncodedRequest      string    `yaml:"encoded_request"`
	RawRequest          string    `yaml:"raw_request"`
	FollowRedirect      bool      `yaml:"follow_redirect"`
}

type rawOutput struct {
	Status           yaml.Node `yaml:"status"`
	ResponseContains string    `yaml:"response_contains"`
	LogContains      string    `yaml:"log_contains"`
	NoLogContains    string    `yaml:"no_log_contains"`
	Log              struct {
		ExpectIDs    []int  `yaml:"expect_ids"`
		NoExpectIDs  []int  `yaml:"no_expect_ids"`
		MatchRegex   string `yaml:"match_regex"`
		NoMatchRegex string `yaml:"no_match_regex"`
	} `yaml:"log"`
	ExpectError *bool `yaml:"expect_error"`
	RetryOnce   *bool `yaml:"retry_once"`
	Isolated    bool  `yaml:"isolated"`
}

// Parse reads one test file. name is only used in errors.
func Parse(name string, b []byte) (*File, error) {
	var rf rawFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := &File{Path: name, RuleID: rf.RuleID}
	if f.RuleID == 0 {
		// Old files have no rule_id: the file name is the rule.
		f.RuleID, _ = strconv.Atoi(strings.TrimSuffix(path.Base(name), path.Ext(name)))
	}
	// A file may hold no tests at all (all commented out): that is a
	// file with zero tests, not an error.
	for i, rt := range rf.Tests {
		t := Test{RuleID: f.RuleID, TestID: rt.TestID, Desc: strings.TrimSpace(rt.Desc)}
		if t.TestID == 0 {
			// Old files name tests "920100-4" in test_title.
			if _, id, ok := strings.Cut(rt.Title, "-"); ok {
				t.TestID, _ = strconv.Atoi(id)
			}
			if t.TestID == 0 {
				t.TestID = i + 1
			}
		}
		if len(rt.Stages) == 0 {
			return nil, fmt.Errorf("%s: test %d has no stages", name, t.TestID)
		}
		for j, rs := range rt.Stages {
			in, out := rs.Input, rs.Output
			if rs.Stage != nil {
				in, out = rs.Stage.Input, rs.Stage.Output
			}
			if in == nil || out == nil {
				return nil, fmt.Errorf("%s: test %d stage %d needs input and output", name, t.TestID, j+1)
			}
			s, err := stage(in, out)
			if err != nil {
				return nil, fmt.Errorf("%s: test %d stage %d: %w", name, t.TestID, j+1, err)
			}
			t.Stages = append(t.Stages, s)
		}
		f.Tests = append(f.Tests, t)
	}
	return f, nil
}

func stage(in *rawInput, out *rawOutput) (Stage, error) {
	s := Stage{Input: Input{DestAddr: "localhost", Port: 80, Protocol: "http", Method: "GET", URI: "/", Version: "HTTP/1.1",
		AutocompleteHeaders: true, EncodedRequest: in.EncodedRequest, RawRequest: in.RawRequest,
		SaveCookie: in.SaveCookie, FollowRedirect: in.FollowRedirect}}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&s.Input.DestAddr, in.DestAddr)
	set(&s.Input.Protocol, in.Protocol)
	set(&s.Input.Method, in.Method)
	set(&s.Input.URI, in.URI)
	set(&s.Input.Version, in.Version)
	if in.Port != nil {
		s.Input.Port = *in.Port
	}
	if in.Data != nil {
		d, err := render(*in.Data)
		if err != nil {
			return s, err
		}
		s.Input.Data = []byte(d)
	}
	if in.StopMagic != nil {
		s.Input.AutocompleteHeaders = !*in.StopMagic
	}
	if in.AutocompleteHeaders != nil {
		s.Input.AutocompleteHeaders = *in.AutocompleteHeaders
	}
	var err error
	if s.Input.Headers, err = headers(&in.Headers); err != nil {
		return s, err
	}
	oh, err := orderedHeaders(&in.Ordered)
	if err != nil {
		return s, err
	}
	s.Input.Headers = append(s.Input.Headers, oh...)
	if s.Input.EncodedRequest != "" {
		if _, err := s.Input.decoded(); err != nil {
			return s, err
		}
	}

	o := Output{ResponseContains: out.ResponseContains, LogContains: out.LogContains, NoLogContains: out.NoLogContains,
		ExpectIDs: out.Log.ExpectIDs, NoExpectIDs: out.Log.NoExpectIDs, MatchRegex: out.Log.MatchRegex,
		NoMatchRegex: out.Log.NoMatchRegex, Isolated: out.Isolated}
	if out.ExpectError != nil {
		o.ExpectError = *out.ExpectError
	}
	if out.RetryOnce != nil {
		o.RetryOnce = *out.RetryOnce
	}
	switch out.Status.Kind {
	case 0:
	case yaml.ScalarNode:
		var st int
		if err := out.Status.Decode(&st); err != nil {
			return s, fmt.Errorf("status: %w", err)
		}
		o.Status = []int{st}
	case yaml.SequenceNode:
		if err := out.Status.Decode(&o.Status); err != nil {
			return s, fmt.Errorf("status: %w", err)
		}
	default:
		return s, errors.New("status: not a number or a list")
	}
	for _, re := range []string{o.ResponseContains, o.MatchRegex, o.NoMatchRegex, o.LogContains, o.NoLogContains} {
		if _, err := regexp.Compile(re); err != nil {
			return s, fmt.Errorf("regular expression %q: %w", re, err)
		}
	}
	s.Output = o
	return s, nil
}

// maxRepeat bounds what a data template may build (the suite's largest is
// 64 KB).
const maxRepeat = 1 << 22

// templateFuncs are the go-ftw data template functions the CRS tests use
// (sprig's repeat).
var templateFuncs = template.FuncMap{
	"repeat": func(n int, s string) (string, error) {
		if n < 0 || n*max(len(s), 1) > maxRepeat || n > maxRepeat {
			return "", fmt.Errorf("repeat %d: out of range", n)
		}
		return strings.Repeat(s, n), nil
	},
}

// render expands a go-ftw data template ({{ "1" | repeat 64200 }}).
// Data without "{{" is returned as it is.
func render(data string) (string, error) {
	if !strings.Contains(data, "{{") {
		return data, nil
	}
	tpl, err := template.New("data").Funcs(templateFuncs).Parse(data)
	if err != nil {
		return "", fmt.Errorf("data template: %w", err)
	}
	var b strings.Builder
	if err := tpl.Execute(&b, nil); err != nil {
		return "", fmt.Errorf("data template: %w", err)
	}
	return b.String(), nil
}

// headers reads the headers mapping in file order.
func headers(n *yaml.Node) ([]Header, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.MappingNode:
	default:
		return nil, errors.New("headers: not a mapping")
	}
	var out []Header
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("header %q: not a string", k.Value)
		}
		out = append(out, Header{Name: k.Value, Value: v.Value})
	}
	return out, nil
}

// orderedHeaders reads ordered_headers: [{name, value}].
func orderedHeaders(n *yaml.Node) ([]Header, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	var hs []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	}
	if err := n.Decode(&hs); err != nil {
		return nil, fmt.Errorf("ordered_headers: %w", err)
	}
	out := make([]Header, len(hs))
	for i, h := range hs {
		out[i] = Header(h)
	}
	return out, nil
}

func (in *Input) decoded() ([]byte, error) {
	s := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, in.EncodedRequest)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("encoded_request: %w", err)
	}
	return b, nil
}

// IsRaw reports whether the stage sends a request given whole
// (encoded_request or raw_request).
func (in *Input) IsRaw() bool { return in.EncodedRequest != "" || in.RawRequest != "" }

// methodsWithBody is go-ftw's expression, quirks kept: it matches any
// method that starts with POST, ends with DELETE or holds PUT or PATCH.
var methodsWithBody = regexp.MustCompile(`^POST|PUT|PATCH|DELETE$`)

// Request returns the bytes go-ftw sends for the stage.
func (in *Input) Request() ([]byte, error) {
	if in.EncodedRequest != "" {
		return in.decoded()
	}
	if in.RawRequest != "" {
		return []byte(in.RawRequest), nil
	}
	// go-ftw keeps headers in a map: one value per name, exact-case
	// names, "added" only when absent or empty.
	h := map[string]string{}
	for _, x := range in.Headers {
		h[x.Name] = x.Value
	}
	add := func(k, v string) {
		if h[k] == "" {
			h[k] = v
		}
	}
	data := in.Data
	if len(data) > 0 && in.AutocompleteHeaders {
		add("Content-Type", "application/x-www-form-urlencoded")
		data = encodeForm(h["Content-Type"], data)
	}
	if strings.HasPrefix(h["Content-Type"], "multipart/form-data;") {
		data = bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
	}
	if in.AutocompleteHeaders {
		add("Connection", "close")
		if len(data) > 0 || methodsWithBody.MatchString(in.Method) {
			add("Content-Length", strconv.Itoa(len(data)))
		}
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\n", in.Method, in.URI, in.Version)
	for _, k := range names {
		b.WriteString(k + ": " + h[k] + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(data)
	return b.Bytes(), nil
}

// encodeForm url-encodes the keys and values of form data that is not
// encoded yet (unescaping it changes nothing), as go-ftw does.
func encodeForm(ct string, data []byte) []byte {
	if ct != "application/x-www-form-urlencoded" {
		return data
	}
	if un, err := url.QueryUnescape(string(data)); err != nil || un != string(data) {
		return data
	}
	var out bytes.Buffer
	for i, tok := range bytes.Split(data, []byte("&")) {
		if i > 0 {
			out.WriteByte('&')
		}
		k, v, ok := bytes.Cut(tok, []byte("="))
		out.WriteString(url.QueryEscape(string(k)))
		if ok {
			out.WriteByte('=')
			out.WriteString(url.QueryEscape(string(v)))
		}
	}
	return out.Bytes()
}

// Load reads every *.yaml file under fsys, in path order.
func Load(fsys fs.FS) ([]*File, error) {
	var files []*File
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (path.Ext(p) != ".yaml" && path.Ext(p) != ".yml") {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		f, err := Parse(p, b)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	return files, err
}
