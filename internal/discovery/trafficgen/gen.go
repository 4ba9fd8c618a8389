package trafficgen

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options shape the traffic. The zero value of a field means its default.
type Options struct {
	// Requests is the number of requests (log lines, HAR entries) to
	// generate, noise included. Default 10,000.
	Requests int
	// Seed makes the traffic reproducible: the same specs, options and
	// seed give the same requests, byte for byte.
	Seed uint64
	// Start is the time of the first request (default 2024-05-13 08:00
	// UTC); Span the time the traffic covers (default 24 h).
	Start time.Time
	Span  time.Duration
	// Shares of Requests that are noise: static assets, scanner probes
	// (all answered 404) and CORS pre-flights (OPTIONS on API paths, 204).
	// Defaults 0.03, 0.015, 0.025; a negative share means none.
	StaticShare, ProbeShare, PreflightShare float64
	// QueryShare is the share of API requests that carry a query string
	// (default 0.35; negative: none).
	QueryShare float64
	// OpZipf is the Zipf exponent of operation popularity (default 1.0),
	// ValueZipf that of parameter values within a population (default
	// 1.1).
	OpZipf, ValueZipf float64
	// TailShare is the share of operations that get only 1 to 3 hits
	// (default 0.2); UnusedShare the share never called (default 0.05).
	// Negative: none.
	TailShare, UnusedShare float64
	// PoolScale multiplies the size of every open population of values
	// (usernames, numeric ids, ...; default 1). Large values make nearly
	// every raw path distinct.
	PoolScale float64
	// ParamlessWeight multiplies the popularity of operations without a
	// path parameter (default 1; negative: they get only their tail
	// hits). Small values, with a large PoolScale, make most raw paths
	// distinct.
	ParamlessWeight float64
}

func (o Options) withDefaults() Options {
	def := func(v *float64, d float64) {
		switch {
		case *v == 0:
			*v = d
		case *v < 0:
			*v = 0
		}
	}
	if o.Requests <= 0 {
		o.Requests = 10000
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2024, 5, 13, 8, 0, 0, 0, time.UTC)
	}
	if o.Span <= 0 {
		o.Span = 24 * time.Hour
	}
	def(&o.StaticShare, 0.03)
	def(&o.ProbeShare, 0.015)
	def(&o.PreflightShare, 0.025)
	def(&o.QueryShare, 0.35)
	def(&o.OpZipf, 1.0)
	def(&o.ValueZipf, 1.1)
	def(&o.TailShare, 0.2)
	def(&o.UnusedShare, 0.05)
	def(&o.PoolScale, 1)
	def(&o.ParamlessWeight, 1)
	return o
}

// Request is one generated request and its answer.
type Request struct {
	Time      time.Time
	Host      string
	Method    string
	Path      string // raw: percent-encoded, no query
	Query     string // raw, without '?'; "" for none
	Proto     string // HTTP/1.1 or HTTP/2
	Status    int
	ReqBytes  int
	RespBytes int
	Latency   time.Duration
	ClientIP  string
	UserAgent string
	Referer   string
	RequestID string
	Auth      string // Authorization header value, "" for none
	ReqType   string // request Content-Type, "" without body
	RespType  string
	ReqBody   string
	RespBody  string
	// Class says what the request is: "api", "static", "probe" or
	// "preflight". Spec and Template (the normalized spec template) are
	// set for "api" and "preflight".
	Class    string
	Spec     string
	Template string
}

// Noise classes.
const (
	ClassAPI       = "api"
	ClassStatic    = "static"
	ClassProbe     = "probe"
	ClassPreflight = "preflight"
)

// Generator turns specs into traffic.
type Generator struct {
	specs   []*Spec
	opts    Options
	ops     []*genOp
	routers []*router
	pools   map[string]*pool
	clients [][]client // per spec
	browser []client
	scanner []client
}

