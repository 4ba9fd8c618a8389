// Package template turns raw request paths into endpoint templates
// (/cart/items/8812 -> /cart/items/{parameter}) for API discovery.
//
// Segments whose shape marks them as values (integers, UUIDs, hashes, dates,
// e-mails, opaque and mixed alphanumeric ids) become parameters at once.
// Other segments (usernames, slugs, label names) become parameters from the
// structure of the traffic (evidence.go): value marks, shared continuations,
// cardinality and repetition, value pools shared across positions, methods
// and collection parents. Merges are revisable, operators can pin templates
// and force constants, and templates from an OpenAPI spec win over learned
// ones.
package template

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Param is the name of a learned parameter segment.
const Param = "{parameter}"

// Config tunes the evidence rules and the memory bounds. Zero fields take
// the defaults of DefaultConfig.
type Config struct {
	// MinDistinct is how many distinct untyped siblings a position needs
	// before they may be merged into a parameter.
	MinDistinct int `yaml:"min_distinct"`
	// MinRatio is the least share of new values among the requests that
	// reached a position (distinct values / hits) for a merge: vocabulary is
	// requested again and again, parameter values keep changing.
	MinRatio float64 `yaml:"min_ratio"`
	// ManyDistinct is a count of distinct untyped siblings that is evidence
	// enough whatever MinRatio says: vocabulary rarely grows that large,
	// while popular parameter values (a Zipf-like popularity) keep the share
	// of new values low.
	ManyDistinct int `yaml:"many_distinct"`
	// Alike is the least share of siblings that must look alike (a leaf, or
	// a sub-tree that shares a key with another sibling) for a merge.
	Alike float64 `yaml:"alike"`
	// ConfirmDistinct is how many distinct values confirm a learned
	// parameter; until then its values are kept (bounded) so that the merge
	// can be undone when they turn out to be a small, repeated vocabulary.
	ConfirmDistinct int `yaml:"confirm_distinct"`
	// MaxChildren caps the constant children tracked per position; reaching
	// it merges them into a parameter whatever the other evidence.
	MaxChildren int `yaml:"max_children"`
	// MaxNodes caps the whole tree; past it new constant paths are not
	// tracked (Template still answers from shape rules).
	MaxNodes int `yaml:"max_nodes"`
	// MaxSegments caps the segments of a path; the rest is folded into one
	// trailing parameter.
	MaxSegments int `yaml:"max_segments"`
	// MaxSegmentLen: longer segments are parameters.
	MaxSegmentLen int `yaml:"max_segment_len"`
}

