package schema

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
)

func observeAll(t testing.TB, s *Schema, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if err := s.ObserveJSON([]byte(b)); err != nil {
			t.Fatalf("ObserveJSON(%s): %v", b, err)
		}
	}
}

// canon marshals v and decodes it back, so expected maps written as JSON
// compare equal with what JSONSchema built.
func canon(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func assertSchema(t *testing.T, s *Schema, want string) {
	t.Helper()
	got := canon(t, s.JSONSchema())
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("JSONSchema =\n%s\nwant\n%s", g, want)
	}
}

func TestJSONSchema(t *testing.T) {
	tests := []struct {
		name   string
		bodies []string
		want   string
	}{
		{"empty learner", nil, `{}`},
		{"required after three samples",
			[]string{`{"id":1,"name":"a"}`, `{"id":2,"name":"b","note":"x"}`, `{"id":3,"name":"c"}`},
			`{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"note":{"type":"string"}},"required":["id","name"]}`},
		{"nothing required before three samples",
			[]string{`{"id":1}`, `{"id":2}`},
			`{"type":"object","properties":{"id":{"type":"integer"}}}`},
		{"integer and number make number",
			[]string{`{"price":1}`, `{"price":2.5}`, `{"price":3}`},
			`{"type":"object","properties":{"price":{"type":"number"}},"required":["price"]}`},
		{"nullable",
			[]string{`{"a":"x"}`, `{"a":null}`, `{"a":"y"}`},
			`{"type":"object","properties":{"a":{"type":["string","null"]}},"required":["a"]}`},
		{"only null", []string{`null`}, `{"type":"null"}`},
		{"scalar type list",
			[]string{`{"v":"x"}`, `{"v":true}`, `{"v":null}`},
			`{"type":"object","properties":{"v":{"type":["string","boolean","null"]}},"required":["v"]}`},
		{"oneOf when subschemas have keywords",
			[]string{`{"v":{"a":1}}`, `{"v":"2024-01-15"}`},
			`{"type":"object","properties":{"v":{"oneOf":[{"type":"object","properties":{"a":{"type":"integer"}}},{"type":"string","format":"date"}]}}}`},
		{"array items merged",
			[]string{`{"items":[{"sku":"A","qty":1},{"sku":"B"}]}`, `{"items":[{"sku":"C","qty":2.5}]}`, `{"items":[]}`},
			`{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"qty":{"type":"number"},"sku":{"type":"string"}},"required":["sku"]}}},"required":["items"]}`},
		{"nested objects",
			[]string{`{"a":{"b":{"c":"https://example.com/x"}}}`},
			`{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"object","properties":{"c":{"type":"string","format":"uri"}}}}}}}`},
		{"mixed formats drop format",
			[]string{`["550e8400-e29b-41d4-a716-446655440000","2024-01-15"]`},
			`{"type":"array","items":{"type":"string"}}`},
		{"sensitive classes annotated",
			[]string{`{"email":"jane@example.com","card":"4111 1111 1111 1111","pan":4111111111111111}`},
			`{"type":"object","properties":{
			  "card":{"type":"string","x-vigil-sensitive":["card_number"]},
			  "email":{"type":"string","format":"email","x-vigil-sensitive":["email"]},
			  "pan":{"type":"integer","x-vigil-sensitive":["card_number"]}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			observeAll(t, s, tt.bodies...)
			assertSchema(t, s, tt.want)
			if _, err := json.Marshal(s.JSONSchema()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct{ in, want string }{
		{"550e8400-e29b-41d4-a716-446655440000", FormatUUID},
		{"550e8400-e29b-41d4-a716-44665544000g", ""},
		{"2024-01-15", FormatDate},
		{"2024-13-15", ""},
		{"2024-01-15T10:30:00Z", FormatDateTime},
		{"2024-01-15T10:30:00.123+02:00", FormatDateTime},
		{"2024-01-15T10:30:00", ""}, // no zone: not RFC 3339
		{"jane@example.com", FormatEmail},
		{"jane@localhost", ""},
		{"https://example.com/a?b=c", FormatURI},
		{"ftp://files.example.com", FormatURI},
		{"/relative/path", ""},
		{"example.com", ""},
		{"192.168.1.10", FormatIPv4},
		{"192.168.001.10", ""},
		{"1.2.3", ""},
		{"2001:db8::1", FormatIPv6},
		{"fe80::1%eth0", ""},
		{"12:30:45", ""},
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", FormatJWT},
		{"SGVsbG8sIFdvcmxkISBUaGlzIGlzIGEgbG9uZyBiYXNlNjQgZW5jb2RlZCBzdHJpbmcgZm9yIHRlc3Rz", FormatByte},
		{strings.Repeat("ab", 40), ""},                                           // letters only: a word, not base64
		{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ""}, // hex digest
		{"hello world", ""},
		{"12345", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := detectFormat(tt.in); got != tt.want {
			t.Errorf("detectFormat(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEnum(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		field    string
		values   func(i int) string
		n        int
		wantEnum []any
	}{
		{"low cardinality", Options{}, "status", func(i int) string { return []string{"paid", "pending", "shipped"}[i%3] }, 30,
			[]any{"paid", "pending", "shipped"}},
		{"too few samples", Options{}, "status", func(i int) string { return "paid" }, 29, nil},
		{"too many values", Options{}, "status", func(i int) string { return fmt.Sprint("s", i%11) }, 60, nil},
		{"value too long", Options{}, "status", func(i int) string { return strings.Repeat("x", 65) }, 40, nil},
		{"sensitive field", Options{}, "password", func(i int) string { return []string{"a", "b"}[i%2] }, 40, nil},
		{"formatted values", Options{}, "day", func(i int) string { return "2024-01-15" }, 40, nil},
		{"custom thresholds", Options{EnumMaxValues: 2, EnumMinSamples: 4}, "kind", func(i int) string { return []string{"a", "b"}[i%2] }, 4,
			[]any{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.opts)
			for i := 0; i < tt.n; i++ {
				s.ObserveValue(map[string]any{tt.field: tt.values(i)})
			}
			props := s.JSONSchema()["properties"].(map[string]any)
			got := props[tt.field].(map[string]any)["enum"]
			if tt.wantEnum == nil {
				if got != nil {
					t.Fatalf("enum = %v, want none", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.wantEnum) {
				t.Fatalf("enum = %v, want %v", got, tt.wantEnum)
			}
		})
	}
}

func TestBounds(t *testing.T) {
	t.Run("max properties", func(t *testing.T) {
		s := New(Options{MaxProperties: 5})
		obj := map[string]any{}
		for i := 0; i < 50; i++ {
			obj[fmt.Sprintf("field_%02d", i)] = i
		}
		s.ObserveValue(obj)
		js := s.JSONSchema()
		if n := len(js["properties"].(map[string]any)); n != 5 {
			t.Errorf("learned %d properties, want 5", n)
		}
		if js["additionalProperties"] != true {
			t.Errorf("additionalProperties = %v, want true", js["additionalProperties"])
		}
	})
	t.Run("max depth", func(t *testing.T) {
		s := New(Options{MaxDepth: 3})
		observeAll(t, s, strings.Repeat(`{"a":`, 50)+"1"+strings.Repeat("}", 50))
		b, _ := json.Marshal(s.JSONSchema())
		if got := strings.Count(string(b), `"properties"`); got != 3 {
			t.Errorf("schema nests %d levels, want 3: %s", got, b)
		}
	})
	t.Run("max nodes bounds memory", func(t *testing.T) {
		s := New(Options{MaxNodes: 50})
		for i := 0; i < 100; i++ {
			s.ObserveValue(map[string]any{fmt.Sprintf("k%d", i): map[string]any{"x": map[string]any{"y": i}}})
		}
		if s.nodes > 50 || s.root.count() > 50 {
			t.Errorf("nodes = %d (count %d), cap 50", s.nodes, s.root.count())
		}
		if s.Samples() != 100 {
			t.Errorf("Samples = %d", s.Samples())
		}
	})
	t.Run("id-like keys collapse to additionalProperties", func(t *testing.T) {
		s := New(Options{})
		for i := 0; i < 500; i++ {
			s.ObserveValue(map[string]any{
				"total": i,
				"users": map[string]any{fmt.Sprint(1000 + i): map[string]any{"name": fmt.Sprint("user", i), "age": json.Number("3")}},
			})
		}
		assertSchema(t, s, `{"type":"object","properties":{
		  "total":{"type":"integer"},
		  "users":{"type":"object","additionalProperties":{"type":"object","properties":{"age":{"type":"integer"},"name":{"type":"string"}},"required":["age","name"]}}},
		  "required":["total","users"]}`)
		if s.nodes > 20 {
			t.Errorf("nodes = %d after 500 distinct ids", s.nodes)
		}
	})
	t.Run("array elements per sample", func(t *testing.T) {
		s := New(Options{MaxArrayItems: 2})
		observeAll(t, s, `[1,2,"x"]`)
		assertSchema(t, s, `{"type":"array","items":{"type":"integer"}}`)
	})
}

func TestObserveInvalid(t *testing.T) {
	s := New(Options{})
	observeAll(t, s, `{"a":1}`)
	before, _ := s.MarshalJSON()
	for _, bad := range []string{``, `{"a":`, `{"a":1,"b":[1,2`, `<xml/>`, `hello`, `{"a":1} trailing`, "\xff\xfe"} {
		if err := s.ObserveJSON([]byte(bad)); err == nil {
			t.Errorf("ObserveJSON(%q) = nil, want an error", bad)
		}
	}
	after, _ := s.MarshalJSON()
	if !bytes.Equal(before, after) {
		t.Errorf("invalid bodies changed the schema:\n%s\n%s", before, after)
	}
}

func TestObserveBody(t *testing.T) {
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("title", "holiday")
	_ = w.WriteField("count", "3")
	fw, _ := w.CreateFormFile("photo", "beach.png")
	_, _ = fw.Write(bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 100))
	_ = w.Close()

	tests := []struct {
		name, ctype, body string
		want              string
		wantErr           error
	}{
		{"json", "application/json; charset=utf-8", `{"a":true}`, `{"type":"object","properties":{"a":{"type":"boolean"}}}`, nil},
		{"problem+json", "application/problem+json", `{"status":400}`, `{"type":"object","properties":{"status":{"type":"integer"}}}`, nil},
		{"form", "application/x-www-form-urlencoded", "user=jane&age=42&zip=01234&tag=a&tag=b&ok=true",
			`{"type":"object","properties":{"age":{"type":"integer"},"ok":{"type":"boolean"},"tag":{"type":"array","items":{"type":"string"}},"user":{"type":"string"},"zip":{"type":"string"}}}`, nil},
		{"multipart", w.FormDataContentType(), mp.String(),
			`{"type":"object","properties":{"count":{"type":"integer"},"photo":{"type":"string","format":"binary","contentMediaType":"application/octet-stream"},"title":{"type":"string"}}}`, nil},
		{"multipart truncated keeps parts read", w.FormDataContentType(), mp.String()[:mp.Len()-60],
			`{"type":"object","properties":{"count":{"type":"integer"},"photo":{"type":"string","format":"binary","contentMediaType":"application/octet-stream"},"title":{"type":"string"}}}`, nil},
		{"xml", "application/xml", `<a/>`, `{}`, ErrUnsupportedMediaType},
		{"text", "text/plain", `hi`, `{}`, ErrUnsupportedMediaType},
		{"bad content type", ";;", `{}`, `{}`, ErrUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			err := s.ObserveBody(tt.ctype, []byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ObserveBody error = %v, want %v", err, tt.wantErr)
			}
			assertSchema(t, s, tt.want)
		})
	}
	for _, bad := range []string{`{"a":1}`, "a=%zz", "--x\r\ngarbage"} {
		s := New(Options{})
		if err := s.ObserveForm([]byte(bad)); err == nil {
			t.Errorf("ObserveForm(%q) = nil, want an error", bad)
		}
		if err := s.ObserveMultipart([]byte(bad), "x"); err == nil {
			t.Errorf("ObserveMultipart(%q) = nil, want an error", bad)
		}
		if s.Samples() != 0 {
			t.Errorf("%q was learned", bad)
		}
	}
}

// TestQueryFromApacheLog learns query strings of the real access log per
// path, as the inventory does for GET endpoints.
func TestQueryFromApacheLog(t *testing.T) {
	f, err := os.Open("../../../../shared/data/apache_logs")
	if err != nil {
		f, err = os.Open("/work/shared/data/apache_logs")
	}
	if err != nil {
		t.Skip("apache_logs not found:", err)
	}
	defer f.Close()
	learners := map[string]*Schema{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// 1.2.3.4 - - [date] "GET /path?query HTTP/1.1" ...
		_, req, ok := strings.Cut(sc.Text(), `"`)
		if !ok {
			continue
		}
		fields := strings.Fields(req)
		if len(fields) < 2 {
			continue
		}
		path, query, _ := strings.Cut(fields[1], "?")
		v, err := url.ParseQuery(query)
		if err != nil {
			continue
		}
		s := learners[path]
		if s == nil {
			s = New(Options{})
			learners[path] = s
		}
		s.ObserveValues(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	root := canon(t, learners["/"].JSONSchema())
	want := canon(t, map[string]any{"type": "object", "properties": map[string]any{
		"N":    map[string]any{"type": "string"},
		"flav": map[string]any{"type": "string", "enum": []any{"atom", "rss20"}},
		"page": map[string]any{"type": "integer"},
	}})
	if !reflect.DeepEqual(root, want) {
		t.Errorf("query schema of / =\n%v\nwant\n%v", root, want)
	}
	// 488 of the 489 requests to /blog/tags/puppet carry flav=rss20, one
	// has no query: flav is optional, and its single value an enum.
	puppet := canon(t, learners["/blog/tags/puppet"].JSONSchema())
	want = canon(t, map[string]any{"type": "object", "properties": map[string]any{
		"flav": map[string]any{"type": "string", "enum": []any{"rss20"}},
	}})
	if !reflect.DeepEqual(puppet, want) {
		t.Errorf("query schema of /blog/tags/puppet =\n%v\nwant\n%v", puppet, want)
	}
}

func TestSensitivePaths(t *testing.T) {
	c, err := sensitive.New([]sensitive.Custom{{Name: "member_no", Pattern: `^M\d{6}$`}})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Classifier: c})
	observeAll(t, s,
		`{"customer":{"email":"jane@example.com","member":"M123456"},"items":[{"card":"4111111111111111"}],"password":"hunter2"}`,
		`{"by_id":{"1":{"phone":"+14155552671"},"2":{},"3":{},"4":{},"5":{},"6":{},"7":{},"8":{}}}`)
	got := s.Sensitive()
	want := map[string][]sensitive.Class{
		"customer.email":  {sensitive.Email},
		"customer.member": {"member_no"},
		"items[].card":    {sensitive.CardNumber},
		"password":        {sensitive.Password},
		"by_id.*.phone":   {sensitive.Phone},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sensitive() = %v, want %v", got, want)
	}
	if cl := s.Classes(); len(cl) != 5 {
		t.Errorf("Classes() = %v", cl)
	}
}

var mergeBodies = []string{
	`{"id":1,"status":"paid","items":[{"sku":"A","qty":1}],"meta":{"11":{"v":1},"12":{"v":2}}}`,
	`{"id":2,"status":"pending","items":[{"sku":"B","qty":2.5}],"note":null}`,
	`{"id":3,"status":"paid","items":[],"tags":["x"],"meta":{"13":{"v":3},"14":{"v":4},"15":{"v":5}}}`,
	`{"id":4,"status":"shipped","when":"2024-01-15T10:30:00Z","meta":{"16":{"v":6},"17":{"v":7},"18":{"v":8},"19":{"v":9}}}`,
	`{"id":5,"status":"paid","email":"a@example.com"}`,
	`{"id":"6","status":"paid"}`,
}

func TestMarshalMerge(t *testing.T) {
	all := New(Options{EnumMinSamples: 2})
	observeAll(t, all, mergeBodies...)
	a, b := New(Options{EnumMinSamples: 2}), New(Options{EnumMinSamples: 2})
	observeAll(t, a, mergeBodies[:3]...)
	observeAll(t, b, mergeBodies[3:]...)

	// store b and restore it, as a replica would
	stored, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var restored Schema
	if err := json.Unmarshal(stored, &restored); err != nil {
		t.Fatal(err)
	}
	restored.opts.EnumMinSamples = 2
	again, _ := json.Marshal(&restored)
	if !bytes.Equal(stored, again) {
		t.Errorf("round trip changed the state:\n%s\n%s", stored, again)
	}

	a.Merge(&restored)
	if !reflect.DeepEqual(canon(t, a.JSONSchema()), canon(t, all.JSONSchema())) {
		ga, _ := json.Marshal(a.JSONSchema())
		gall, _ := json.Marshal(all.JSONSchema())
		t.Errorf("merged schema differs from one learner:\n%s\n%s", ga, gall)
	}
	if a.Samples() != int64(len(mergeBodies)) {
		t.Errorf("Samples = %d", a.Samples())
	}
	a.Merge(a) // must not deadlock
	if a.Samples() != 2*int64(len(mergeBodies)) {
		t.Errorf("self-merge Samples = %d", a.Samples())
	}

	for _, bad := range []string{`{}`, `{"version":2,"root":{"n":1}}`, `{"version":1}`, `{"version":1,"root":{"n":-1}}`,
		`{"version":1,"root":{"n":1,"formats":{"evil":1}}}`, `[`, `{"version":1,"root":{"n":1,"props":{"a":null}}}`} {
		var s Schema
		if err := s.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("UnmarshalJSON(%s) = nil, want an error", bad)
		}
	}
}

func TestUnmarshalAppliesCaps(t *testing.T) {
	big := New(Options{})
	obj := map[string]any{}
	for i := 0; i < 100; i++ {
		obj[fmt.Sprintf("f%d", i)] = i
	}
	big.ObserveValue(obj)
	stored, _ := big.MarshalJSON()
	small := New(Options{MaxProperties: 10})
	if err := small.UnmarshalJSON(stored); err != nil {
		t.Fatal(err)
	}
	if n := len(small.JSONSchema()["properties"].(map[string]any)); n != 10 {
		t.Errorf("restored %d properties, cap 10", n)
	}
}

func TestDiff(t *testing.T) {
	s := New(Options{})
	observeAll(t, s,
		`{"id":1,"price":9.5,"items":[{"sku":"A","qty":1,"color":"red"}],"extra":{"x":1},"meta":{"a":1},"nick":null}`,
		`{"id":2,"price":3,"items":[{"sku":"B","qty":2}],"meta":{"b":"x"},"nick":"n"}`)
	doc := map[string]any{}
	if err := json.Unmarshal([]byte(`{
	  "type":"object",
	  "required":["id","customer"],
	  "properties":{
	    "id":{"type":"integer"},
	    "price":{"type":"string"},
	    "customer":{"$ref":"#/components/schemas/Customer"},
	    "nick":{"type":"string","nullable":true},
	    "meta":{"type":"object","additionalProperties":{"type":"integer"}},
	    "items":{"type":"array","items":{"allOf":[
	      {"type":"object","required":["sku"],"properties":{"sku":{"type":"string"}}},
	      {"properties":{"qty":{"type":"integer"}}}
	    ]}}
	  }}`), &doc); err != nil {
		t.Fatal(err)
	}
	got := Diff(doc, s)
	want := []Difference{
		{Kind: MissingRequired, Path: "customer"},
		{Kind: Undocumented, Path: "extra", Seen: "object"},
		{Kind: Undocumented, Path: "items[].color", Seen: "string"},
		{Kind: TypeMismatch, Path: "meta.b", Documented: "integer", Seen: "string"},
		{Kind: TypeMismatch, Path: "price", Documented: "string", Seen: "number"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff =\n%v\nwant\n%v", got, want)
	}
	if got[4].String() != "price: documented string, seen number" {
		t.Errorf("String() = %q", got[4].String())
	}

	// a free-form object documents any field; a closed one none
	if d := Diff(map[string]any{"type": "object"}, s); len(d) != 0 {
		t.Errorf("free-form object: %v", d)
	}
	closed := Diff(map[string]any{"type": "object", "additionalProperties": false}, s)
	if len(closed) != 6 {
		t.Errorf("closed object: %v", closed)
	}
	if d := Diff(map[string]any{"type": "array"}, s); len(d) != 1 || d[0].Path != "" || d[0].Seen != "object" {
		t.Errorf("root mismatch: %v", d)
	}
	if d := Diff(doc, New(Options{})); d != nil {
		t.Errorf("empty learner: %v", d)
	}
}

func TestSampler(t *testing.T) {
	tests := []struct {
		rate  float64
		calls int
		want  int
	}{
		{0, 1000, 0}, {-1, 10, 0}, {1, 1000, 1000}, {7, 10, 10}, {0.25, 1000, 250}, {0.1, 1000, 100}, {1.0 / 3, 999, 333},
	}
	for _, tt := range tests {
		s := NewSampler(tt.rate)
		got := 0
		for i := 0; i < tt.calls; i++ {
			if s.Sample() {
				got++
			}
		}
		if got != tt.want {
			t.Errorf("rate %v: %d of %d sampled, want %d", tt.rate, got, tt.calls, tt.want)
		}
	}
	// exact under concurrency too
	s := NewSampler(0.5)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := 0; i < 1000; i++ {
				if s.Sample() {
					n++
				}
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != 2000 {
		t.Errorf("concurrent: %d of 4000 sampled, want 2000", total)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := New(Options{})
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_ = s.ObserveJSON([]byte(`{"a":1,"b":[{"c":"x"}]}`))
				_ = s.JSONSchema()
				_, _ = s.MarshalJSON()
				_ = Diff(map[string]any{"type": "object"}, s)
			}
		}()
	}
	wg.Wait()
	if s.Samples() != 150 {
		t.Errorf("Samples = %d", s.Samples())
	}
}

func TestObserveText(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"42", "integer"},
		{"-7", "integer"},
		{"0", "integer"},
		{"0.5", "number"},
		{"-0.25", "number"},
		{"4.", "string"},
		{"007", "string"},
		{"true", "boolean"},
		{"1e5", "string"},
		{"12345678901234567890", "string"}, // beyond int64: an id, not a count
		{"", "string"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			s := New(Options{})
			s.ObserveText(tc.in)
			if got := s.JSONSchema()["type"]; got != tc.want {
				t.Errorf("ObserveText(%q): type %v, want %s", tc.in, got, tc.want)
			}
		})
	}
}