type genOp struct {
	spec     int
	op       Operation
	key      string  // normalized template (router key)
	kinds    []kind  // per path parameter
	pools    []*pool // per path parameter
	query    []func(r *rand.Rand) string
	options  bool // the spec itself has OPTIONS on this path
	segments []string
}

type client struct {
	ip, ua, auth, referer string
}

// New prepares a generator for one or more specs (each with its own host).
func New(specs []*Spec, opts Options) (*Generator, error) {
	if len(specs) == 0 {
		return nil, errors.New("trafficgen: no spec")
	}
	g := &Generator{specs: make([]*Spec, len(specs)), opts: opts.withDefaults(), pools: map[string]*pool{}}
	for si, s := range specs {
		s = s.clone() // fillFromSiblings edits the parameters
		g.specs[si] = s
		rt := newRouter()
		for _, op := range s.Operations {
			rt.add(op.Path)
		}
		g.routers = append(g.routers, rt)
		fillFromSiblings(s)
		withOptions := map[string]bool{}
		for _, op := range s.Operations {
			if op.Method == "OPTIONS" {
				withOptions[routeKey(op.Path)] = true
			}
		}
		for _, op := range s.Operations {
			o := &genOp{spec: si, op: op, key: routeKey(op.Path), segments: strings.Split(op.Path, "/")}
			o.options = withOptions[o.key]
			prev := ""
			pi := 0
			for _, seg := range o.segments {
				names := paramNames(seg)
				if len(names) == 0 {
					if seg != "" {
						prev = seg
					}
					continue
				}
				for range names {
					if pi >= len(op.PathParams) {
						return nil, fmt.Errorf("trafficgen: %s %s: parameters out of step", op.Method, op.Path)
					}
					k := classify(s.Name, prev, op.PathParams[pi])
					o.kinds = append(o.kinds, k)
					o.pools = append(o.pools, g.pool(s.Name, op.PathParams[pi].Name, k))
					pi++
				}
				prev = ""
			}
			for _, qp := range op.QueryParams {
				o.query = append(o.query, queryGen(s.Name, qp))
			}
			g.ops = append(g.ops, o)
		}
		g.clients = append(g.clients, g.makeClients(si))
	}
	r := rand.New(rand.NewPCG(g.opts.Seed, 77))
	for range 40 {
		g.browser = append(g.browser, client{ip: ipv4Of(r), ua: pick(r, userAgentsCommon[12:])})
	}
	for range 25 {
		g.scanner = append(g.scanner, client{ip: ipv4Of(r), ua: pick(r, scannerAgents)})
	}
	return g, nil
}

// fillFromSiblings gives a parameter the spec describes nowhere (a $ref to
// a missing file, an undescribed Sid) what the spec says of the parameter
// of the same name at the same place in another operation.
func fillFromSiblings(s *Spec) {
	best := map[string]Param{}
	info := func(p Param) int { // the type alone ("string") says little
		n := 0
		for _, v := range []string{p.Pattern, p.Format, p.Example} {
			if v != "" {
				n++
			}
		}
		if len(p.Enum) > 0 {
			n++
		}
		return n
	}
	// A slot is a parameter's place: the template before its segment, and
	// its index in the segment. Borrow from the same name at the same slot first,
	// then from any name there (Conferences/{ConferenceSid}/… beside
	// Conferences/{Sid}.json).
	keys := func(op Operation) (named, slot []string) {
		segs := strings.Split(op.Path, "/")
		for i, seg := range segs {
			for j, n := range paramNames(seg) {
				// the segment's literal parts ({Sid}.json) do not count
				k := routeKey(strings.Join(segs[:i], "/")) + "/#" + strconv.Itoa(j)
				named, slot = append(named, k+"#"+n), append(slot, k)
			}
		}
		return named, slot
	}
	for _, op := range s.Operations {
		named, slot := keys(op)
		for i := range named {
			if i >= len(op.PathParams) {
				break
			}
			for _, k := range []string{named[i], slot[i]} {
				if info(op.PathParams[i]) > info(best[k]) {
					best[k] = op.PathParams[i]
				}
			}
		}
	}
	for oi := range s.Operations {
		op := &s.Operations[oi]
		named, slot := keys(*op)
		for i := range named {
			if i >= len(op.PathParams) || info(op.PathParams[i]) > 0 {
				continue
			}
			for _, k := range []string{named[i], slot[i]} {
				if b, ok := best[k]; ok && info(b) > 0 {
					b.Name = op.PathParams[i].Name
					op.PathParams[i] = b
					break
				}
			}
		}
	}
}