// DefaultConfig returns the defaults, measured on the accuracy corpora of
// this package's tests.
func DefaultConfig() Config {
	return Config{
		MinDistinct:     30,
		MinRatio:        0.1,
		ManyDistinct:    40,
		Alike:           0.8,
		ConfirmDistinct: 64,
		MaxChildren:     1024,
		MaxNodes:        200_000,
		MaxSegments:     32,
		MaxSegmentLen:   256,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MinDistinct <= 0 {
		c.MinDistinct = d.MinDistinct
	}
	if c.MinRatio <= 0 {
		c.MinRatio = d.MinRatio
	}
	if c.ManyDistinct <= 0 {
		c.ManyDistinct = d.ManyDistinct
	}
	if c.Alike <= 0 {
		c.Alike = d.Alike
	}
	if c.ConfirmDistinct <= 0 {
		c.ConfirmDistinct = d.ConfirmDistinct
	}
	if c.MaxChildren <= 0 {
		c.MaxChildren = d.MaxChildren
	}
	if c.MaxNodes <= 0 {
		c.MaxNodes = d.MaxNodes
	}
	if c.MaxSegments <= 0 {
		c.MaxSegments = d.MaxSegments
	}
	if c.MaxSegmentLen <= 0 {
		c.MaxSegmentLen = d.MaxSegmentLen
	}
	return c
}

// node is one position of the template tree.
type node struct {
	parent *node
	seg    string // raw constant segment, or "{name}" for a parameter
	tmpl   string // the template of the path that ends here
	consts map[string]*node
	param  *node
	hits   uint64 // observations that reached this node
	ends   uint64 // observations that ended here

	isParam bool
	static  bool // a file name: never merged
	spec    bool // from a spec or a pin: never merged, split or renamed
	split   bool // forced constant by the operator
	// untyped: the parameter also takes untyped values (it was learned from
	// evidence or declared by a spec), not only typed ones.
	untyped bool
	typed   bool     // the parameter received typed values
	sigs    []string // signatures of typed values (bounded)
	// dateVal is the one date-shaped value (2024-01, 2010-04-01) a typed
	// parameter has seen so far; dateMulti that it saw another, nonDate
	// that it saw a typed value of another kind. A date that never changes
	// over many requests, above a sub-tree near the root, is an API version.
	dateVal   string
	dateMulti bool
	nonDate   bool
	// values holds the distinct values of a learned parameter until it is
	// confirmed; nil afterwards.
	values map[string]uint32
	// strong: the parameter was learned from value marks or shared
	// continuations, not from counts alone; repetition does not undo it.
	strong bool
	// mixed: literals stay beside the learned parameter.
	mixed bool
	// methods: PUT, PATCH or DELETE requests ended here; mut and posts
	// count them and the POSTs.
	methods    uint8
	mut, posts uint32
	// leaves counts, per value of a learned parameter that is kept, the
	// requests that ended at it (for splitHeavy), while values is kept.
	leaves map[string]*leafStat
	// checked is the number of constant children at the last merge check.
	checked int
	// keys caches a learned parameter's continuation (paramKeys).
	keys            map[ckey]bool
	keysAt, keysGen int
	// dyn: a request that is not for a static asset (a page, an image, a
	// script; data such as .json is API) ended at or below.
	dyn bool
}

// Templater learns endpoint templates. Template may be called from many
// goroutines at once; Observe, Pin, Split and AddSpecTemplate take a write
// lock and are meant for one worker.
type Templater struct {
	cfg   Config
	mu    sync.RWMutex
	root  *node
	nodes int
	gen   atomic.Uint64
	// pool holds values learned for untyped parameters anywhere in the
	// tree (bounded): the same username under /users/ and /teams/{t}/
	// members/ is evidence for both positions.
	pool map[string]bool
	// splits waits for TakeSplits.
	splits []Split
	// scratch and tally are mergeDecision's buffers (write lock held).
	scratch []ckey
	tally   map[ckey]tally
	// settles counts whole-tree settles (paramKeys' cache).
	settles int
	// observed counts observations since the last whole-tree settle,
	// total all of them.
	observed, total int
}

// poolMax bounds the shared value pool.
const poolMax = 1 << 16

// New returns a Templater; a zero Config means DefaultConfig.
func New(cfg Config) *Templater {
	return &Templater{cfg: cfg.withDefaults(), root: &node{tmpl: "/"}, nodes: 1, pool: make(map[string]bool)}
}

// Generation increases whenever a learned merge or split, a pin, a forced
// split or a spec template may have changed the template of paths seen
// before. New constant paths do not change it.
func (t *Templater) Generation() uint64 { return t.gen.Load() }

// segments splits a path into its segments: the query and fragment are
// dropped, empty segments (// and the trailing slash) are skipped, and
// segments past MaxSegments are folded into one trailing parameter.
func (t *Templater) segments(path string, buf []string) []string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	segs := buf[:0]
	for len(path) > 0 {
		var s string
		if i := strings.IndexByte(path, '/'); i >= 0 {
			s, path = path[:i], path[i+1:]
		} else {
			s, path = path, ""
		}
		if s == "" {
			continue
		}
		if len(segs) == t.cfg.MaxSegments {
			segs = append(segs, Param)
			break
		}
		segs = append(segs, s)
	}
	return segs
}

// Observe records one request path as evidence. It may change templates.
func (t *Templater) Observe(path string) { t.ObserveRequest("", path) }

// ObserveTemplate records path and returns its template.
func (t *Templater) ObserveTemplate(path string) string { return t.ObserveRequest("", path) }

