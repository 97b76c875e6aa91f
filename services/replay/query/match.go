package query

import (
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Matches reports whether the document (an event's ECS JSON decoded into a
// map) matches n; a nil n matches everything. Fields are looked up by their
// dotted name, flat ("http.response.status_code") or nested; a field holding a
// list matches when any element does.
func Matches(n Node, doc map[string]any) bool {
	switch n := n.(type) {
	case nil:
		return true
	case And:
		for _, c := range n.Nodes {
			if !Matches(c, doc) {
				return false
			}
		}
		return true
	case Or:
		for _, c := range n.Nodes {
			if Matches(c, doc) {
				return true
			}
		}
		return false
	case Not:
		return !Matches(n.Node, doc)
	case Match:
		if n.Field == AnyField {
			return n.matchesAny(doc)
		}
		return anyValue(Lookup(doc, n.Field), n.matches)
	case Range:
		if n.Field == AnyField {
			return n.containsAny(doc)
		}
		return anyValue(Lookup(doc, n.Field), n.contains)
	}
	return false
}

// Lookup finds a field by its dotted name in a decoded document: as a flat
// key, or by walking nested objects (trying the longest keys first, since
// "http.response" may itself be a flat key).
func Lookup(doc map[string]any, field string) any {
	if v, ok := doc[field]; ok {
		return v
	}
	for i := len(field) - 1; i > 0; i-- {
		if field[i] != '.' {
			continue
		}
		if sub, ok := doc[field[:i]].(map[string]any); ok {
			if v := Lookup(sub, field[i+1:]); v != nil {
				return v
			}
		}
	}
	return nil
}

func anyValue(v any, f func(any) bool) bool {
	if l, ok := v.([]any); ok {
		for _, e := range l {
			if f(e) {
				return true
			}
		}
		return false
	}
	return v != nil && f(v)
}

// String is how a field's value reads for exact matching: numbers without a
// trailing ".0", booleans as true/false.
func String(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	return ""
}

// matchesAny is a bare word's match: the message's words, or any exact value.
func (m Match) matchesAny(doc map[string]any) bool {
	text := m
	text.Field = DefaultTextField
	if anyValue(Lookup(doc, DefaultTextField), text.matches) {
		return true
	}
	for _, k := range Keywords(nil, doc) {
		if m.exact(k) {
			return true
		}
	}
	return false
}

// exact matches one whole exact value (a wildcard is case-sensitive, as on
// a keyword field).
func (m Match) exact(s string) bool {
	if !Indexable(s) {
		return false
	}
	if m.Wildcard {
		return Wildcard(m.Value, s)
	}
	return s == m.Value
}

func (m Match) matches(v any) bool {
	if !IsText(m.Field) {
		if f, ok := v.(float64); ok {
			// A number field matches the number the value spells, and
			// never a wildcard (numbers are not terms).
			want, err := strconv.ParseFloat(m.Value, 64)
			return err == nil && !m.Wildcard && f == want
		}
		return m.exact(String(v))
	}
	s, _ := v.(string)
	words := Words(s)
	if m.Wildcard {
		pat := strings.ToLower(m.Value)
		for _, w := range words {
			if Wildcard(pat, w) {
				return true
			}
		}
		return false
	}
	want := Words(m.Value)
	if len(want) == 0 {
		return false
	}
	if m.Phrase {
		return containsRun(words, want)
	}
	for _, w := range want {
		if !containsRun(words, []string{w}) {
			return false
		}
	}
	return true
}

// Words splits text about the way the indices' Unicode word tokenizers do
// (UAX #29): lower case runs of letters, digits and '_', where a '.' or '\”
// between two of them does not split ("api.example.com", "10.0.0.1", "don't"
// are one word each).
func Words(s string) []string {
	r := []rune(strings.ToLower(s))
	wordy := func(i int) bool {
		return i >= 0 && i < len(r) && (unicode.IsLetter(r[i]) || unicode.IsDigit(r[i]) || r[i] == '_')
	}
	var out []string
	start := -1
	for i := 0; i <= len(r); i++ {
		in := wordy(i) || i < len(r) && (r[i] == '.' || r[i] == '\'') && wordy(i-1) && wordy(i+1)
		switch {
		case in && start < 0:
			start = i
		case !in && start >= 0:
			out = append(out, string(r[start:i]))
			start = -1
		}
	}
	return out
}

// Wildcard matches s against a Lucene wildcard pattern: * is any run of
// characters ('/' included), ? is one character, nothing else is special.
func Wildcard(pattern, s string) bool {
	p, r := []rune(pattern), []rune(s)
	// Greedy with backtracking to the last star: linear for the patterns
	// people type.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(r) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == r[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func containsRun(words, run []string) bool {
	for i := 0; i+len(run) <= len(words); i++ {
		j := 0
		for j < len(run) && words[i+j] == run[j] {
			j++
		}
		if j == len(run) {
			return true
		}
	}
	return false
}

// containsAny is a bare range: over every exact value, as strings.
func (r Range) containsAny(doc map[string]any) bool {
	for _, k := range Keywords(nil, doc) {
		if r.compare(k, compareStrings) {
			return true
		}
	}
	return false
}

// contains compares a number field's values as numbers (a bound that is no
// number matches none of them), a date field's as times, and everything
// else as strings.
func (r Range) contains(v any) bool {
	s := String(v)
	cmp := compareStrings
	switch _, isNumber := v.(float64); {
	case isNumber:
		if !numeric(r.Min) || !numeric(r.Max) {
			return false
		}
		cmp = compareNumbers
	case IsDate(r.Field):
		if !isTime(s) || !timeBound(r.Min) || !timeBound(r.Max) {
			return false
		}
		cmp = compareTimes
	case !Indexable(s):
		return false
	}
	return r.compare(s, cmp)
}

func (r Range) compare(s string, cmp func(a, b string) int) bool {
	if r.Min != "" {
		c := cmp(s, r.Min)
		if c < 0 || c == 0 && !r.IncMin {
			return false
		}
	}
	if r.Max != "" {
		c := cmp(s, r.Max)
		if c > 0 || c == 0 && !r.IncMax {
			return false
		}
	}
	return true
}

func numeric(s string) bool {
	if s == "" {
		return true
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func compareNumbers(a, b string) int {
	x, _ := strconv.ParseFloat(a, 64)
	y, _ := strconv.ParseFloat(b, 64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func compareStrings(a, b string) int { return strings.Compare(a, b) }

// ParseTime reads a range bound or value as a time: RFC 3339, or a date.
func ParseTime(s string) (time.Time, bool) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func isTime(s string) bool { _, ok := ParseTime(s); return ok }

func timeBound(s string) bool { return s == "" || isTime(s) }

func compareTimes(a, b string) int {
	x, _ := ParseTime(a)
	y, _ := ParseTime(b)
	return x.Compare(y)
}
