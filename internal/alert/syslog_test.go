package alert

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// syslogMsg is an RFC 5424 message read back.
type syslogMsg struct {
	pri                                   int
	version                               string
	timestamp                             time.Time
	hostname, app, procid, msgid, sd, msg string
}

// parseSyslog reads an RFC 5424 message (no framing).
func parseSyslog(line string) (syslogMsg, error) {
	var m syslogMsg
	if !strings.HasPrefix(line, "<") {
		return m, errors.New("no PRI")
	}
	end := strings.IndexByte(line, '>')
	if end < 2 || end > 4 {
		return m, errors.New("bad PRI")
	}
	pri, err := strconv.Atoi(line[1:end])
	if err != nil || pri > 191 {
		return m, errors.New("bad PRI")
	}
	m.pri = pri
	f := strings.SplitN(line[end+1:], " ", 8)
	if len(f) < 8 {
		return m, fmt.Errorf("%d header fields, want 7 and a message", len(f)-1)
	}
	m.version, m.hostname, m.app, m.procid, m.msgid, m.sd, m.msg = f[0], f[2], f[3], f[4], f[5], f[6], f[7]
	if m.timestamp, err = time.Parse(time.RFC3339Nano, f[1]); err != nil {
		return m, err
	}
	return m, nil
}

// cefRecord is a CEF record read back, unescaped.
type cefRecord struct {
	header [7]string // version, vendor, product, device version, signature id, name, severity
	ext    map[string]string
}

// parseCEF reads "CEF:0|...|...|...|...|...|...|ext", unescaping \| and
// \\ in the header and \=, \\, \n, \r in extension values.
func parseCEF(s string) (cefRecord, error) {
	var r cefRecord
	if !strings.HasPrefix(s, "CEF:") {
		return r, errors.New("no CEF: prefix")
	}
	s = s[len("CEF:"):]
	var cur strings.Builder
	n := 0
	i := 0
	for ; i < len(s) && n < 7; i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '|' || s[i+1] == '\\'):
			cur.WriteByte(s[i+1])
			i++
		case c == '\\':
			return r, errors.New("bad escape in the header")
		case c == '|':
			r.header[n] = cur.String()
			cur.Reset()
			n++
		default:
			cur.WriteByte(c)
		}
	}
	if n < 7 {
		return r, fmt.Errorf("%d header fields, want 7", n)
	}
	r.ext = map[string]string{}
	ext := s[i:]
	// A key is the word before an unescaped '='; its value runs to the
	// space before the next key.
	pos := cefKeyPositions(ext)
	for idx, p := range pos {
		valEnd := len(ext)
		if idx+1 < len(pos) {
			valEnd = pos[idx+1].keyStart - 1
		}
		v, err := unescapeExt(ext[p.valStart:valEnd])
		if err != nil {
			return r, err
		}
		r.ext[p.key] = v
	}
	return r, nil
}

type keyPos struct {
	key                string
	keyStart, valStart int
}

func cefKeyPositions(ext string) []keyPos {
	var out []keyPos
	start := 0
	for j := 0; j < len(ext); j++ {
		if ext[j] == '\\' {
			j++
			continue
		}
		if ext[j] != '=' {
			continue
		}
		ks := start
		if k := strings.LastIndexByte(ext[start:j], ' '); k >= 0 {
			ks = start + k + 1
		}
		out = append(out, keyPos{key: ext[ks:j], keyStart: ks, valStart: j + 1})
		start = j + 1
	}
	return out
}

func unescapeExt(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("dangling backslash")
		}
		i++
		switch s[i] {
		case '\\', '=':
			b.WriteByte(s[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf("bad escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

// syslogReceiver listens on loopback (udp or tcp) and hands each
// message (unframed) to its channel. closeAfterFirst makes the TCP side
// close each connection after one message, as a restarting receiver
// does (before handing the message on).
func syslogReceiver(t *testing.T, transport string, closeAfterFirst bool) (addr string, msgs <-chan string) {
	t.Helper()
	ch := make(chan string, 100)
	switch transport {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				ch <- string(buf[:n])
			}
		}()
		return pc.LocalAddr().String(), ch
	default:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					r := bufio.NewReader(c)
					for {
						// RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG.
						lenStr, err := r.ReadString(' ')
						if err != nil {
							return
						}
						n, err := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
						if err != nil || n <= 0 {
							ch <- "BAD FRAME " + lenStr
							return
						}
						msg := make([]byte, n)
						if _, err := io.ReadFull(r, msg); err != nil {
							return
						}
						if closeAfterFirst {
							c.Close()
						}
						ch <- string(msg)
						if closeAfterFirst {
							return
						}
					}
				}()
			}
		}()
		return ln.Addr().String(), ch
	}
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no syslog message")
		return ""
	}
}

