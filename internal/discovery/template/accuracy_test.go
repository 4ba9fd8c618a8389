package template

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The accuracy corpora generate traffic whose true template is known and
// measure precision and recall over the set of distinct templates that
// received traffic:
//
//	precision = |found ∩ truth| / |found|      recall = |found ∩ truth| / |truth|
//
// "found" is the set of Template(p) over every request p after all traffic
// was observed; "truth" the set of true templates (parameter names
// normalized to {parameter}). The hit-weighted variants weight each template
// by the requests it received. Per-request accuracy is the share of
// requests whose template is exactly the true one.

type score struct {
	precision, recall, wPrecision, wRecall, accuracy float64
	found, truth                                     int
}

func (s score) String() string {
	return fmt.Sprintf("precision %.4f recall %.4f | hit-weighted precision %.4f recall %.4f | per-request %.4f | %d found, %d true templates",
		s.precision, s.recall, s.wPrecision, s.wRecall, s.accuracy, s.found, s.truth)
}

var paramName = regexp.MustCompile(`\{[^}/]*\}`)

func normalize(tmpl string) string { return paramName.ReplaceAllString(tmpl, Param) }

// evaluate feeds the requests (path, true template) and scores the result.
func evaluate(t *testing.T, tp *Templater, reqs [][2]string) score {
	t.Helper()
	for _, r := range reqs {
		tp.Observe(r[0])
	}
	tp.Settle() // as the inventory does before it is read
	found := map[string]int{}
	truth := map[string]int{}
	right := 0
	for _, r := range reqs {
		got, want := normalize(tp.Template(r[0])), normalize(r[1])
		found[got]++
		truth[want]++
		if got == want {
			right++
		}
	}
	var s score
	s.found, s.truth = len(found), len(truth)
	var inter, wf, wfAll, wt, wtAll int
	for k, n := range found {
		wfAll += n
		if _, ok := truth[k]; ok {
			inter++
			wf += n
		}
	}
	for k, n := range truth {
		wtAll += n
		if _, ok := found[k]; ok {
			wt += n
		}
	}
	s.precision = float64(inter) / float64(len(found))
	s.recall = float64(inter) / float64(len(truth))
	s.wPrecision = float64(wf) / float64(wfAll)
	s.wRecall = float64(wt) / float64(wtAll)
	s.accuracy = float64(right) / float64(len(reqs))
	if testing.Verbose() {
		for k, n := range found {
			if _, ok := truth[k]; !ok {
				t.Logf("false template %s (%d hits)", k, n)
			}
		}
		for k, n := range truth {
			if _, ok := found[k]; !ok {
				t.Logf("missed template %s (%d hits)", k, n)
			}
		}
	}
	return s
}

func requireScore(t *testing.T, name string, s score) {
	t.Helper()
	t.Logf("%s: %s", name, s)
	if s.precision < 0.97 || s.recall < 0.97 || s.wPrecision < 0.97 || s.wRecall < 0.97 {
		t.Errorf("%s below 0.97: %s", name, s)
	}
}

// gen draws realistic values with a Zipf-like popularity.
type gen struct {
	r     *rand.Rand
	pools map[string][]string
	zipf  map[string]*rand.Zipf
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), pools: map[string][]string{}, zipf: map[string]*rand.Zipf{}}
}

var (
	firstNames = strings.Fields("alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil trent victor walter yvonne zoe liam noah emma ava mia lucas mateo sofia hugo lea nora oscar paula quinn rosa sam tina uma")
	lastNames  = strings.Fields("smith jones brown taylor wilson davies evans thomas johnson roberts walker wright robinson thompson white hughes edwards green hall wood")
	words      = strings.Fields("awesome react native linux kernel go tools web app api server client cli docs site blog engine cache proxy router auth store data flow stream vision deep learn fast tiny micro core lib kit ui chart map")
	b62        = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) username() string {
	f, l := g.pick(firstNames), g.pick(lastNames)
	switch g.r.IntN(6) {
	case 0:
		return f
	case 1:
		return f + l
	case 2:
		return f + "-" + l
	case 3:
		return f + "_" + l
	case 4:
		return f[:1] + l + fmt.Sprint(g.r.IntN(100))
	default:
		return f + fmt.Sprint(g.r.IntN(2000))
	}
}

func (g *gen) slug() string {
	if g.r.IntN(3) == 0 {
		return g.pick(words)
	}
	return g.pick(words) + "-" + g.pick(words)
}

