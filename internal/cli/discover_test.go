package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
)

// apacheLog is the real Apache combined log shared with the project,
// relative to this package's directory.
const apacheLog = "../../../shared/data/apache_logs"

func needApacheLog(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(apacheLog); err != nil {
		t.Skipf("real log not available (%v): run from the repo with shared/ beside it", err)
	}
	return apacheLog
}

// jsonRow is one row of discover --format json (SPEC shape).
type jsonRow struct {
	Host      string    `json:"host"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Hits      int64     `json:"hits"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Status    string    `json:"status"`
	Sensitive []string  `json:"sensitive"`
	Kind      string    `json:"kind"`
	Params    []struct {
		Position int      `json:"position"`
		Kind     string   `json:"kind"`
		Examples []string `json:"examples"`
	} `json:"path_params"`
}

type jsonOut struct {
	Endpoints  []jsonRow `json:"endpoints"`
	Preflights int64     `json:"preflights"`
	Unused     []struct {
		Method      string `json:"method"`
		Path        string `json:"path"`
		OperationID string `json:"operation_id"`
	} `json:"unused"`
}

// specKeys are the SPEC's fields of an endpoint row; extraKeys the ones
// Vigil adds (the SPEC lets fields be added, never renamed or dropped).
var (
	specKeys  = []string{"first_seen", "hits", "host", "last_seen", "method", "path", "sensitive", "status"}
	extraKeys = []string{"kind", "path_params"}
)

