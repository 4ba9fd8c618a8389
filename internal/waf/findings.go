package waf

import (
	"strings"
	"unicode/utf8"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
)

// kinds maps CRS attack tags to finding kinds.
var kinds = map[string]string{
	"attack-sqli":               "sqli",
	"attack-xss":                "xss",
	"attack-rce":                "rce",
	"attack-lfi":                "lfi",
	"attack-rfi":                "rfi",
	"attack-protocol":           "protocol",
	"attack-injection-php":      "php_injection",
	"attack-injection-generic":  "injection",
	"attack-injection-java":     "java_injection",
	"attack-java":               "java_injection",
	"attack-fixation":           "session_fixation",
	"attack-session-fixation":   "session_fixation",
	"attack-reputation-scanner": "scanner",
	"attack-disclosure":         "data_leakage",
	"attack-ssrf":               "ssrf",
	"attack-generic":            "generic_attack",
	"attack-multipart-header":   "protocol",
}

// KindOf is the finding kind for a rule's tags: the first CRS attack tag
// (attack-sqli -> sqli), virtual patches -> virtual_patch, else "waf".
func KindOf(tags []string) string {
	for _, t := range tags {
		if k, ok := kinds[t]; ok {
			return k
		}
		if t == PatchTag {
			return "virtual_patch"
		}
		if rest, ok := strings.CutPrefix(t, "attack-"); ok && rest != "" {
			return strings.ReplaceAll(rest, "-", "_")
		}
	}
	return "waf"
}

// Variable names a match the SecLang way: "ARGS:q", "REQUEST_HEADERS:User-Agent".
func Variable(md types.MatchData) string {
	name := md.Variable().Name()
	if k := md.Key(); k != "" {
		return name + ":" + k
	}
	return name
}

// MaxData is the longest matched value a finding keeps, in bytes.
const MaxData = 64

// maskData is the matched value for a finding: hashed when the variable
// holds a secret (credentials, cookies, tokens), else cut to MaxData bytes.
func maskData(md types.MatchData) string {
	v := md.Value()
	if v == "" {
		return ""
	}
	if secretVariable(md.Variable().Name(), md.Key()) {
		return sensitive.Hash(v)
	}
	return truncate(v, MaxData)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// secretHeaders are request and response headers whose values are
// credentials.
var secretHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true,
	"x-api-key": true, "api-key": true, "x-auth-token": true, "x-access-token": true, "x-csrf-token": true,
	"x-xsrf-token": true, "x-amz-security-token": true,
}

// secretParts mark parameter names that carry secrets wherever they stand
// in the name (user_password, X-Refresh-Token, client_secret);
// secretNames only as the whole name.
var (
	secretParts = []string{"passw", "passphrase", "pwd", "token", "secret", "apikey", "api_key", "api-key", "credential",
		"session", "private_key", "privatekey", "signature", "access_key", "accesskey"}
	secretNames = map[string]bool{"pass": true, "pin": true, "otp": true, "cvv": true, "cvc": true, "auth": true, "jwt": true,
		"key": true, "sid": true, "code_verifier": true}
)

// secretVariable reports whether a matched variable holds a secret.
func secretVariable(name, key string) bool {
	if name == "REQUEST_COOKIES" || name == "REQUEST_COOKIES_NAMES" {
		return true
	}
	k := strings.ToLower(key)
	if k == "" {
		return false
	}
	if secretHeaders[k] {
		return true
	}
	// The last dotted segment is the field name of a JSON argument
	// ("json.user.password").
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		k = k[i+1:]
	}
	if secretNames[k] {
		return true
	}
	for _, w := range secretParts {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