// TestSyslog: a real syslog listener on loopback, over UDP and TCP
// (octet counting), reads back an RFC 5424 header and a CEF record whose
// fields survive escaping.
func TestSyslog(t *testing.T) {
	for _, tc := range []struct {
		transport       string
		closeAfterFirst bool
	}{
		{"udp", false},
		{"tcp", false},
		{"tcp", true}, // the receiver restarts between messages: the sink redials
	} {
		t.Run(fmt.Sprintf("%s/close=%v", tc.transport, tc.closeAfterFirst), func(t *testing.T) {
			addr, msgs := syslogReceiver(t, tc.transport, tc.closeAfterFirst)
			cfg := parse(t, fmt.Sprintf("dedup_window: 0s\nsinks:\n  - {name: siem, type: syslog, address: %q, facility: local3}\n",
				tc.transport+"://"+addr))
			d, _ := start(t, cfg, Options{})
			detail := "a|b\\c=d\nnext line"
			for i := range 2 {
				ev := alertEvent("legacy_tls", "pay.example", "", "", detail)
				ev.TxnID = fmt.Sprintf("alert-tls-%d", i)
				ev.Source.Workload = "spiffe://demo.local/ns/shop/sa/order"
				d.Send(ev)
				line := recv(t, msgs)
				m, err := parseSyslog(line)
				if err != nil {
					t.Fatalf("%v\n%q", err, line)
				}
				// local3 (19) * 8 + warning (4): a medium alert.
				if m.pri != 19*8+4 || m.version != "1" || m.hostname != "vigil-test" || m.app != "vigil" || m.msgid != "legacy_tls" ||
					m.sd != "-" || !m.timestamp.Equal(t0) || m.procid == "" {
					t.Fatalf("header %+v", m)
				}
				r, err := parseCEF(m.msg)
				if err != nil {
					t.Fatalf("%v\n%q", err, m.msg)
				}
				want := [7]string{"0", "Vigil", "Vigil", "1.2.3", "legacy_tls", "legacy_tls: pay.example: a|b\\c=d next line", "5"}
				if r.header != want {
					t.Fatalf("CEF header\n got %q\nwant %q", r.header, want)
				}
				for k, v := range map[string]string{"msg": detail, "dhost": "pay.example", "cat": "legacy_tls",
					"externalId": ev.TxnID, "cs1Label": "source", "cs1": "spiffe://demo.local/ns/shop/sa/order",
					"rt": strconv.FormatInt(t0.UnixMilli(), 10)} {
					if r.ext[k] != v {
						t.Errorf("extension %s = %q, want %q (all: %q)", k, r.ext[k], v, r.ext)
					}
				}
				if _, ok := r.ext["requestMethod"]; ok {
					t.Errorf("empty requestMethod written: %q", r.ext)
				}
			}
		})
	}
}

// TestSyslogUnreachable: a TCP receiver that is not there is retried
// and dead-lettered, and the error names the address, not more.
func TestSyslogUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := parse(t, fmt.Sprintf("sinks:\n  - {name: siem, type: syslog, address: %q, max_attempts: 2, backoff: 1ms}\n", "tcp://"+addr))
	d, st := start(t, cfg, Options{})
	d.Send(alertEvent("weak_cipher", "h", "", "", ""))
	eventually(t, "a dead letter", func() bool { return d.DeadLetters() == 1 })
	eventually(t, "two events", func() bool { return len(st.statuses()) == 2 })
	if s := strings.Join(st.statuses(), ","); s != "retry,dead_letter" {
		t.Fatalf("statuses %s", s)
	}
	if e := st.events()[1].Delivery.Error; !strings.Contains(e, addr) {
		t.Fatalf("error %q", e)
	}
}
