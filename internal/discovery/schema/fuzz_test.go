package schema

import (
	"encoding/json"
	"testing"
)

func FuzzObserveJSON(f *testing.F) {
	for _, s := range append(mergeBodies,
		`null`, `1e400`, `-0`, `"x"`, `[[[[[[]]]]]]`, `{"a":`, `{"1":1,"2":2,"3":3,"4":4,"5":5,"6":6,"7":7,"8":{"9":9}}`,
		`{"a":{"b":[{"c":null},{"c":1.5},{"c":"2024-01-15"}]}}`, `[1,"a",true,null,{},[]]`,
	) {
		f.Add([]byte(s), []byte(`{"x":[1,{"y":"z"}]}`))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		s := New(Options{MaxProperties: 8, MaxDepth: 6, MaxNodes: 64, MapMinKeys: 3})
		errA := s.ObserveJSON(a)
		_ = s.ObserveJSON(b)
		out, err := json.Marshal(s.JSONSchema())
		if err != nil {
			t.Fatalf("JSONSchema does not marshal: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
		if n := s.root.count(); n > 64 {
			t.Fatalf("%d nodes, cap 64", n)
		}
		if errA == nil && s.Samples() == 0 {
			t.Fatal("accepted body not counted")
		}
		state, err := s.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		r := New(Options{MaxProperties: 8, MaxDepth: 6, MaxNodes: 64, MapMinKeys: 3})
		if err := r.UnmarshalJSON(state); err != nil {
			t.Fatalf("state does not restore: %v\n%s", err, state)
		}
		if r.Samples() != s.Samples() {
			t.Fatalf("restored %d samples, had %d", r.Samples(), s.Samples())
		}
		_ = Diff(map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"type": "string"}}}, s)
	})
}

func FuzzObserveBody(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", []byte("a=1&b=x&b=y&c=true"))
	f.Add("multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--X--\r\n"))
	f.Add("multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1"))
	f.Add("application/json", []byte(`{"a":[1,2]}`))
	f.Add("text/plain", []byte("hi"))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		s := New(Options{MaxProperties: 8, MaxNodes: 64})
		_ = s.ObserveBody(ctype, body)
		if _, err := json.Marshal(s.JSONSchema()); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzUnmarshalState(f *testing.F) {
	s := New(Options{})
	for _, b := range mergeBodies {
		_ = s.ObserveJSON([]byte(b))
	}
	state, _ := s.MarshalJSON()
	f.Add(state)
	f.Add([]byte(`{"version":1,"root":{"n":3,"obj":3,"props":{"a":{"n":3,"str":3,"enum":{"x":3}}},"map":{"n":1,"int":1}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := New(Options{MaxProperties: 8, MaxDepth: 6, MaxNodes: 64})
		if err := r.UnmarshalJSON(b); err != nil {
			return
		}
		if n := r.root.count(); n > 64 {
			t.Fatalf("%d nodes, cap 64", n)
		}
		if _, err := json.Marshal(r.JSONSchema()); err != nil {
			t.Fatal(err)
		}
	})
}
