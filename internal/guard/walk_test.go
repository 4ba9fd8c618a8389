package guard

import (
	"encoding/json"
	"strings"
	"testing"
)

func walkAll(doc string) ([]string, error) {
	var out []string
	err := WalkJSON([]byte(doc), 0, func(p *JSONPath, raw string, isString bool) bool {
		v := raw
		if isString {
			v = UnescapeJSON(raw)
		}
		out = append(out, p.String()+"="+v)
		return true
	})
	return out, err
}

func TestWalkJSON(t *testing.T) {
	cases := []struct {
		doc  string
		want string
	}{
		{`{"a":"x","b":{"c":"y","d":[1,"z",{"e":"w"}]},"f":true,"g":null,"h":-1.5e3}`, `a=x b.c=y b.d[0]=1 b.d[1]=z b.d[2].e=w h=-1.5e3`},
		{`[ "a" , {"k" : "v"} , [] , {} , ["n"] ]`, `[0]=a [1].k=v [4][0]=n`},
		{`"top"`, `=top`},
		{`{"u":"http:\/\/\u0031\u0032\u0037.0.0.1\/","e":"\ud83d\ude00 \"q\""}`, `u=http://127.0.0.1/ e=😀 "q"`},
		{`{"a":{"b":{"c":"deep"}}, "after":"x"}`, `a.b.c=deep after=x`},
		{`{"cut":"http://10.0.0.1/","next":"trunc`, `cut=http://10.0.0.1/`},
	}
	for _, tc := range cases {
		got, err := walkAll(tc.doc)
		if err != nil {
			t.Errorf("%s: %v", tc.doc, err)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.doc, strings.Join(got, " "), tc.want)
		}
	}
	for _, bad := range []string{`{"a" "b"}`, `{"a":1 "b":2}`, `}`, `{1:2}`, `{"a":1,,"b":2}`} {
		if _, err := walkAll(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	deep := strings.Repeat(`{"k":`, 40) + `"v"` + strings.Repeat(`}`, 40)
	if got, err := walkAll(deep); err != nil || len(got) != 1 || !strings.HasSuffix(got[0], ".…=v") {
		t.Errorf("deep: %q %v", got, err)
	}
	if _, err := walkAll(strings.Repeat("[", 5000)); err == nil {
		t.Error("5000 levels: no error")
	}
	n := 0
	_ = WalkJSON([]byte(`[1,2,3,4,5]`), 3, func(*JSONPath, string, bool) bool { n++; return true })
	if n != 3 {
		t.Errorf("max 3 visited %d", n)
	}
}

func TestEachPair(t *testing.T) {
	var got []string
	EachPair("a=1&b=&&c;d=x%3Dy&e=red+socks", func(k, v string) bool {
		got = append(got, Unescape(k)+"="+Unescape(v))
		return true
	})
	if s := strings.Join(got, " "); s != "a=1 b= c= d=x=y e=red socks" {
		t.Errorf("got %q", s)
	}
}

// FuzzWalkJSON: the walker never panics and, on valid JSON, visits at
// least every string and number encoding/json keeps.
func FuzzWalkJSON(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `[1,"x",{"y":[true,null]}]`, `{"u":"\u0031"}`, `{"a":`, `"\`, `[[[[`, `{"a":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		n := 0
		err := WalkJSON(doc, 0, func(p *JSONPath, raw string, isString bool) bool {
			n++
			_ = p.String()
			if isString {
				_ = UnescapeJSON(raw)
			}
			return true
		})
		var v any
		if json.Unmarshal(doc, &v) == nil && err == nil {
			// Duplicate keys: the walker sees each, a map keeps one.
			if want := countLeaves(v); n < want {
				t.Fatalf("%q: visited %d values, encoding/json has %d", doc, n, want)
			}
		}
	})
}

func countLeaves(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := 0
		for _, x := range v {
			n += countLeaves(x)
		}
		return n
	case []any:
		n := 0
		for _, x := range v {
			n += countLeaves(x)
		}
		return n
	case string, float64:
		return 1
	}
	return 0
}
