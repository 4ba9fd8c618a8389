package ftw

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
)

const sample = `---
meta:
  author: "someone"
rule_id: 920100
tests:
  - test_id: 1
    desc: Standard GET request
    stages:
      - input:
          dest_addr: "127.0.0.1"
          method: "GET"
          port: 80
          headers:
            User-Agent: "OWASP CRS test agent"
            Host: "localhost"
          uri: "/get?a=1"
          version: "HTTP/1.1"
        output:
          log:
            no_expect_ids: [920100]
  - test_id: 2
    stages:
      - input:
          method: "POST"
          headers:
            Host: localhost
          data: "a=<script>&b=x y"
        output:
          status: 403
          log:
            expect_ids: [941100, 941110]
            match_regex: 'found within ARGS:a'
  - test_id: 3
    stages:
      - input:
          encoded_request: "R0VUIC8g\nSFRUUC8xLjANCg0K"
        output:
          expect_error: true
          status: [200, 404]
  - test_id: 4
    stages:
      - input:
          method: "POST"
          autocomplete_headers: false
          headers:
            Host: localhost
            Content-Type: "multipart/form-data; boundary=b"
          data: |
            --b
            Content-Disposition: form-data; name="f"

            {{ "1" | repeat 5 }}
            --b--
        output:
          log:
            expect_ids: [920100]
`

func TestParse(t *testing.T) {
	f, err := Parse("REQUEST-920/920100.yaml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if f.RuleID != 920100 || len(f.Tests) != 4 {
		t.Fatalf("rule %d, %d tests", f.RuleID, len(f.Tests))
	}
	t1, t2, t3, t4 := f.Tests[0], f.Tests[1], f.Tests[2], f.Tests[3]
	if t1.Name() != "920100-1" || t1.Desc != "Standard GET request" {
		t.Errorf("test 1: %q %q", t1.Name(), t1.Desc)
	}
	in := t1.Stages[0].Input
	if in.Method != "GET" || in.URI != "/get?a=1" || in.Version != "HTTP/1.1" || in.Port != 80 || !in.AutocompleteHeaders {
		t.Errorf("input %+v", in)
	}
	if want := []Header{{"User-Agent", "OWASP CRS test agent"}, {"Host", "localhost"}}; !slices.Equal(in.Headers, want) {
		t.Errorf("headers %v, want the file's order %v", in.Headers, want)
	}
	if got := t1.Stages[0].Output.NoExpectIDs; !slices.Equal(got, []int{920100}) {
		t.Errorf("no_expect_ids %v", got)
	}
	// Defaults: GET / HTTP/1.1.
	in2, out2 := t2.Stages[0].Input, t2.Stages[0].Output
	if in2.URI != "/" || in2.Version != "HTTP/1.1" {
		t.Errorf("defaults: %+v", in2)
	}
	if !slices.Equal(out2.Status, []int{403}) || !slices.Equal(out2.ExpectIDs, []int{941100, 941110}) || out2.MatchRegex != "found within ARGS:a" {
		t.Errorf("output %+v", out2)
	}
	out3 := t3.Stages[0].Output
	if !out3.ExpectError || !slices.Equal(out3.Status, []int{200, 404}) || !t3.Stages[0].Input.IsRaw() {
		t.Errorf("test 3: %+v", t3.Stages[0])
	}
	if d := string(t4.Stages[0].Input.Data); !strings.Contains(d, "\n11111\n") {
		t.Errorf("template not rendered: %q", d)
	}
}

