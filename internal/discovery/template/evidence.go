package template

import (
	"net/url"
	"slices"
	"strings"
)

// The structural evidence that decides whether untyped sibling segments
// (usernames, slugs, label names) are values of one parameter or a set of
// literals (the API's vocabulary). No single count decides; the rules
// combine:
//
//   - cardinality and repetition: many distinct siblings with few hits each
//     are values, a handful requested again and again are vocabulary;
//   - continuation shape: siblings whose sub-trees share literal keys
//     (/mirrors/X/status for many X, or /repos/X/Y/issues two levels down)
//     are one parameter; siblings with sub-trees of their own are literals;
//   - lexical value marks: digits inside a word (web-2024), dots, percent
//     escapes, capitals after a separator, SHOUTING_SNAKE: shapes that
//     hand-written API vocabulary (users, payment_intents, IncomingPhone
//     Numbers, oauth2) does not take;
//   - value pools: a segment already learned as a value of a parameter
//     elsewhere in the tree (the same usernames under /users/ and /teams/
//     {team}/members/) is a value here too;
//   - methods: a sibling that received PUT, PATCH or DELETE is more likely
//     an item than a collection;
//   - the parent: the children of a plural collection segment (/users,
//     /licenses, /secrets) are items more often than not; the root's are
//     not.

// Method bits recorded on nodes: the mutating methods of an item.
const (
	mPut uint8 = 1 << iota
	mPatch
	mDelete
)

// leafStat counts the requests that ended at one value of a learned leaf
// parameter: all of them, the mutating ones and the POSTs.
type leafStat struct{ hits, mut, posts uint32 }

func (l *leafStat) add(n uint32, bit uint8, method string) {
	if l == nil {
		return
	}
	l.hits += n
	if bit != 0 {
		l.mut += n
	}
	if method == "POST" || method == "post" {
		l.posts += n
	}
}

// leafStat returns the counters of value v, nil when max values are
// counted already.
func (n *node) leafStat(v string, maxValues int) *leafStat {
	if ls := n.leaves[v]; ls != nil {
		return ls
	}
	if len(n.leaves) >= maxValues {
		return nil
	}
	if n.leaves == nil {
		n.leaves = make(map[string]*leafStat)
	}
	ls := &leafStat{}
	n.leaves[strings.Clone(v)] = ls
	return ls
}

func (n *node) countMethod(bit uint8, method string) {
	if bit != 0 {
		n.mut++
	}
	if method == "POST" || method == "post" {
		n.posts++
	}
}

func methodBit(m string) uint8 {
	switch m {
	case "PUT", "put":
		return mPut
	case "PATCH", "patch":
		return mPatch
	case "DELETE", "delete":
		return mDelete
	}
	return 0
}

// valueMarked reports whether a raw untyped segment carries a mark that
// API vocabulary rarely has. Such a mark alone does not make a parameter;
// it is evidence that a set of siblings are values.
func valueMarked(raw string) bool {
	s := raw
	if strings.IndexByte(s, '%') >= 0 {
		return true // encoded spaces, slashes, '#': label and language names
	}
	if len(s) > 40 {
		return true
	}
	var letters, digits, upper, lower, seps int
	upperAfterSep := false
	prevSep := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			letters++
			lower++
			prevSep = false
		case c >= 'A' && c <= 'Z':
			letters++
			upper++
			if prevSep {
				upperAfterSep = true
			}
			prevSep = false
		case c >= '0' && c <= '9':
			digits++
			prevSep = false
		case c == '-' || c == '_':
			seps++
			prevSep = true
		default:
			return true // . @ ~ : + ! ' ( ) * , ; = and bytes beyond ASCII
		}
	}
	switch {
	case letters == 0:
		return true
	case upper >= 2 && lower == 0 && (seps > 0 || digits > 0 || len(s) == 2 || len(s) > 5):
		return true // DEPLOY_KEY, NPM_TOKEN, US; not the acronyms SIP, SMS, API
	case upperAfterSep && lower > 0:
		return true // Objective-C, Jane-Doe
	case digits > 0 && seps > 0:
		return true // web-2024, dev_ops42, pro-2024 (top_100 stays a word)
	case digits > 0 && !wordWithVersion(s):
		return true // user42, team7b; not oauth2, ipv6, sha256, s3
	}
	return false
}