func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func (g *Generator) pool(api, name string, k kind) *pool {
	key := api + "|" + k.id
	if !k.shared {
		key += "|" + name
	}
	p := g.pools[key]
	if p == nil {
		if strings.Contains(strings.ToLower(name), "account") && k.list == nil {
			k.size = min(k.size, 25) // a customer has a few accounts, not thousands
		}
		p = newPool(k, hash64(strconv.FormatUint(g.opts.Seed, 10), key), g.opts.PoolScale, g.opts.ValueZipf)
		g.pools[key] = p
	}
	return p
}

// makeClients: the callers of one API, each with its address, user agent
// and credentials.
func (g *Generator) makeClients(si int) []client {
	s := g.specs[si]
	r := rand.New(rand.NewPCG(g.opts.Seed, hash64("clients", s.Name)))
	n := 30 + int(math.Sqrt(float64(g.opts.Requests)))
	agents := append(apiAgents(s.Name), userAgentsCommon...)
	out := make([]client, n)
	for i := range out {
		c := client{ip: ipv4Of(r), ua: agents[zipfRank(r, len(agents), 1)]}
		c.auth = authFor(s.Name, r)
		if strings.HasPrefix(c.ua, "Mozilla/") {
			c.referer = "https://app." + strings.TrimPrefix(s.Host, "api.") + "/"
		}
		out[i] = c
	}
	return out
}

func apiAgents(api string) []string {
	switch api {
	case "sentry":
		return []string{"sentry-cli/2.31.0", "sentry-cli/2.28.6", "sentry.python/1.45.0", "getsentry-terraform/0.12.1"}
	case "digitalocean":
		return []string{"godo/1.109.0", "doctl/1.104.0 (linux amd64)", "Terraform/1.7.4 terraform-provider-digitalocean/2.36.0", "pydo/0.3.0"}
	case "netlify":
		return []string{"netlify/js-client", "netlify-cli/17.23.1 linux-x64 node-v20.12.2", "Netlify-Build/29.41.2"}
	case "spotify":
		return []string{"spotipy/2.23.0", "Spotify/8.9.38 Android/34 (SM-S918B)", "SpotifyWebApiNode/5.0.2"}
	case "twilio":
		return []string{"twilio-python/8.10.0 (Linux x86_64) Python/3.11.4", "twilio-node/4.23.0 (linux x64) node/v20.11.0", "twilio-java/9.14.1 (Linux amd64) Java/17.0.9"}
	case "openai":
		return []string{"OpenAI/Python 1.30.1", "OpenAI/JS 4.47.1", "langchain/0.1.20"}
	case "discord":
		return []string{"DiscordBot (https://github.com/discordjs/discord.js, 14.15.2)", "DiscordBot (https://github.com/Rapptz/discord.py 2.3.2) Python/3.11 aiohttp/3.9.5"}
	case "box":
		return []string{"Box Python SDK v3.9.2", "box-node-sdk/3.3.0", "BoxDrive/2.38.172"}
	case "petstore":
		return []string{"Swagger-Codegen/1.0.0/java", "openapi-generator/7.5.0/python"}
	case "shop":
		return []string{"shop-web/1.4.2", "ShopApp/3.1 (iPhone; iOS 17.4)"}
	}
	return nil
}

