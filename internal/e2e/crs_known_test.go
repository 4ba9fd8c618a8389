package e2e

// The CRS regression cases that need a word, each with the reason; the
// same tables are in docs/waf-testing.md.

// crsRefusedEarly are positive tests (the request is an attack or a
// protocol violation the CRS is meant to flag, or one the suite expects the
// server to refuse) that the gateway refuses itself, before the WAF sees
// them: the attack never reaches the WAF nor the upstream. They pass when
// the gateway does refuse them (a 4xx or 5xx of its own, not the
// upstream's answer); if one ever reaches the upstream it is judged on the
// suite's own expectations instead.
var crsRefusedEarly = map[string]string{
	"921190-1": "HTTP splitting: a CR/LF in the path; refused 400 invalid_path (control character) before the WAF",
	"921190-2": "HTTP splitting: a CR/LF in the path; refused 400 invalid_path (control character) before the WAF",
	"921190-3": "HTTP splitting: a CR/LF in the path; refused 400 invalid_path (control character) before the WAF",
	"921190-4": "HTTP splitting: a CR/LF in the path; refused 400 invalid_path (control character) before the WAF",
	"931131-1": "RFI in the path with %2f and double-encoded dots; refused 400 invalid_path (encoded slash) before the WAF",
	"920430-8": "HTTP/3.0 on an HTTP/1 connection; Go's server answers 505 before the WAF (the version policy is enforced, by the server)",
	"920430-5": "a request line without a version (HTTP/0.9); the suite expects the exchange to fail, Go's server answers 400 instead",
	"920430-3": "HTTP/0.9; the suite expects Apache's 400, Go's server answers 505 HTTP Version Not Supported",
	"920430-9": "an unknown HTTP version; the suite expects Apache's 400, Go's server answers 505",
	"920280-3": "HTTP/0.9 without Host; the suite expects Apache's 400, Go's server answers 505",
	"920100-5": "CONNECT to a host without a port; the suite expects 400, the gateway answers 404 no_route (it is no forward proxy: every CONNECT is refused)",
}

// crsKnownFailures are the cases that fail through the gateway. They count
// as failures in the printed pass rate.
var crsKnownFailures = map[string]string{
	"920100-4":  "a valid CONNECT; the suite expects 200, the gateway is no forward proxy and answers 404 no_route",
	"920100-8":  "a colon in the path; the suite expects Apache's 400, Go accepts it (RFC 3986 allows it) and the request is forwarded; 920100 stays quiet as in Coraza's own override",
	"920100-16": "absolute-form request target without a path (GET http://localhost); Go parses it and the gateway forwards the origin form GET /, so the WAF sees a normal request line and 920100 does not fire",
	"920181-1":  "Content-Length and Transfer-Encoding together; the suite expects Apache's 200, the gateway refuses ambiguous framing with 400 (request smuggling hardening, by design)",
	"920270-4":  "a NUL byte in an argument; 920270 fires (the rule works) but the suite expects Apache's 400 status, the gateway forwards what the WAF lets through (the suite runs detection only)",
	"920274-1":  "an invalid Host header; 920274 fires (the rule works) but the suite expects Apache's 400 status",
	"920290-1":  "an empty Host header; the suite expects Apache's 400; Go's server treats an empty Host as no Host, so 920280 (missing Host) fires instead of 920290",
	"920290-4":  "an empty Host header (HTTP/1.0): Go's server reports an empty Host as absent, so the WAF gets no Host header and 920280 (missing Host) fires instead of 920290; Coraza's own run has the same override",
	"920610-2":  "a raw # fragment in the request target; Go drops the fragment and the gateway forwards /, so neither the upstream nor the WAF sees it; the suite expects Apache's 400",
	"920620-1":  "two Content-Type headers; the suite expects them merged (httpd does), the gateway keeps both and 920620 (multiple Content-Type) fires as the rule intends",
	"922130-1":  "a control character in a multipart part header; Coraza's multipart parser fails first (200002/200003 REQBODY_ERROR, MULTIPART_STRICT_ERROR fire) so 922130 never runs; Coraza's own run overrides this to expect 200003",
	"922130-2":  "a control character in a multipart part header name; same as 922130-1: Coraza fails parsing (200002/200003) before 922130",
	"922130-7":  "a character outside the valid range in a multipart part header; same as 922130-1: Coraza fails parsing (200002/200003) before 922130",
	"931131-2":  "RFI with a URL in the path (/get/https://example.com/): the gateway merges the double slash (https:/example.com/) before the WAF, and 931131 looks for ://",
	"932207-7":  "log format: 932207 fires, but the test matches ModSecurity's logdata (Matched Data: $u, the regex capture); Vigil's finding holds the variable's value, and names MATCHED_VAR for this chained rule",
	"932300-10": "log format: 932300 and friends fire, but the test's regex expects the CR/LF in the matched value escaped as ModSecurity logs it; Vigil's finding keeps the raw bytes",
	"933120-2":  "log format: 933120 fires, but the test matches the regex capture (session.referer_check=t); Vigil's finding holds the whole value (session.referer_check=true)",
	"980170-1":  "980170 is a reporting rule of phase 5 (logging); Vigil does not run phase 5, its event is the log",
	"980170-2":  "980170 is a reporting rule of phase 5 (logging); Vigil does not run phase 5, its event is the log",
}
