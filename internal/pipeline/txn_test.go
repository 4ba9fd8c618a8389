package pipeline

import (
	"strings"
	"testing"
	"time"
)

func TestTraceparent(t *testing.T) {
	in := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	out, trace := childTraceparent(in)
	if trace != "0af7651916cd43dd8448eb211c80319c" || !strings.HasPrefix(out, "00-"+trace+"-") || out == in || !validTraceparent(out) {
		t.Fatalf("child of a valid parent: %q %q", out, trace)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01",
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"} {
		out, trace := childTraceparent(bad)
		if !validTraceparent(out) || strings.Contains(out, "0af765") || len(trace) != 32 {
			t.Errorf("%q: got %q", bad, out)
		}
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	a := NewID(time.UnixMilli(1_700_000_000_000))
	b := NewID(time.UnixMilli(1_700_000_000_001))
	if len(a) != 32 || a >= b {
		t.Fatalf("%s !< %s", a, b)
	}
}

func FuzzTraceparent(f *testing.F) {
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	f.Add("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	f.Fuzz(func(t *testing.T, in string) {
		out, trace := childTraceparent(in)
		if !validTraceparent(out) || out[3:35] != trace {
			t.Fatalf("%q -> %q", in, out)
		}
		if validTraceparent(in) && trace != in[3:35] {
			t.Fatalf("trace id not kept: %q -> %q", in, out)
		}
	})
}
