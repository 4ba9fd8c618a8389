package discovery

import "strings"

// observeGraphQL records the operation of a GraphQL request body (a JSON
// object with "query" and optionally "operationName", or a batch array).
func observeGraphQL(en *entry, v any) {
	switch b := v.(type) {
	case []any:
		for i, x := range b {
			if i >= 16 {
				return
			}
			observeGraphQL(en, x)
		}
	case map[string]any:
		q, _ := b["query"].(string)
		if q == "" {
			return
		}
		name, _ := b["operationName"].(string)
		op := ParseGraphQL(q, name)
		if op.Name == "" {
			op.Name = "(anonymous)"
		}
		k := op.Type + " " + op.Name
		if cur, ok := en.ops[k]; ok {
			cur.Hits++
			return
		}
		if len(en.ops) >= maxOps {
			return
		}
		op.Hits = 1
		en.ops[k] = &op
	}
}

// ParseGraphQL extracts the type, name and root fields of the operation
// named want (or the first one) from a GraphQL document. It is a small
// tokenizer, not a validator: it never fails, it just finds less.
func ParseGraphQL(doc, want string) GraphQLOperation {
	p := gqlLexer{s: doc}
	var first GraphQLOperation
	found := false
	for {
		tok := p.next()
		if tok == "" {
			break
		}
		var op GraphQLOperation
		switch tok {
		case "query", "mutation", "subscription":
			op.Type = tok
			t := p.next()
			if isName(t) {
				op.Name = t
				t = p.next()
			}
			if t == "(" {
				p.skipBalanced("(", ")")
				t = p.next()
			}
			for t == "@" { // directives
				p.next()
				t = p.next()
				if t == "(" {
					p.skipBalanced("(", ")")
					t = p.next()
				}
			}
			if t != "{" {
				continue
			}
		case "{":
			op.Type = "query" // shorthand query
		case "fragment":
			p.skipUntil("{")
			p.skipBalanced("{", "}")
			continue
		default:
			continue
		}
		op.RootFields = p.rootFields()
		if !found {
			first, found = op, true
		}
		if want == "" || op.Name == want {
			return op
		}
	}
	return first
}

type gqlLexer struct {
	s string
	i int
}

func isName(t string) bool {
	if t == "" {
		return false
	}
	c := t[0]
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (l *gqlLexer) next() string {
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			l.i++
		case c == '#':
			for l.i < len(l.s) && l.s[l.i] != '\n' {
				l.i++
			}
		case c == '"':
			l.skipString()
			return `"`
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := l.i
			for l.i < len(l.s) && (l.s[l.i] == '_' || l.s[l.i] >= 'a' && l.s[l.i] <= 'z' || l.s[l.i] >= 'A' && l.s[l.i] <= 'Z' || l.s[l.i] >= '0' && l.s[l.i] <= '9') {
				l.i++
			}
			return l.s[j:l.i]
		case c == '.' && strings.HasPrefix(l.s[l.i:], "..."):
			l.i += 3
			return "..."
		default:
			l.i++
			return l.s[l.i-1 : l.i]
		}
	}
	return ""
}

func (l *gqlLexer) skipString() {
	if strings.HasPrefix(l.s[l.i:], `"""`) {
		end := strings.Index(l.s[l.i+3:], `"""`)
		if end < 0 {
			l.i = len(l.s)
		} else {
			l.i += 3 + end + 3
		}
		return
	}
	l.i++
	for l.i < len(l.s) {
		switch l.s[l.i] {
		case '\\':
			l.i += 2
		case '"':
			l.i++
			return
		default:
			l.i++
		}
	}
}

func (l *gqlLexer) skipUntil(t string) {
	for tok := l.next(); tok != "" && tok != t; tok = l.next() {
	}
}

// skipBalanced skips to the token closing an already-consumed open.
func (l *gqlLexer) skipBalanced(open, close string) {
	depth := 1
	for depth > 0 {
		tok := l.next()
		switch tok {
		case "":
			return
		case open:
			depth++
		case close:
			depth--
		}
	}
}

// rootFields reads the fields of a selection set whose "{" was consumed.
func (l *gqlLexer) rootFields() []string {
	var out []string
	for {
		tok := l.next()
		switch {
		case tok == "" || tok == "}":
			return out
		case tok == "{":
			l.skipBalanced("{", "}")
		case tok == "(":
			l.skipBalanced("(", ")")
		case tok == "...":
			// A fragment spread names a fragment (skipped); an inline
			// fragment's fields are root fields too.
			t := l.next()
			if t == "on" {
				l.next()
				t = l.next()
			}
			for t == "@" {
				l.next()
				if t = l.next(); t == "(" {
					l.skipBalanced("(", ")")
					t = l.next()
				}
			}
			if t == "{" {
				for _, f := range l.rootFields() {
					if len(out) < 32 {
						out = append(out, f)
					}
				}
			}
		case tok == "@":
			l.next()
		case isName(tok):
			// alias: field
			save := l.i
			if l.next() == ":" {
				tok = l.next()
			} else {
				l.i = save
			}
			if len(out) < 32 {
				out = append(out, tok)
			}
		}
	}
}
