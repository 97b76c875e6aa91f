// Package query is the search language of replays and live search, a subset
// of the Lucene query string syntax that Kibana users type:
//
//	timeout                      a word of the message, or any exact field's value
//	"connection reset"           a phrase of the message, or any exact field's value
//	log.level:error              a field's value (exact, except for text fields)
//	service.name:api*            a wildcard (* and ?)
//	http.response.status_code:[500 TO 599]   an inclusive range ({} exclusive)
//	bytes:>1000                  open ranges: > >= < <=
//	a AND b, a OR b, NOT a, -a, (a OR b) c   (juxtaposition means AND)
//
// One parsed Node is used three ways, so the three agree on what matches: the
// replay loader filters events with Match, the embedded index runs Bleve, and
// OpenSearch runs OpenSearch.
package query

import (
	"fmt"
	"strings"
	"unicode"
)

// Node is a parsed query: And, Or, Not, Match or Range.
type Node interface{ node() }

// And matches when every node does.
type And struct{ Nodes []Node }

// Or matches when any node does.
type Or struct{ Nodes []Node }

// Not matches when its node does not.
type Not struct{ Node Node }

// Match is field:value.
type Match struct {
	Field string
	Value string
	// Phrase: the value was quoted (its words in order, for text fields).
	Phrase bool
	// Wildcard: the unquoted value holds * or ?.
	Wildcard bool
}

// Range is field:[min TO max] and its open forms; an empty bound is open.
type Range struct {
	Field          string
	Min, Max       string
	IncMin, IncMax bool
}

func (And) node()   {}
func (Or) node()    {}
func (Not) node()   {}
func (Match) node() {}
func (Range) node() {}

// Bounds on a query. Parsing, matching and the backends' translations all
// recurse over the tree, so depth bounds their stack: an unbounded
// "((((...a))))" would overflow the goroutine stack, a fatal error no recover
// can catch.
const (
	MaxLength = 16 << 10 // bytes
	MaxDepth  = 64       // nested parentheses and NOTs
)

// Parse parses s; an empty (or blank) query is nil, which matches everything.
func Parse(s string) (Node, error) {
	if len(s) > MaxLength {
		return nil, fmt.Errorf("query is %d bytes, at most %d allowed", len(s), MaxLength)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, nil
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q at %d", p.toks[p.pos].text, p.toks[p.pos].at)
	}
	return n, nil
}

type kind int

const (
	tWord kind = iota
	tPhrase
	tLParen
	tRParen
	tField // "name:" with the name in text
	tMinus
	tPlus
	tRange // [..], {..} with the raw inside
	tCmp   // > >= < <= followed by a value, all in text
)

type token struct {
	kind kind
	text string
	at   int
}

func lex(s string) ([]token, error) {
	var toks []token
	r := []rune(s)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == '-' || c == '+' || c == '!':
			k := tMinus
			if c == '+' {
				k = tPlus
			}
			toks = append(toks, token{k, string(c), i})
			i++
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(r) && r[j] != '"'; j++ {
				if r[j] == '\\' && j+1 < len(r) {
					j++
				}
				b.WriteRune(r[j])
			}
			if j >= len(r) {
				return nil, fmt.Errorf("unterminated phrase at %d", i)
			}
			toks = append(toks, token{tPhrase, b.String(), i})
			i = j + 1
		case c == '[' || c == '{':
			j := i + 1
			for j < len(r) && r[j] != ']' && r[j] != '}' {
				j++
			}
			if j >= len(r) {
				return nil, fmt.Errorf("unterminated range at %d", i)
			}
			toks = append(toks, token{tRange, string(r[i : j+1]), i})
			i = j + 1
		case c == '>' || c == '<':
			j := i + 1
			if j < len(r) && r[j] == '=' {
				j++
			}
			op := string(r[i:j])
			for j < len(r) && unicode.IsSpace(r[j]) {
				j++
			}
			k := j
			if k < len(r) && r[k] == '"' {
				k++
				for k < len(r) && r[k] != '"' {
					k++
				}
				if k >= len(r) {
					return nil, fmt.Errorf("unterminated phrase at %d", j)
				}
				toks = append(toks, token{tCmp, op + string(r[j+1:k]), i})
				i = k + 1
				continue
			}
			for k < len(r) && !stop(r[k]) {
				k++
			}
			if k == j {
				return nil, fmt.Errorf("%s without a value at %d", op, i)
			}
			toks = append(toks, token{tCmp, op + string(r[j:k]), i})
			i = k
		default:
			var b strings.Builder
			j := i
			for ; j < len(r) && !stop(r[j]); j++ {
				if r[j] == '\\' && j+1 < len(r) {
					j++
					b.WriteRune(r[j])
					continue
				}
				if r[j] == ':' {
					break
				}
				b.WriteRune(r[j])
			}
			if j < len(r) && r[j] == ':' {
				if b.Len() == 0 {
					return nil, fmt.Errorf("field name missing before ':' at %d", i)
				}
				toks = append(toks, token{tField, b.String(), i})
				i = j + 1
				continue
			}
			toks = append(toks, token{tWord, b.String(), i})
			i = j
		}
	}
	return toks, nil
}

func stop(c rune) bool {
	return unicode.IsSpace(c) || c == '(' || c == ')' || c == '"'
}