// ObserveRequest records a request (its method is evidence too: a value
// that receives PUT, PATCH or DELETE is an item) and returns its template.
func (t *Templater) ObserveRequest(method, path string) string {
	var buf [16]string
	segs := t.segments(path, buf[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	t.observed++
	t.total++
	// Re-weigh the whole tree now and then: every 4096 observations at
	// first, then ever more rarely (a quarter of all traffic so far, at
	// most a million), never more often than the tree is large.
	if t.observed >= max(4096, t.nodes, min(t.total/4, 1<<20)) {
		t.settleAll()
	}
	n := t.root
	n.hits++
	grpc := isGRPC(segs)
	nodes := t.nodes
	var grew *node // the deepest position that got a new constant child
	for _, s := range segs {
		c := t.step(n, s, grpc)
		if c == nil {
			// The tree is full: answer from shape rules.
			return t.templateLocked(segs)
		}
		if t.nodes > nodes && !grpc && !c.isParam && grew == nil {
			grew = n
		}
		nodes = t.nodes
		n = c
	}
	n.ends++
	bit := methodBit(method)
	n.methods |= bit
	n.countMethod(bit, method)
	if n.isParam && n.untyped && !n.spec && len(segs) > 0 && (n.leaves != nil || n.values != nil) {
		n.leafStat(segs[len(segs)-1], t.cfg.ConfirmDistinct).add(1, bit, method)
	}
	if !n.static || n.seg[0] == '{' || dataFile(n.seg) {
		for d := n; d != nil && !d.dyn; d = d.parent {
			d.dyn = true
		}
	}
	// Weigh the evidence where the path grew the tree, now that the whole
	// path is known (changes further up wait for the whole-tree settle).
	if grew != nil {
		g := t.gen.Load()
		if k := len(grew.consts); k < 16 || k >= grew.checked+grew.checked/4 {
			t.maybeMerge(grew)
		}
		if t.gen.Load() != g {
			return t.templateLocked(segs)
		}
	}
	return n.tmpl
}

// Settle re-weighs the evidence at every position of the tree (it also
// happens by itself as traffic grows). Call it before reading the final
// templates of a batch of traffic, as vigil discover does at the end of
// its input and the live inventory does on its tick.
func (t *Templater) Settle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.observed > 0 {
		t.settleAll()
	}
}

func (t *Templater) settleAll() {
	t.observed = 0
	t.settles++
	before := t.gen.Load()
	t.settle(t.root)
	if t.gen.Load() != before {
		t.settle(t.root) // merges below can enable merges above
	}
}

// step moves from n to the child for segment s, creating it if needed, and
// records the hit on it.
func (t *Templater) step(n *node, s string, constant bool) *node {
	if c := n.consts[s]; c != nil {
		c.hits++
		if p := n.param; p != nil && !p.spec && !c.spec && !c.split && !c.static &&
			(p.hasSig(s) || p.untyped && c.hits%16 == 0 && t.sharesContinuation(c, p)) {
			// A sibling left out of an earlier merge grew the same
			// sub-tree as the parameter's values: it is one of them.
			delete(n.consts, s)
			if p.values != nil && len(p.values) < t.cfg.ConfirmDistinct {
				p.values[s] += uint32(c.hits)
			}
			t.fold(p, c)
			t.gen.Add(1)
			return p
		}
		return c
	}
	if !constant {
		if ext := paramExt(s); ext != "" {
			return t.hitExtParam(n, ext) // a template's own "{id}.json"
		}
		if isParamLiteral(s) {
			return t.hitParam(n, s, false)
		}
		if typed(s, t.cfg.MaxSegmentLen) {
			if ext := idExt(s); ext != "" {
				return t.hitExtParam(n, ext)
			}
			return t.hitParam(n, s, true)
		}
		if ext := dataExt(s); ext != "" {
			if c := n.consts[Param+ext]; c != nil && c.untyped {
				return t.hitExtParam(n, ext) // one more US.json beside {parameter}.json
			}
		}
		if n.param != nil && (n.param.untyped && !n.param.mixed && !isFileName(s) || n.param.hasSig(s)) {
			return t.hitParam(n, s, false)
		}
	}
	if t.nodes >= t.cfg.MaxNodes {
		return nil
	}
	c := t.newChild(n, s)
	c.split = constant
	_, c.static = fileStem(s)
	c.hits++
	return c
}

func (t *Templater) newChild(n *node, s string) *node {
	c := &node{parent: n, seg: s}
	c.tmpl = joinTmpl(n.tmpl, s)
	if n.consts == nil {
		n.consts = make(map[string]*node)
	}
	n.consts[s] = c
	t.nodes++
	return c
}

func joinTmpl(parent, seg string) string {
	if parent == "/" {
		return "/" + seg
	}
	return parent + "/" + seg
}

func (t *Templater) paramChild(n *node) *node {
	if n.param == nil {
		n.param = &node{parent: n, seg: Param, isParam: true, tmpl: joinTmpl(n.tmpl, Param)}
		t.nodes++
	}
	return n.param
}

// hitExtParam records an id with a file extension (12.json) at n's
// "{parameter}.json" child: an endpoint of its own beside {parameter}
// (/users/12 and /users/12.json are different representations). It is a
// file-like constant, so no vocabulary merge touches it.
func (t *Templater) hitExtParam(n *node, ext string) *node {
	key := Param + ext
	c := n.consts[key]
	if c == nil {
		if t.nodes >= t.cfg.MaxNodes {
			return nil
		}
		c = t.newChild(n, key)
		c.static = true
	}
	c.hits++
	return c
}

// hitParam records a value at n's parameter child.
func (t *Templater) hitParam(n *node, s string, isTyped bool) *node {
	p := t.paramChild(n)
	p.hits++
	if isTyped {
		p.typed = true
		switch {
		case !isDateVersion(s) && !(len(s) <= 2 && allDigits(s)):
			p.nonDate = true // only dates (2010-04-01) and small numbers (/api/0/) can be versions
		case p.dateVal == "":
			p.dateVal = strings.Clone(s)
		case p.dateVal != s:
			p.dateMulti = true
		}
		if t.demoteVersion(n, p) {
			return p // now the constant p.seg
		}
		if sig := signature(s); sig != "" && len(p.sigs) < 8 && !p.hasSig(s) {
			p.sigs = append(p.sigs, sig)
			// Constants seen earlier with this shape are values too.
			folded := false
			for k, c := range n.consts {
				if !c.spec && !c.split && !c.static && signature(k) == sig {
					delete(n.consts, k)
					t.fold(p, c)
					folded = true
				}
			}
			if folded {
				t.retemplate(p)
				t.gen.Add(1)
			}
		}
		return p
	}
	if p.untyped && p.strong && !t.pool[s] && len(t.pool) < poolMax && !isParamLiteral(s) {
		t.pool[strings.Clone(s)] = true
	}
	if p.values != nil && !isParamLiteral(s) {
		if _, ok := p.values[s]; ok || len(p.values) < t.cfg.ConfirmDistinct {
			p.values[s]++
		}
		if len(p.values) >= t.cfg.ConfirmDistinct {
			p.values = nil // confirmed: a parameter for good
		} else if t.shouldUnmerge(p) {
			t.unmerge(n)
			if c := n.consts[s]; c != nil {
				return c
			}
		}
	}
	return p
}

// versionHits is how many requests a date-shaped parameter must see with
// one and the same value before it is taken for an API version.
const versionHits = 50

// demoteVersion turns n's typed parameter p back into the constant it has
// always been, when every value it saw is one date (Shopify's
// /admin/api/2024-01/..., Twilio's /2010-04-01/...): after versionHits
// requests, with a sub-tree below, within three segments of the root. It
// stays constant (another date later gets a parameter of its own).
func (t *Templater) demoteVersion(n *node, p *node) bool {
	if p.spec || p.untyped || p.nonDate || p.dateMulti || p.dateVal == "" || p.hits < versionHits ||
		(len(p.consts) == 0 && p.param == nil) || depth(n) > 2 || n.consts[p.dateVal] != nil {
		return false
	}
	n.param = nil
	p.isParam, p.typed, p.sigs = false, false, nil
	p.seg, p.split = p.dateVal, true
	if n.consts == nil {
		n.consts = make(map[string]*node)
	}
	n.consts[p.seg] = p
	p.tmpl = joinTmpl(n.tmpl, p.seg)
	t.retemplate(p)
	t.gen.Add(1)
	return true
}

func depth(n *node) int {
	d := 0
	for ; n.parent != nil; n = n.parent {
		d++
	}
	return d
}

// shouldUnmerge: a learned parameter whose few values keep coming back is
// vocabulary after all.
func (t *Templater) shouldUnmerge(p *node) bool {
	if p.spec || p.strong || p.values == nil || p.hits < 100 || len(p.values) >= 2*t.cfg.MinDistinct {
		return false
	}
	return float64(len(p.values)) < float64(p.hits)*t.cfg.MinRatio/4
}

// unmerge turns the provisional values of n's parameter back into
// constants. Their sub-trees were folded and are learned again.
func (t *Templater) unmerge(n *node) {
	p := n.param
	for v, hits := range p.values {
		if n.consts[v] != nil || t.nodes >= t.cfg.MaxNodes {
			continue
		}
		c := t.newChild(n, v)
		c.hits = uint64(hits)
		_, c.static = fileStem(v)
	}
	p.values = nil
	p.untyped = false
	if !p.typed {
		t.nodes -= count(p)
		n.param = nil
	}
	t.gen.Add(1)
}

func (n *node) hasSig(s string) bool {
	if len(n.sigs) == 0 {
		return false
	}
	sig := signature(s)
	for _, g := range n.sigs {
		if g == sig {
			return sig != ""
		}
	}
	return false
}

func count(n *node) int {
	c := 1
	for _, ch := range n.consts {
		c += count(ch)
	}
	if n.param != nil {
		c += count(n.param)
	}
	return c
}

// maybeMerge merges n's constant children into a parameter when the
// evidence says they are values (mergeDecision).
func (t *Templater) maybeMerge(n *node) {
	n.checked = len(n.consts)
	if n.param != nil && n.param.spec {
		return
	}
	t.mergeDataFiles(n)
	merge, strong := t.mergeDecision(n)
	if len(merge) == 0 {
		return
	}
	forced := len(n.consts) >= t.cfg.MaxChildren
	p := t.paramChild(n)
	fresh := !p.untyped
	if !p.untyped {
		p.untyped = true
		if p.values == nil && !forced {
			p.values = make(map[string]uint32, len(merge))
		}
	}
	p.strong = p.strong || strong
	for _, c := range merge {
		delete(n.consts, c.seg)
		if p.values != nil {
			p.values[c.seg] += uint32(c.hits)
		}
		if p.strong && len(t.pool) < poolMax {
			t.pool[strings.Clone(c.seg)] = true
		}
		p.methods |= c.methods
		if c.ends > 0 {
			if ls := p.leafStat(c.seg, t.cfg.ConfirmDistinct); ls != nil {
				ls.hits += uint32(c.ends)
				ls.mut += c.mut
				ls.posts += c.posts
			}
		}
		t.fold(p, c)
	}
	if p.values != nil && len(p.values) >= t.cfg.ConfirmDistinct {
		p.values = nil
	}
	// Beside literals that stay (collections, sub-trees of their own), a
	// new constant is not taken for a value on sight: it must show the
	// values' continuation first.
	for _, c := range n.consts {
		if !c.static && !c.spec && !c.split && (len(c.consts) > 0 || c.param != nil) {
			p.mixed = true
			break
		}
	}
	n.checked = len(n.consts)
	if fresh {
		// Pooled sub-trees may hold merges of their own; values joining
		// a parameter that exists wait for the next whole-tree settle.
		t.settle(p)
	}
	t.gen.Add(1)
}

// sharesContinuation reports whether a, which has no item position of
// its own, is followed by a literal key that the learned parameter b is
// followed by too.
func (t *Templater) sharesContinuation(a, b *node) bool {
	if a.param != nil && !a.param.untyped {
		return false // a collection (/deploys/{id}), not a value
	}
	kb := t.paramKeys(b)
	for k, ch := range a.consts {
		if k[0] == '{' || !ch.dyn {
			continue
		}
		if kb[ckey{k: k}] {
			return true
		}
		for k2, g := range ch.consts {
			if g.dyn && kb[ckey{k: k2, deep: true}] {
				return true
			}
		}
	}
	if p := a.param; p != nil && p.untyped {
		for k2, g := range p.consts {
			if g.dyn && kb[ckey{k: k2, deep: true}] {
				return true
			}
		}
	}
	return false
}

// fold adds the counts and the sub-tree of src into dst; src is dropped.
func (t *Templater) fold(dst, src *node) {
	t.nodes--
	dst.hits += src.hits
	dst.ends += src.ends
	dst.methods |= src.methods
	dst.mut += src.mut
	dst.posts += src.posts
	dst.dyn = dst.dyn || src.dyn
	dst.typed = dst.typed || src.typed
	for k, c := range src.consts {
		switch d := dst.consts[k]; {
		case d != nil:
			t.fold(d, c)
		case dst.param != nil && dst.param.untyped && !c.split && !c.spec && !c.static:
			if v := dst.param.values; v != nil && len(v) < t.cfg.ConfirmDistinct {
				v[k] += uint32(c.hits)
			}
			t.fold(dst.param, c)
		default:
			if dst.consts == nil {
				dst.consts = make(map[string]*node)
			}
			dst.consts[k] = c
			c.parent = dst
			c.tmpl = joinTmpl(dst.tmpl, c.seg)
			t.retemplate(c) // only what moved needs new template strings
		}
	}
	if sp := src.param; sp != nil {
		if dst.param == nil {
			dst.param = sp
			sp.parent = dst
			sp.tmpl = joinTmpl(dst.tmpl, sp.seg)
			t.retemplate(sp)
		} else {
			dp := dst.param
			switch {
			case !sp.untyped:
				// typed values only: no evidence either way
			case !dp.untyped:
				dp.untyped, dp.values = true, sp.values
			case sp.values == nil || dp.values == nil:
				dp.values = nil // one side was confirmed
			default:
				for v, h := range sp.values {
					if len(dp.values) < t.cfg.ConfirmDistinct {
						dp.values[v] += h
					}
				}
			}
			t.fold(dst.param, sp)
		}
	}
}

// settle re-checks merges below n after a fold pooled sub-trees.
func (t *Templater) settle(n *node) {
	for _, c := range n.consts {
		t.settle(c)
	}
	if n.param != nil {
		t.settle(n.param)
	}
	if len(n.consts) >= 2 || n.param != nil && n.param.untyped {
		t.maybeMerge(n)
	}
	t.splitHeavy(n)
}

// retemplate recomputes the cached template strings below n.
func (t *Templater) retemplate(n *node) {
	for _, c := range n.consts {
		c.tmpl = joinTmpl(n.tmpl, c.seg)
		t.retemplate(c)
	}
	if p := n.param; p != nil {
		p.tmpl = joinTmpl(n.tmpl, p.seg)
		t.retemplate(p)
	}
}

// Template returns the current best template for path. It does not record
// anything and does not allocate when the path maps to a known template.
func (t *Templater) Template(path string) string {
	var buf [16]string
	segs := t.segments(path, buf[:])
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.templateLocked(segs)
}

func (t *Templater) templateLocked(segs []string) string {
	n, i := t.walkLocked(segs)
	if i < len(segs) {
		return t.offTree(n, segs, i)
	}
	return n.tmpl
}

// walkLocked follows segs down the tree; it returns the last node reached
// and the index of the first segment it could not follow (len(segs) when
// the whole path is in the tree).
func (t *Templater) walkLocked(segs []string) (*node, int) {
	n := t.root
	grpc := isGRPC(segs)
	for i, s := range segs {
		next := n.consts[s]
		if next == nil && !grpc {
			if ext := paramExt(s); ext != "" {
				next = n.consts[Param+ext]
			}
		}
		if next == nil && !grpc {
			switch {
			case isParamLiteral(s), typed(s, t.cfg.MaxSegmentLen):
				if ext := idExt(s); ext != "" {
					next = n.consts[Param+ext]
				} else {
					next = n.param
				}
			case n.param != nil && (n.param.untyped && !isFileName(s) || n.param.hasSig(s)):
				next = n.param
			}
			if ext := dataExt(s); next == nil && ext != "" {
				if c := n.consts[Param+ext]; c != nil && c.untyped {
					next = c
				}
			}
		}
		if next == nil {
			return n, i
		}
		n = next
	}
	return n, len(segs)
}

// TemplateFolded is Template for paths that are no evidence (404
// answers): a path that leaves the tree keeps the template of what the
// tree knows and folds the rest into one {parameter}, so that probes of
// endless distinct paths make one endpoint per known prefix, not one each.
func (t *Templater) TemplateFolded(path string) string {
	var buf [16]string
	segs := t.segments(path, buf[:])
	t.mu.RLock()
	defer t.mu.RUnlock()
	n, i := t.walkLocked(segs)
	if i == len(segs) {
		return n.tmpl
	}
	return joinTmpl(n.tmpl, Param)
}

// Ends returns how many observed requests ended at path's template (0 for
// a path the tree does not know).
func (t *Templater) Ends(path string) uint64 {
	var buf [16]string
	segs := t.segments(path, buf[:])
	t.mu.RLock()
	defer t.mu.RUnlock()
	n, i := t.walkLocked(segs)
	if i < len(segs) {
		return 0
	}
	return n.ends
}

// offTree builds the template of a path that leaves the tree at segs[i]:
// the rest is templated by shape rules alone.
func (t *Templater) offTree(n *node, segs []string, i int) string {
	var b strings.Builder
	if n != t.root {
		b.WriteString(n.tmpl)
	}
	grpc := isGRPC(segs)
	for _, s := range segs[i:] {
		b.WriteByte('/')
		if !grpc && (isParamLiteral(s) || typed(s, t.cfg.MaxSegmentLen)) {
			if ext := idExt(s); ext != "" {
				b.WriteString(Param + ext)
			} else if n != nil && n.param != nil && n.param.spec {
				b.WriteString(n.param.seg)
			} else {
				b.WriteString(Param)
			}
		} else {
			b.WriteString(s)
		}
		n = nil
	}
	return b.String()
}

// Templates returns the sorted templates that received traffic.
func (t *Templater) Templates() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	var walk func(n *node)
	walk = func(n *node) {
		if n.ends > 0 {
			out = append(out, n.tmpl)
		}
		for _, c := range n.consts {
			walk(c)
		}
		if n.param != nil {
			walk(n.param)
		}
	}
	walk(t.root)
	sort.Strings(out)
	return out
}