// wordWithVersion reports a word with a short trailing number as API
// vocabulary spells it: oauth2, ipv6, sha256, s3, v1, html5, i18n, k8s.
func wordWithVersion(s string) bool {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) {
		// digits inside: i18n, k8s, x86 stay words when short
		return len(s) <= 5
	}
	return len(s)-i <= 3 && i >= 1 && i <= 6 && allLetters(s[:i])
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) {
			return false
		}
	}
	return s != ""
}

// isVersion reports an API version segment (v1, v2beta1, V3): never merged
// with its siblings by shape or continuation alone.
func isVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' && s[0] != 'V' || s[1] < '0' || s[1] > '9' {
		return false
	}
	return allAlnum(s[1:])
}

// plural reports a segment that names a collection (users, licenses,
// secrets, IncomingPhoneNumbers, categories): its children are usually
// items. A shape rule, not a word list: an English plural ending.
func plural(seg string) bool {
	if isParamLiteral(seg) || strings.IndexByte(seg, '.') >= 0 {
		return false
	}
	if d, err := url.PathUnescape(seg); err == nil {
		seg = d
	}
	n := len(seg)
	if n < 4 || !allLetters(strings.ReplaceAll(strings.ReplaceAll(seg, "-", ""), "_", "")) {
		return false
	}
	last := seg[n-1] | 0x20
	prev := seg[n-2] | 0x20
	if last != 's' {
		return false
	}
	switch prev {
	case 's', 'u', 'i': // access, status, analysis
		return false
	}
	return true
}

// candidate is one untyped constant child weighed for a merge.
type candidate struct {
	n      *node
	keys   []ckey // literal continuation keys, direct and two levels down
	leaf   bool
	coll   bool    // has an item position of its own: a collection
	shared bool    // shares a continuation key with another candidate
	pooled bool    // a value learned at another position
	ev     float64 // value evidence, 0..1
}

// continuation returns the literal keys below c that say what c is
// followed by: its constant children ("issues"), and through its constant
// children and its learned parameter the keys one level further
// ("/issues"), so that /repos/X/Y/issues links owners X through their
// repositories Y. Typed parameters are not keys: every collection has one.
func continuation(c *node, buf []ckey) []ckey {
	keys := buf // appended to
	for k, ch := range c.consts {
		if k[0] == '{' || !ch.dyn {
			continue // {parameter}.json is an item position; static files say nothing
		}
		keys = append(keys, ckey{k: k})
		keys = appendDeep(keys, ch)
	}
	if p := c.param; p != nil && p.untyped {
		keys = appendDeep(keys, p)
	}
	return keys
}

// tally counts the candidates a key follows (last: the candidate that
// counted it last, as a continuation may repeat a key).
type tally struct{ n, last int }

// ckey is a continuation key: a child's segment, or (deep) a grandchild's.
// Keys may repeat in a continuation.
type ckey struct {
	k    string
	deep bool
}

// maxDeepKeys bounds the keys taken from one child's children: enough to
// link siblings, bounded however wide the tree grows.
const maxDeepKeys = 32

func appendDeep(keys []ckey, ch *node) []ckey {
	n := 0
	for k2, g := range ch.consts {
		if g.dyn {
			keys = append(keys, ckey{k: k2, deep: true})
			if n++; n == maxDeepKeys {
				break
			}
		}
	}
	return keys
}

// paramKeys returns the continuation keys of a learned parameter, cached
// until its constant children change in number or the tree is settled.
func (t *Templater) paramKeys(p *node) map[ckey]bool {
	if p.keys != nil && p.keysAt == len(p.consts) && p.keysGen == t.settles {
		return p.keys
	}
	m := make(map[ckey]bool)
	for _, k := range continuation(p, nil) {
		m[k] = true
	}
	p.keys, p.keysAt, p.keysGen = m, len(p.consts), t.settles
	return m
}

