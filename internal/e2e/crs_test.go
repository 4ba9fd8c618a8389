package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/waf/ftw"
)

// The CRS regression suite (the go-ftw YAML files the coraza-coreruleset
// module embeds in tests/) replayed through a running gateway: every stage
// of every test goes out as raw bytes on its own TCP connection, exactly as
// go-ftw would write it, and the test's expectations are judged on what a
// user of Vigil sees: the response, and the rule ids of the WAF findings in
// the request's event (found by its Vigil-Txn header). See
// docs/waf-testing.md.

// crsMinPassRate is the acceptance floor of issue 9.
const crsMinPassRate = 0.98

// crsSuiteSetup is the suite's own setup, as coraza's
// testing/coreruleset runs it: detection only (every phase runs and every
// rule that matches is logged, nothing interrupts), rule 910000 off,
// paranoia 4 and the test-friendly limits. It goes in protect.waf.setup,
// after crs-setup and before the CRS. The second action puts back the CRS
// defaults the suite tests (methods, content types) where Vigil's
// defaults are wider (PUT, PATCH, DELETE and the JSON family are allowed).
const crsSuiteSetup = `SecAction "id:900005,phase:1,nolog,pass,ctl:ruleEngine=DetectionOnly,ctl:ruleRemoveById=910000,setvar:tx.paranoia_level=4,setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535"
SecAction "id:900006,phase:1,nolog,pass,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS',setvar:'tx.allowed_request_content_type=|application/x-www-form-urlencoded| |multipart/form-data| |text/xml| |application/xml| |application/soap+xml| |application/json|'"`

// crsBlockingSetup is the same without detection only, for the tests of
// the blocking evaluation (949110, 959100): their subject is the block,
// which Vigil reports as the decision finding only when the engine does
// interrupt. protect.waf.mode: monitor keeps the request going to the
// upstream. For 959100 (outbound) the inbound threshold is out of reach:
// under detection only the request phases never stop a transaction, and
// with the engine on a request that scores would stop it before the
// response phases the test is about.
const crsBlockingSetup = `SecAction "id:900005,phase:1,nolog,pass,ctl:ruleRemoveById=910000,setvar:tx.paranoia_level=4,setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535"
SecAction "id:900006,phase:1,nolog,pass,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS',setvar:'tx.allowed_request_content_type=|application/x-www-form-urlencoded| |multipart/form-data| |text/xml| |application/xml| |application/soap+xml| |application/json|'"`

func crsConfig(upstream, setup, mode string, inbound int) string {
	return fmt.Sprintf(`mode: enforce
listen:
  http: 127.0.0.1:0
  limits: {read_header_timeout: 5s, read_timeout: 5s, body_timeout: 20s}
admin: 127.0.0.1:0
data_dir: {{DIR}}/data
discovery: {enabled: false}
routes:
  - {name: crs, match: {host: "*", path_prefix: /}, upstream: %s}
events: {file: {{DIR}}/events.jsonl, flush_interval: 20ms}
protect:
  waf:
    enabled: true
    mode: %s
    paranoia_level: 4
    inbound_anomaly_threshold: %d
    response_body: true
    setup: |
%s
`, upstream, mode, inbound, indent(setup, "      "))
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pre)
}

// crsResult is one stage's exchange.
type crsResult struct {
	status int
	body   string
	txn    string
	err    error
}

