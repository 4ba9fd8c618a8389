package template

import (
	"net/url"
	"strings"
)

// typed reports whether a raw path segment is, by its shape alone, a value
// rather than a name: integers, UUIDs, hex ids and hashes, Mongo ObjectIds,
// dates, e-mails, opaque tokens and mixed alphanumeric ids. Vocabulary such
// as v1, oauth2, s3, html5, mp4 and file names (index.html) are not typed.
// The rules look at shape (letter/digit mix, runs, length) only, never at a
// list of words.
func typed(raw string, maxLen int) bool {
	s := raw
	if strings.IndexByte(s, '%') >= 0 {
		if d, err := url.PathUnescape(s); err == nil {
			s = d
		}
	}
	if s == "" {
		return false
	}
	if len(s) > maxLen {
		return true
	}
	if at := strings.IndexByte(s, '@'); at > 0 && strings.IndexByte(s[at:], '.') > 1 {
		return true // e-mail
	}
	if allDigits(s) || isUUID(s) {
		return true
	}
	if stem, ok := fileStem(s); ok {
		// A static file is its own endpoint unless its stem is an id
		// (/users/12.json, /Messages/SM3f9c…e1.json).
		return idStem(stem)
	}
	if allHex(s) && (len(s) >= 16 || len(s) >= 8 && hasDigit(s) && hasLetter(s)) {
		return true // hashes, ObjectIds, short hex ids
	}
	return tokensTyped(s)
}

// tokensTyped applies the rules that look at the separator-delimited tokens
// of a segment (ORD-2024-00017, usr_8Hk2, cus_9s6XKzkNRiz8i3, 2024-01-31).
func tokensTyped(s string) bool {
	if prefixedID(s) {
		return true
	}
	var tokens, numeric, digits int
	var shortWordThenNumber bool
	prevLetters := -1
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && !isSep(s[i]) {
			continue
		}
		tok := s[start:i]
		start = i + 1
		if tok == "" {
			continue
		}
		tokens++
		st := shape(tok)
		digits += st.digits
		if st.letters == 0 && st.other == 0 {
			numeric++
			if tokens == 2 && prevLetters > 0 && prevLetters <= 4 && st.digits >= 4 {
				shortWordThenNumber = true // inv-00017, ORD-2024
			}
		}
		prevLetters = -1
		if st.digits == 0 && st.other == 0 {
			prevLetters = st.letters
		}
		if st.opaque() {
			return true
		}
	}
	if numeric > 0 && numeric*2 > tokens && digits >= 4 {
		return true // dates, ORD-2024-00017
	}
	return shortWordThenNumber
}

// prefixedID reports a type-prefixed id whose body is too short for the
// shape rules: a 2-4 letter lowercase prefix, one underscore, and a body of
// at least 4 letters and digits with an uppercase letter or a digit in it
// (usr_aDEU, usr_416d, ch_KzAb). Snake-case words keep a lowercase body
// (rate_limit, bulk_delete) and stay constant.
func prefixedID(s string) bool {
	i := idPrefix(s)
	if i < 0 {
		return false
	}
	marked := false
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			marked = true
		case c >= 'a' && c <= 'z':
		default:
			return false
		}
	}
	return marked
}

// idPrefix returns the index of the underscore after a 2-4 letter
// lowercase prefix followed by a body of 4 to 64 characters, or -1.
func idPrefix(s string) int {
	i := strings.IndexByte(s, '_')
	if i < 2 || i > 4 || len(s)-i-1 < 4 || len(s)-i-1 > 64 {
		return -1
	}
	for j := 0; j < i; j++ {
		if s[j] < 'a' || s[j] > 'z' {
			return -1
		}
	}
	return i
}

func isSep(c byte) bool {
	switch c {
	case '-', '_', '.', '~', ':', '+', ',', '=', ';', ' ':
		return true
	}
	return false
}

type tokenShape struct {
	n, letters, digits, upper, lower, other int
	transitions                             int // letter<->digit changes
	caseChanges                             int
	digitFirst                              bool
	pascal                                  bool // words in PascalCase or camelCase
}

func shape(tok string) tokenShape {
	st := tokenShape{n: len(tok), pascal: pascalCase(tok)}
	prev := byte(0) // 'a' letter, '0' digit
	prevUpper := false
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		var cls byte
		switch {
		case c >= '0' && c <= '9':
			st.digits++
			cls = '0'
		case c >= 'a' && c <= 'z':
			st.letters++
			st.lower++
			cls = 'a'
			if prevUpper && i > 0 {
				st.caseChanges++
			}
			prevUpper = false
		case c >= 'A' && c <= 'Z':
			st.letters++
			st.upper++
			cls = 'a'
			if !prevUpper && i > 0 && prev == 'a' {
				st.caseChanges++
			}
			prevUpper = true
		default:
			st.other++
			continue
		}
		if i == 0 {
			st.digitFirst = cls == '0'
		}
		if prev != 0 && prev != cls {
			st.transitions++
		}
		prev = cls
	}
	return st
}

