package sensitive

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// maxScanDepth bounds how deep ScanJSON and ScanDecoded descend.
const maxScanDepth = 64

// ScanJSON decodes a JSON body and reports every (path, class) found in
// its string and number values, each pair once. Paths join object keys with
// '.' and mark array elements with "[]": "customer.cards[].number"; a
// scalar body has the path "". The order of calls is unspecified.
//
// Invalid or truncated JSON returns an error and reports nothing.
func (c *Classifier) ScanJSON(body []byte, fn func(path string, cls Class)) error {
	v, err := DecodeJSON(body)
	if err != nil {
		return fmt.Errorf("sensitive: %w", err)
	}
	c.ScanDecoded(v, fn)
	return nil
}

// DecodeJSON decodes exactly one JSON value with numbers as json.Number,
// the form ScanDecoded (and the schema learner) expect. Trailing data after
// the value is an error.
func DecodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the top-level value")
	}
	return v, nil
}

// ScanDecoded is ScanJSON for a value already decoded by DecodeJSON (or
// json.Unmarshal into any): maps, slices, strings, json.Number, float64,
// bool and nil. It lets a caller decode a body once for several consumers.
func (c *Classifier) ScanDecoded(v any, fn func(path string, cls Class)) {
	w := walker{c: c, fn: fn}
	w.walk(v, "", 0)
}

type pathClass struct {
	path string
	cls  Class
}

type walker struct {
	c    *Classifier
	fn   func(string, Class)
	path []byte
	seen map[pathClass]struct{}
}

func (w *walker) walk(v any, field string, depth int) {
	switch x := v.(type) {
	case string:
		w.value(field, x)
	case json.Number:
		w.value(field, string(x))
	case map[string]any:
		if depth >= maxScanDepth {
			return
		}
		n := len(w.path)
		for k, e := range x {
			if n > 0 {
				w.path = append(w.path, '.')
			}
			w.path = append(w.path, k...)
			w.walk(e, qualify(field, k), depth+1)
			w.path = w.path[:n]
		}
	case []any:
		if depth >= maxScanDepth {
			return
		}
		n := len(w.path)
		w.path = append(w.path, "[]"...)
		for _, e := range x {
			w.walk(e, field, depth+1)
		}
		w.path = w.path[:n]
	}
}

func (w *walker) value(field, v string) {
	bits, cust := w.c.classify(field, v)
	if bits == 0 && len(cust) == 0 {
		return
	}
	var buf [12]Class
	for _, cl := range appendClasses(buf[:0], bits, cust, w.c) {
		if w.seen == nil {
			w.seen = make(map[pathClass]struct{})
		}
		k := pathClass{string(w.path), cl}
		if _, ok := w.seen[k]; ok {
			continue
		}
		w.seen[k] = struct{}{}
		w.fn(k.path, cl)
	}
}

// ScanValues reports the classes in form fields or query parameters, each
// (name, class) pair once, names in sorted order.
func (c *Classifier) ScanValues(v url.Values, fn func(name string, cls Class)) {
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		var seen []Class
		for _, val := range v[k] {
			for _, cl := range c.Value(k, val) {
				if !containsClass(seen, cl) {
					seen = append(seen, cl)
					fn(k, cl)
				}
			}
		}
	}
}

func containsClass(list []Class, c Class) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

// ScanHeaders reports the classes carried by request or response headers,
// each (name, class) pair once, header names in sorted order:
//
//   - Authorization / Proxy-Authorization: "Bearer <jwt>" is jwt, any other
//     bearer credential is api_key; "Basic" with user:password is password;
//     other schemes are classified as a token.
//   - Cookie and Set-Cookie: each cookie value is classified under its
//     cookie name, reported as "cookie:NAME" or "set-cookie:NAME".
//   - every other header: its value under its header name (so X-Api-Key
//     with a high-entropy value is api_key).
//
// Headers that never carry user data (Accept*, Content-Type, Host, ...)
// are skipped.
func (c *Classifier) ScanHeaders(h http.Header, fn func(name string, cls Class)) {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	seen := make(map[pathClass]struct{})
	emit := func(name string, cls Class) {
		k := pathClass{name, cls}
		if _, ok := seen[k]; ok {
			return
		}
		seen[k] = struct{}{}
		fn(name, cls)
	}
	for _, name := range names {
		canon := http.CanonicalHeaderKey(name)
		switch canon {
		case "Accept", "Accept-Encoding", "Accept-Language", "Content-Type", "Content-Length", "Content-Encoding",
			"Host", "Connection", "User-Agent", "Date", "Cache-Control", "Pragma", "Vary", "Etag", "Last-Modified",
			"Transfer-Encoding", "Keep-Alive", "Upgrade", "Te", "Trailer", "Location", "Server":
			continue
		}
		for _, val := range h[name] {
			switch canon {
			case "Authorization", "Proxy-Authorization":
				if cls, ok := c.authorization(val); ok {
					emit(canon, cls)
				}
			case "Cookie":
				cookies, err := http.ParseCookie(val)
				if err != nil {
					continue
				}
				for _, ck := range cookies {
					for _, cls := range c.Value(ck.Name, ck.Value) {
						emit("cookie:"+ck.Name, cls)
					}
				}
			case "Set-Cookie":
				ck, err := http.ParseSetCookie(val)
				if err != nil {
					continue
				}
				for _, cls := range c.Value(ck.Name, ck.Value) {
					emit("set-cookie:"+ck.Name, cls)
				}
			default:
				for _, cls := range c.Value(canon, val) {
					emit(canon, cls)
				}
			}
		}
	}
}

func (c *Classifier) authorization(val string) (Class, bool) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(val), " ")
	cred = strings.TrimSpace(cred)
	if cred == "" {
		return "", false
	}
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if IsJWT(cred) {
			return JWT, true
		}
		return APIKey, true
	case strings.EqualFold(scheme, "Basic"):
		dec, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return "", false
		}
		if _, pass, ok := strings.Cut(string(dec), ":"); ok && pass != "" {
			return Password, true
		}
		return "", false
	}
	for _, cls := range c.Value("token", cred) {
		return cls, true
	}
	return "", false
}

// qualify names a generic leaf by its parent ("number" under "payment" is
// payment_number), so that field hints see the context a leaf name lacks.
func qualify(parent, k string) string {
	if parent == "" || len(k) > 12 {
		return k
	}
	switch normalizeName(k) {
	case "number", "num", "no", "nr", "value", "id", "code":
		return parent + "_" + k
	}
	return k
}
