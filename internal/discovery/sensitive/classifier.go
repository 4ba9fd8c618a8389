// Package sensitive classifies values seen in API traffic into classes of
// sensitive data (card numbers, national ids, emails, phones, IBANs, JWTs,
// API keys, private keys, passwords and custom classes from config).
//
// Values are never stored: the classifier reports class names only. Every
// check is a hand-written scanner gated by a single pass of character-class
// counting; the only regular expressions are the custom ones from config,
// and Go's RE2 engine runs them in linear time.
package sensitive

import (
	"fmt"
	"regexp"
	"strings"
)

// Class names one kind of sensitive data. Class names, never values, are
// what discovery records and reports.
type Class string

// Built-in classes.
const (
	CardNumber Class = "card_number" // payment card PAN: Luhn-checked, known IIN prefix
	NationalID Class = "national_id" // US SSN (dashed/spaced, or 9 digits under an ssn-ish name), UK NINO
	Email      Class = "email"
	Phone      Class = "phone"       // E.164 (+...), national formats with separators, digits under a phone-ish name
	IBAN       Class = "iban"        // country length + mod-97 checked
	JWT        Class = "jwt"         // three base64url parts, header is JSON with "alg"
	APIKey     Class = "api_key"     // known vendor prefixes, or a high-entropy value under a key-ish name
	PrivateKey Class = "private_key" // PEM "-----BEGIN ... PRIVATE KEY-----"
	Password   Class = "password"    // non-empty value under a password-ish name
)

// builtinOrder fixes the order in which Value reports built-in classes.
func builtinOrder() [9]Class {
	return [9]Class{CardNumber, NationalID, Email, Phone, IBAN, JWT, APIKey, PrivateKey, Password}
}

// BuiltinClasses returns the built-in classes in reporting order.
func BuiltinClasses() []Class {
	o := builtinOrder()
	return o[:]
}

// bit positions follow builtinOrder.
const (
	bitCard uint16 = 1 << iota
	bitNationalID
	bitEmail
	bitPhone
	bitIBAN
	bitJWT
	bitAPIKey
	bitPrivateKey
	bitPassword
)

// Custom is a class defined in config.
//
// Matching rules:
//   - Pattern only: the value matches the regular expression (RE2 syntax,
//     unanchored: write ^...$ to match the whole value).
//   - FieldNames only: the field name matches one of FieldNames and the
//     value is not empty.
//   - both: the field name matches AND the value matches Pattern.
//
// Field names compare case-insensitively, ignoring '-', '_', '.' and other
// non-alphanumerics, so "account_no" matches "Account-No" and "accountNo".
type Custom struct {
	// Name is the class name reported, e.g. "employee_id". Lowercase
	// letters, digits and '_'; must not repeat a built-in class.
	Name string `yaml:"name" json:"name"`
	// Pattern is an RE2 regular expression matched against the value.
	Pattern string `yaml:"pattern,omitempty" json:"pattern,omitempty"`
	// FieldNames restricts the class to fields (JSON keys, form names,
	// header names) with one of these names.
	FieldNames []string `yaml:"field_names,omitempty" json:"field_names,omitempty"`
}

type customClass struct {
	class  Class
	re     *regexp.Regexp
	prefix string // literal every match starts with; prefilter for re
	fields []string
}

// Classifier classifies values. It is immutable after New and safe for
// concurrent use.
type Classifier struct {
	custom []customClass
}

// maxValueLen bounds the length of a value that is examined for any class
// but private_key; longer values are skipped.
const maxValueLen = 4096

// New returns a Classifier with the built-in classes and the given custom
// classes. It fails on an invalid custom class, naming it.
func New(custom []Custom) (*Classifier, error) {
	c := &Classifier{}
	seen := make(map[string]bool, len(custom))
	for i, cu := range custom {
		name := cu.Name
		where := fmt.Sprintf("custom[%d]", i)
		if name == "" {
			return nil, fmt.Errorf("sensitive: %s: name is required", where)
		}
		where = fmt.Sprintf("custom[%d] %q", i, name)
		if !validClassName(name) {
			return nil, fmt.Errorf("sensitive: %s: name must be lowercase letters, digits and '_'", where)
		}
		for _, b := range builtinOrder() {
			if string(b) == name {
				return nil, fmt.Errorf("sensitive: %s: name collides with a built-in class", where)
			}
		}
		if seen[name] {
			return nil, fmt.Errorf("sensitive: %s: duplicate name", where)
		}
		seen[name] = true
		if cu.Pattern == "" && len(cu.FieldNames) == 0 {
			return nil, fmt.Errorf("sensitive: %s: needs a pattern, field_names or both", where)
		}
		cc := customClass{class: Class(name)}
		if cu.Pattern != "" {
			re, err := regexp.Compile(cu.Pattern)
			if err != nil {
				return nil, fmt.Errorf("sensitive: %s: pattern: %w", where, err)
			}
			cc.re = re
			cc.prefix, _ = re.LiteralPrefix()
		}
		for j, f := range cu.FieldNames {
			n := normalizeName(f)
			if n == "" {
				return nil, fmt.Errorf("sensitive: %s: field_names[%d] is empty", where, j)
			}
			cc.fields = append(cc.fields, n)
		}
		c.custom = append(c.custom, cc)
	}
	return c, nil
}

func validClassName(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

// Value classifies one value. field is the name it was found under (JSON
// key, form or header name; may be empty) and helps with classes that are
// ambiguous by value alone (passwords, phone numbers as plain digits, API
// keys without a known prefix). It returns nil when nothing matched.
func (c *Classifier) Value(field, value string) []Class {
	bits, cust := c.classify(field, value)
	if bits == 0 && cust == nil {
		return nil
	}
	return appendClasses(nil, bits, cust, c)
}

// Sensitive reports whether Value would return any class, without
// allocating the result.
func (c *Classifier) Sensitive(field, value string) bool {
	bits, cust := c.classify(field, value)
	return bits != 0 || len(cust) > 0
}

func appendClasses(dst []Class, bits uint16, cust []int, c *Classifier) []Class {
	order := builtinOrder()
	for i, cl := range order {
		if bits&(1<<i) != 0 {
			dst = append(dst, cl)
		}
	}
	for _, i := range cust {
		dst = append(dst, c.custom[i].class)
	}
	return dst
}

// classify returns the built-in classes as bits and the indices of the
// matching custom classes.
func (c *Classifier) classify(field, value string) (uint16, []int) {
	if value == "" {
		return 0, nil
	}
	h := fieldHints(field)
	bits := builtin(h, value)
	var cust []int
	if len(c.custom) > 0 && len(value) <= maxValueLen {
		var norm string
		for i := range c.custom {
			cc := &c.custom[i]
			if len(cc.fields) > 0 {
				if norm == "" {
					norm = normalizeName(field)
				}
				if !containsString(cc.fields, norm) {
					continue
				}
			}
			if cc.re != nil {
				if cc.prefix != "" && !strings.Contains(value, cc.prefix) {
					continue
				}
				if !cc.re.MatchString(value) {
					continue
				}
			} else if strings.TrimSpace(value) == "" {
				continue
			}
			cust = append(cust, i)
		}
	}
	return bits, cust
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