// decodeJSON checks that out has the SPEC shape and decodes it.
func decodeJSON(t testing.TB, out string) jsonOut {
	t.Helper()
	var raw struct {
		Endpoints []map[string]json.RawMessage `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("discover --format json is not JSON: %v\n%s", err, clip(out))
	}
	if raw.Endpoints == nil {
		t.Fatalf(`discover --format json has no "endpoints" array:\n%s`, clip(out))
	}
	for i, row := range raw.Endpoints {
		var keys []string
		for k := range row {
			keys = append(keys, k)
		}
		for _, k := range specKeys {
			if _, ok := row[k]; !ok {
				t.Fatalf("endpoint %d has keys %v, lacks the SPEC's %q", i, keys, k)
			}
		}
		for _, k := range keys {
			if !slices.Contains(specKeys, k) && !slices.Contains(extraKeys, k) {
				t.Fatalf("endpoint %d has an unknown key %q", i, k)
			}
		}
		if s := string(row["sensitive"]); s == "null" {
			t.Fatalf("endpoint %d: sensitive is null, want an array", i)
		}
	}
	var o jsonOut
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return o
}

func (o jsonOut) find(method, path string) *jsonRow {
	for i := range o.Endpoints {
		if o.Endpoints[i].Method == method && o.Endpoints[i].Path == path {
			return &o.Endpoints[i]
		}
	}
	return nil
}

func (o jsonOut) totalHits() (n int64) {
	for _, e := range o.Endpoints {
		n += e.Hits
	}
	return n
}

var (
	requestRE = regexp.MustCompile(`"([A-Z]+) (\S+) HTTP/[0-9.]+"`)
	brokenRE  = regexp.MustCompile(`(\d+) broken`)
)

// apacheTruth counts what a reader of the log sees: requests per method,
// and GETs of the site root (any query string).
func apacheTruth(t testing.TB, path string) (lines int64, perMethod map[string]int64, rootGets int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	perMethod = map[string]int64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines++
		m := requestRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		perMethod[m[1]]++
		if m[1] == "GET" && (m[2] == "/" || strings.HasPrefix(m[2], "/?")) {
			rootGets++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines, perMethod, rootGets
}

func TestDiscoverApacheJSON(t *testing.T) {
	log := needApacheLog(t)
	lines, perMethod, rootGets := apacheTruth(t, log)
	r := run(t, nil, "discover", "--format", "json", log)
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	o := decodeJSON(t, r.stdout)
	m := brokenRE.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("stderr does not report the broken lines count:\n%s", r.stderr)
	}
	var broken int64
	fmt.Sscan(m[1], &broken)
	if !strings.Contains(r.stderr, fmt.Sprintf("%d lines (combined)", lines)) {
		t.Errorf("stderr does not report %d lines of combined format:\n%s", lines, r.stderr)
	}
	// CORS pre-flights (OPTIONS) are counted apart, not as endpoints.
	if got := o.totalHits() + o.Preflights; got != lines-broken {
		t.Errorf("hits sum to %d (with %d pre-flights), want %d lines - %d broken", got, o.Preflights, lines, broken)
	}
	// The log's one OPTIONS (answered 200) is no pre-flight.
	if o.Preflights != 0 {
		t.Errorf("pre-flights: %d, want 0", o.Preflights)
	}
	gotMethod := map[string]int64{}
	for _, e := range o.Endpoints {
		gotMethod[e.Method] += e.Hits
		if e.Status != "observed" {
			t.Errorf("%s %s: status %q without --spec, want observed", e.Method, e.Path, e.Status)
		}
		if e.FirstSeen.IsZero() || e.LastSeen.Before(e.FirstSeen) {
			t.Errorf("%s %s: first_seen %v, last_seen %v", e.Method, e.Path, e.FirstSeen, e.LastSeen)
		}
		if !strings.HasPrefix(e.Path, "/") || strings.Contains(e.Path, "?") {
			t.Errorf("endpoint path %q is not a path without query", e.Path)
		}
	}
	for meth, n := range perMethod {
		if gotMethod[meth] != n {
			t.Errorf("%s: %d hits, the log has %d %s requests", meth, gotMethod[meth], n, meth)
		}
	}
	root := o.find("GET", "/")
	if root == nil || root.Hits != rootGets {
		t.Errorf("GET /: got %+v, want %d hits (query strings are not endpoints)", root, rootGets)
	}
	first, _ := time.Parse(time.RFC3339, "2015-05-17T10:05:00Z")
	if root != nil && (root.FirstSeen.Before(first) || root.LastSeen.After(first.Add(5*24*time.Hour))) {
		t.Errorf("GET / seen %v..%v, outside the log's days", root.FirstSeen, root.LastSeen)
	}
}

// nthIndex is the index of the n-th c in b, or -1.
func nthIndex(b []byte, c byte, n int) int {
	for i, x := range b {
		if x == c {
			n--
			if n == 0 {
				return i
			}
		}
	}
	return -1
}

// withBroken returns data with broken lines injected: at the very start, in
// the middle and at the end. It returns how many.
func withBroken(data []byte) ([]byte, int) {
	bad := []string{
		"this is not a log line",
		`10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET /truncated`,
		`{"half": "a json object`,
		"\x00\x01\x02\xff\xfe",
		`83.149.9.216 - - [not a date] "GET / HTTP/1.1" 200 1 "-" "-"`,
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	var b bytes.Buffer
	b.WriteString(bad[0] + "\n")
	for i, l := range lines {
		b.Write(l)
		if i == len(lines)/2 {
			b.WriteString(bad[1] + "\n" + bad[2] + "\n" + bad[3] + "\n")
		}
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteByte('\n')
	}
	b.WriteString(bad[4]) // last line, no newline
	return b.Bytes(), len(bad)
}

func TestDiscoverInputs(t *testing.T) {
	full, err := os.ReadFile(needApacheLog(t))
	if err != nil {
		t.Fatal(err)
	}
	// The first 2,000 lines of the real log are enough to compare inputs
	// (TestDiscoverApacheJSON reads it all); it keeps the test fast.
	data := full
	if i := nthIndex(full, '\n', 2000); i > 0 {
		data = full[:i+1]
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	if err := os.WriteFile(log, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var gzBytes bytes.Buffer
	zw := gzip.NewWriter(&gzBytes)
	zw.Write(data)
	zw.Close()
	gz := filepath.Join(dir, "access.log.gz")
	gzNoSuffix := filepath.Join(dir, "access.log.1")
	for _, name := range []string{gz, gzNoSuffix} {
		if err := os.WriteFile(name, gzBytes.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	brokenData, nBroken := withBroken(data)
	broken := filepath.Join(dir, "broken.log")
	if err := os.WriteFile(broken, brokenData, 0o600); err != nil {
		t.Fatal(err)
	}

	// The reference: the plain file.
	ref := run(t, nil, "discover", "-f", "json", log)
	if ref.code != ExitOK {
		t.Fatalf("plain: %v", ref)
	}
	want := decodeJSON(t, ref.stdout)
	// Two files are read as their concatenation. (The inventory of the
	// same traffic twice is not that of it once: repetition is evidence.)
	double := filepath.Join(dir, "double.log")
	if err := os.WriteFile(double, append(slices.Clone(data), data...), 0o600); err != nil {
		t.Fatal(err)
	}
	ref2 := run(t, nil, "discover", "-f", "json", double)
	if ref2.code != ExitOK {
		t.Fatalf("doubled: %v", ref2)
	}
	want2 := decodeJSON(t, ref2.stdout)

	tests := []struct {
		name       string
		stdin      []byte
		args       []string
		wantBroken int
		wantTimes  int64 // hits, as a multiple of the plain file's
	}{
		{name: "gzip file", args: []string{gz}, wantTimes: 1},
		{name: "gzip without .gz suffix", args: []string{gzNoSuffix}, wantTimes: 1},
		{name: "stdin", stdin: data, args: []string{"-"}, wantTimes: 1},
		{name: "gzip on stdin", stdin: gzBytes.Bytes(), args: []string{"-"}, wantTimes: 1},
		{name: "broken lines", args: []string{broken}, wantBroken: nBroken, wantTimes: 1},
		{name: "two files", args: []string{log, gz}, wantTimes: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdin *bytes.Reader
			if tt.stdin != nil {
				stdin = bytes.NewReader(tt.stdin)
			} else {
				stdin = bytes.NewReader(nil)
			}
			r := run(t, stdin, append([]string{"discover", "--format", "json"}, tt.args...)...)
			if r.code != ExitOK {
				t.Fatalf("%v", r)
			}
			got := decodeJSON(t, r.stdout)
			want, times := want, tt.wantTimes
			if times == 2 {
				want, times = want2, 1
			}
			if len(got.Endpoints) != len(want.Endpoints) {
				t.Fatalf("%d endpoints, the reference gives %d", len(got.Endpoints), len(want.Endpoints))
			}
			for i, e := range got.Endpoints {
				w := want.Endpoints[i]
				if e.Method != w.Method || e.Path != w.Path || e.Hits != times*w.Hits ||
					!e.FirstSeen.Equal(w.FirstSeen) || !e.LastSeen.Equal(w.LastSeen) {
					t.Fatalf("endpoint %d: got %+v, want %+v (hits x%d)", i, e, w, tt.wantTimes)
				}
			}
			for _, name := range tt.args {
				if !strings.Contains(r.stderr, name+": ") {
					t.Errorf("stderr has no summary for %s:\n%s", name, r.stderr)
				}
			}
			if !strings.Contains(r.stderr, fmt.Sprintf(", %d broken,", tt.wantBroken)) {
				t.Errorf("stderr does not report %d broken lines:\n%s", tt.wantBroken, r.stderr)
			}
			if len(tt.args) > 1 && !strings.Contains(r.stderr, "total: ") {
				t.Errorf("stderr has no total for several files:\n%s", r.stderr)
			}
		})
	}
}

func TestDiscoverApacheOpenAPI(t *testing.T) {
	log := needApacheLog(t)
	r := run(t, nil, "discover", "--format", "openapi", "-q", log)
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	if r.stderr != "" {
		t.Errorf("-q still wrote to stderr: %q", r.stderr)
	}
	paths := checkOpenAPI(t, []byte(r.stdout))
	if !slices.Contains(paths, "/") {
		t.Errorf("the document has no path /")
	}
	if len(paths) < 2 {
		t.Errorf("the document has only %d paths for a whole site's traffic", len(paths))
	}
}

// checkOpenAPI builds the document with libopenapi and returns its paths.
func checkOpenAPI(t testing.TB, doc []byte) []string {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatalf("libopenapi: %v\n%s", err, clip(string(doc)))
	}
	if v := d.GetVersion(); !strings.HasPrefix(v, "3.1") {
		t.Errorf("OpenAPI version %q, want 3.1.x", v)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		t.Fatalf("libopenapi BuildV3Model: %v", err)
	}
	if m.Model.Paths == nil || m.Model.Paths.PathItems == nil {
		t.Fatalf("the document has no paths")
	}
	var paths []string
	for p := m.Model.Paths.PathItems.First(); p != nil; p = p.Next() {
		paths = append(paths, p.Key())
	}
	return paths
}

// The synthetic API: a small service with ids in its paths.
var apiEndpoints = []struct {
	method, path string // path with %d for an id, if any
	hits         int
}{
	{"GET", "/users/%d", 40},
	{"GET", "/orders/%d", 30},
	{"POST", "/login", 20},
	{"GET", "/admin/export", 10},
}

var apiStart = time.Date(2026, 1, 17, 12, 0, 0, 0, time.UTC)

// writeAPILog writes the synthetic traffic in a log format and returns the
// file name. Requests are interleaved, one per second from apiStart.
func writeAPILog(t testing.TB, dir, format string) string {
	t.Helper()
	var b strings.Builder
	left := make([]int, len(apiEndpoints))
	for i, e := range apiEndpoints {
		left[i] = e.hits
	}
	sec := 0
	for n := 0; ; n++ {
		i := n % len(apiEndpoints)
		if slices.Max(left) == 0 {
			break
		}
		if left[i] == 0 {
			continue
		}
		left[i]--
		e := apiEndpoints[i]
		p := e.path
		if strings.Contains(p, "%d") {
			p = fmt.Sprintf(p, 1000+left[i]*37)
		}
		ts := apiStart.Add(time.Duration(sec) * time.Second)
		sec++
		switch format {
		case "combined":
			fmt.Fprintf(&b, "10.1.2.%d - - [%s] \"%s %s HTTP/1.1\" 200 %d \"-\" \"client/1.0\"\n",
				sec%250, ts.Format("02/Jan/2006:15:04:05 -0700"), e.method, p, 100+sec)
		case "envoy_json":
			fmt.Fprintf(&b, `{"start_time":%q,"method":%q,"path":%q,"protocol":"HTTP/1.1","response_code":200,"bytes_sent":%d,"duration":3,"authority":"api.test","downstream_remote_address":"10.1.2.%d:40000"}`+"\n",
				ts.Format(time.RFC3339Nano), e.method, p, 100+sec, sec%250)
		default:
			t.Fatalf("unknown format %q", format)
		}
	}
	name := filepath.Join(dir, "api-"+format+".log")
	if err := os.WriteFile(name, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestDiscoverTable(t *testing.T) {
	log := writeAPILog(t, t.TempDir(), "combined")
	r := run(t, nil, "discover", log) // table is the default
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	lines := strings.Split(r.stdout, "\n")
	header := strings.Fields(strings.ReplaceAll(strings.ReplaceAll(lines[0], "RESOURCE PATH", "RESOURCE_PATH"), "LAST OBSERVED", "LAST_OBSERVED"))
	if want := []string{"HOST", "RESOURCE_PATH", "METHODS", "HITS", "LAST_OBSERVED", "STATUS", "SENSITIVE", "PARAMETERS"}; !slices.Equal(header, want) {
		t.Fatalf("table header %q, want columns %v", lines[0], want)
	}
	// Each resource path is one row with its hits; ids are templated.
	wantRows := map[string]string{
		"/users/{parameter}":  "GET 40",
		"/orders/{parameter}": "GET 30",
		"/login":              "POST 20",
		"/admin/export":       "GET 10",
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 7 {
			continue
		}
		if w, ok := wantRows[f[1]]; ok {
			if got := f[2] + " " + f[3]; got != w {
				t.Errorf("row %q: methods and hits %q, want %q", l, got, w)
			}
			if f[6] != "observed" {
				t.Errorf("row %q: status %q, want observed", l, f[6])
			}
			// The parameter's kind and examples are shown to judge a merge.
			if strings.Contains(f[1], "{") && !strings.Contains(l, "{parameter}: integer (") {
				t.Errorf("row %q: no parameter kind and examples", l)
			}
			delete(wantRows, f[1])
		}
	}
	if len(wantRows) > 0 {
		t.Errorf("rows missing from the table: %v\n%s", wantRows, r.stdout)
	}
	if !strings.Contains(r.stdout, "4 endpoints, 4 resource paths") {
		t.Errorf("table has no summary line:\n%s", r.stdout)
	}
}

func TestDiscoverOpenAPISynthetic(t *testing.T) {
	log := writeAPILog(t, t.TempDir(), "envoy_json")
	r := run(t, nil, "discover", "--format", "openapi", "-q", log)
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	paths := checkOpenAPI(t, []byte(r.stdout))
	slices.Sort(paths)
	want := []string{"/admin/export", "/login", "/orders/{parameter}", "/users/{parameter}"}
	if !slices.Equal(paths, want) {
		t.Errorf("paths %v, want %v", paths, want)
	}
	// --host picks one host's document; a host without traffic is a
	// problem the user is told about, not an empty document.
	r = run(t, nil, "discover", "--format", "openapi", "-q", "--host", "api.test", log)
	if r.code != ExitOK {
		t.Fatalf("--host api.test: %v", r)
	}
	if got := checkOpenAPI(t, []byte(r.stdout)); len(got) != len(want) {
		t.Errorf("--host api.test: paths %v, want %v", got, want)
	}
	r = run(t, nil, "discover", "--format", "openapi", "-q", "--host", "other.test", log)
	if r.code != ExitProblem || !strings.Contains(r.stderr, "other.test") {
		t.Errorf("--host other.test: want exit %d naming the host, got %v", ExitProblem, r)
	}
}

func TestDiscoverSpec(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"combined", "envoy_json"} {
		log := writeAPILog(t, dir, format)
		host := ""
		if format == "envoy_json" {
			host = "api.test"
		}
		t.Run(format+"/json", func(t *testing.T) {
			r := run(t, nil, "discover", "-f", "json", "--spec", "testdata/api-spec.yaml", log)
			if r.code != ExitOK {
				t.Fatalf("without --fail-on findings are not a failure: %v", r)
			}
			o := decodeJSON(t, r.stdout)
			want := []struct {
				method, path, status string
				hits                 int64
			}{
				{"GET", "/users/{id}", "documented", 40},
				{"GET", "/orders/{id}", "zombie", 30},
				{"POST", "/login", "documented", 20},
				{"GET", "/admin/export", "shadow", 10},
			}
			if len(o.Endpoints) != len(want) {
				t.Errorf("%d endpoints, want %d: %+v", len(o.Endpoints), len(want), o.Endpoints)
			}
			for _, w := range want {
				e := o.find(w.method, w.path)
				if e == nil {
					t.Errorf("%s %s not found in %+v", w.method, w.path, o.Endpoints)
					continue
				}
				if e.Status != w.status || e.Hits != w.hits || e.Host != host {
					t.Errorf("%s %s: status %q, %d hits, host %q; want %q, %d, %q", w.method, w.path, e.Status, e.Hits, e.Host, w.status, w.hits, host)
				}
			}
			var unused []string
			for _, u := range o.Unused {
				unused = append(unused, u.Method+" "+u.Path+" "+u.OperationID)
			}
			slices.Sort(unused)
			if w := []string{"DELETE /users/{id} deleteUser", "GET /health health"}; !slices.Equal(unused, w) {
				t.Errorf("unused %v, want %v", unused, w)
			}
		})
		t.Run(format+"/table", func(t *testing.T) {
			r := run(t, nil, "discover", "--spec", "testdata/api-spec.yaml", log)
			if r.code != ExitOK {
				t.Fatalf("%v", r)
			}
			for _, w := range []string{"/admin/export", "shadow", "zombie", "documented", "Documented but never called (2)", "DELETE /users/{id}", "GET /health"} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("table does not show %q:\n%s", w, r.stdout)
				}
			}
		})
		failOn := []struct {
			name    string
			args    []string
			code    int
			names   []string // what the failure message must name
			notName []string
		}{
			{"shadow and zombie", []string{"--fail-on", "shadow,zombie"}, ExitProblem,
				[]string{"2 endpoint(s)", "shadow GET " + host + "/admin/export", "zombie GET " + host + "/orders/{id}"}, nil},
			{"repeated flag", []string{"--fail-on", "shadow", "--fail-on", "zombie"}, ExitProblem,
				[]string{"shadow GET " + host + "/admin/export", "zombie GET " + host + "/orders/{id}"}, nil},
			{"shadow only", []string{"--fail-on", "shadow"}, ExitProblem,
				[]string{"1 endpoint(s)", "shadow GET " + host + "/admin/export"}, []string{"/orders/"}},
			{"zombie only", []string{"--fail-on", "zombie"}, ExitProblem,
				[]string{"1 endpoint(s)", "zombie GET " + host + "/orders/{id}"}, []string{"/admin/export"}},
			{"complete spec", []string{"--fail-on", "shadow,zombie", "--spec", "testdata/complete-spec.yaml"}, ExitOK, nil, nil},
		}
		for _, tt := range failOn {
			t.Run(format+"/fail-on "+tt.name, func(t *testing.T) {
				args := []string{"discover", "-f", "json", "-q"}
				if !slices.Contains(tt.args, "--spec") {
					args = append(args, "--spec", "testdata/api-spec.yaml")
				}
				args = append(append(args, tt.args...), log)
				r := run(t, nil, args...)
				if r.code != tt.code {
					t.Fatalf("want exit %d, got %v", tt.code, r)
				}
				decodeJSON(t, r.stdout) // the report is still written
				for _, w := range tt.names {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("stderr does not name %q:\n%s", w, r.stderr)
					}
				}
				for _, w := range tt.notName {
					if strings.Contains(r.stderr, w) {
						t.Errorf("stderr names %q, which --fail-on did not ask for:\n%s", w, r.stderr)
					}
				}
			})
		}
	}
}

func TestDiscoverErrors(t *testing.T) {
	dir := t.TempDir()
	log := writeAPILog(t, dir, "combined")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad format", []string{"--format", "yaml", log}, ExitUsage, `--format "yaml"`},
		{"fail-on without spec", []string{"--fail-on", "shadow", log}, ExitUsage, "--fail-on needs at least one --spec"},
		{"fail-on unknown status", []string{"--fail-on", "documented", "--spec", "testdata/api-spec.yaml", log}, ExitUsage, `--fail-on "documented"`},
		{"missing log", []string{filepath.Join(dir, "nope.log")}, ExitProblem, "nope.log"},
		{"missing spec", []string{"--spec", filepath.Join(dir, "nope.yaml"), log}, ExitProblem, "nope.yaml"},
		{"broken spec", []string{"--spec", "testdata/broken-spec.yaml", log}, ExitProblem, "broken-spec.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, append([]string{"discover"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("want exit %d, got %v", tt.code, r)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, r.stderr)
			}
			if tt.code == ExitUsage && r.stdout != "" {
				t.Errorf("a usage error still printed a report:\n%s", r.stdout)
			}
		})
	}
}