type parser struct {
	toks  []token
	pos   int
	depth int // nesting of parentheses and NOTs at pos
}

// nest enters one level of nesting; the caller leaves with p.depth--.
func (p *parser) nest(at int) error {
	p.depth++
	if p.depth > MaxDepth {
		return fmt.Errorf("query nests deeper than %d levels (parentheses and NOTs) at %d", MaxDepth, at)
	}
	return nil
}

func (p *parser) peek() *token {
	if p.pos < len(p.toks) {
		return &p.toks[p.pos]
	}
	return nil
}

func (p *parser) keyword(w string) bool {
	t := p.peek()
	return t != nil && t.kind == tWord && t.text == w
}

func (p *parser) or() (Node, error) {
	var nodes []Node
	for {
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
		if !p.keyword("OR") {
			break
		}
		p.pos++
	}
	if len(nodes) == 1 {
		return nodes[0], nil
	}
	return Or{nodes}, nil
}

func (p *parser) and() (Node, error) {
	var nodes []Node
	for {
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
		if p.keyword("AND") {
			p.pos++
			continue
		}
		if t := p.peek(); t == nil || t.kind == tRParen || p.keyword("OR") {
			break
		}
	}
	if len(nodes) == 1 {
		return nodes[0], nil
	}
	return And{nodes}, nil
}

func (p *parser) not() (Node, error) {
	t := p.peek()
	if t == nil {
		return nil, fmt.Errorf("query ends where a term was expected")
	}
	switch {
	case t.kind == tMinus || p.keyword("NOT"):
		p.pos++
		if err := p.nest(t.at); err != nil {
			return nil, err
		}
		n, err := p.not()
		p.depth--
		if err != nil {
			return nil, err
		}
		return Not{n}, nil
	case t.kind == tPlus:
		// "+a" is a; a loop, not a recursion, so "++++...a" needs no stack.
		for t := p.peek(); t != nil && t.kind == tPlus; t = p.peek() {
			p.pos++
		}
		return p.not()
	}
	return p.primary()
}

func (p *parser) primary() (Node, error) {
	t := p.peek()
	if t == nil {
		return nil, fmt.Errorf("query ends where a term was expected")
	}
	p.pos++
	switch t.kind {
	case tLParen:
		if err := p.nest(t.at); err != nil {
			return nil, err
		}
		n, err := p.or()
		p.depth--
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c == nil || c.kind != tRParen {
			return nil, fmt.Errorf("missing ')' for '(' at %d", t.at)
		}
		p.pos++
		return n, nil
	case tField:
		return p.value(t.text, t.at)
	case tRParen:
		return nil, fmt.Errorf("unexpected ')' at %d", t.at)
	}
	p.pos--
	return p.value(AnyField, t.at)
}

// value parses what follows "field:" (or a bare value, of AnyField).
func (p *parser) value(field string, at int) (Node, error) {
	t := p.peek()
	if t == nil {
		return nil, fmt.Errorf("value missing after %s: at %d", field, at)
	}
	p.pos++
	switch t.kind {
	case tWord:
		if t.text == "AND" || t.text == "OR" || t.text == "NOT" {
			return nil, fmt.Errorf("%s where a value was expected at %d", t.text, t.at)
		}
		return Match{Field: field, Value: t.text, Wildcard: strings.ContainsAny(t.text, "*?")}, nil
	case tPhrase:
		return Match{Field: field, Value: t.text, Phrase: true}, nil
	case tRange:
		return parseRange(field, t)
	case tCmp:
		v := strings.TrimLeft(t.text, "<>=")
		op := t.text[:len(t.text)-len(v)]
		switch op {
		case ">":
			return Range{Field: field, Min: v}, nil
		case ">=":
			return Range{Field: field, Min: v, IncMin: true}, nil
		case "<":
			return Range{Field: field, Max: v}, nil
		default:
			return Range{Field: field, Max: v, IncMax: true}, nil
		}
	case tLParen:
		// field:(a OR b) applies the field to every clause inside.
		p.pos--
		n, err := p.primary()
		if err != nil {
			return nil, err
		}
		return withField(n, field), nil
	}
	return nil, fmt.Errorf("unexpected %q at %d", t.text, t.at)
}

// withField moves the clauses of n to field.
func withField(n Node, field string) Node {
	switch n := n.(type) {
	case And:
		for i := range n.Nodes {
			n.Nodes[i] = withField(n.Nodes[i], field)
		}
		return n
	case Or:
		for i := range n.Nodes {
			n.Nodes[i] = withField(n.Nodes[i], field)
		}
		return n
	case Not:
		return Not{withField(n.Node, field)}
	case Match:
		n.Field = field
		return n
	case Range:
		n.Field = field
		return n
	}
	return n
}

func parseRange(field string, t *token) (Node, error) {
	s := t.text
	r := Range{Field: field, IncMin: s[0] == '[', IncMax: s[len(s)-1] == ']'}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	lo, hi, ok := strings.Cut(inner, " TO ")
	if !ok {
		return nil, fmt.Errorf("range at %d must be [min TO max]", t.at)
	}
	r.Min, r.Max = bound(lo), bound(hi)
	if r.Min == "" && r.Max == "" {
		return nil, fmt.Errorf("range at %d has no bound", t.at)
	}
	return r, nil
}

func bound(s string) string {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if s == "*" {
		return ""
	}
	return s
}