// opaque reports whether one token looks generated rather than written.
func (st tokenShape) opaque() bool {
	if st.other > 0 {
		return st.n >= 20 && st.digits > 0 && st.letters > 0 // base64 with + / =
	}
	mixed := st.letters > 0 && st.digits > 0
	switch {
	case mixed && st.transitions >= 2 && st.upper > 0 && st.lower > 0:
		return true // 8Hk2, 9s6XKzkNRiz8i3
	case mixed && st.transitions >= 3:
		return true // a1b2c3
	case mixed && st.n >= 16:
		return true // long mixed tokens
	case mixed && st.letters <= 3 && st.digits >= 4:
		return true // ord12345, u1234
	case mixed && st.digits >= 6:
		return true
	case mixed && st.digitFirst && st.n >= 6:
		return true // 2024q1x
	case st.digits == 0 && st.n >= 10 && st.caseChanges >= 5 && !st.pascal:
		return true // KzAbQrTxLmNpWvYs, not AvailablePhoneNumbers
	}
	return false
}

// pascalCase reports letters that are words in PascalCase or camelCase
// (AvailablePhoneNumbers, IpAccessControlLists, AddOnResults): capitals
// start runs of lowercase letters that are words, on average at least
// 2.5 letters long, where generated ids alternate case almost at every
// letter (KzAbQrTxLmNpWvYs).
func pascalCase(tok string) bool {
	var runs, short, lower, cur int
	inRun := false
	end := func() {
		if inRun {
			runs++
			if cur <= 1 {
				short++
			}
		}
		inRun, cur = false, 0
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c >= 'A' && c <= 'Z':
			end()
			inRun = i+1 < len(tok) && tok[i+1] >= 'a' && tok[i+1] <= 'z'
		case c >= 'a' && c <= 'z':
			lower++
			if inRun {
				cur++
			}
		default:
			return false
		}
	}
	end()
	// Words: runs average 2.5 letters or more, and at most a third of them
	// are a single letter (Ip, On); generated ids break that (DgboFzcqnavbuVhAAvtRuH).
	return runs == 0 || float64(lower)/float64(runs) >= 2.5 && short*3 <= runs
}

// fileStem returns the part before a file extension (index.html -> index)
// when s names a file: its extension is one files are given. A dotted
// name whose last part is no such extension (jane.doe, api.shop.io) is a
// name, not a file.
func fileStem(s string) (string, bool) {
	stem, ok := extStem(s)
	if !ok || !fileExt[strings.ToLower(s[len(stem)+1:])] {
		return "", false
	}
	return stem, true
}

// dataFile reports a file name whose extension is a data format APIs
// answer in (Twilio's /Accounts/{sid}/Calls.json): an API call, not an
// asset.
func dataFile(s string) bool {
	stem, ok := fileStem(s)
	if !ok {
		return false
	}
	switch strings.ToLower(s[len(stem)+1:]) {
	case "json", "xml", "yaml", "yml", "csv", "tsv", "txt", "atom", "rss", "ics", "vcf", "toml":
		return true
	}
	return false
}

// extStem splits any short letter-led extension off s.
func extStem(s string) (string, bool) {
	k := strings.LastIndexByte(s, '.')
	if k <= 0 || k == len(s)-1 {
		return "", false
	}
	ext := s[k+1:]
	if len(ext) > 5 || !isLetter(ext[0]) {
		return "", false
	}
	for i := 1; i < len(ext); i++ {
		if !isLetter(ext[i]) && !(ext[i] >= '0' && ext[i] <= '9') {
			return "", false
		}
	}
	return s[:k], true
}