func authFor(api string, r *rand.Rand) string {
	switch api {
	case "twilio":
		return "Basic " + randString(r, 60, base62Chars) + "=="
	case "discord":
		return "Bot " + randString(r, 24, base62Chars) + "." + randString(r, 6, tokenChars) + "." + randString(r, 38, tokenChars)
	case "openai":
		return "Bearer sk-proj-" + randString(r, 48, tokenChars)
	case "digitalocean":
		return "Bearer dop_v1_" + randString(r, 64, hexChars)
	case "sentry":
		return "Bearer sntrys_" + randString(r, 64, base62Chars)
	case "shop", "petstore":
		if r.IntN(3) == 0 {
			return ""
		}
	}
	return "Bearer " + randString(r, 40, tokenChars)
}

// schedule lays out what each request is: an operation index >= 0, or a
// noise class.
const (
	evStatic    = -1
	evProbe     = -2
	evPreflight = -3
)

func (g *Generator) schedule(r *rand.Rand) []int32 {
	n := g.opts.Requests
	ev := make([]int32, 0, n)
	add := func(v int32, k int) {
		for range k {
			if len(ev) < n {
				ev = append(ev, v)
			}
		}
	}
	add(evStatic, int(math.Round(float64(n)*g.opts.StaticShare)))
	add(evProbe, int(math.Round(float64(n)*g.opts.ProbeShare)))
	add(evPreflight, int(math.Round(float64(n)*g.opts.PreflightShare)))
	order := g.popularity(r)
	nUnused := int(float64(len(order)) * g.opts.UnusedShare)
	nTail := int(float64(len(order)) * g.opts.TailShare)
	head := order[:max(1, len(order)-nUnused-nTail)]
	if len(head) < len(order) {
		tail := order[len(head):min(len(order), len(head)+nTail)]
		for _, i := range tail {
			add(int32(i), 1+r.IntN(3))
		}
	}
	cdf := make([]float64, len(head))
	sum := 0.0
	for i, oi := range head {
		w := 1 / math.Pow(float64(i+1), g.opts.OpZipf)
		if len(g.ops[oi].pools) == 0 {
			w *= g.opts.ParamlessWeight
		}
		sum += w
		cdf[i] = sum
	}
	for len(ev) < n {
		x := r.Float64() * sum
		j := sort.SearchFloat64s(cdf, x)
		ev = append(ev, int32(head[min(j, len(head)-1)]))
	}
	r.Shuffle(len(ev), func(i, j int) { ev[i], ev[j] = ev[j], ev[i] })
	return ev
}

// popularity orders the operations, most popular first: a random order
// where reads tend to come before writes and deletes.
func (g *Generator) popularity(r *rand.Rand) []int {
	type ranked struct {
		i   int
		key float64
	}
	rs := make([]ranked, len(g.ops))
	for i, o := range g.ops {
		w := 1.0
		switch o.op.Method {
		case "GET":
			w = 4
		case "POST":
			w = 2
		case "DELETE":
			w = 0.6
		case "HEAD", "OPTIONS", "TRACE":
			w = 0.3
		}
		// weighted random order (Efraimidis-Spirakis): key u^(1/w)
		rs[i] = ranked{i, math.Pow(r.Float64(), 1/w)}
	}
	sort.SliceStable(rs, func(a, b int) bool { return rs[a].key > rs[b].key })
	out := make([]int, len(rs))
	for i, x := range rs {
		out[i] = x.i
	}
	return out
}

