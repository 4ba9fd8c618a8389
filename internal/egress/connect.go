package egress

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// maxConnectBytes bounds the CONNECT request line and headers.
const maxConnectBytes = 8 << 10

// errNotConnect is a plain HTTP request sent to the egress listener.
var errNotConnect = errors.New("only CONNECT is served here")

// readConnect reads an HTTP/1.x CONNECT request (its line and headers,
// which are skipped) and returns the target's host (lower case) and port.
func readConnect(br *bufio.Reader) (host, port string, err error) {
	total := 0
	line, err := readLine(br, &total)
	if err != nil {
		return "", "", err
	}
	target, err := parseConnectLine(line)
	if err != nil {
		return "", "", err
	}
	for {
		h, err := readLine(br, &total)
		if err != nil {
			return "", "", err
		}
		if h == "" {
			break
		}
	}
	return parseAuthority(target)
}

func readLine(br *bufio.Reader, total *int) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		*total += len(chunk) + 2
		if *total > maxConnectBytes {
			return "", errors.New("CONNECT request too large")
		}
		b = append(b, chunk...)
		if !isPrefix {
			return string(b), nil
		}
	}
}

// parseConnectLine parses "CONNECT host:port HTTP/1.1" and returns the
// authority.
func parseConnectLine(line string) (string, error) {
	method, rest, ok := strings.Cut(line, " ")
	if !ok {
		return "", fmt.Errorf("malformed request line %q", trunc(line))
	}
	if method != "CONNECT" {
		if validToken(method) {
			return "", errNotConnect
		}
		return "", fmt.Errorf("malformed request line %q", trunc(line))
	}
	target, proto, ok := strings.Cut(rest, " ")
	if !ok || (proto != "HTTP/1.1" && proto != "HTTP/1.0") || target == "" {
		return "", fmt.Errorf("malformed CONNECT line %q", trunc(line))
	}
	return target, nil
}

// parseAuthority splits host:port (RFC 9110 9.3.6: CONNECT takes only
// that form), the host a DNS name or an IP literal.
func parseAuthority(target string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(target)
	if err != nil {
		return "", "", fmt.Errorf("CONNECT target %q is not host:port", trunc(target))
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
		return "", "", fmt.Errorf("CONNECT target %q: bad port", trunc(target))
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return "", "", fmt.Errorf("CONNECT target %q: zoned address", trunc(target))
		}
		return a.String(), port, nil
	}
	h, err := checkServerName(host)
	if err != nil {
		return "", "", fmt.Errorf("CONNECT target %q: not a host name", trunc(target))
	}
	return h, port, nil
}

func validToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
