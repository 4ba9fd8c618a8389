package logs

import (
	"bytes"
	"encoding/json"
)

// Sniff detects the format of a log from its first bytes (already
// decompressed). It returns "" when no format matches.
func Sniff(head []byte) string {
	head = bytes.TrimLeft(head, " \t\r\n\ufeff")
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 {
		return ""
	}
	line := head
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t\r")
	if head[0] == '{' {
		var keys map[string]json.RawMessage
		if json.Unmarshal(line, &keys) != nil {
			// Not one object per line: a (pretty-printed) HAR document.
			if bytes.Contains(head, []byte(`"log"`)) {
				return FormatHAR
			}
			return ""
		}
		if _, ok := keys["log"]; ok {
			return FormatHAR
		}
		if _, ok := keys["txn_id"]; ok {
			return FormatVigilEvents
		}
		if req, ok := keys["request"]; ok && bytes.HasPrefix(bytes.TrimSpace(req), []byte("{")) {
			_, dec := keys["decision"]
			_, pl := keys["placement"]
			if dec || pl {
				return FormatVigilEvents
			}
		}
		for _, k := range []string{"start_time", "response_code", "x-envoy-original-path", "authority", "upstream_host"} {
			if _, ok := keys[k]; ok {
				return FormatEnvoyJSON
			}
		}
		if _, ok := keys["method"]; ok {
			if _, ok := keys["path"]; ok {
				return FormatEnvoyJSON
			}
		}
		var rec Record
		var st parseState
		if parseJSONAccess(line, &rec, &st) {
			return FormatJSON
		}
		return ""
	}
	// Text: the first lines that parse decide between combined and common.
	var rec Record
	var st parseState
	for n := 0; n < 5 && len(head) > 0; n++ {
		l := head
		rest := []byte(nil)
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			l, rest = head[:i], head[i+1:]
		} else if len(head) == sniffSize {
			break // possibly truncated last line
		}
		head = rest
		l = trimEOL(l)
		if len(bytes.TrimSpace(l)) == 0 {
			n--
			continue
		}
		rec = Record{}
		if parseCLF(l, &rec, &st) {
			if isCombinedLine(l) {
				return FormatCombined
			}
			return FormatCommon
		}
	}
	return ""
}
