package schema

import (
	"encoding/json"
	"math"
	"slices"
	"sort"

	"github.com/vigil-sec/vigil/internal/discovery/sensitive"
)

// node is what was learned at one place in a message. Its exported fields
// are the stored state (see MarshalJSON); counts are occurrences.
type node struct {
	N    int64 `json:"n"`              // times a value was present here (null included)
	Null int64 `json:"null,omitempty"` // ... of which null
	Bool int64 `json:"bool,omitempty"`
	Int  int64 `json:"int,omitempty"`
	Num  int64 `json:"num,omitempty"` // non-integer numbers
	Str  int64 `json:"str,omitempty"` // strings, multipart file parts included
	Obj  int64 `json:"obj,omitempty"`
	Arr  int64 `json:"arr,omitempty"`

	Formats map[string]int64 `json:"formats,omitempty"` // detected format -> strings; "" for none
	Media   string           `json:"media,omitempty"`   // content type of file parts (first seen)
	Enum    map[string]int64 `json:"enum,omitempty"`    // distinct strings while enum-eligible
	NoEnum  bool             `json:"no_enum,omitempty"` // not an enum, ever
	Classes []string         `json:"sensitive,omitempty"`

	Props   map[string]*node `json:"props,omitempty"`
	Dropped int64            `json:"dropped,omitempty"` // property occurrences not learned (caps)
	Map     *node            `json:"map,omitempty"`     // values under id-like keys
	Items   *node            `json:"items,omitempty"`

	idKeys int // id-like keys in Props
}

func (n *node) clone() *node {
	if n == nil {
		return nil
	}
	c := *n
	c.Formats = cloneCounts(n.Formats)
	c.Enum = cloneCounts(n.Enum)
	c.Classes = slices.Clone(n.Classes)
	if n.Props != nil {
		c.Props = make(map[string]*node, len(n.Props))
		for k, p := range n.Props {
			c.Props[k] = p.clone()
		}
	}
	c.Map = n.Map.clone()
	c.Items = n.Items.clone()
	return &c
}

func cloneCounts(m map[string]int64) map[string]int64 {
	if m == nil {
		return nil
	}
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// count returns the nodes of the tree under n, n included.
func (n *node) count() int {
	if n == nil {
		return 0
	}
	c := 1
	for _, p := range n.Props {
		c += p.count()
	}
	return c + n.Map.count() + n.Items.count()
}

func (s *Schema) observe(n *node, v any, depth int, field string) {
	switch x := v.(type) {
	case nil:
		n.N++
		n.Null++
	case bool:
		n.N++
		n.Bool++
	case string:
		n.N++
		n.Str++
		s.observeString(n, field, x)
	case json.Number:
		n.N++
		if isIntegerLiteral(string(x)) {
			n.Int++
		} else {
			n.Num++
		}
		if len(x) >= 7 {
			s.classify(n, field, string(x))
		}
	case float64:
		n.N++
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			n.Int++
		} else {
			n.Num++
		}
	case int:
		n.N++
		n.Int++
	case int64:
		n.N++
		n.Int++
	case fileValue:
		n.N++
		n.Str++
		n.addFormat(FormatBinary)
		n.noEnum()
		if n.Media == "" {
			n.Media = x.media
		}
	case map[string]any:
		n.N++
		n.Obj++
		if depth >= s.opts.MaxDepth {
			n.Dropped += int64(len(x))
			return
		}
		if len(x) == 0 {
			return
		}
		if n.Props == nil {
			n.Props = make(map[string]*node)
		}
		for k, e := range x {
			c := s.child(n, k, depth)
			if c == nil {
				n.Dropped++
				continue
			}
			s.observe(c, e, depth+1, k)
		}
	case []any:
		n.N++
		n.Arr++
		if depth >= s.opts.MaxDepth || len(x) == 0 {
			return
		}
		if n.Items == nil {
			if s.nodes >= s.opts.MaxNodes {
				return
			}
			n.Items = &node{}
			s.nodes++
		}
		for i, e := range x {
			if i == s.opts.MaxArrayItems {
				break
			}
			s.observe(n.Items, e, depth+1, field)
		}
	}
}

func (n *node) addFormat(f string) {
	if n.Formats == nil {
		n.Formats = make(map[string]int64, 1)
	}
	n.Formats[f]++
}

func (n *node) noEnum() {
	n.NoEnum = true
	n.Enum = nil
}

func (s *Schema) observeString(n *node, field, x string) {
	f := detectFormat(x)
	n.addFormat(f)
	if f != "" {
		n.noEnum()
	}
	if s.classify(n, field, x) {
		n.noEnum()
	}
	if n.NoEnum {
		return
	}
	if len(x) > s.opts.EnumMaxLength {
		n.noEnum()
		return
	}
	if n.Enum == nil {
		n.Enum = make(map[string]int64)
	}
	n.Enum[x]++
	if len(n.Enum) > s.opts.EnumMaxValues {
		n.noEnum()
	}
}

