package egress

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func TestReadConnect(t *testing.T) {
	cases := []struct {
		in         string
		host, port string
		err        string
	}{
		{in: "CONNECT api.stripe.com:443 HTTP/1.1\r\nHost: api.stripe.com:443\r\nUser-Agent: x\r\n\r\n", host: "api.stripe.com", port: "443"},
		{in: "CONNECT API.Example.com:8443 HTTP/1.0\r\n\r\n", host: "api.example.com", port: "8443"},
		{in: "CONNECT 10.0.0.1:443 HTTP/1.1\n\n", host: "10.0.0.1", port: "443"},
		{in: "CONNECT [::1]:443 HTTP/1.1\r\n\r\n", host: "::1", port: "443"},
		{in: "GET http://x/ HTTP/1.1\r\n\r\n", err: "only CONNECT"},
		{in: "CONNECT api.stripe.com HTTP/1.1\r\n\r\n", err: "not host:port"},
		{in: "CONNECT api.stripe.com:0 HTTP/1.1\r\n\r\n", err: "bad port"},
		{in: "CONNECT api.stripe.com:65536 HTTP/1.1\r\n\r\n", err: "bad port"},
		{in: "CONNECT api.stripe.com:+443 HTTP/1.1\r\n\r\n", err: "bad port"},
		{in: "CONNECT a b:443 HTTP/1.1\r\n\r\n", err: "malformed"},
		{in: "CONNECT bad_host!:443 HTTP/1.1\r\n\r\n", err: "not a host name"},
		{in: "CONNECT [fe80::1%eth0]:443 HTTP/1.1\r\n\r\n", err: "zoned"},
		{in: "CONNECT x:443 HTTP/2\r\n\r\n", err: "malformed"},
		{in: "CONNECT x:443 HTTP/1.1\r\n", err: "EOF"},
		{in: "CONNECT x:443 HTTP/1.1\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n", err: "too large"},
		{in: "\x00\x00 \x00", err: "malformed"},
	}
	for _, c := range cases {
		host, port, err := readConnect(bufio.NewReaderSize(strings.NewReader(c.in), 16))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want %q", trunc(c.in), err, c.err)
			}
			continue
		}
		if err != nil || host != c.host || port != c.port {
			t.Errorf("%q: %q %q %v", trunc(c.in), host, port, err)
		}
	}
	if _, err := parseConnectLine("POST / HTTP/1.1"); !errors.Is(err, errNotConnect) {
		t.Errorf("POST: %v", err)
	}
}

// FuzzConnect: the CONNECT line and authority parsers never panic, and
// what they accept is a host name or IP and a port.
func FuzzConnect(f *testing.F) {
	for _, s := range []string{"CONNECT api.stripe.com:443 HTTP/1.1", "CONNECT [::1]:443 HTTP/1.1", "CONNECT 1.2.3.4:80 HTTP/1.0",
		"GET / HTTP/1.1", "CONNECT :443 HTTP/1.1", "CONNECT a:b:c HTTP/1.1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		target, err := parseConnectLine(line)
		if err != nil {
			return
		}
		host, port, err := parseAuthority(target)
		if err != nil {
			return
		}
		if host == "" || port == "" || strings.ContainsAny(host, " /@\r\n") {
			t.Fatalf("%q gave host %q port %q", line, host, port)
		}
		_, _, _ = readConnect(bufio.NewReader(strings.NewReader(line + "\r\n\r\n")))
	})
}