// mergeDecision weighs n's untyped constant children and returns those to
// merge into n's parameter, or nil. It does not change the tree.
func (t *Templater) mergeDecision(n *node) (merge []*node, strong bool) {
	var cands []candidate
	for _, c := range n.consts {
		if !c.spec && !c.split && !c.static {
			cands = append(cands, candidate{n: c})
		}
	}
	k := len(cands)
	if k >= t.cfg.MaxChildren {
		// The memory bound: merge whatever has no sub-tree of its own
		// (leaves, and values followed only by leaves); the rest stays.
		var out []*node
		for i := range cands {
			if c := cands[i].n; c.param == nil && (len(c.consts) == 0 || flat(c)) {
				out = append(out, c)
			}
		}
		return out, false
	}
	learned := n.param != nil && n.param.untyped && !n.param.spec
	if n == t.root || k == 0 {
		return nil, false
	}
	if k < 2 && !learned {
		// One value of a long-tail operation: a parameter when it is a
		// known value of another position (POST /order/add/dave, with dave
		// among the users) and nothing below it says otherwise.
		c := cands[0].n
		if t.pool[c.seg] && c.dyn && (len(c.consts) == 0 && c.param == nil || flat(c)) && !isVersion(c.seg) {
			return []*node{c}, true
		}
		return nil, false
	}
	// count: how many candidates each key follows.
	if t.tally == nil {
		t.tally = make(map[ckey]tally)
	}
	count := t.tally // scratch, under the write lock
	clear(count)
	all := t.scratch[:0]
	for i := range cands {
		c := &cands[i]
		start := len(all)
		all = continuation(c.n, all)
		c.keys = all[start:len(all):len(all)]
		c.leaf = len(c.n.consts) == 0 && c.n.param == nil
		for _, key := range c.keys {
			if tl, ok := count[key]; !ok || tl.last != i+1 {
				count[key] = tally{tl.n + 1, i + 1}
			}
		}
	}
	t.scratch = all
	// A constant whose continuation is the learned parameter's own is one
	// more of its values (left out of an earlier merge, or seen first).
	var join []*node
	if learned {
		pk := t.paramKeys(n.param)
		for i := range cands {
			c := cands[i].n
			// a rarely requested leaf beside values that end there too
			if len(c.consts) == 0 && c.param == nil && c.dyn && n.param.ends > 0 && c.hits < 8 {
				join = append(join, c)
				cands[i].n = nil
				continue
			}
			// a rarely requested value followed by what follows the
			// parameter's values: one more value of a learned parameter
			// (/teams/{org}/{team}: sequoia/mobile-ios seen once)
			if pp := n.param.param; pp != nil && pp.untyped && c.dyn && c.hits < 8 &&
				(flat(c) && len(c.consts) > 0 && pp.ends > 0 || len(c.consts) == 0 && c.param != nil) {
				join = append(join, c)
				cands[i].n = nil
				continue
			}
			for _, key := range cands[i].keys {
				if pk[key] {
					join = append(join, c)
					cands[i].n = nil
					break
				}
			}
		}
		cands = slices.DeleteFunc(cands, func(c candidate) bool { return c.n == nil })
	}
	for i := range cands {
		c := &cands[i]
		for _, key := range c.keys {
			if count[key].n > 1 {
				c.shared = true
				break
			}
		}
		// A child followed by an item position that its siblings do not
		// share is a collection (/users/{id} beside /orders/{id}).
		// A typed item position is always one.
		if p := c.n.param; p != nil {
			c.coll = !p.untyped || !c.shared
		}
		for key := range c.n.consts {
			if key[0] == '{' {
				c.coll = true
			}
		}
		if t.pool[c.n.seg] {
			c.ev = 1
			c.pooled = true
		} else if valueMarked(c.n.seg) {
			c.ev = 1
		} else if c.n.methods != 0 {
			c.ev = 0.25 // actions are PUT and POST too (/player/pause)
		}
	}
	var alike []*candidate
	var ev float64
	var nonleaf, shared, versions, pooled, static, snake int
	var hits uint64
	for i := range cands {
		c := &cands[i]
		if isVersion(c.n.seg) {
			versions++
			continue
		}
		if !c.n.dyn {
			static++
		}
		if c.coll || !c.n.dyn || !c.leaf && !c.shared && !flat(c.n) {
			continue // a collection, a folder of files, or a sub-tree of its own
		}
		alike = append(alike, c)
		if snakeWords(c.n.seg) {
			snake++
		}
		ev += c.ev
		if c.pooled {
			pooled++
		}
		hits += c.n.hits
		if !c.leaf {
			nonleaf++
			if c.shared {
				shared++
			}
		}
	}
	a := len(alike)
	if a < 2 {
		return join, false
	}
	vfrac := ev / float64(a)
	rep := float64(a) / float64(max(hits, 1))
	pl := !n.isParam && plural(n.seg)
	structural := nonleaf >= 2 && float64(shared) >= 0.8*float64(nonleaf)
	lexical := a >= 2 && vfrac >= 0.75 && (pl || a >= 3 || pooled*2 >= a) || a >= 3 && vfrac >= 0.5
	if float64(a) < float64(len(cands)-versions)*t.cfg.Alike {
		// A position shared by vocabulary and values (/api/v1/sites beside
		// /api/v1/{account_slug}/members): the values merge when they
		// alone make a strong case; the collections and sub-trees of
		// their own beside them stay literal.
		if !structural || static > 0 || !(shared >= 3 && vfrac >= 0.25 || shared >= 6) {
			return join, false
		}
	}
	constParent := !n.isParam
	switch {
	case lexical:
		strong = true
	case structural && (a >= 3 || pl || vfrac > 0):
		strong = true
	case constParent && pl && a >= 3 && (vfrac >= 0.25 || rep >= 0.25):
	case constParent && a >= 12 && rep >= 0.25 && 2*snake < a:
	case a >= 30 && rep >= 0.1 && (vfrac >= 0.25 || constParent):
	case a >= 24 && rep >= 0.5: // a long tail of values, each seen once or twice
	case a >= 128 && rep >= 0.05:
	default:
		return join, false
	}
	// A plain leaf word requested far more often than even the most
	// popular marked value beside it is a literal of its own (/user/login
	// beside /user/{username}); a popular value is not (Zipf: the first
	// value has about twice the hits of the second).
	var top uint64
	for _, c := range alike {
		if c.ev > 0 {
			top = max(top, c.n.hits)
		}
	}
	for _, c := range alike {
		if c.ev == 0 && c.leaf && top > 0 && c.n.hits >= 8 && c.n.hits >= 3*top {
			continue
		}
		merge = append(merge, c.n)
	}
	if len(merge) < 2 && (n.param == nil || !n.param.untyped) {
		return join, false
	}
	return append(merge, join...), strong
}

