package bot

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"math/bits"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CookieName is the cookie a solved challenge sets.
const CookieName = "vigil_bot"

// AnswerHeader carries a solved challenge: "TOKEN:NONCE".
const AnswerHeader = "Vigil-Challenge"

// Challenge errors.
var (
	ErrMalformed = errors.New("malformed challenge token")
	ErrExpired   = errors.New("challenge expired")
	ErrSignature = errors.New("challenge signature does not match this client")
	ErrWork      = errors.New("proof of work does not have enough leading zero bits")
)

// Issuer signs challenges and cookies with one secret. Both are stateless:
// an HMAC-SHA256 over the expiry, the client address (unless BindIP is
// off) and the user agent, so any replica with the same secret verifies
// them.
type Issuer struct {
	// Bits is the proof-of-work difficulty of new challenges.
	Bits      int
	TokenTTL  time.Duration
	CookieTTL time.Duration
	// BindIP ties cookies and challenges to the client address.
	BindIP bool

	pool sync.Pool // *macState
}

type macState struct {
	h   hash.Hash
	buf []byte
	sum []byte
}

// NewIssuer returns an issuer keyed by secret.
func NewIssuer(secret []byte, bits int, tokenTTL, cookieTTL time.Duration, bindIP bool) *Issuer {
	key := append([]byte(nil), secret...)
	is := &Issuer{Bits: bits, TokenTTL: tokenTTL, CookieTTL: cookieTTL, BindIP: bindIP}
	is.pool.New = func() any {
		return &macState{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 512), sum: make([]byte, 0, 64)}
	}
	return is
}

// Token domain labels keep a cookie from passing as a challenge and back.
const (
	labelToken  = "vigil-bot-challenge\x00"
	labelCookie = "vigil-bot-cookie\x00"
)

// mac appends base64url(HMAC(label, fields, ip, ua)) to dst.
func (is *Issuer) mac(dst []byte, label, fields string, ip netip.Addr, ua string) []byte {
	st := is.pool.Get().(*macState)
	b := append(st.buf[:0], label...)
	b = append(b, fields...)
	b = append(b, 0)
	if is.BindIP && ip.IsValid() {
		b = ip.Unmap().AppendTo(b)
	}
	b = append(b, 0)
	if len(ua) > maxUAScan*2 {
		ua = ua[:maxUAScan*2]
	}
	b = append(b, ua...)
	st.h.Reset()
	st.h.Write(b)
	st.sum = st.h.Sum(st.sum[:0])
	dst = base64.RawURLEncoding.AppendEncode(dst, st.sum)
	st.buf = b[:0]
	is.pool.Put(st)
	return dst
}

// macLen is the length of an encoded MAC.
var macLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// NewToken issues a challenge for this client: "1.EXP.BITS.RAND.MAC".
func (is *Issuer) NewToken(ip netip.Addr, ua string, now time.Time) string {
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	b := make([]byte, 0, 96)
	b = append(b, "1."...)
	b = strconv.AppendInt(b, now.Add(is.TokenTTL).Unix(), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(is.Bits), 10)
	b = append(b, '.')
	b = base64.RawURLEncoding.AppendEncode(b, rnd[:])
	fields := string(b[2:])
	b = append(b, '.')
	b = is.mac(b, labelToken, fields, ip, ua)
	return string(b)
}

// Token is a parsed challenge token.
type Token struct {
	Expires int64  // unix seconds
	Bits    int    // leading zero bits asked for
	Fields  string // "EXP.BITS.RAND", what the MAC covers
	MAC     string
}

// ParseToken splits a challenge token. It checks the shape only.
func ParseToken(s string) (Token, error) {
	var t Token
	rest, ok := strings.CutPrefix(s, "1.")
	if !ok || len(s) > 128 {
		return t, ErrMalformed
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return t, ErrMalformed
	}
	t.Fields, t.MAC = rest[:i], rest[i+1:]
	if len(t.MAC) != macLen || !isB64(t.MAC) {
		return t, ErrMalformed
	}
	exp, rest2, ok := strings.Cut(t.Fields, ".")
	if !ok {
		return t, ErrMalformed
	}
	bitsStr, rnd, ok := strings.Cut(rest2, ".")
	if !ok || len(rnd) != 22 || !isB64(rnd) {
		return t, ErrMalformed
	}
	var err error
	if t.Expires, err = parseUint(exp, 12); err != nil {
		return t, ErrMalformed
	}
	n, err := parseUint(bitsStr, 2)
	if err != nil || n < 1 || n > 64 {
		return t, ErrMalformed
	}
	t.Bits = int(n)
	return t, nil
}