// Run generates the traffic in time order, calling emit for every
// request (the Request is reused: copy what you keep), and returns the
// ground truth.
func (g *Generator) Run(emit func(*Request) error) (*Truth, error) {
	r := rand.New(rand.NewPCG(g.opts.Seed, 1))
	ev := g.schedule(r)
	truth := newTruth(g)
	t := g.opts.Start
	gap := float64(g.opts.Span) / float64(len(ev))
	var req Request
	planned := make([]int, len(g.ops))
	for _, e := range ev {
		if e >= 0 {
			planned[e]++
		}
	}
	for _, e := range ev {
		t = t.Add(time.Duration(r.ExpFloat64() * gap))
		req = Request{Time: t, Proto: "HTTP/1.1"}
		if r.IntN(3) == 0 {
			req.Proto = "HTTP/2"
		}
		ok := true
		switch e {
		case evStatic:
			g.static(r, &req)
		case evProbe:
			g.probe(r, &req)
		case evPreflight:
			ok = g.preflight(r, &req)
		default:
			o := g.ops[e]
			ok = g.apiRequest(r, o, planned[e] <= 3, &req)
		}
		if !ok {
			truth.Rejected++
			continue
		}
		truth.count(&req)
		if err := emit(&req); err != nil {
			return nil, err
		}
	}
	return truth.finish(), nil
}

// concretePath fills an operation's template with values, retrying when
// the result would route to another template of the spec (a value equal
// to a sibling literal: "me" for /users/{id} beside /users/me).
func (g *Generator) concretePath(r *rand.Rand, o *genOp) (string, bool) {
	var b strings.Builder
	for range 24 {
		b.Reset()
		pi := 0
		parent := ""
		for i, seg := range o.segments {
			if i > 0 {
				b.WriteByte('/')
			}
			if strings.IndexByte(seg, '{') < 0 {
				b.WriteString(seg)
				continue
			}
			rest := seg
			for {
				open := strings.IndexByte(rest, '{')
				if open < 0 {
					b.WriteString(rest)
					break
				}
				cl := strings.IndexByte(rest[open:], '}')
				if cl < 0 {
					b.WriteString(rest)
					break
				}
				b.WriteString(rest[:open])
				v := o.pools[pi].draw(r, parent)
				parent = v
				b.WriteString(url.PathEscape(v))
				pi++
				rest = rest[open+cl+1:]
			}
		}
		p := b.String()
		if g.routers[o.spec].route(p) == o.key {
			return p, true
		}
	}
	return "", false
}

func (g *Generator) pickClient(r *rand.Rand, si int) client {
	cs := g.clients[si]
	return cs[zipfRank(r, len(cs), 1.2)]
}

func (g *Generator) apiRequest(r *rand.Rand, o *genOp, fewHits bool, req *Request) bool {
	p, ok := g.concretePath(r, o)
	if !ok {
		return false
	}
	s := g.specs[o.spec]
	c := g.pickClient(r, o.spec)
	req.Class, req.Spec, req.Template = ClassAPI, s.Name, Normalize(o.op.Path)
	req.Host, req.Method, req.Path = s.Host, o.op.Method, p
	req.ClientIP, req.UserAgent, req.Auth, req.Referer = c.ip, c.ua, c.auth, c.referer
	req.RequestID = uuidOf(r)
	req.Query = g.query(r, o)
	req.Status = status(r, o.op.Method, fewHits)
	req.Latency = time.Duration(math.Exp(r.NormFloat64()*0.8+math.Log(35)) * float64(time.Millisecond))
	req.RespType = "application/json"
	if o.op.HasBody || o.op.Method == "POST" || o.op.Method == "PUT" || o.op.Method == "PATCH" {
		req.ReqType = "application/json"
		req.ReqBody = fmt.Sprintf(`{"name":%q,"description":"generated"}`, slugOf(r))
		req.ReqBytes = len(req.ReqBody)
	}
	switch {
	case req.Status == 204 || req.Method == "HEAD":
		req.RespBytes = 0
		req.RespType = ""
	case req.Status >= 400:
		req.RespBody = fmt.Sprintf(`{"error":{"code":%d,"message":%q}}`, req.Status, strings.ToLower(statusText(req.Status)))
		req.RespBytes = len(req.RespBody)
	default:
		req.RespBytes = 120 + int(math.Exp(r.NormFloat64()+7))
		if r.IntN(5) == 0 {
			req.RespBody = fmt.Sprintf(`{"id":%q,"created_at":%q}`, randString(r, 12, base62Chars), req.Time.Format(time.RFC3339))
		}
	}
	return true
}

