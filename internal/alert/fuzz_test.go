package alert

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzVerify: a receiver's Verify never panics on any header, accepts
// what Sign made, and refuses it for another body.
func FuzzVerify(f *testing.F) {
	f.Add("t=1800000000,v1=00", []byte(`{"a":1}`), []byte("k"))
	f.Add("", []byte{}, []byte{})
	f.Add("t=1,t=2,v1=zz,=,,", []byte("x"), []byte("secret"))
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, header string, body, secret []byte) {
		_ = Verify(secret, header, body, now, time.Minute)
		sig := Sign(secret, now.Unix(), body)
		if err := Verify(secret, sig, body, now, time.Minute); err != nil {
			t.Fatalf("own signature %q refused: %v", sig, err)
		}
		if err := Verify(secret, sig, append(body, '!'), now, time.Minute); err == nil {
			t.Fatal("signature accepted for another body")
		}
	})
}

// FuzzSyslogCEF: whatever an alert holds, its syslog line parses back as
// RFC 5424 with one CEF record whose extension values are the alert's
// (escaping of \, =, | and line breaks round-trips).
func FuzzSyslogCEF(f *testing.F) {
	f.Add("legacy_tls", "pay.example", "", "", "a|b\\c=d\nnext", "spiffe://x")
	f.Add("k y", "h\x00st", "GET", "/a=b\\", "\\n=\\=", "")
	f.Add("", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, kind, host, method, endpoint, detail, source string) {
		for _, s := range []string{kind, host, method, endpoint, detail, source} {
			if !utf8.ValidString(s) {
				return // written with U+FFFD instead
			}
		}
		a := &Alert{ID: "alert-1", Kind: kind, Host: host, Method: method, Endpoint: endpoint, Detail: detail, Source: source,
			Time: time.Unix(1_800_000_000, 0), Severity: High}
		line := string(FormatSyslog(a, 16, "host", "42", "1.0"))
		m, err := parseSyslog(line)
		if err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		if m.pri != 16*8+3 || m.app != "vigil" || len(m.msgid) > 32 || strings.ContainsAny(m.msgid, " \n") {
			t.Fatalf("header %+v", m)
		}
		r, err := parseCEF(m.msg)
		if err != nil {
			t.Fatalf("%v: %q", err, m.msg)
		}
		if r.header[4] != strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(kind) || r.header[6] != "8" {
			t.Fatalf("header %q for kind %q", r.header, kind)
		}
		for k, v := range map[string]string{"dhost": host, "requestMethod": method, "request": endpoint,
			"msg": truncate(detail, 2000), "cs1": source} {
			if got, ok := r.ext[k]; v != "" && (!ok || got != v) {
				t.Fatalf("%s = %q, want %q\n%q", k, got, v, m.msg)
			}
		}
	})
}

// FuzzParseRetryAfter: any header value gives a wait that is never
// negative, and no panic.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"3", "Sat, 17 Jan 2026 12:00:30 GMT", "-1", "99999999999", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 17, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := ParseRetryAfter(v, now); d < 0 || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