// fileExt lists the extensions that files are given on the web: pages,
// scripts, styles, images, fonts, media, documents, data, archives,
// binaries and source files. (A registry of file types, as mime.types
// is, not API vocabulary.)
var fileExt = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range strings.Fields(`html htm xhtml shtml php php3 php5 phtml asp aspx ashx jsp jspx do action cgi pl cfm
		css scss less js mjs cjs map ts tsx jsx vue wasm
		json xml yaml yml toml txt text md markdown csv tsv rss atom ics vcf xsl xsd wsdl
		png jpg jpeg gif svg svgz ico webp bmp tif tiff avif heic psd
		woff woff2 ttf otf eot
		mp3 mp4 m4a m4v webm ogg oga ogv wav avi mov mkv flac aac flv swf m3u8 ts
		pdf doc docx xls xlsx ppt pptx odt ods odp rtf epub ps eps tex
		zip gz tgz bz2 xz zst tar rar 7z jar war ear whl gem egg
		exe msi dmg pkg deb rpm apk ipa iso img bin dll so dylib
		c h cc cpp cxx hpp hh go py pyc rb sh bash zsh ps1 bat java class kt kts scala swift rs lua r m erl ex exs el vim
		conf cfg ini env properties log bak old orig swp tmp sql db sqlite dump
		spec patch diff pem crt cer der key pub asc sig gpg p12 pfx csr
		lock sum mod pom gradle sln csproj xcf torrent`) {
		m[e] = true
	}
	return m
}()

// idExt returns the extension (".json") of a segment that is an id with a
// file extension (12.json, SM3f9c…e1.json), or "". The extension stays in
// the template, as specs write it: /products/{parameter}.json.
func idExt(s string) string {
	stem, ok := fileStem(s)
	if !ok || !idStem(stem) {
		return ""
	}
	return s[len(stem):]
}

// idStem reports whether a file name's stem is an id: digits, a UUID, or
// a hex id with an optional short type prefix.
func idStem(stem string) bool { return allDigits(stem) || isUUID(stem) || prefixedHexID(stem) }

// paramExt returns the extension of a declared segment "{name}.ext", or "".
func paramExt(s string) string {
	k := strings.IndexByte(s, '}')
	if len(s) < 2 || s[0] != '{' || k < 2 || strings.ContainsAny(s[1:k], "{/") {
		return ""
	}
	if _, ok := extStem("x" + s[k+1:]); !ok || s[k+1] != '.' || strings.Count(s[k+1:], ".") != 1 {
		return ""
	}
	return s[k+1:]
}

// isDateVersion reports a date as APIs put versions in paths: 2024-01 or
// 2010-04-01.
func isDateVersion(s string) bool {
	if len(s) != 7 && len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch {
		case i == 4 || i == 7:
			if s[i] != '-' {
				return false
			}
		case s[i] < '0' || s[i] > '9':
			return false
		}
	}
	return s[0] == '1' || s[0] == '2'
}

// prefixedHexID reports a short type prefix and a long hex id, as in
// /Messages/SM3f9c…e1.json. Other long random-looking stems stay constant:
// sites name static assets by content hash (fonts, bundles), and those are
// files, not parameters.
func prefixedHexID(s string) bool {
	for k := 0; k <= 4 && k < len(s); k++ {
		if k > 0 && !isLetter(s[k-1]) {
			return false
		}
		if n := len(s) - k; n >= 16 && n <= 64 && allHex(s[k:]) {
			return true
		}
	}
	return false
}

func allAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return s != ""
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func allHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			return true
		}
	}
	return false
}

func hasLetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if isLetter(s[i]) {
			return true
		}
	}
	return false
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

// isGRPC reports whether segs is a gRPC method path /pkg.Service/Method.
func isGRPC(segs []string) bool {
	if len(segs) != 2 {
		return false
	}
	svc, m := segs[0], segs[1]
	dot := strings.LastIndexByte(svc, '.')
	if dot <= 0 || dot == len(svc)-1 || !(svc[dot+1] >= 'A' && svc[dot+1] <= 'Z') {
		return false
	}
	if m == "" || !(m[0] >= 'A' && m[0] <= 'Z') {
		return false
	}
	for _, s := range segs {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(isLetter(c) || c >= '0' && c <= '9' || c == '_' || c == '.') {
				return false
			}
		}
	}
	return true
}

// isParamLiteral reports whether a segment is a template parameter ({x}).
func isParamLiteral(s string) bool {
	return len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}'
}

// signature is the shape of a prefixed id ("cus_" plus a body length) or
// "" when s has no such shape. An untyped segment with the signature of the
// typed values at a position is one more value (cus_KzAbQrTxLmNpWv next to
// cus_9s6XKzkNRiz8i3).
func signature(s string) string {
	if i := idPrefix(s); i > 0 && allAlnum(s[i+1:]) {
		// usr_…: any body of letters and digits. Once typed values with
		// this prefix made a parameter, usr_jiycl (no digit, no capital,
		// not typed by itself) is one more of them.
		return s[:i+1] + "*"
	}
	for i := 0; i < len(s) && i <= 6; i++ {
		c := s[i]
		if isLetter(c) {
			continue
		}
		if i > 0 && (c == '_' || c == '-') && len(s)-i-1 >= 8 {
			return s[:i+1] + string(rune('0'+min(len(s)-i-1, 60)))
		}
		break
	}
	return ""
}
