package ratelimit

import (
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	cases := []struct {
		in   string
		want Rate
		err  bool
	}{
		{"5/m", Rate{5, time.Minute}, false},
		{"100/s", Rate{100, time.Second}, false},
		{"1000/h", Rate{1000, time.Hour}, false},
		{"3/d", Rate{3, 24 * time.Hour}, false},
		{"100/10s", Rate{100, 10 * time.Second}, false},
		{"5/15m", Rate{5, 15 * time.Minute}, false},
		{"1/500ms", Rate{1, 500 * time.Millisecond}, false},
		{" 7 / min ", Rate{7, time.Minute}, false},
		{"2/7d", Rate{2, 7 * 24 * time.Hour}, false},
		{"5", Rate{}, true},
		{"0/s", Rate{}, true},
		{"-1/s", Rate{}, true},
		{"1.5/s", Rate{}, true},
		{"5/fortnight", Rate{}, true},
		{"5/0s", Rate{}, true},
		{"5/1us", Rate{}, true},
		{"5/8d", Rate{}, true},
		{"/s", Rate{}, true},
		{"2000000000/s", Rate{}, true},
	}
	for _, c := range cases {
		got, err := ParseRate(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
	}
	if r, _ := ParseRate("5/m"); r.PerSecond() != 5.0/60 || r.String() != "5/m" {
		t.Fatalf("5/m: %v per second, %s", r.PerSecond(), r)
	}
	if r, _ := ParseRate("100/10s"); r.String() != "100/10s" {
		t.Fatalf("100/10s prints as %s", r)
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"5/m", "100/10s", "1/500ms", "3/d", "9/2d", "x/y", "1/-1s", "1//s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.N <= 0 || r.Period < time.Millisecond || r.Period > 7*24*time.Hour || r.PerSecond() <= 0 {
			t.Fatalf("ParseRate(%q) = %+v", s, r)
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, r, r.String(), back, err)
		}
	})
}