func TestRequestBytes(t *testing.T) {
	f, err := Parse("x.yaml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   Input
		want string
	}{
		{"GET: headers sorted by name, Connection: close added, no Content-Length",
			f.Tests[0].Stages[0].Input,
			"GET /get?a=1 HTTP/1.1\r\nConnection: close\r\nHost: localhost\r\nUser-Agent: OWASP CRS test agent\r\n\r\n"},
		{"POST with data: form type, unencoded values encoded, Content-Length",
			f.Tests[1].Stages[0].Input,
			"POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 20\r\nContent-Type: application/x-www-form-urlencoded\r\nHost: localhost\r\n\r\na=%3Cscript%3E&b=x+y"},
		{"encoded_request is sent as it is",
			f.Tests[2].Stages[0].Input,
			"GET / HTTP/1.0\r\n\r\n"},
		{"multipart without autocomplete: CRLF line ends, nothing added",
			f.Tests[3].Stages[0].Input,
			"POST / HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\nHost: localhost\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n11111\r\n--b--\r\n"},
		{"already encoded data is left alone",
			Input{Method: "POST", URI: "/", Version: "HTTP/1.1", AutocompleteHeaders: true, Data: []byte("a=%27x")},
			"POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 6\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\na=%27x"},
		{"a broken request line is kept broken (leading spaces, no version)",
			Input{Method: "     GET", URI: "/get", Version: "", AutocompleteHeaders: true},
			"     GET /get \r\nConnection: close\r\n\r\n"},
		{"a header the test sets is not replaced; a lower-case name is another name (go-ftw's map)",
			Input{Method: "PUT", URI: "/", Version: "HTTP/1.1", AutocompleteHeaders: true,
				Headers: []Header{{"Connection", "keep-alive"}, {"content-type", "text/plain"}}, Data: []byte("x")},
			"PUT / HTTP/1.1\r\nConnection: keep-alive\r\nContent-Length: 1\r\nContent-Type: application/x-www-form-urlencoded\r\ncontent-type: text/plain\r\n\r\nx"},
		{"raw_request",
			Input{RawRequest: "GET /\r\n\r\n", Method: "POST"},
			"GET /\r\n\r\n"},
	}
	for _, c := range cases {
		b, err := c.in.Request()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(b) != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, b, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"not yaml":        "tests: [",
		"no stages":       "rule_id: 1\ntests:\n  - test_id: 1\n",
		"no output":       "rule_id: 1\ntests:\n  - test_id: 1\n    stages:\n      - input: {uri: /}\n",
		"bad base64":      "rule_id: 1\ntests:\n  - test_id: 1\n    stages:\n      - input: {encoded_request: '!!'}\n        output: {}\n",
		"bad regex":       "rule_id: 1\ntests:\n  - test_id: 1\n    stages:\n      - input: {}\n        output: {log: {match_regex: '('}}\n",
		"bad status":      "rule_id: 1\ntests:\n  - test_id: 1\n    stages:\n      - input: {}\n        output: {status: {a: 1}}\n",
		"headers list":    "rule_id: 1\ntests:\n  - test_id: 1\n    stages:\n      - input: {headers: [a]}\n        output: {}\n",
		"broken template": "rule_id: 1\ntests:\n  - test_id: 1\n    stages:\n      - input: {data: '{{ nope }}'}\n        output: {}\n",
	}
	for name, y := range cases {
		if _, err := Parse(name+".yaml", []byte(y)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A file whose tests are all commented out is empty, not broken.
	f, err := Parse("920539.yaml", []byte("# nothing\n# ---\n"))
	if err != nil || len(f.Tests) != 0 || f.RuleID != 920539 {
		t.Errorf("empty file: %+v, %v", f, err)
	}
}

func TestLegacyStageForm(t *testing.T) {
	y := "tests:\n  - test_title: 941100-7\n    stages:\n      - stage:\n          input: {uri: /x}\n          output: {log_contains: 'id \"941100\"', status: [403]}\n"
	f, err := Parse("941100.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	tc := f.Tests[0]
	if tc.Name() != "941100-7" || tc.Stages[0].Input.URI != "/x" || tc.Stages[0].Output.LogContains == "" {
		t.Errorf("%+v", tc)
	}
}

// The suite in the module loads whole: every file, every stage builds.
func TestLoadCRSSuite(t *testing.T) {
	files, err := Load(crstests.FS)
	if err != nil {
		t.Fatal(err)
	}
	n, raw := 0, 0
	for _, f := range files {
		for _, tc := range f.Tests {
			n++
			for _, s := range tc.Stages {
				b, err := s.Input.Request()
				if err != nil || len(b) == 0 {
					t.Fatalf("%s: %v", tc.Name(), err)
				}
				if s.Input.IsRaw() {
					raw++
				}
			}
		}
	}
	if len(files) < 300 || n < 4000 || raw == 0 {
		t.Errorf("%d files, %d tests, %d raw requests", len(files), n, raw)
	}
}

func TestLoadSkipsOtherFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"A/1.yaml":    {Data: []byte(sample)},
		"A/README.md": {Data: []byte("not a test")},
	}
	files, err := Load(fsys)
	if err != nil || len(files) != 1 || files[0].Path != "A/1.yaml" {
		t.Fatalf("%v %v", files, err)
	}
	fsys["B/2.yaml"] = &fstest.MapFile{Data: []byte("tests: [")}
	if _, err := Load(fsys); err == nil || !strings.Contains(err.Error(), "B/2.yaml") {
		t.Errorf("a broken file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("rule_id: 1\ntests:\n  - test_id: 1\n    stages:\n      - input: {encoded_request: " + base64.StdEncoding.EncodeToString([]byte("GET / HTTP/1.1\r\n\r\n")) + "}\n        output: {}\n"))
	f.Add([]byte("tests:\n  - stages:\n      - stage: {input: {data: 'a=b'}, output: {status: [1]}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse("f.yaml", b)
		if err != nil {
			return
		}
		for _, tc := range file.Tests {
			for _, s := range tc.Stages {
				raw, err := s.Input.Request()
				if err != nil {
					t.Fatalf("a parsed stage does not build: %v", err)
				}
				if !s.Input.IsRaw() && !bytes.Contains(raw, []byte("\r\n\r\n")) {
					t.Fatalf("no end of headers in %q", raw)
				}
			}
		}
	})
}