func (g *gen) rnd(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

func (g *gen) uuid() string {
	h := g.rnd("0123456789abcdef", 32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

// value makes one fresh value of a kind.
func (g *gen) value(kind string) string {
	switch kind {
	case "int":
		return fmt.Sprint(1 + g.r.IntN(200000))
	case "small":
		return fmt.Sprint(1 + g.r.IntN(5000))
	case "uuid":
		return g.uuid()
	case "hex32":
		return g.rnd("0123456789abcdef", 32)
	case "sha":
		return g.rnd("0123456789abcdef", 40)
	case "user":
		return g.username()
	case "slug":
		return g.slug()
	case "date":
		return fmt.Sprintf("%d-%02d-%02d", 2020+g.r.IntN(6), 1+g.r.IntN(12), 1+g.r.IntN(28))
	case "oid":
		return g.rnd("0123456789abcdef", 24)
	case "ord":
		return fmt.Sprintf("ORD-%d-%05d", 2020+g.r.IntN(6), g.r.IntN(100000))
	case "usr":
		return "usr_" + g.rnd(b62, 4+g.r.IntN(4))
	}
	if p, ok := strings.CutPrefix(kind, "stripe:"); ok {
		return p + "_" + g.rnd(b62, 14+g.r.IntN(2)*10)
	}
	panic(kind)
}

// draw returns a value of kind from a pool of n values with Zipf popularity.
func (g *gen) draw(kind string, n int) string {
	pool, ok := g.pools[kind]
	if !ok {
		seen := map[string]bool{}
		for tries := 0; len(pool) < n && tries < 20*n; tries++ {
			v := g.value(kind)
			if !seen[v] {
				seen[v] = true
				pool = append(pool, v)
			}
		}
		g.pools[kind] = pool
		g.zipf[kind] = rand.NewZipf(g.r, 1.1, 2, uint64(len(pool)-1))
	}
	return pool[g.zipf[kind].Uint64()]
}

// endpoint is a spec template whose {kind} placeholders name value kinds;
// weight is its share of traffic.
type endpoint struct {
	tmpl   string
	weight int
}

var placeholder = regexp.MustCompile(`\{([^}]+)\}`)

func traffic(g *gen, eps []endpoint, n int, poolSize int) [][2]string {
	total := 0
	for _, e := range eps {
		total += e.weight
	}
	out := make([][2]string, 0, n)
	for len(out) < n {
		k := g.r.IntN(total)
		var e endpoint
		for _, e = range eps {
			if k < e.weight {
				break
			}
			k -= e.weight
		}
		path := placeholder.ReplaceAllStringFunc(e.tmpl, func(m string) string {
			return g.draw(m[1:len(m)-1], poolSize)
		})
		if g.r.IntN(20) == 0 {
			path += "?page=" + fmt.Sprint(g.r.IntN(9))
		}
		out = append(out, [2]string{path, e.tmpl})
	}
	return out
}

var shopEndpoints = []endpoint{
	{"/cart/clear/{usr}", 3}, {"/cart/item/add/{int}", 10}, {"/cart/items/{usr}", 12}, {"/cart/total/{usr}", 8},
	{"/login", 10}, {"/order/add/{ord}", 4}, {"/products", 20}, {"/products/{int}", 40}, {"/users/{user}", 12},
}

var githubEndpoints = []endpoint{
	{"/users/{user}", 30}, {"/users/{user}/repos", 15}, {"/users/{user}/followers", 4}, {"/users/{user}/gists", 2},
	{"/repos/{user}/{slug}", 25}, {"/repos/{user}/{slug}/issues", 10}, {"/repos/{user}/{slug}/issues/{small}", 12},
	{"/repos/{user}/{slug}/issues/{small}/comments", 5}, {"/repos/{user}/{slug}/pulls", 8}, {"/repos/{user}/{slug}/pulls/{small}", 6},
	{"/repos/{user}/{slug}/commits/{sha}", 5}, {"/repos/{user}/{slug}/branches", 2}, {"/repos/{user}/{slug}/contributors", 2},
	{"/repos/{user}/{slug}/releases/latest", 2}, {"/orgs/{slug}", 4}, {"/orgs/{slug}/members", 3}, {"/orgs/{slug}/repos", 3},
	{"/gists/{hex32}", 4}, {"/gists/public", 1}, {"/user", 6}, {"/user/repos", 3}, {"/emojis", 1}, {"/rate_limit", 3},
	{"/meta", 1}, {"/events", 2}, {"/notifications", 2}, {"/search/repositories", 3}, {"/search/users", 1},
	{"/octocat", 1}, {"/zen", 1}, {"/feeds", 1},
}

var stripeEndpoints = []endpoint{
	{"/v1/customers", 10}, {"/v1/customers/{stripe:cus}", 20}, {"/v1/customers/{stripe:cus}/sources", 4},
	{"/v1/charges", 6}, {"/v1/charges/{stripe:ch}", 15}, {"/v1/charges/{stripe:ch}/refunds", 3},
	{"/v1/invoices", 4}, {"/v1/invoices/{stripe:in}", 8}, {"/v1/invoices/{stripe:in}/lines", 5}, {"/v1/invoices/upcoming", 3},
	{"/v1/payment_intents", 5}, {"/v1/payment_intents/{stripe:pi}", 10}, {"/v1/payment_intents/{stripe:pi}/confirm", 6},
	{"/v1/subscriptions/{stripe:sub}", 5}, {"/v1/balance", 2}, {"/v1/events/{stripe:evt}", 4}, {"/v1/products/{stripe:prod}", 3},
	{"/v1/prices/{stripe:price}", 3}, {"/v1/refunds/{stripe:re}", 2}, {"/v1/reports/{date}", 1},
}

func TestAccuracySynthetic(t *testing.T) {
	tests := []struct {
		name string
		eps  []endpoint
		n    int
		pool int
	}{
		{"demo shop", shopEndpoints, 20000, 3000},
		{"github-like", githubEndpoints, 40000, 5000},
		{"stripe-like", stripeEndpoints, 30000, 5000},
		// Small logs: ids must be recognised without much evidence
		// (usr_aDEU is typed by shape; usr_jiycl joins it by prefix).
		{"demo shop, 1,000 requests", shopEndpoints, 1000, 200},
		{"github-like, 2,000 requests", githubEndpoints, 2000, 300},
		{"stripe-like, 1,500 requests", stripeEndpoints, 1500, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seeds := []uint64{1, 2}
			if raceEnabled {
				seeds = seeds[:1] // the race detector is ~40x slower
			}
			for _, seed := range seeds {
				reqs := traffic(newGen(seed), tt.eps, tt.n, tt.pool)
				requireScore(t, fmt.Sprintf("%s seed %d", tt.name, seed), evaluate(t, New(Config{}), reqs))
			}
		})
	}
}

// apacheTruth is the true template of a path of the semicomplete.com
// website log. It is written from what the site is, not from the
// templater's rules:
//   - the site is static: files, pages and directories are endpoints of
//     their own, so segments stay constant...
//   - ...except purely numeric segments, with or without a file extension
//     (blog archive years and days, /files/blogposts/yyyymmdd/ folders,
//     /blog/geekery/84.html), which are ids;
//   - and the site's open listings: /blog/tags/{tag} (249 distinct tags in
//     the log), and the named entries of /projects/, /scripts/, /articles/
//     and of the blog's categories (/blog/geekery/{post}), pages that a CMS
//     serves from one route. Files (index.html, a .png) stay constant.
//
// Paths are compared after the templater's normalization (query dropped,
// empty segments and the trailing slash removed).
func apacheTruth(path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	var segs []string
	for _, s := range strings.Split(path, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	for i, s := range segs {
		stem, _, _ := strings.Cut(s, ".")
		switch {
		case allDigits(stem):
			segs[i] = Param + s[len(stem):] // an id keeps its extension: {parameter}.html
		case i == 2 && segs[0] == "blog" && segs[1] == "tags":
			segs[i] = Param
		case i == 1 && (segs[0] == "projects" || segs[0] == "scripts" || segs[0] == "articles") && !isFileName(s),
			i == 2 && segs[0] == "blog" && segs[1] == "geekery" && !isFileName(s):
			segs[i] = Param
		}
	}
	return "/" + strings.Join(segs, "/")
}

func TestAccuracyApacheLog(t *testing.T) {
	f, err := os.Open("/work/shared/data/apache_logs")
	if err != nil {
		t.Skipf("real log unavailable: %v", err)
	}
	defer f.Close()
	var reqs [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		q := strings.IndexByte(line, '"')
		if q < 0 {
			continue
		}
		f := strings.Fields(line[q+1:])
		if len(f) < 2 {
			continue
		}
		reqs = append(reqs, [2]string{f[1], apacheTruth(f[1])})
	}
	if len(reqs) != 10000 {
		t.Fatalf("read %d requests, want 10000", len(reqs))
	}
	requireScore(t, "apache_logs", evaluate(t, New(Config{}), reqs))
}
