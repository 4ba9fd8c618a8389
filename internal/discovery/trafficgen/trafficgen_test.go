package trafficgen

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-sec/vigil/internal/discovery/logs"
)

// specDir holds the real specs, relative to this package's directory.
const specDir = "../../../../shared/data/openapi"

// realSpecs: file, name, operations (as the directory's README counts
// them), and the base path every template starts with.
var realSpecs = []struct {
	file, name string
	ops        int
	base       string
}{
	{"box.json", "box", 296, "/"},
	{"digitalocean.yaml", "digitalocean", 659, "/v2/"},
	{"discord.json", "discord", 242, "/api/v10/"},
	{"netlify.yaml", "netlify", 174, "/api/v1/"},
	{"openai.yaml", "openai", 288, "/v1/"},
	{"petstore.yaml", "petstore", 19, "/api/v3/"},
	{"sentry.json", "sentry", 223, "/api/0/"},
	{"spotify.yaml", "spotify", 97, "/v1/"},
	{"twilio-api-v2010.json", "twilio", 197, "/2010-04-01/"},
}

func needSpecs(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(specDir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real OpenAPI specs missing (%v)", err)
		}
		t.Skipf("real OpenAPI specs not available (%v): run from the repo with shared/ beside it", err)
	}
}

// loaded: the real specs, loaded once for all tests (New does not modify
// them).
var loaded = sync.OnceValues(func() ([]*Spec, error) {
	var out []*Spec
	for _, rs := range realSpecs {
		s, err := LoadSpec(filepath.Join(specDir, rs.file))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
})

func loadAll(t *testing.T) []*Spec {
	t.Helper()
	needSpecs(t)
	specs, err := loaded()
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]*Spec(nil), specs...), ShopSpec(), numericSpec())
}

// numericSpec is a small API whose ids are all numbers.
func numericSpec() *Spec {
	id := func(names ...string) []Param {
		var out []Param
		for _, n := range names {
			out = append(out, Param{Name: n, Type: "integer"})
		}
		return out
	}
	return &Spec{Name: "numeric", Host: "api.numeric.example", Operations: []Operation{
		{Method: "GET", Path: "/v1/orders"},
		{Method: "POST", Path: "/v1/orders"},
		{Method: "GET", Path: "/v1/orders/{order_id}", PathParams: id("order_id")},
		{Method: "DELETE", Path: "/v1/orders/{order_id}", PathParams: id("order_id")},
		{Method: "GET", Path: "/v1/orders/{order_id}/items/{item_id}", PathParams: id("order_id", "item_id")},
		{Method: "GET", Path: "/v1/orders/{order_id}.json", PathParams: id("order_id")},
		{Method: "GET", Path: "/v1/users/{user_id}/orders/", PathParams: id("user_id")},
		{Method: "GET", Path: "/v1/users/me"},
		{Method: "GET", Path: "/v1/users/{user_id}", PathParams: id("user_id")},
	}}
}

func TestLoadSpecs(t *testing.T) {
	needSpecs(t)
	for _, rs := range realSpecs {
		t.Run(rs.name, func(t *testing.T) {
			s, err := LoadSpec(filepath.Join(specDir, rs.file))
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != rs.name || s.Host != "api."+rs.name+".example" {
				t.Errorf("name %q host %q", s.Name, s.Host)
			}
			if len(s.Operations) != rs.ops {
				t.Errorf("%d operations, want %d", len(s.Operations), rs.ops)
			}
			under := 0
			for _, op := range s.Operations {
				if strings.HasPrefix(op.Path, rs.base) {
					under++
				}
				if strings.ContainsAny(op.Path, "?#") {
					t.Errorf("%s %s: query or fragment left in the path", op.Method, op.Path)
				}
				if n := len(paramNames(op.Path)); n != len(op.PathParams) {
					t.Errorf("%s %s: %d path parameters, template has %d", op.Method, op.Path, len(op.PathParams), n)
				}
			}
			// a few operations have servers of their own
			if under < len(s.Operations)*9/10 {
				t.Errorf("%d of %d operations under the base path %s", under, len(s.Operations), rs.base)
			}
		})
	}
}

