package bot

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	testKey = []byte("0123456789abcdef0123456789abcdef")
	ip1     = netip.MustParseAddr("198.51.100.7")
	ip2     = netip.MustParseAddr("198.51.100.8")
	t0      = time.Unix(1_800_000_000, 0)
)

func TestChallengeRoundTrip(t *testing.T) {
	is := NewIssuer(testKey, 12, 5*time.Minute, time.Hour, true)
	tok := is.NewToken(ip1, firefox, t0)
	if _, err := ParseToken(tok); err != nil {
		t.Fatalf("own token does not parse: %v (%q)", err, tok)
	}
	nonce := Solve(tok, 0)
	if nonce == "" {
		t.Fatal("no solution found")
	}
	if !CheckWork(tok, nonce, 12) {
		t.Fatal("Solve's nonce fails CheckWork")
	}
	answer := tok + ":" + nonce
	if err := is.VerifyAnswer(answer, ip1, firefox, t0.Add(time.Minute)); err != nil {
		t.Fatalf("valid answer refused: %v", err)
	}
	// Find a nonce that does not do the work.
	bad := "0"
	for CheckWork(tok, bad, 12) {
		bad += "0"
	}
	// Change one character of the MAC to another base64url character, so the
	// token still parses and only the signature check can refuse it.
	tampered := []byte(tok)
	if tampered[len(tampered)-3] == 'A' {
		tampered[len(tampered)-3] = 'B'
	} else {
		tampered[len(tampered)-3] = 'A'
	}
	for _, tc := range []struct {
		name   string
		answer string
		ip     netip.Addr
		ua     string
		at     time.Time
		want   error
	}{
		{"another address", answer, ip2, firefox, t0, ErrSignature},
		{"another user agent", answer, ip1, chrome, t0, ErrSignature},
		{"expired", answer, ip1, firefox, t0.Add(6 * time.Minute), ErrExpired},
		{"not enough work", tok + ":" + bad, ip1, firefox, t0, ErrWork},
		{"tampered mac", string(tampered) + ":" + nonce, ip1, firefox, t0, ErrSignature},
		{"difficulty lowered", strings.Replace(tok, ".12.", ".1.", 1) + ":" + nonce, ip1, firefox, t0, ErrSignature},
		{"no nonce", tok, ip1, firefox, t0, ErrMalformed},
		{"letters in nonce", tok + ":12a", ip1, firefox, t0, ErrMalformed},
		{"garbage", "hello:1", ip1, firefox, t0, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := is.VerifyAnswer(tc.answer, tc.ip, tc.ua, tc.at); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Another secret (another replica without the shared one).
	other := NewIssuer([]byte("ffffffffffffffffffffffffffffffff"), 12, 5*time.Minute, time.Hour, true)
	if err := other.VerifyAnswer(answer, ip1, firefox, t0); !errors.Is(err, ErrSignature) {
		t.Fatalf("another secret: %v", err)
	}
}

func TestCookie(t *testing.T) {
	is := NewIssuer(testKey, 12, 5*time.Minute, time.Hour, true)
	v, exp := is.Cookie(ip1, firefox, t0)
	if !exp.Equal(t0.Add(time.Hour)) {
		t.Fatalf("expires %v", exp)
	}
	sc := is.SetCookie(v, true)
	for _, attr := range []string{CookieName + "=" + v, "Path=/", "Max-Age=3600", "HttpOnly", "SameSite=Lax", "Secure"} {
		if !strings.Contains(sc, attr) {
			t.Errorf("Set-Cookie %q lacks %q", sc, attr)
		}
	}
	if strings.Contains(is.SetCookie(v, false), "Secure") {
		t.Error("Secure on a plaintext connection")
	}
	tampered := v[:len(v)-2] + "AA"
	if tampered == v {
		tampered = v[:len(v)-2] + "BB"
	}
	for _, tc := range []struct {
		name string
		v    string
		ip   netip.Addr
		ua   string
		at   time.Time
		want bool
	}{
		{"valid", v, ip1, firefox, t0.Add(59 * time.Minute), true},
		{"expired", v, ip1, firefox, t0.Add(time.Hour), false},
		{"another address", v, ip2, firefox, t0, false},
		{"another user agent", v, ip1, chrome, t0, false},
		{"tampered mac", tampered, ip1, firefox, t0, false},
		{"expiry moved", strings.Replace(v, "1.18", "1.19", 1), ip1, firefox, t0, false},
		{"a challenge token is not a cookie", is.NewToken(ip1, firefox, t0), ip1, firefox, t0, false},
		{"empty", "", ip1, firefox, t0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := is.VerifyCookie(tc.v, tc.ip, tc.ua, tc.at); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	// A shorter cookie_ttl after a reload retires longer cookies at once.
	short := NewIssuer(testKey, 12, 5*time.Minute, 10*time.Minute, true)
	if short.VerifyCookie(v, ip1, firefox, t0) {
		t.Error("a 1h cookie passes a 10m cookie_ttl")
	}
	// Not bound to the address.
	loose := NewIssuer(testKey, 12, 5*time.Minute, time.Hour, false)
	lv, _ := loose.Cookie(ip1, firefox, t0)
	if !loose.VerifyCookie(lv, ip2, firefox, t0) || loose.VerifyCookie(lv, ip2, chrome, t0) {
		t.Error("bind_ip false: the cookie must follow the user agent, not the address")
	}
}

func TestCookieValue(t *testing.T) {
	h := http.Header{"Cookie": {"a=1; vigil_botx=no", "theme=dark;  vigil_bot=1.2.abc ; z=9"}}
	if got := CookieValue(h, CookieName); got != "1.2.abc" {
		t.Fatalf("got %q", got)
	}
	if got := CookieValue(http.Header{"Cookie": {"vigil_bo=1"}}, CookieName); got != "" {
		t.Fatalf("got %q", got)
	}
}

func TestLeadingZeroBits(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want int
	}{{[]byte{0x80}, 0}, {[]byte{0x01}, 7}, {[]byte{0, 0x10}, 11}, {[]byte{0, 0}, 16}} {
		if got := LeadingZeroBits(tc.b); got != tc.want {
			t.Errorf("%x: %d, want %d", tc.b, got, tc.want)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	is := NewIssuer(testKey, 8, time.Minute, time.Hour, true)
	f.Add(is.NewToken(ip1, firefox, t0))
	c, _ := is.Cookie(ip1, firefox, t0)
	f.Add(c)
	f.Add("1.1.1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("1..:")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if tok, err := ParseToken(s); err == nil {
			if tok.Bits < 1 || tok.Bits > 64 || tok.Expires < 0 || len(tok.MAC) != macLen {
				t.Fatalf("accepted %q as %+v", s, tok)
			}
		}
		if exp, _, mac, err := ParseCookie(s); err == nil && (exp < 0 || len(mac) != macLen) {
			t.Fatalf("accepted cookie %q", s)
		}
		// Nothing forged verifies, and nothing panics.
		if s != c && is.VerifyCookie(s, ip1, firefox, t0) {
			t.Fatalf("forged cookie %q verified", s)
		}
		_ = is.VerifyAnswer(s, ip1, firefox, t0)
		_ = CookieValue(http.Header{"Cookie": {s}}, CookieName)
	})
}

func BenchmarkVerifyCookie(b *testing.B) {
	is := NewIssuer(testKey, 16, 5*time.Minute, time.Hour, true)
	v, _ := is.Cookie(ip1, chrome, t0)
	b.ReportAllocs()
	for b.Loop() {
		if !is.VerifyCookie(v, ip1, chrome, t0) {
			b.Fatal("refused")
		}
	}
}