// crsSend writes one stage's bytes on a fresh connection and reads the
// response (go-ftw closes after each stage too).
func crsSend(addr string, in *ftw.Input) crsResult {
	raw, err := in.Request()
	if err != nil {
		return crsResult{err: err}
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return crsResult{err: err}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(120 * time.Second))
	if _, err := c.Write(raw); err != nil {
		return crsResult{err: err}
	}
	// Tell ReadResponse the method: a HEAD answer has no body.
	method := strings.TrimSpace(in.Method)
	if in.IsRaw() {
		method, _, _ = strings.Cut(string(raw), " ")
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return crsResult{err: err}
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil && len(b) == 0 {
		return crsResult{status: resp.StatusCode, txn: resp.Header.Get("Vigil-Txn"), err: err}
	}
	return crsResult{status: resp.StatusCode, body: string(b), txn: resp.Header.Get("Vigil-Txn")}
}

// crsLog is what the suite's log assertions are judged on: the rule ids of
// the WAF findings of one event, and a log line per finding in
// ModSecurity's shape ([id "..."] [msg "..."] [data "... found within
// VAR"]) for match_regex.
type crsLog struct {
	ids  map[int]bool
	text string
}

var crsMoreRE = regexp.MustCompile(`\d{3,}`)

func crsLogOf(ev *event.Event) crsLog {
	l := crsLog{ids: map[int]bool{}}
	if ev == nil {
		return l
	}
	var b strings.Builder
	for _, f := range ev.Findings {
		if f.Layer != "waf" {
			continue
		}
		if f.Kind == "waf_more" {
			// "12 more rules matched: 942100, 942190, ..."
			_, list, _ := strings.Cut(f.Message, ":")
			for _, s := range crsMoreRE.FindAllString(list, -1) {
				id, _ := strconv.Atoi(s)
				l.ids[id] = true
				fmt.Fprintf(&b, "[id %q]\n", s)
			}
			continue
		}
		if id, err := strconv.Atoi(f.RuleID); err == nil {
			l.ids[id] = true
		}
		fmt.Fprintf(&b, "[id %q] [msg %q] [data \"Matched Data: %s found within %s: %s\"] [severity %q] [action %q]\n",
			f.RuleID, f.Message, f.Data, f.Variable, f.Data, f.Severity, f.Action)
	}
	l.text = b.String()
	return l
}

func (l crsLog) sorted() []int {
	got := make([]int, 0, len(l.ids))
	for id := range l.ids {
		got = append(got, id)
	}
	sort.Ints(got)
	return got
}

// crsJudge applies a stage's expectations; "" is a pass, else why not.
func crsJudge(out *ftw.Output, r crsResult, l crsLog) string {
	if out.ExpectError {
		if r.err == nil {
			return fmt.Sprintf("expected an error, got status %d", r.status)
		}
	} else if r.err != nil {
		return "exchange failed: " + r.err.Error()
	}
	if len(out.Status) > 0 && !slices.Contains(out.Status, r.status) {
		return fmt.Sprintf("status %d, want %v (logged %v, body %.80q)", r.status, out.Status, l.sorted(), r.body)
	}
	if out.ResponseContains != "" && !regexp.MustCompile(out.ResponseContains).MatchString(r.body) {
		return fmt.Sprintf("response does not match %q", out.ResponseContains)
	}
	var missing, unwanted []string
	for _, id := range out.ExpectIDs {
		if !l.ids[id] {
			missing = append(missing, strconv.Itoa(id))
		}
	}
	for _, id := range out.NoExpectIDs {
		if l.ids[id] {
			unwanted = append(unwanted, strconv.Itoa(id))
		}
	}
	if len(missing) > 0 || len(unwanted) > 0 {
		got := l.sorted()
		msg := ""
		if len(missing) > 0 {
			msg = "missing " + strings.Join(missing, ",")
		}
		if len(unwanted) > 0 {
			msg = strings.TrimSpace(msg + " unwanted " + strings.Join(unwanted, ","))
		}
		return fmt.Sprintf("%s (status %d, logged %v, body %.80q)", msg, r.status, got, r.body)
	}
	for _, re := range []string{out.MatchRegex, out.LogContains} {
		if re != "" && !regexp.MustCompile(re).MatchString(l.text) {
			return fmt.Sprintf("log does not match %q (log %.600q)", re, l.text)
		}
	}
	for _, re := range []string{out.NoMatchRegex, out.NoLogContains} {
		if re != "" && regexp.MustCompile(re).MatchString(l.text) {
			return fmt.Sprintf("log matches %q", re)
		}
	}
	return ""
}

// crsRefusedByGateway: every stage got an answer of the gateway's own
// refusing the request (not one from the upstream).
func crsRefusedByGateway(rs []crsResult) bool {
	for _, r := range rs {
		if r.err != nil || r.status < 400 || strings.HasPrefix(r.body, albedoOK) {
			return false
		}
	}
	return true
}

// crsEvents indexes a gateway's events by transaction, waiting until all
// of want are written.
func crsEvents(t *testing.T, h *gw, want map[string]bool) map[string]*event.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs := readEventFile(t, h.events)
		idx := make(map[string]*event.Event, len(evs))
		for i := range evs {
			idx[evs[i].TxnID] = &evs[i]
		}
		missing := 0
		for id := range want {
			if idx[id] == nil {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			if missing > 0 {
				t.Logf("%d transactions have no event", missing)
			}
			return idx
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCRSRegressionSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("the CRS regression suite takes a while; not with -short")
	}
	files, err := ftw.Load(crstests.FS)
	if err != nil {
		t.Fatal(err)
	}
	var tests []ftw.Test
	total := 0
	for _, f := range files {
		for _, tc := range f.Tests {
			total++
			_, known := crsKnownFailures[tc.Name()]
			_, early := crsRefusedEarly[tc.Name()]
			if total%crsStride == 0 || known || early {
				tests = append(tests, tc)
			}
		}
	}
	if total < 4000 {
		t.Fatalf("only %d tests loaded from %d files", total, len(files))
	}
	up := newAlbedo(t)
	detect := startGateway(t, crsConfig(up.URL, crsSuiteSetup, "enforce", 5), server.Options{})
	inbound := startGateway(t, crsConfig(up.URL, crsBlockingSetup, "monitor", 5), server.Options{})
	outbound := startGateway(t, crsConfig(up.URL, crsBlockingSetup, "monitor", 100000), server.Options{})
	gws := []*gw{detect, inbound, outbound}
	gwOf := func(tc *ftw.Test) *gw {
		switch tc.RuleID {
		case 949110:
			return inbound
		case 959100:
			return outbound
		}
		return detect
	}

	// Send every stage, several connections at a time. Stages of one
	// test go in order.
	results := make([][]crsResult, len(tests))
	took := make([]time.Duration, len(tests))
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 * runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				h := gwOf(&tests[i])
				addr := strings.TrimPrefix(h.URL, "http://")
				rs := make([]crsResult, len(tests[i].Stages))
				t0 := time.Now()
				for j := range tests[i].Stages {
					rs[j] = crsSend(addr, &tests[i].Stages[j].Input)
				}
				results[i] = rs
				took[i] = time.Since(t0)
			}
		}()
	}
	for i := range tests {
		work <- i
	}
	close(work)
	wg.Wait()
	sent := time.Since(start)

	want := map[*gw]map[string]bool{}
	for _, h := range gws {
		want[h] = map[string]bool{}
	}
	for i := range tests {
		for _, r := range results[i] {
			if r.txn != "" {
				want[gwOf(&tests[i])][r.txn] = true
			}
		}
	}
	events := map[*gw]map[string]*event.Event{}
	for _, h := range gws {
		events[h] = crsEvents(t, h, want[h])
	}

	passed, refused := 0, 0
	var unexpected, stale []string
	failures := map[string]string{}
	for i := range tests {
		tc := &tests[i]
		why := ""
		for j := range tc.Stages {
			r := results[i][j]
			var ev *event.Event
			if r.txn != "" {
				ev = events[gwOf(tc)][r.txn]
			}
			if why = crsJudge(&tc.Stages[j].Output, r, crsLogOf(ev)); why != "" {
				if len(tc.Stages) > 1 {
					why = fmt.Sprintf("stage %d: %s", j+1, why)
				}
				break
			}
		}
		name := tc.Name()
		_, known := crsKnownFailures[name]
		_, early := crsRefusedEarly[name]
		switch {
		case why == "":
			passed++
			if known || early {
				stale = append(stale, name)
			}
		case early && crsRefusedByGateway(results[i]):
			passed++
			refused++
		default:
			failures[name] = why
			if !known {
				unexpected = append(unexpected, name+": "+why)
			}
		}
	}
	rate := float64(passed) / float64(len(tests))
	scope := fmt.Sprintf("%d files", len(files))
	if crsStride > 1 {
		scope = fmt.Sprintf("race build: every %dth of %d tests and every listed case", crsStride, total)
	}
	msg := fmt.Sprintf("CRS regression suite through the gateway: %d of %d tests passed (%.2f%%; %d of them refused by the gateway before the WAF), %d failed; %s; stages sent in %s",
		passed, len(tests), 100*rate, refused, len(tests)-passed, scope, sent.Round(time.Millisecond))
	t.Log(msg)
	fmt.Fprintln(os.Stderr, msg)
	if testing.Verbose() {
		slow := make([]int, len(tests))
		for i := range slow {
			slow[i] = i
		}
		sort.Slice(slow, func(a, b int) bool { return took[slow[a]] > took[slow[b]] })
		for _, i := range slow[:min(5, len(slow))] {
			t.Logf("  slowest: %s %s", tests[i].Name(), took[i].Round(time.Millisecond))
		}
		names := make([]string, 0, len(failures))
		for n := range failures {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			t.Logf("  %s: %s", n, failures[n])
		}
	}
	sort.Strings(unexpected)
	for _, u := range unexpected {
		t.Errorf("failed and not in crsKnownFailures: %s", u)
	}
	sort.Strings(stale)
	for _, s := range stale {
		t.Errorf("%s passes on the suite's own terms now: remove it from crs_known_test.go and docs/waf-testing.md", s)
	}
	if rate < crsMinPassRate {
		t.Errorf("pass rate %.2f%% is under %.0f%%", 100*rate, 100*crsMinPassRate)
	}
}
