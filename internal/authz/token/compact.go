package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// b64 is base64url without padding that also refuses non-canonical
// encodings (non-zero trailing bits), so one token has one spelling and
// one TokenID. The decoder skips \r and \n: decodePart refuses them.
var b64 = base64.RawURLEncoding.Strict()

// decodePart decodes one part of a compact JWS: only the 64 base64url
// characters, no padding, no whitespace, canonical trailing bits.
func decodePart(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return nil, fmt.Errorf("byte %d is not a base64url character", i)
		}
	}
	return b64.DecodeString(s)
}

// jws is a compact JWS after the checks that need no key.
type jws struct {
	alg, kid    string
	signingPart string // header "." payload, the signature's input
	sig         []byte
	claims      map[string]any
}

// parseCompact splits and decodes a compact JWS and applies every header
// rule that needs no key. It does not look at the signature's validity.
func parseCompact(raw string) (*jws, *Error) {
	dots := strings.Count(raw, ".")
	switch {
	case dots == 4:
		return nil, fail(ErrMalformed, "encrypted_token", "a JWE (5 parts) where a signed JWT was expected")
	case dots == 1 && !strings.HasSuffix(raw, "."):
		return nil, fail(ErrSignature, "missing_signature", "2 parts: the signature was stripped")
	case dots != 2:
		return nil, fail(ErrMalformed, "malformed", "a compact JWS has 3 parts separated by '.'")
	}
	i := strings.IndexByte(raw, '.')
	j := strings.LastIndexByte(raw, '.')
	h64, p64, s64 := raw[:i], raw[i+1:j], raw[j+1:]
	if h64 == "" || p64 == "" {
		return nil, fail(ErrMalformed, "malformed", "empty header or payload")
	}
	hdr, err := decodePart(h64)
	if err != nil {
		return nil, fail(ErrMalformed, "bad_base64", "header: "+err.Error())
	}
	h, e := parseHeader(hdr)
	if e != nil {
		return nil, e
	}
	if s64 == "" {
		return nil, fail(ErrSignature, "missing_signature", "empty signature part")
	}
	sig, err := decodePart(s64)
	if err != nil {
		return nil, fail(ErrMalformed, "bad_base64", "signature: "+err.Error())
	}
	pay, err := decodePart(p64)
	if err != nil {
		return nil, fail(ErrMalformed, "bad_base64", "payload: "+err.Error())
	}
	claims, e := parseObject(pay, "payload")
	if e != nil {
		return nil, e
	}
	h.signingPart = raw[:j]
	h.sig = sig
	h.claims = claims
	return h, nil
}

// parseHeader decodes the JOSE header and refuses what Vigil never
// accepts, whatever the issuer: alg none, crit, b64, key references that
// point outside the configured key set, nested or encrypted content.
func parseHeader(hdr []byte) (*jws, *Error) {
	m, e := parseObject(hdr, "header")
	if e != nil {
		return nil, e
	}
	alg, ok := m["alg"].(string)
	if !ok || alg == "" {
		return nil, fail(ErrMalformed, "missing_alg", "header alg missing or not a string")
	}
	if strings.EqualFold(alg, "none") {
		return nil, fail(ErrAlgorithm, "alg_none", "unsecured tokens are never accepted")
	}
	// RFC 7515 §4.1.11: a recipient must refuse a crit it does not
	// understand. Vigil understands no extension (b64 below is refused
	// too), so any crit is refused.
	if _, ok := m["crit"]; ok {
		return nil, fail(ErrHeader, "crit", "critical header extensions are not supported")
	}
	// RFC 7797: b64 changes what the signature covers; JWTs never use it.
	if _, ok := m["b64"]; ok {
		return nil, fail(ErrHeader, "b64", "unencoded payloads (b64) are not accepted")
	}
	// Keys are only ever taken from the issuer's configured set. Tokens
	// that point elsewhere are refused outright rather than ignored: they
	// are attacks or misconfigurations, never something to honour.
	for _, name := range [...]string{"jku", "x5u", "jwk"} {
		if _, ok := m[name]; ok {
			return nil, fail(ErrHeader, name, "header "+name+" is never followed; keys come from the issuer's key set")
		}
	}
	if v, ok := m["typ"]; ok {
		typ, _ := v.(string)
		switch strings.ToLower(typ) {
		case "jwt", "at+jwt", "application/jwt", "application/at+jwt":
		default:
			return nil, fail(ErrHeader, "typ", "typ is not JWT or at+jwt")
		}
	}
	if _, ok := m["cty"]; ok {
		return nil, fail(ErrHeader, "cty", "nested tokens (cty) are not accepted")
	}
	if _, ok := m["enc"]; ok {
		return nil, fail(ErrMalformed, "encrypted_token", "header enc: a JWE where a signed JWT was expected")
	}
	h := &jws{alg: alg}
	if v, ok := m["kid"]; ok {
		kid, ok := v.(string)
		if !ok || kid == "" || len(kid) > 256 {
			return nil, fail(ErrMalformed, "bad_kid", "kid is not a non-empty string of at most 256 bytes")
		}
		h.kid = kid
	}
	return h, nil
}

// parseObject decodes a JSON object, refusing invalid UTF-8, duplicate
// member names at any depth, and anything after the object.
func parseObject(b []byte, part string) (map[string]any, *Error) {
	if !utf8.Valid(b) {
		return nil, fail(ErrMalformed, "bad_json", part+": not UTF-8")
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, fail(ErrMalformed, "bad_json", part+": not a JSON object")
	}
	if err := checkDuplicates(b); err != nil {
		if errors.Is(err, errDuplicate) {
			return nil, fail(ErrHeader, "duplicate_member", part+": "+err.Error())
		}
		return nil, fail(ErrMalformed, "bad_json", part+": "+err.Error())
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, fail(ErrMalformed, "bad_json", part+": not a JSON object")
	}
	return m, nil
}

var errDuplicate = errors.New("duplicate member")

// maxDepth bounds the nesting checkDuplicates walks (and so the stack a
// hostile token can make it use).
const maxDepth = 32

// checkDuplicates walks b's tokens and reports a member name that occurs
// twice in one object (RFC 7515 §4, RFC 7519 §4: Vigil takes the
// "reject" branch, so that no parser behind it can read a different
// value), trailing data, or nesting deeper than maxDepth.
func checkDuplicates(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	type frame struct {
		obj   bool
		names map[string]struct{}
		key   bool // the next token in this object is a member name
	}
	var stack []frame
	for {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch v := t.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.key = true
				}
				if len(stack) >= maxDepth {
					return errors.New("nested too deeply")
				}
				stack = append(stack, frame{obj: v == '{', key: v == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if len(stack) == 0 && d.More() {
					return errors.New("data after the object")
				}
			}
			continue
		case string:
			if top != nil && top.obj && top.key {
				if top.names == nil {
					top.names = make(map[string]struct{}, 8)
				}
				if _, dup := top.names[v]; dup {
					return errDuplicate
				}
				top.names[v] = struct{}{}
				top.key = false
				continue
			}
		}
		if top == nil {
			return errors.New("not a JSON object")
		}
		if top.obj {
			top.key = true
		}
	}
	if len(stack) != 0 {
		return errors.New("unterminated object")
	}
	return nil
}