// flat reports a node whose children are all leaves: with no key shared,
// it is neither like nor unlike its siblings (an owner with one repository
// seen, /repos/jane/dotfiles).
func flat(n *node) bool {
	if n.param != nil {
		return false
	}
	for _, c := range n.consts {
		if len(c.consts) > 0 || c.param != nil {
			return false
		}
	}
	return true
}

// isFileName reports a segment that names a file (index.html, logo.png):
// it stays an endpoint of its own beside a learned parameter.
func isFileName(s string) bool {
	_, ok := fileStem(s)
	return ok
}

// splitHeavy turns the plain words that n's learned leaf parameter
// absorbed back into literals when their methods say they are operations
// of their own, not values: no PUT, PATCH or DELETE where the values get
// enough of them for that to be telling, or only POSTs where values get
// none. Hits alone cannot tell /users/me from a popular username.
func (t *Templater) splitHeavy(n *node) {
	p := n.param
	if p == nil || !p.untyped || p.spec || len(p.leaves) < 4 || len(p.consts) > 0 || p.param != nil {
		return // values with a sub-tree: which part was the word's is not known
	}
	var all leafStat
	for _, ls := range p.leaves {
		all.hits += ls.hits
		all.mut += ls.mut
		all.posts += ls.posts
	}
	for v, ls := range p.leaves {
		h := ls.hits
		if valueMarked(v) || h < 8 || n.consts[v] != nil || isParamLiteral(v) || t.nodes >= t.cfg.MaxNodes {
			continue
		}
		// Items receive the methods of their family; an operation of its
		// own does not (GET /user/login beside GET, PUT and DELETE on
		// /user/{username}; POST /user/createWithList where no value is
		// POSTed).
		others := leafStat{all.hits - h, all.mut - ls.mut, all.posts - ls.posts}
		var own bool
		if others.hits > 0 {
			share := float64(others.mut) / float64(others.hits)
			own = ls.mut == 0 && float64(h)*share >= 4 || ls.posts == h && others.posts == 0
		}
		if !own {
			continue
		}
		c := t.newChild(n, v)
		c.hits, c.ends, c.dyn = uint64(h), uint64(h), true
		c.mut, c.posts = ls.mut, ls.posts
		if len(t.splits) < 1024 {
			t.splits = append(t.splits, Split{From: p.tmpl, To: c.tmpl, Gets: uint64(h - ls.mut - ls.posts), Posts: uint64(ls.posts)})
		}
		p.hits -= min(p.hits, uint64(h))
		p.ends -= min(p.ends, uint64(h))
		delete(p.values, v)
		delete(p.leaves, v)
		delete(t.pool, v)
		t.gen.Add(1)
	}
}