func status(r *rand.Rand, method string, fewHits bool) int {
	ok := 200
	switch method {
	case "POST":
		ok = []int{200, 201, 201, 202}[r.IntN(4)]
	case "DELETE":
		ok = []int{200, 202, 204, 204}[r.IntN(4)]
	case "PUT", "PATCH":
		ok = []int{200, 200, 204}[r.IntN(3)]
	}
	if fewHits {
		return ok // an operation seen once or twice answered
	}
	switch x := r.IntN(1000); {
	case x < 880:
		return ok
	case x < 900 && method == "GET":
		return 304
	case x < 935:
		return 404
	case x < 950:
		return 401
	case x < 962:
		return 403
	case x < 980:
		if method == "GET" {
			return 400
		}
		return 422
	case x < 992:
		return 429
	case x < 997:
		return 500
	default:
		return 503
	}
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 304:
		return "Not Modified"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 422:
		return "Unprocessable Entity"
	case 429:
		return "Too Many Requests"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return "Status " + strconv.Itoa(code)
}

// query builds a query string: the spec's literal one, and on some
// requests a few of the operation's query parameters.
func (g *Generator) query(r *rand.Rand, o *genOp) string {
	var parts []string
	if o.op.Query != "" {
		parts = append(parts, o.op.Query)
	}
	qp := o.op.QueryParams
	if len(qp) > 0 && r.Float64() < g.opts.QueryShare {
		n := 1 + r.IntN(min(3, len(qp)))
		for _, i := range r.Perm(len(qp))[:n] {
			p := qp[i]
			parts = append(parts, url.QueryEscape(p.Name)+"="+url.QueryEscape(o.query[i](r)))
		}
	}
	return strings.Join(parts, "&")
}

// queryGen returns a generator of values for a query parameter: paging,
// cursors, searches and sorting by their usual names, the rest like a path
// parameter of that name.
func queryGen(api string, p Param) func(r *rand.Rand) string {
	if len(p.Enum) > 0 {
		return listKind("", p.Enum, false).sample()
	}
	n := strings.ToLower(p.Name)
	switch p.Type {
	case "boolean":
		return func(r *rand.Rand) string { return pick(r, []string{"true", "false"}) }
	case "integer", "number":
		switch {
		case strings.Contains(n, "limit") || strings.Contains(n, "size") || strings.Contains(n, "per_page") || n == "count":
			return func(r *rand.Rand) string { return pick(r, []string{"10", "20", "25", "50", "100"}) }
		case strings.Contains(n, "page") || strings.Contains(n, "offset"):
			return func(r *rand.Rand) string { return strconv.Itoa(r.IntN(20)) }
		}
		return func(r *rand.Rand) string { return strconv.Itoa(1 + r.IntN(1000)) }
	}
	switch {
	case strings.Contains(n, "cursor") || n == "after" || n == "before" || strings.Contains(n, "page_token"):
		return func(r *rand.Rand) string { return randString(r, 16+r.IntN(10), base62Chars) }
	case n == "q" || n == "query" || strings.Contains(n, "search") || n == "term":
		return func(r *rand.Rand) string { return pick(r, adjectives) + " " + pick(r, nouns) }
	case strings.Contains(n, "sort") || strings.Contains(n, "order"):
		return func(r *rand.Rand) string {
			return pick(r, []string{"created_at", "-created_at", "updated_at", "name", "-date", "asc", "desc"})
		}
	case n == "start" || n == "end" || strings.Contains(n, "time"):
		return func(r *rand.Rand) string { return dayZero.AddDate(0, 0, r.IntN(700)).Format("2006-01-02") }
	}
	return classify(api, "", p).sample()
}