// AddSpecTemplate adds a template from an OpenAPI document
// ("/pets/{petId}"). Spec templates win over learned ones and keep their
// parameter names; constant segments beat parameters at the same position.
func (t *Templater) AddSpecTemplate(tmpl string) error {
	return t.declare(tmpl, false)
}

// Pin makes every path that matches tmpl ("/repos/{owner}/{repo}") map to
// it, whatever the evidence says.
func (t *Templater) Pin(tmpl string) error { return t.declare(tmpl, false) }

// Split forces path ("/users/me") to stay a constant even when its siblings
// are merged into a parameter. Segments written as {name} follow the
// parameter at that position.
func (t *Templater) Split(path string) error { return t.declare(path, true) }

func (t *Templater) declare(tmpl string, split bool) error {
	if !strings.HasPrefix(tmpl, "/") {
		return fmt.Errorf("template: %q must start with /", tmpl)
	}
	var buf [16]string
	segs := t.segments(tmpl, buf[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.root
	for _, s := range segs {
		if isParamLiteral(s) {
			if strings.ContainsAny(s[1:len(s)-1], "{}/") {
				return fmt.Errorf("template: bad parameter %q in %q", s, tmpl)
			}
			p := t.paramChild(n)
			if !split && !p.spec {
				p.spec = true
				p.untyped = true
				p.values = nil
				p.seg = s
				// Learned constants at this position are values of the
				// declared parameter.
				for k, c := range n.consts {
					if !c.spec && !c.split && !c.static {
						delete(n.consts, k)
						t.fold(p, c)
					}
				}
			}
			n = p
			continue
		}
		key := s
		if ext := paramExt(s); ext != "" {
			key = Param + ext // {id}.json: where ids with that extension go
		}
		c := n.consts[key]
		if c == nil {
			c = t.newChild(n, key)
			_, c.static = fileStem(key)
		}
		if key != s && !split {
			c.seg = s // the spec's parameter name
		}
		if split {
			c.split = true
		} else {
			c.spec = true
		}
		n = c
	}
	t.retemplate(t.root)
	t.gen.Add(1)
	return nil
}