// classify records the sensitive classes of a value; it reports whether
// there were any.
func (s *Schema) classify(n *node, field, x string) bool {
	classes := s.opts.Classifier.Value(field, x)
	for _, c := range classes {
		if !slices.Contains(n.Classes, string(c)) {
			n.Classes = append(n.Classes, string(c))
			slices.Sort(n.Classes)
		}
	}
	return len(classes) > 0
}

func isIntegerLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' || s[i] == 'e' || s[i] == 'E' {
			return false
		}
	}
	return true
}

// idLikeKey reports whether an object key looks like data rather than a
// field name: all digits, a UUID, 12+ hex digits with a digit, or an
// email address.
func idLikeKey(k string) bool {
	if k == "" {
		return false
	}
	allDigits, allHex, digit := true, true, false
	for i := 0; i < len(k); i++ {
		b := k[i]
		if isDigit(b) {
			digit = true
		} else {
			allDigits = false
		}
		if !isHex(b) {
			allHex = false
		}
	}
	switch {
	case allDigits:
		return true
	case allHex && digit && len(k) >= 12:
		return true
	case len(k) == 36 && k[8] == '-' && k[13] == '-' && k[18] == '-' && k[23] == '-' && isUUID(k):
		return true
	case hasByte(k, '@'):
		return sensitive.IsEmail(k)
	}
	return false
}

// child returns the node for property key of object n, creating it within
// the caps, or nil when the property is not to be learned.
func (s *Schema) child(n *node, key string, depth int) *node {
	if c, ok := n.Props[key]; ok {
		return c
	}
	id := idLikeKey(key)
	if id && n.Map != nil {
		return n.Map
	}
	if id && n.idKeys+1 >= s.opts.MapMinKeys {
		s.collapse(n, depth)
		if n.Map != nil {
			return n.Map
		}
	}
	if len(n.Props) >= s.opts.MaxProperties || s.nodes >= s.opts.MaxNodes {
		return nil
	}
	c := &node{}
	if n.Props == nil {
		n.Props = make(map[string]*node)
	}
	n.Props[key] = c
	s.nodes++
	if id {
		n.idKeys++
	}
	return c
}

// collapse turns object n into a map: its id-like properties merge into
// n.Map, which learns every id-like key from now on.
func (s *Schema) collapse(n *node, depth int) {
	var moved []*node
	for _, k := range sortedKeys(n.Props) {
		if idLikeKey(k) {
			moved = append(moved, n.Props[k])
			delete(n.Props, k)
		}
	}
	n.idKeys = 0
	s.nodes = s.root.count()
	if s.nodes >= s.opts.MaxNodes {
		return
	}
	n.Map = &node{}
	s.nodes++
	for _, m := range moved {
		s.mergeNode(n.Map, m, depth+1)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mergeNode adds o into d, keeping s's caps. o is not changed.
func (s *Schema) mergeNode(d, o *node, depth int) {
	d.N += o.N
	d.Null += o.Null
	d.Bool += o.Bool
	d.Int += o.Int
	d.Num += o.Num
	d.Str += o.Str
	d.Obj += o.Obj
	d.Arr += o.Arr
	d.Dropped += o.Dropped
	for _, f := range sortedKeys(o.Formats) {
		if d.Formats == nil {
			d.Formats = make(map[string]int64, len(o.Formats))
		}
		d.Formats[f] += o.Formats[f]
	}
	if d.Media == "" {
		d.Media = o.Media
	}
	for _, c := range o.Classes {
		if !slices.Contains(d.Classes, c) {
			d.Classes = append(d.Classes, c)
		}
	}
	slices.Sort(d.Classes)
	switch {
	case d.NoEnum:
	case o.NoEnum || len(d.Classes) > 0:
		d.noEnum()
	default:
		for _, v := range sortedKeys(o.Enum) {
			if len(v) > s.opts.EnumMaxLength {
				d.noEnum()
				break
			}
			if d.Enum == nil {
				d.Enum = make(map[string]int64)
			}
			d.Enum[v] += o.Enum[v]
			if len(d.Enum) > s.opts.EnumMaxValues {
				d.noEnum()
				break
			}
		}
	}
	if depth >= s.opts.MaxDepth {
		for _, p := range o.Props {
			d.Dropped += p.N
		}
		return
	}
	if o.Map != nil && d.Map == nil && s.nodes < s.opts.MaxNodes {
		s.collapse(d, depth)
	}
	for _, k := range sortedKeys(o.Props) {
		op := o.Props[k]
		c := s.child(d, k, depth)
		if c == nil {
			d.Dropped += op.N
			continue
		}
		s.mergeNode(c, op, depth+1)
	}
	if o.Map != nil {
		if d.Map != nil {
			s.mergeNode(d.Map, o.Map, depth+1)
		} else {
			d.Dropped += o.Map.N
		}
	}
	if o.Items != nil {
		if d.Items == nil && s.nodes < s.opts.MaxNodes {
			d.Items = &node{}
			s.nodes++
		}
		if d.Items != nil {
			s.mergeNode(d.Items, o.Items, depth+1)
		}
	}
}
