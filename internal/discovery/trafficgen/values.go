package trafficgen

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

type randT = rand.Rand

// A kind is a family of parameter values (usernames, UUIDs, Twilio SIDs):
// how to make one, how many distinct values a real API would have, and
// whether every parameter of that kind shares one population.
type kind struct {
	id   string // identifies the population (with the parameter name unless shared)
	gen  func(r *rand.Rand) string
	list []string // a closed set of values instead of gen
	size int      // population size (ignored with list)
	// shared: one population for every parameter of the kind (usernames
	// under /users/, /members/ and /cart/ are the same people).
	shared bool
	// perParent > 0: below another parameter (a project under its
	// organization) only this many of the population appear per parent.
	perParent int
}

const (
	digitChars  = "0123456789"
	hexChars    = "0123456789abcdef"
	hexUpper    = "0123456789ABCDEF"
	base62Chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	base36Chars = "0123456789abcdefghijklmnopqrstuvwxyz"
	tokenChars  = base62Chars + "-_"
)

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

func randString(r *rand.Rand, n int, chars string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

// digits returns a number of minLen..maxLen digits without a leading zero.
func digits(r *rand.Rand, minLen, maxLen int) string {
	n := minLen
	if maxLen > minLen {
		n += r.IntN(maxLen - minLen + 1)
	}
	if n <= 1 {
		return strconv.Itoa(r.IntN(10))
	}
	return string(rune('1'+r.IntN(9))) + randString(r, n-1, digitChars)
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ---------------------------------------------------------------- kinds

// numericKind: ids of minLen..maxLen digits, most of them maxLen long
// (the ids of one table are of one magnitude, with some older ones).
func numericKind(minLen, maxLen int) kind {
	size := 20000
	if maxLen <= 2 {
		size = int(math.Pow10(maxLen)) - 1
	}
	return kind{id: fmt.Sprintf("num%d-%d", minLen, maxLen), size: size, gen: func(r *rand.Rand) string {
		if maxLen > minLen && r.IntN(4) == 0 {
			return digits(r, minLen, maxLen-1)
		}
		return digits(r, maxLen, maxLen)
	}}
}

func smallIntKind(lo, hi int) kind {
	var list []string
	for i := lo; i <= hi; i++ {
		list = append(list, strconv.Itoa(i))
	}
	return kind{id: fmt.Sprintf("int%d-%d", lo, hi), list: list}
}

// discord's epoch, for snowflakes
const snowflakeEpoch = 1420070400000

func snowflakeKind() kind {
	return kind{id: "snowflake", size: 20000, gen: func(r *rand.Rand) string {
		// created 2016..2024
		ms := int64(1451606400000-snowflakeEpoch) + r.Int64N(9*365*24*3600*1000)
		return strconv.FormatInt(ms<<22|r.Int64N(1<<22), 10)
	}}
}

func uuidOf(r *rand.Rand) string {
	b := []byte(randString(r, 32, hexChars))
	b[12] = '4'
	b[16] = "89ab"[r.IntN(4)]
	s := string(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

func uuidKind() kind { return kind{id: "uuid", size: 10000, gen: uuidOf} }

func charsKind(id string, n int, chars string) kind {
	return kind{id: fmt.Sprintf("%s%d", id, n), size: 10000, gen: func(r *rand.Rand) string { return randString(r, n, chars) }}
}

func hexKind(n int) kind    { return charsKind("hex", n, hexChars) }
func base62Kind(n int) kind { return charsKind("b62-", n, base62Chars) }
func tokenKind(n int) kind  { return charsKind("tok", n, tokenChars) }

// prefixedKind: prefix + n characters of chars (asst_…, AC…, file-…).
func prefixedKind(prefix string, n int, chars string) kind {
	k := charsKind("pfx:"+prefix+":"+chars[len(chars)-3:], n, chars)
	k.gen = func(r *rand.Rand) string { return prefix + randString(r, n, chars) }
	return k
}

func listKind(id string, list []string, shared bool) kind {
	return kind{id: id, list: list, shared: shared}
}

func genKind(id string, size int, shared bool, gen func(r *rand.Rand) string) kind {
	return kind{id: id, size: size, shared: shared, gen: gen}
}

// mixKind draws from a with probability pa, else from b.
func mixKind(id string, a kind, pa float64, b kind) kind {
	ga, gb := a.sample(), b.sample()
	return kind{id: id, size: max(a.size, b.size, len(a.list), len(b.list)), shared: a.shared, perParent: a.perParent,
		gen: func(r *rand.Rand) string {
			if r.Float64() < pa {
				return ga(r)
			}
			return gb(r)
		}}
}

// sample returns a generator of one value of the kind (a list kind
// picks uniformly).
func (k kind) sample() func(r *rand.Rand) string {
	if k.list != nil {
		list := k.list
		return func(r *rand.Rand) string { return pick(r, list) }
	}
	return k.gen
}

func usernameOf(r *rand.Rand) string {
	f, l := pick(r, firstNames), pick(r, lastNames)
	switch x := r.IntN(100); {
	case x < 16:
		return f + "." + l // jane.doe
	case x < 30:
		return f[:1] + l // mkowalski
	case x < 38:
		return f + l
	case x < 46:
		return f + "_" + l
	case x < 52:
		return f + "-" + l
	case x < 62:
		return f + digits(r, 2, 4) // anna92
	case x < 70:
		return pick(r, []string{"dev", "ops", "code", "data", "cloud", "night", "pixel", "byte", "hack"}) + "_" + pick(r, append(nouns[:30:30], "ops", "ninja", "wizard", "guy", "girl")) + digits(r, 1, 2) // dev_ops42
	case x < 78:
		return title(f) + title(l) // JaneDoe
	case x < 84:
		return pick(r, nouns) + digits(r, 1, 4) // falcon7
	case x < 90:
		return f + "." + l + digits(r, 1, 2)
	case x < 95:
		return l + f[:1]
	default:
		return f + l[:1] + digits(r, 2, 2)
	}
}

func usernameKind() kind { return genKind("username", 800, true, usernameOf) }

func orgOf(r *rand.Rand) string {
	c := pick(r, companies)
	switch x := r.IntN(100); {
	case x < 35:
		return c
	case x < 65:
		if s := pick(r, companySuffixes); s != "" {
			return c + "-" + s // acme-corp
		}
		return c
	case x < 75:
		return c + "-" + strconv.Itoa(2015+r.IntN(11)) // acme-2024
	case x < 88:
		return pick(r, adjectives) + "-" + pick(r, nouns)
	default:
		return c + pick(r, []string{"", "hq", "dev", "io"}) + digits(r, 1, 2)
	}
}

func orgKind() kind { return genKind("org", 40, false, orgOf) }

func projectOf(r *rand.Rand) string {
	w := pick(r, techWords)
	switch x := r.IntN(100); {
	case x < 30:
		return w // frontend
	case x < 60:
		if s := pick(r, techSuffixes); s != "" && s != w {
			return w + "-" + s // backend-api
		}
		return w
	case x < 72:
		return w + "-" + strconv.Itoa(2019+r.IntN(7)) // web-2024
	case x < 84:
		return w + "-" + pick(r, techWords)
	case x < 92:
		return pick(r, companies) + "-" + w
	default:
		return w + digits(r, 1, 2)
	}
}

func projectKind() kind {
	k := genKind("project", 150, false, projectOf)
	k.perParent = 8
	return k
}

func teamOf(r *rand.Rand) string {
	w := pick(r, teamWords)
	switch x := r.IntN(100); {
	case x < 45:
		return w
	case x < 60:
		return w + "-team"
	case x < 70:
		return w + "-" + pick(r, []string{"eu", "us", "apac", "guild", "squad", "oncall"})
	case x < 80:
		return "team-" + w
	case x < 90:
		return w + "-" + digits(r, 1, 1)
	default:
		return w + "-" + pick(r, teamWords)
	}
}

func teamKind() kind {
	k := genKind("team", 60, false, teamOf)
	k.perParent = 6
	return k
}

func repoOf(r *rand.Rand) string {
	switch x := r.IntN(100); {
	case x < 50:
		return projectOf(r)
	case x < 60:
		return pick(r, []string{"dotfiles", "homebrew-tap", "awesome-list", "infra", "terraform-modules", "charts", ".github", "docs", "website", "blog"})
	case x < 70:
		return pick(r, nouns) + "." + pick(r, []string{"js", "py", "rs", "go", "nvim", "io"})
	case x < 80:
		return strings.ReplaceAll(projectOf(r), "-", "_")
	case x < 90:
		return title(pick(r, nouns)) + title(pick(r, techWords))
	default:
		return pick(r, techWords) + "-" + pick(r, nouns)
	}
}

func repoKind() kind {
	k := genKind("repo", 500, false, repoOf)
	k.perParent = 12
	return k
}

func secretOf(r *rand.Rand) string { return pick(r, secretWords) + "_" + pick(r, secretSuffixes) }

func secretKind() kind { return genKind("secret", 80, false, secretOf) }

func envVarKind() kind {
	return genKind("envvar", 60, false, func(r *rand.Rand) string {
		if r.IntN(2) == 0 {
			return pick(r, envVarNames)
		}
		return secretOf(r)
	})
}

func domainOf(r *rand.Rand) string {
	if r.IntN(12) == 0 {
		return pick(r, []string{"example.com", "example.org", "example.net", "api.shop.io"})
	}
	base := pick(r, append(companies[:40:40], nouns...))
	if r.IntN(4) == 0 {
		base += "-" + pick(r, techWords)
	}
	d := base + "." + pick(r, tlds)
	if s := pick(r, subdomains); s != "" {
		d = s + "." + d
	}
	return d
}

func dnsKind() kind { return genKind("dns", 150, false, domainOf) }

func emailKind() kind {
	return genKind("email", 500, true, func(r *rand.Rand) string {
		return pick(r, firstNames) + "." + pick(r, lastNames) + "@" + pick(r, companies[:30]) + "." + pick(r, tlds[:6])
	})
}

var dayZero = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)

func dateKind() kind {
	return genKind("date", 730, true, func(r *rand.Rand) string {
		return dayZero.AddDate(0, 0, r.IntN(730)).Format("2006-01-02")
	})
}

func dateTimeKind() kind {
	return genKind("datetime", 10000, true, func(r *rand.Rand) string {
		return dayZero.Add(time.Duration(r.Int64N(730*24*3600)) * time.Second).Format(time.RFC3339)
	})
}

func semverOf(r *rand.Rand) string {
	v := fmt.Sprintf("%d.%d.%d", r.IntN(6), r.IntN(21), r.IntN(31)) + pick(r, semverPre)
	if r.IntN(4) == 0 {
		v = "v" + v
	}
	return v
}

func versionKind() kind { return genKind("version", 300, false, semverOf) }

// sentry release names: project@1.2.3, 1.2.3, a commit, a calendar version.
func releaseKind() kind {
	return genKind("release", 400, false, func(r *rand.Rand) string {
		switch x := r.IntN(100); {
		case x < 40:
			return projectOf(r) + "@" + semverOf(r)
		case x < 70:
			return semverOf(r)
		case x < 85:
			return randString(r, 7+r.IntN(6), hexChars)
		case x < 92:
			return randString(r, 40, hexChars)
		default:
			return fmt.Sprintf("%d.%02d.%d", 2023+r.IntN(3), 1+r.IntN(12), r.IntN(10))
		}
	})
}

func modelKind() kind {
	return genKind("model", 60, true, func(r *rand.Rand) string {
		if r.IntN(10) < 7 {
			return pick(r, openAIModels)
		}
		return fineTunedOf(r)
	})
}

func fineTunedOf(r *rand.Rand) string {
	base := pick(r, []string{"gpt-3.5-turbo", "gpt-3.5-turbo-0125", "gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "davinci-002"})
	org := pick(r, []string{"acme", "personal", "org", "globex", "initech", orgOf(r)})
	suffix := ""
	if r.IntN(2) == 0 {
		suffix = pick(r, []string{"weather", "support-bot", "sql", "classifier", "v2", "summaries"})
	}
	return "ft:" + base + ":" + org + ":" + suffix + ":" + randString(r, 6+r.IntN(3), base62Chars)
}

func checkpointKind() kind {
	return genKind("ftckpt", 200, false, func(r *rand.Rand) string {
		return fineTunedOf(r) + ":ckpt-step-" + strconv.Itoa(100*(1+r.IntN(20)))
	})
}

func fileNameKind() kind {
	return genKind("filename", 400, false, func(r *rand.Rand) string {
		switch x := r.IntN(100); {
		case x < 40:
			return pick(r, fileNames)
		case x < 60:
			return "assets/" + pick(r, techWords) + "." + randString(r, 6, hexChars) + pick(r, []string{".js", ".css", ".js.map"})
		case x < 80:
			return "blog/" + pick(r, adjectives) + "-" + pick(r, nouns) + "/index.html"
		default:
			return "images/" + pick(r, nouns) + "-" + digits(r, 1, 3) + pick(r, []string{".png", ".jpg", ".webp", ".svg"})
		}
	})
}

func funcNameKind() kind {
	return genKind("funcname", 80, false, func(r *rand.Rand) string {
		return pick(r, funcWords) + "-" + pick(r, funcObjects)
	})
}

func slugOf(r *rand.Rand) string {
	switch r.IntN(3) {
	case 0:
		return pick(r, adjectives) + "-" + pick(r, nouns)
	case 1:
		return pick(r, techWords) + "-" + pick(r, nouns)
	default:
		return pick(r, nouns) + "-" + digits(r, 1, 3)
	}
}

func slugKind() kind { return genKind("slug", 200, false, slugOf) }

// camelKeyKind: metadata template and field keys (contractDetails).
func camelKeyKind() kind {
	return genKind("camelkey", 60, false, func(r *rand.Rand) string {
		w := pick(r, []string{"contract", "invoice", "marketing", "legal", "customer", "project", "asset", "employee", "vendor", "product"})
		if r.IntN(3) == 0 {
			return w
		}
		return w + pick(r, []string{"Details", "Data", "Info", "Collateral", "Properties", "Metadata", "Status", "Region"})
	})
}

func ipv4Of(r *rand.Rand) string {
	a := []int{45, 46, 64, 104, 134, 137, 138, 139, 142, 143, 146, 147, 157, 159, 161, 164, 165, 167, 170, 174, 178, 188, 198, 206, 209}[r.IntN(25)]
	return fmt.Sprintf("%d.%d.%d.%d", a, r.IntN(256), r.IntN(256), 1+r.IntN(254))
}

func ipv4Kind() kind { return genKind("ipv4", 500, false, ipv4Of) }

func ipv6Kind() kind {
	return genKind("ipv6", 300, false, func(r *rand.Rand) string {
		return fmt.Sprintf("2604:a880:%x:%x::%x", r.IntN(0xffff), r.IntN(0xffff), 1+r.IntN(0xffff))
	})
}

func fingerprintKind() kind {
	return genKind("fingerprint", 200, false, func(r *rand.Rand) string {
		parts := make([]string, 16)
		for i := range parts {
			parts[i] = randString(r, 2, hexChars)
		}
		return strings.Join(parts, ":")
	})
}

// netlify site names: brave-curie-3f2a1b, or a custom one.
func siteNameKind() kind {
	return genKind("sitename", 150, false, func(r *rand.Rand) string {
		switch r.IntN(3) {
		case 0:
			return pick(r, adjectives) + "-" + pick(r, nouns) + "-" + randString(r, 6, hexChars)
		case 1:
			return pick(r, companies) + "-" + pick(r, techWords)
		default:
			return domainOf(r)
		}
	})
}

// sentry short ids: FRONTEND-3K2.
func shortIDKind() kind {
	return genKind("shortid", 2000, false, func(r *rand.Rand) string {
		return strings.ToUpper(strings.ReplaceAll(projectOf(r), "_", "-")) + "-" + strings.ToUpper(randString(r, 1+r.IntN(4), base36Chars))
	})
}

func emojiKind() kind {
	return genKind("emoji", 60, false, func(r *rand.Rand) string {
		e := pick(r, emojis)
		if e[0] < 0x80 { // a custom emoji: name:id
			return e + ":" + snowflakeKind().gen(r)
		}
		return e
	})
}

// ---------------------------------------------------------------- pools

// pool is the population of one kind of value for one parameter (or
// every parameter of a shared kind), with Zipf popularity over it.
type pool struct {
	k    kind
	seed uint64
	size int
	s    float64
	perm []int // list kinds: rank -> index into k.list
}

func newPool(k kind, seed uint64, scale, s float64) *pool {
	p := &pool{k: k, seed: seed, s: s}
	if k.list != nil {
		p.size = len(k.list)
		r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		p.perm = r.Perm(p.size)
		return p
	}
	p.size = max(1, int(float64(k.size)*scale))
	return p
}

// zipfRank draws a rank in [0, n) with P(rank) ~ 1/(rank+1)^s
// (a continuous bounded power law, rounded down).
func zipfRank(r *rand.Rand, n int, s float64) int {
	if n <= 1 {
		return 0
	}
	u := r.Float64()
	var x float64
	if math.Abs(s-1) < 1e-9 {
		x = math.Pow(float64(n)+1, u)
	} else {
		a := math.Pow(float64(n)+1, 1-s)
		x = math.Pow((a-1)*u+1, 1/(1-s))
	}
	i := int(x) - 1
	return min(max(i, 0), n-1)
}

// value returns the population's i-th most popular value.
func (p *pool) value(i int) string {
	if p.perm != nil {
		return p.k.list[p.perm[i]]
	}
	r := rand.New(rand.NewPCG(p.seed, uint64(i)+1))
	return p.k.gen(r)
}

// draw picks a value; parent is the value of the parameter before it in
// the path ("" if none).
func (p *pool) draw(r *rand.Rand, parent string) string {
	if p.k.perParent > 0 && parent != "" && p.size > p.k.perParent {
		j := zipfRank(r, p.k.perParent, 1)
		h := fnv.New64a()
		h.Write([]byte(parent))
		return p.value(int((h.Sum64() + uint64(j)*0x9e3779b97f4a7c15>>1) % uint64(p.size)))
	}
	return p.value(zipfRank(r, p.size, p.s))
}
