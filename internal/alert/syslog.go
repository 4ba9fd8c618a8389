package alert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// syslogSink writes one RFC 5424 message per alert, its MSG a CEF
// record: a datagram over UDP (RFC 5426), octet-counted frames over TCP
// (RFC 6587) and TLS (RFC 5425), on one connection kept open and redialed
// after an error.
type syslogSink struct {
	transport, addr string
	tls             *tls.Config
	facility        int
	hostname        string
	version         string
	procid          string

	mu   sync.Mutex
	conn net.Conn
}

var _ Sink = (*syslogSink)(nil)

func newSyslog(transport, addr string, facility int, caFile, hostname, version string) (*syslogSink, error) {
	s := &syslogSink{transport: transport, addr: addr, facility: facility, hostname: hostname, version: version,
		procid: strconv.Itoa(os.Getpid())}
	if transport == "tls" {
		host, _, _ := net.SplitHostPort(addr)
		s.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no PEM certificate", caFile)
			}
			s.tls.RootCAs = pool
		}
	}
	return s, nil
}

// Deliver implements Sink. Every failure may pass (the receiver
// restarts): all are retried.
func (s *syslogSink) Deliver(ctx context.Context, a *Alert, _ int) error {
	msg := FormatSyslog(a, s.facility, s.hostname, s.procid, s.version)
	if s.transport != "udp" {
		msg = append(strconv.AppendInt(nil, int64(len(msg)), 10), append([]byte{' '}, msg...)...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && s.transport == "tcp" && peerClosed(s.conn) {
		s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		var err error
		if s.tls != nil {
			d := tls.Dialer{Config: s.tls}
			s.conn, err = d.DialContext(ctx, "tcp", s.addr)
		} else {
			var d net.Dialer
			s.conn, err = d.DialContext(ctx, s.transport, s.addr)
		}
		if err != nil {
			s.conn = nil
			return &Error{Retry: true, Err: fmt.Errorf("syslog %s://%s: %w", s.transport, s.addr, err)}
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.conn.SetWriteDeadline(dl)
	}
	if _, err := s.conn.Write(msg); err != nil {
		s.conn.Close()
		s.conn = nil
		return &Error{Retry: true, Err: fmt.Errorf("syslog %s://%s: %w", s.transport, s.addr, err)}
	}
	return nil
}

// peerClosed reports a TCP connection the receiver has closed (a read
// that does not time out within a millisecond: the receiver never
// writes): writing to it would seem to succeed and lose the message. A
// deadline already past would not even try the read.
func peerClosed(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}

// Close closes the connection.
func (s *syslogSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// syslogSeverity maps a severity to RFC 5424's (crit, err, warning,
// notice, informational).
func syslogSeverity(s Severity) int {
	switch s {
	case Critical:
		return 2
	case High:
		return 3
	case Medium:
		return 4
	case Low:
		return 5
	}
	return 6
}

// cefSeverity maps a severity to CEF's 0 to 10.
func cefSeverity(s Severity) int {
	switch s {
	case Critical:
		return 10
	case High:
		return 8
	case Medium:
		return 5
	case Low:
		return 3
	}
	return 1
}

// FormatSyslog is an alert as one RFC 5424 message (without framing):
//
//	<PRI>1 TIMESTAMP HOSTNAME vigil PROCID KIND - CEF:0|Vigil|Vigil|VERSION|KIND|SUMMARY|SEVERITY|EXTENSIONS
func FormatSyslog(a *Alert, facility int, hostname, procid, version string) []byte {
	b := make([]byte, 0, 512)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(facility*8+syslogSeverity(a.Severity)), 10)
	b = append(b, ">1 "...)
	b = a.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, ' ')
	b = append(b, headerField(hostname, 255)...)
	b = append(b, " vigil "...)
	b = append(b, headerField(procid, 128)...)
	b = append(b, ' ')
	b = append(b, headerField(a.Kind, 32)...)
	b = append(b, " - "...)
	return append(b, FormatCEF(a, version)...)
}

// headerField is an RFC 5424 header field: printable US-ASCII without
// spaces, at most n characters, "-" when empty.
func headerField(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' {
			return '_'
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	return s[:min(len(s), n)]
}

// FormatCEF is an alert as a CEF record: the header's device vendor and
// product Vigil, signature id the alert kind, name its summary, severity
// 0 to 10; extensions rt (milliseconds since the epoch), cat, dhost,
// requestMethod, request, msg, externalId and cs1 (the source).
func FormatCEF(a *Alert, version string) string {
	var b strings.Builder
	b.WriteString("CEF:0|Vigil|Vigil|")
	for _, f := range []string{version, a.Kind, truncate(a.Summary(), 512)} {
		b.WriteString(cefHeader(f))
		b.WriteByte('|')
	}
	b.WriteString(strconv.Itoa(cefSeverity(a.Severity)))
	b.WriteByte('|')
	b.WriteString("rt=" + strconv.FormatInt(a.Time.UnixMilli(), 10))
	for _, kv := range [][2]string{{"cat", a.Kind}, {"dhost", a.Host}, {"requestMethod", a.Method}, {"request", a.Endpoint},
		{"msg", truncate(a.Detail, 2000)}, {"externalId", a.ID}, {"cs1Label", "source"}, {"cs1", a.Source}} {
		if kv[1] == "" || kv[0] == "cs1Label" && a.Source == "" {
			continue
		}
		b.WriteString(" " + kv[0] + "=" + cefExtension(kv[1]))
	}
	return b.String()
}

// cefHeader escapes a CEF header field: backslash and pipe, and puts
// line breaks (which a header may not hold) as spaces.
func cefHeader(s string) string {
	return strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\r\n", " ", "\n", " ", "\r", " ").Replace(strings.ToValidUTF8(s, "\uFFFD"))
}

// cefExtension escapes a CEF extension value: backslash, equals sign and
// line breaks (as \n and \r).
func cefExtension(s string) string {
	return strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\n", `\n`, "\r", `\r`).Replace(strings.ToValidUTF8(s, "\uFFFD"))
}