// Split tells the inventory that requests it counted under From belong to
// the literal To: Gets non-mutating requests, Posts POSTs.
type Split struct {
	From, To    string
	Gets, Posts uint64
}

// TakeSplits returns the literals split out of learned parameters since
// the last call.
func (t *Templater) TakeSplits() []Split {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.splits
	t.splits = nil
	return s
}

// dataExt returns the extension (".json") of a data file named by an
// untyped value (US.json, jane.json), or "".
func dataExt(s string) string {
	if !dataFile(s) {
		return ""
	}
	k := strings.LastIndexByte(s, '.')
	if idStem(s[:k]) {
		return "" // typed: idExt handles it
	}
	return s[k:]
}

// mergeDataFiles merges n's data-file children whose names are values
// (/AvailablePhoneNumbers/US.json, ES.json, …) into n's {parameter}.json,
// on the same value marks as other merges: three or more, most of them
// marked or pooled.
func (t *Templater) mergeDataFiles(n *node) {
	if n == t.root {
		return
	}
	groups := map[string][]*node{}
	for k, c := range n.consts {
		if c.spec || c.split || len(c.consts) > 0 || c.param != nil {
			continue
		}
		if ext := dataExt(k); ext != "" {
			groups[ext] = append(groups[ext], c)
		}
	}
	for ext, g := range groups {
		target := n.consts[Param+ext]
		learned := target != nil && target.untyped
		var marked int
		for _, c := range g {
			stem := c.seg[:len(c.seg)-len(ext)]
			if valueMarked(stem) || t.pool[stem] {
				marked++
			}
		}
		if !learned && (len(g) < 3 || 2*marked < len(g)) {
			continue
		}
		if target == nil {
			target = t.newChild(n, Param+ext)
			target.static = true
		}
		target.untyped = true
		for _, c := range g {
			delete(n.consts, c.seg)
			t.fold(target, c)
		}
		t.retemplate(n)
		t.gen.Add(1)
	}
}

// snakeWords reports a long snake_case identifier of three or more words
// (droplets_queue_size): the naming of vocabulary (metric, event and
// permission names), which counts alone do not turn into a parameter.
func snakeWords(s string) bool {
	if len(s) < 12 || strings.Count(s, "_") < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