// VerifyAnswer checks a solved challenge "TOKEN:NONCE" from this client:
// its signature, its expiry and the proof of work.
func (is *Issuer) VerifyAnswer(answer string, ip netip.Addr, ua string, now time.Time) error {
	token, nonce, ok := strings.Cut(answer, ":")
	if !ok || len(nonce) == 0 || len(nonce) > 20 {
		return ErrMalformed
	}
	for i := 0; i < len(nonce); i++ {
		if nonce[i] < '0' || nonce[i] > '9' {
			return ErrMalformed
		}
	}
	t, err := ParseToken(token)
	if err != nil {
		return err
	}
	var buf [64]byte
	if !ctEqual(is.mac(buf[:0], labelToken, t.Fields, ip, ua), t.MAC) {
		return ErrSignature
	}
	if now.Unix() >= t.Expires {
		return ErrExpired
	}
	if t.Bits < min(is.Bits, 8) || !CheckWork(token, nonce, t.Bits) {
		return ErrWork
	}
	return nil
}

// Cookie issues the cookie value for a client that solved a challenge,
// "1.EXP.MAC", and its expiry.
func (is *Issuer) Cookie(ip netip.Addr, ua string, now time.Time) (string, time.Time) {
	exp := now.Add(is.CookieTTL).Truncate(time.Second)
	b := make([]byte, 0, 64)
	b = append(b, "1."...)
	b = strconv.AppendInt(b, exp.Unix(), 10)
	fields := string(b[2:])
	b = append(b, '.')
	b = is.mac(b, labelCookie, fields, ip, ua)
	return string(b), exp
}

// SetCookie is the Set-Cookie header value for a cookie value.
func (is *Issuer) SetCookie(value string, secure bool) string {
	s := CookieName + "=" + value + "; Path=/; Max-Age=" + strconv.Itoa(int(is.CookieTTL/time.Second)) + "; HttpOnly; SameSite=Lax"
	if secure {
		s += "; Secure"
	}
	return s
}

// ParseCookie splits a cookie value into its expiry and MAC.
func ParseCookie(v string) (exp int64, fields, mac string, err error) {
	rest, ok := strings.CutPrefix(v, "1.")
	if !ok || len(v) > 80 {
		return 0, "", "", ErrMalformed
	}
	fields, mac, ok = strings.Cut(rest, ".")
	if !ok || len(mac) != macLen || !isB64(mac) {
		return 0, "", "", ErrMalformed
	}
	exp, err = parseUint(fields, 12)
	if err != nil {
		return 0, "", "", ErrMalformed
	}
	return exp, fields, mac, nil
}

// VerifyCookie reports whether v is a valid, unexpired cookie for this
// client. It does not allocate.
func (is *Issuer) VerifyCookie(v string, ip netip.Addr, ua string, now time.Time) bool {
	exp, fields, mac, err := ParseCookie(v)
	if err != nil {
		return false
	}
	u := now.Unix()
	// Expired, or minted for longer than cookie_ttl now allows.
	if u >= exp || exp-u > int64(is.CookieTTL/time.Second)+60 {
		return false
	}
	var buf [64]byte
	return ctEqual(is.mac(buf[:0], labelCookie, fields, ip, ua), mac)
}

// CheckWork reports whether sha256(token ":" nonce) has at least bits
// leading zero bits.
func CheckWork(token, nonce string, bits int) bool {
	h := sha256.New()
	var buf [160]byte
	b := append(buf[:0], token...)
	b = append(b, ':')
	b = append(b, nonce...)
	h.Write(b)
	var sum [sha256.Size]byte
	return LeadingZeroBits(h.Sum(sum[:0])) >= bits
}

// LeadingZeroBits counts the leading zero bits of b.
func LeadingZeroBits(b []byte) int {
	n := 0
	for _, x := range b {
		if x != 0 {
			return n + bits.LeadingZeros8(x)
		}
		n += 8
	}
	return n
}

// Solve finds a nonce for a token (what the browser does; for tests and
// tools). It gives up after 1<<(bits+6) tries and returns "".
func Solve(token string, bits int) string {
	t, err := ParseToken(token)
	if err == nil && bits == 0 {
		bits = t.Bits
	}
	var buf [160]byte
	b := append(buf[:0], token...)
	b = append(b, ':')
	base := len(b)
	limit := uint64(1) << min(bits+6, 40)
	for n := uint64(0); n < limit; n++ {
		b = strconv.AppendUint(b[:base], n, 10)
		sum := sha256.Sum256(b)
		if LeadingZeroBits(sum[:]) >= bits {
			return string(b[base:])
		}
	}
	return ""
}

// CookieValue finds a cookie's value in the Cookie headers without
// allocating ("" when absent).
func CookieValue(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimLeft(part, " \t")
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				return strings.TrimRight(part[len(name)+1:], " \t")
			}
		}
	}
	return ""
}

func ctEqual(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := range a {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

func isB64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(c) || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func parseUint(s string, maxDigits int) (int64, error) {
	if len(s) == 0 || len(s) > maxDigits || (len(s) > 1 && s[0] == '0') {
		return 0, ErrMalformed
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, ErrMalformed
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
