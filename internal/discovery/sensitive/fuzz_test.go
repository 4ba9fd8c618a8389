package sensitive

import (
	"testing"
)

func FuzzValue(f *testing.F) {
	for _, s := range [][2]string{
		{"", "4111 1111 1111 1111"}, {"ssn", "123456789"}, {"", "123-45-6789"}, {"", "AB 12 34 56 C"},
		{"email", "jane@example.com"}, {"", "+44 20 7946 0958"}, {"", "(415) 555-2671"}, {"phone", "4155552671"},
		{"", "GB82 WEST 1234 5698 7654 32"}, {"token", jwtHS256}, {"", awsKey}, {"", slackKey}, {"api_key", "q8Zr3kP0vX7mN2bL5tY9wA"},
		{"", "-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----"}, {"confirmPassword", "x"},
		{"", "eyJ.."}, {"", "+("}, {"", "(1)"}, {"X-Api-Key", ""}, {"", "@"},
	} {
		f.Add(s[0], s[1])
	}
	c, err := New([]Custom{{Name: "emp", Pattern: `^E\d{6}$`}, {Name: "dob", FieldNames: []string{"dob"}}})
	if err != nil {
		f.Fatal(err)
	}
	known := map[Class]bool{"emp": true, "dob": true}
	for _, b := range BuiltinClasses() {
		known[b] = true
	}
	f.Fuzz(func(t *testing.T, field, value string) {
		got := c.Value(field, value)
		seen := map[Class]bool{}
		for _, cl := range got {
			if !known[cl] {
				t.Fatalf("unknown class %q", cl)
			}
			if seen[cl] {
				t.Fatalf("class %q reported twice: %v", cl, got)
			}
			seen[cl] = true
		}
		if c.Sensitive(field, value) != (len(got) > 0) {
			t.Fatal("Sensitive disagrees with Value")
		}
		m := Mask(value)
		if value != "" && len(value) >= 8 && m == value {
			t.Fatalf("Mask returned the value unchanged: %q", value)
		}
	})
}

func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{
		`{"email":"jane@example.com","card":{"number":"4111111111111111"}}`,
		`[{"password":"x"},{"password":"y"}]`,
		`{"a":[[["+14155552671"]]]}`,
		`"123-45-6789"`, `12345`, `null`, `{"a":`, `{"a":1}{`, `[` + `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]`,
	} {
		f.Add([]byte(s))
	}
	c, err := New(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		seen := map[string]bool{}
		calls := 0
		err := c.ScanJSON(body, func(path string, cls Class) {
			calls++
			k := path + "\x00" + string(cls)
			if seen[k] {
				t.Fatalf("(%q, %q) reported twice", path, cls)
			}
			seen[k] = true
		})
		if err != nil && calls > 0 {
			t.Fatalf("reported %d classes and then failed: %v", calls, err)
		}
	})
}