// FuzzDiscoverStdin feeds arbitrary bytes to `vigil discover -` in every
// output format: never a panic, never a usage error, and the JSON output
// is always the SPEC shape with hits that add up to at most the lines read.
func FuzzDiscoverStdin(f *testing.F) {
	f.Add([]byte(`127.0.0.1 - - [17/Jan/2026:12:00:00 +0000] "GET /users/1 HTTP/1.1" 200 5 "-" "x"`+"\n"), "json")
	f.Add([]byte(`{"start_time":"2026-01-17T12:00:00Z","method":"GET","path":"/a/1?x=1","response_code":200,"authority":"h"}`+"\n"), "openapi")
	f.Add([]byte(`{"log":{"version":"1.2","entries":[{"request":{"method":"GET","url":"http://h/x"},"response":{"status":200}}]}}`), "table")
	f.Add([]byte("\x1f\x8b\x08\x00garbage"), "json")
	f.Add([]byte("not a log\n\n\x00\xff\n"), "table")
	f.Add([]byte(""), "json")
	f.Fuzz(func(t *testing.T, data []byte, format string) {
		switch format {
		case "json", "table", "openapi":
		default:
			format = "json"
		}
		r := run(t, bytes.NewReader(data), "discover", "-q", "-f", format, "-")
		if r.code == ExitUsage {
			t.Fatalf("input data made a usage error: %v", r)
		}
		if r.code != ExitOK {
			return // an unreadable input is a reported problem
		}
		switch format {
		case "json":
			o := decodeJSON(t, r.stdout)
			if n := int64(bytes.Count(data, []byte("\n")) + 1); o.totalHits() > n && !bytes.HasPrefix(data, []byte("\x1f\x8b")) && !bytes.Contains(data, []byte(`"entries"`)) {
				t.Fatalf("%d hits from %d lines", o.totalHits(), n)
			}
		case "openapi":
			if !json.Valid([]byte(r.stdout)) {
				t.Fatalf("openapi output is not JSON:\n%s", clip(r.stdout))
			}
		}
	})
}

// BenchmarkDiscoverApacheLog runs `vigil discover --format json` on the
// real 10,000-line log, end to end (read, parse, template, print).
func BenchmarkDiscoverApacheLog(b *testing.B) {
	log := needApacheLog(b)
	lines, _, _ := apacheTruth(b, log)
	b.ReportAllocs()
	for b.Loop() {
		r := run(b, nil, "discover", "-q", "-f", "json", log)
		if r.code != ExitOK {
			b.Fatalf("%v", r)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