func (g *Generator) static(r *rand.Rand, req *Request) {
	si := r.IntN(len(g.specs))
	s := g.specs[si]
	paths := staticPaths
	if len(s.Static) > 0 && r.IntN(2) == 0 {
		paths = s.Static
	}
	c := g.browser[zipfRank(r, len(g.browser), 1)]
	req.Class, req.Host, req.Method, req.Path = ClassStatic, s.Host, "GET", paths[zipfRank(r, len(paths), 1)]
	req.ClientIP, req.UserAgent, req.Referer = c.ip, c.ua, "https://"+s.Host+"/"
	req.RequestID = uuidOf(r)
	req.Status = 200
	if r.IntN(5) == 0 {
		req.Status = 304
	}
	if req.Status == 200 {
		req.RespBytes = 500 + r.IntN(200000)
	}
	req.RespType = staticType(req.Path)
	req.Latency = time.Duration(1+r.IntN(20)) * time.Millisecond
}

func staticType(p string) string {
	switch {
	case strings.HasSuffix(p, ".js"):
		return "text/javascript"
	case strings.HasSuffix(p, ".css"):
		return "text/css"
	case strings.HasSuffix(p, ".png"):
		return "image/png"
	case strings.HasSuffix(p, ".svg"):
		return "image/svg+xml"
	case strings.HasSuffix(p, ".ico"):
		return "image/x-icon"
	case strings.HasSuffix(p, ".html"):
		return "text/html"
	}
	return "application/octet-stream"
}

func (g *Generator) probe(r *rand.Rand, req *Request) {
	s := g.specs[r.IntN(len(g.specs))]
	c := g.scanner[zipfRank(r, len(g.scanner), 1)]
	p := probePaths[r.IntN(len(probePaths))]
	switch x := r.IntN(10); {
	case x == 0:
		p = "/" + randString(r, 6+r.IntN(6), "abcdefghijklmnopqrstuvwxyz")
	case x == 1:
		p = "/" + randString(r, 4+r.IntN(6), "abcdefghijklmnopqrstuvwxyz0123456789") + ".php"
	case x == 2:
		p = "/" + randString(r, 5, "abcdefghijklmnopqrstuvwxyz") + "/" + randString(r, 8, base62Chars)
	}
	req.Class, req.Host, req.Method, req.Path = ClassProbe, s.Host, pick(r, []string{"GET", "GET", "GET", "POST", "HEAD"}), p
	req.ClientIP, req.UserAgent = c.ip, c.ua
	req.RequestID = uuidOf(r)
	req.Status = 404
	req.RespBytes = 150 + r.IntN(50)
	req.RespType = "text/html"
	req.Latency = time.Duration(1+r.IntN(5)) * time.Millisecond
}

// preflight: a browser's OPTIONS before a cross-origin API call.
func (g *Generator) preflight(r *rand.Rand, req *Request) bool {
	var o *genOp
	for range 16 {
		c := g.ops[r.IntN(len(g.ops))]
		if !c.options && c.op.Method != "OPTIONS" && c.op.Method != "HEAD" {
			o = c
			break
		}
	}
	if o == nil {
		return false
	}
	p, ok := g.concretePath(r, o)
	if !ok {
		return false
	}
	s := g.specs[o.spec]
	c := g.browser[zipfRank(r, len(g.browser), 1)]
	req.Class, req.Spec, req.Template = ClassPreflight, s.Name, Normalize(o.op.Path)
	req.Host, req.Method, req.Path = s.Host, "OPTIONS", p
	req.ClientIP, req.UserAgent, req.Referer = c.ip, c.ua, "https://app."+strings.TrimPrefix(s.Host, "api.")+"/"
	req.RequestID = uuidOf(r)
	req.Status = 204
	req.Latency = time.Duration(1+r.IntN(4)) * time.Millisecond
	return true
}