// generate runs a generator into memory: the requests and the truth.
func generate(t *testing.T, specs []*Spec, opts Options) ([]Request, *Truth) {
	t.Helper()
	g, err := New(specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []Request
	tr, err := g.Run(func(r *Request) error {
		reqs = append(reqs, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return reqs, tr
}

func write(t *testing.T, reqs []Request, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := NewWriter(&b, format)
	if err != nil {
		t.Fatal(err)
	}
	for i := range reqs {
		if err := w.Write(&reqs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Every generated request reads back, in every format, as what was
// generated: format sniffed right, no broken line, same method, path,
// query, status (and host where the format has one).
func TestEveryLineParses(t *testing.T) {
	specs := loadAll(t)
	want := map[string]string{FormatCombined: logs.FormatCombined, FormatVHost: logs.FormatCombined,
		FormatEnvoy: logs.FormatEnvoyJSON, FormatHAR: logs.FormatHAR}
	for _, s := range specs {
		reqs, _ := generate(t, []*Spec{s}, Options{Requests: 1500, Seed: 3})
		for _, format := range Formats() {
			t.Run(s.Name+"/"+format, func(t *testing.T) {
				data := write(t, reqs, format)
				r, err := logs.NewReader(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				var rec logs.Record
				i := 0
				for {
					err := r.Next(&rec)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if i >= len(reqs) {
						t.Fatalf("more records than the %d requests", len(reqs))
					}
					q := reqs[i]
					if rec.Method != q.Method || rec.Path != q.Path || rec.Query != q.Query || rec.Status != q.Status {
						t.Fatalf("record %d: %s %s ?%s %d, generated %s %s ?%s %d", i, rec.Method, rec.Path, rec.Query, rec.Status,
							q.Method, q.Path, q.Query, q.Status)
					}
					if format != FormatCombined && rec.Host != q.Host {
						t.Fatalf("record %d: host %q, generated %q", i, rec.Host, q.Host)
					}
					if !rec.Time.Equal(q.Time.Truncate(1e9)) && !rec.Time.Equal(q.Time.Truncate(1e6)) {
						t.Fatalf("record %d: time %v, generated %v", i, rec.Time, q.Time)
					}
					i++
				}
				if got := r.Format(); got != want[format] {
					t.Errorf("sniffed as %q, want %q", got, want[format])
				}
				if i != len(reqs) || r.Broken() != 0 {
					t.Errorf("%d records, %d broken; generated %d", i, r.Broken(), len(reqs))
				}
			})
		}
	}
}

// segMatches: does a template segment match a concrete (decoded) one?
func segMatches(tseg, seg string) (literal bool, ok bool) {
	i := strings.IndexByte(tseg, '{')
	if i < 0 {
		return true, tseg == seg
	}
	j := strings.LastIndexByte(tseg, '}')
	pre, suf := tseg[:i], tseg[j+1:]
	return false, len(seg) > len(pre)+len(suf) && strings.HasPrefix(seg, pre) && strings.HasSuffix(seg, suf)
}

// No value equals a literal the spec has beside its parameter: checked
// here without the generator's router, against every other template of
// the spec that the path would also match with a literal where the
// request's template has a parameter.
func TestValuesNeverSiblingLiterals(t *testing.T) {
	specs := loadAll(t)
	specs = append(specs, &Spec{Name: "users", Host: "api.users.example", Operations: []Operation{
		{Method: "GET", Path: "/users/me"},
		{Method: "GET", Path: "/users/new"},
		{Method: "GET", Path: "/users/{id}", PathParams: []Param{{Name: "id", Enum: []string{"me", "new", "alice", "bob"}}}},
		{Method: "GET", Path: "/users/{username}/repos", PathParams: []Param{{Name: "username"}}},
		{Method: "GET", Path: "/users/octocat/repos"},
	}})
	for _, s := range specs {
		t.Run(s.Name, func(t *testing.T) {
			bySize := map[int][][]string{} // templates by segment count
			seen := map[string]bool{}
			for _, op := range s.Operations {
				if k := routeKey(op.Path); !seen[k] {
					seen[k] = true
					segs := splitSegs(op.Path)
					bySize[len(segs)] = append(bySize[len(segs)], segs)
				}
			}
			reqs, tr := generate(t, []*Spec{s}, Options{Requests: 2500, Seed: 5})
			if tr.Rejected > 0 {
				t.Errorf("%d requests rejected", tr.Rejected)
			}
			for _, q := range reqs {
				if q.Class != ClassAPI && q.Class != ClassPreflight {
					continue
				}
				segs := splitSegs(q.Path)
				for i := range segs {
					segs[i], _ = url.PathUnescape(segs[i])
				}
				own := splitSegs(q.Template)
				for _, u := range bySize[len(segs)] {
					if routeKey(strings.Join(u, "/")) == routeKey(strings.Join(own, "/")) {
						continue
					}
					match, moreSpecific := true, false
					decided := false
					for i := range u {
						lit, ok := segMatches(u[i], segs[i])
						if !ok {
							match = false
							break
						}
						if !decided && u[i] != own[i] {
							decided = true
							ownLit, _ := segMatches(own[i], segs[i])
							moreSpecific = lit && !ownLit
						}
					}
					if match && moreSpecific {
						t.Fatalf("%s %s (%s) takes a literal of /%s", q.Method, q.Path, q.Template, strings.Join(u, "/"))
					}
				}
			}
		})
	}
}

// The truth adds up: hits per operation are the requests generated for
// it, API requests plus noise are all requests; a long tail of
// operations gets 1 to 3 hits, some none.
func TestTruthAddsUp(t *testing.T) {
	for _, s := range loadAll(t) {
		t.Run(s.Name, func(t *testing.T) {
			reqs, tr := generate(t, []*Spec{s}, Options{Requests: 6000, Seed: 11})
			if len(reqs) != tr.Requests || tr.Rejected != 0 {
				t.Fatalf("%d requests emitted, truth says %d (%d rejected)", len(reqs), tr.Requests, tr.Rejected)
			}
			hits := map[string]int{}
			noise := map[string]int{}
			for _, q := range reqs {
				switch q.Class {
				case ClassAPI:
					hits[q.Method+" "+q.Template]++
				default:
					noise[q.Class]++
				}
			}
			sum, tail, unused := 0, 0, 0
			for _, op := range tr.Operations {
				if got := hits[op.Method+" "+op.Template]; got != op.Hits {
					t.Errorf("%s %s: %d requests, truth %d", op.Method, op.Template, got, op.Hits)
				}
				sum += op.Hits
				switch {
				case op.Hits == 0:
					unused++
				case op.Hits <= 3:
					tail++
				}
			}
			if sum != tr.API || tr.API+tr.Noise[ClassStatic]+tr.Noise[ClassProbe]+tr.Noise[ClassPreflight] != tr.Requests {
				t.Errorf("hits %d, API %d, noise %v, requests %d", sum, tr.API, tr.Noise, tr.Requests)
			}
			for c, n := range noise {
				if tr.Noise[c] != n {
					t.Errorf("noise %s: %d generated, truth %d", c, n, tr.Noise[c])
				}
			}
			if n := len(tr.Operations); n >= 20 && (tail < n/10 || unused == 0) {
				t.Errorf("%d operations: %d with 1-3 hits, %d unused; want a long tail", n, tail, unused)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	specs := loadAll(t)
	for _, s := range []*Spec{specs[6], ShopSpec()} { // sentry, shop
		for _, format := range Formats() {
			sum := func(seed uint64) [32]byte {
				reqs, _ := generate(t, []*Spec{s}, Options{Requests: 2000, Seed: seed})
				return sha256.Sum256(write(t, reqs, format))
			}
			a, b, c := sum(42), sum(42), sum(43)
			if a != b {
				t.Errorf("%s %s: two runs with seed 42 differ", s.Name, format)
			}
			if a == c {
				t.Errorf("%s %s: seeds 42 and 43 give the same file", s.Name, format)
			}
		}
	}
}

// Values look like the API's: by schema, by convention and by name.
func TestValueShapes(t *testing.T) {
	specs := loadAll(t)
	byName := map[string]*Spec{}
	for _, s := range specs {
		byName[s.Name] = s
	}
	cases := []struct {
		spec, template string // the operation (normalized, no trailing slash)
		pos            int
		re             string
	}{
		{"twilio", "/2010-04-01/Accounts/{parameter}/Calls/{parameter}.json", 0, `^AC[0-9a-f]{32}$`},
		{"twilio", "/2010-04-01/Accounts/{parameter}/Calls/{parameter}.json", 1, `^CA[0-9a-f]{32}$`},
		{"twilio", "/2010-04-01/Accounts/{parameter}/AvailablePhoneNumbers/{parameter}.json", 1, `^[A-Z]{2}$`},
		{"discord", "/api/v10/guilds/{parameter}", 0, `^[1-9][0-9]{16,18}$`},
		{"spotify", "/v1/albums/{parameter}", 0, `^[0-9A-Za-z]{22}$`},
		{"spotify", "/v1/users/{parameter}", 0, `^[a-z0-9._-]+$`},
		{"openai", "/v1/files/{parameter}", 0, `^file-[0-9A-Za-z]{24}$`},
		{"openai", "/v1/assistants/{parameter}", 0, `^asst_[0-9A-Za-z]{24}$`},
		{"openai", "/v1/models/{parameter}", 0, `^(gpt|o[134]|text-|whisper|tts|dall-e|omni|babbage|davinci|chatgpt|ft:)`},
		{"sentry", "/api/0/organizations/{parameter}", 0, `^([a-z0-9]+(-[a-z0-9]+)*|[0-9]+)$`},
		{"sentry", "/api/0/projects/{parameter}/{parameter}/events/{parameter}", 2, `^[0-9a-f]{32}$`},
		{"digitalocean", "/v2/droplets/{parameter}", 0, `^[1-9][0-9]{5,8}$`},
		{"digitalocean", "/v2/domains/{parameter}", 0, `^([a-z0-9-]+\.)+[a-z]{2,}$`},
		{"digitalocean", "/v2/apps/{parameter}/deployments", 0, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`},
		{"netlify", "/api/v1/deploys/{parameter}", 0, `^[0-9a-f]{24}$`},
		{"box", "/2.0/files/{parameter}", 0, `^[1-9][0-9]{8,11}$`},
		{"box", "/2.0/files/{parameter}/metadata/{parameter}/{parameter}", 1, `^(global|enterprise)$`},
		{"petstore", "/api/v3/user/{parameter}", 0, `^[A-Za-z0-9._-]+$`},
		{"shop", "/products/{parameter}", 0, `^[a-z]+(-[a-z]+)*$`},
		{"shop", "/users/{parameter}", 0, `^[A-Za-z0-9._-]+$`},
	}
	reqs := map[string][]Request{}
	for _, c := range cases {
		if reqs[c.spec] == nil {
			reqs[c.spec], _ = generate(t, []*Spec{byName[c.spec]}, Options{Requests: 6000, Seed: 2})
		}
		re := regexp.MustCompile(c.re)
		n := 0
		distinct := map[string]bool{}
		for _, q := range reqs[c.spec] {
			if q.Class != ClassAPI || routeKey(q.Template) != c.template {
				continue
			}
			v := valueAt(q.Path, q.Template, c.pos)
			if !re.MatchString(v) {
				t.Errorf("%s %s: parameter %d = %q, want %s", c.spec, q.Path, c.pos, v, c.re)
			}
			distinct[v] = true
			n++
		}
		if n == 0 {
			t.Errorf("%s %s: no request", c.spec, c.template)
		}
	}
}

// valueAt returns the decoded value of the pos-th parameter of tmpl in
// path.
func valueAt(path, tmpl string, pos int) string {
	segs, ts := splitSegs(path), splitSegs(tmpl)
	k := 0
	for i, s := range ts {
		if strings.IndexByte(s, '{') < 0 {
			continue
		}
		if k == pos {
			j := strings.IndexByte(s, '{')
			v := strings.TrimSuffix(strings.TrimPrefix(segs[i], s[:j]), s[strings.LastIndexByte(s, '}')+1:])
			d, _ := url.PathUnescape(v)
			return d
		}
		k++
	}
	return ""
}

// Word values that need it are percent-encoded: spaces, slashes, '#',
// non-ASCII.
func TestPercentEncoding(t *testing.T) {
	s := &Spec{Name: "gh", Host: "api.gh.example", Operations: []Operation{
		{Method: "GET", Path: "/repos/{owner}/{repo}/labels/{name}", PathParams: []Param{{Name: "owner"}, {Name: "repo"}, {Name: "label_name"}}},
		{Method: "GET", Path: "/languages/{language}", PathParams: []Param{{Name: "language"}}},
	}}
	reqs, _ := generate(t, []*Spec{s}, Options{Requests: 20000, Seed: 9})
	seen := map[string]bool{}
	for _, q := range reqs {
		if q.Class != ClassAPI {
			continue
		}
		if strings.ContainsAny(q.Path, " #?\"") {
			t.Fatalf("raw path %q has a character that must be encoded", q.Path)
		}
		for _, seg := range strings.Split(q.Path, "/") {
			seen[seg] = true
		}
	}
	for _, want := range []string{"help%20wanted", "area%2Fnetworking", "C%23", "Objective-C", "good%20first%20issue"} {
		if !seen[want] {
			t.Errorf("no segment %q", want)
		}
	}
}

// Values are drawn with Zipf popularity from pools of a realistic size,
// shared where parameters mean the same.
func TestPools(t *testing.T) {
	s := &Spec{Name: "gh", Host: "api.gh.example", Operations: []Operation{
		{Method: "GET", Path: "/users/{username}", PathParams: []Param{{Name: "username"}}},
		{Method: "GET", Path: "/users/{username}/repos", PathParams: []Param{{Name: "username"}}},
		{Method: "GET", Path: "/teams/{team}/members/{owner}", PathParams: []Param{{Name: "team_slug"}, {Name: "owner"}}},
	}}
	reqs, _ := generate(t, []*Spec{s}, Options{Requests: 20000, Seed: 4, TailShare: -1, UnusedShare: -1})
	count := map[string]int{}
	byOp := map[string]map[string]bool{}
	for _, q := range reqs {
		if q.Class != ClassAPI {
			continue
		}
		v := valueAt(q.Path, q.Template, strings.Count(q.Template, "{")-1)
		count[v]++
		if byOp[q.Template] == nil {
			byOp[q.Template] = map[string]bool{}
		}
		byOp[q.Template][v] = true
	}
	shared := 0
	for v := range byOp["/users/{parameter}"] {
		if byOp["/teams/{parameter}/members/{parameter}"][v] {
			shared++
		}
	}
	if shared < 20 {
		t.Errorf("only %d usernames appear both under /users/ and as team members", shared)
	}
	top := 0
	for _, n := range count {
		top = max(top, n)
	}
	if len(count) < 100 || top < 20*len(reqs)/len(count)/10 {
		t.Errorf("%d distinct values, the most popular with %d hits: want many values with a popular head", len(count), top)
	}
}

func TestNoise(t *testing.T) {
	reqs, tr := generate(t, []*Spec{ShopSpec(), numericSpec()}, Options{Requests: 10000, Seed: 8})
	g, _ := New([]*Spec{ShopSpec(), numericSpec()}, Options{})
	for _, q := range reqs {
		switch q.Class {
		case ClassProbe:
			if q.Status != 404 {
				t.Errorf("probe %s %s answered %d", q.Method, q.Path, q.Status)
			}
		case ClassPreflight:
			si := 0
			if q.Spec != "shop" {
				si = 1
			}
			if q.Method != "OPTIONS" || q.Status != 204 || g.routers[si].route(q.Path) != routeKey(q.Template) {
				t.Errorf("pre-flight %s %s %d (%s)", q.Method, q.Path, q.Status, q.Template)
			}
		case ClassStatic:
			if !regexp.MustCompile(`\.(ico|txt|png|svg|js|css|woff2?|webp|jpg|xml|html)$`).MatchString(q.Path) {
				t.Errorf("static %s has no asset extension", q.Path)
			}
		}
	}
	for _, c := range []string{ClassStatic, ClassProbe, ClassPreflight} {
		if tr.Noise[c] < 100 {
			t.Errorf("%d %s requests of 10000", tr.Noise[c], c)
		}
	}
	// Two specs, two hosts.
	hosts := map[string]bool{}
	for _, q := range reqs {
		hosts[q.Host] = true
	}
	if len(hosts) != 2 {
		t.Errorf("hosts %v, want one per spec", hosts)
	}
}

func TestPatternKind(t *testing.T) {
	for _, p := range []string{`^AC[0-9a-fA-F]{32}$`, `^(SM|MM)[0-9a-fA-F]{32}$`, `^[0-9a-f]{32}$`, `^(0|[1-9][0-9]*)$`,
		`^[a-z][a-z0-9-]{2,30}$`, `^v\d+(\.\d+)?$`, `^[^/]+$`} {
		k, ok := patternKind(p)
		if !ok {
			t.Errorf("%s: not usable", p)
			continue
		}
		re := regexp.MustCompile(p)
		pl := newPool(k, 1, 1, 1.1)
		for i := range 200 {
			if v := pl.value(i); !re.MatchString(v) {
				t.Errorf("%s: value %q does not match", p, v)
			}
		}
	}
	if _, ok := patternKind(`^(unclosed`); ok {
		t.Error("a broken pattern was accepted")
	}
}
