package proxy

import (
	"net"
	"testing"
)

// scanAll feeds data to a fresh scanner in pieces of size step and returns
// the first ambiguous request's index and the number of requests started.
func scanAll(data string, step int) (bad int64, requests int64) {
	c := &FramingConn{}
	for i := 0; i < len(data); i += step {
		c.scan([]byte(data[i:min(i+step, len(data))]))
	}
	return c.bad, c.st.index
}

func TestFramingScanner(t *testing.T) {
	const fake = "GET /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n" // 66 bytes
	cases := []struct {
		name     string
		data     string
		bad      int64
		requests int64
	}{
		{"simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 1},
		{"two GETs", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 2},
		{"CL body containing a fake request", "POST / HTTP/1.1\r\nContent-Length: 66\r\n\r\n" + fake, 0, 1},
		{"chunked with extensions and trailers then GET", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nwiki\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0, 2},
		{"CL+TE", "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 1, 1},
		{"TE+CL second request", "GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 2, 2},
		{"duplicate CL", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 1, 1},
		{"bad CL", "POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\nabc", 1, 1},
		{"bare LF line endings", "GET / HTTP/1.1\nHost: a\n\nPOST / HTTP/1.1\nContent-Length: 1\nContent-Length: 2\n\n", 2, 2},
		{"h2c preface stops scanning", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0, 0},
		{"upgrade stops scanning", "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 0, 1},
	}
	for _, tc := range cases {
		for _, step := range []int{1, 3, 7, 1 << 20} {
			bad, n := scanAll(tc.data, step)
			if bad != tc.bad || n != tc.requests {
				t.Errorf("%s (step %d): bad=%d requests=%d, want bad=%d requests=%d", tc.name, step, bad, n, tc.bad, tc.requests)
			}
		}
	}
}

func TestNextRequest(t *testing.T) {
	c := &FramingConn{Conn: &net.TCPConn{}}
	c.scan([]byte("GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"))
	if _, bad := c.NextRequest(); bad {
		t.Fatal("first request flagged")
	}
	if v, bad := c.NextRequest(); !bad || v.Code != "ambiguous_framing" || v.Kind != "request_smuggling" || v.Message != "request framing is ambiguous: more than one Content-Length" {
		t.Fatalf("second request: %v %+v", bad, v)
	}
}

// FuzzFramingScanner: no input panics the scanner, and how the bytes are
// split into reads never changes its verdict.
func FuzzFramingScanner(f *testing.F) {
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\n", 3)
	f.Add("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 1)
	f.Add("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 5)
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 2)
	f.Fuzz(func(t *testing.T, data string, step int) {
		if step <= 0 || step > 1<<16 {
			step = 1
		}
		b1, n1 := scanAll(data, len(data)+1)
		b2, n2 := scanAll(data, step)
		if b1 != b2 || n1 != n2 {
			t.Fatalf("split changes the verdict: whole (%d,%d) vs step %d (%d,%d)", b1, n1, step, b2, n2)
		}
	})
}
