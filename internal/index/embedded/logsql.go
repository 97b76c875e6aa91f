package embedded

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hindsight-dev/hindsight/services/replay/query"
)

// filter is a query translated to a LogsQL filter. When exact is false the
// filter is a superset of the query's matches (logstorage cannot say it:
// a range over a list's values or over every exact value), and each row it
// keeps is decided by query.Matches on the document (search.go).
type filter struct {
	q     string
	exact bool
}

const (
	matchAll  = "*"
	matchNone = "!*"
)

// columns are the index's catalog, as a translation needs it.
type columns struct {
	exact    []string        // exact columns, which bare words search
	lists    map[string]bool // fields that held lists
	keywords bool            // whether the keywords column holds values
}

// toLogsQL translates a parsed query; see package query for the semantics,
// which OpenSearch shares, and row.go for the columns.
func (cs columns) toLogsQL(n query.Node) filter {
	switch n := n.(type) {
	case nil:
		return filter{matchAll, true}
	case query.And:
		return cs.join(n.Nodes, " ")
	case query.Or:
		return cs.join(n.Nodes, " or ")
	case query.Not:
		c := cs.toLogsQL(n.Node)
		if !c.exact {
			// The complement of a superset is no superset.
			return filter{matchAll, false}
		}
		return filter{"!(" + c.q + ")", true}
	case query.Match:
		if n.Field == query.AnyField {
			text := n
			text.Field = query.DefaultTextField
			return anyOf(textMatch(text), cs.keywordsMatch(n))
		}
		if query.IsText(n.Field) {
			return filter{textMatch(n), true}
		}
		return filter{exactMatch(n), true}
	case query.Range:
		if n.Field == query.AnyField {
			return cs.keywordsRange(n)
		}
		return rangeFilter(n, cs.lists[n.Field])
	}
	return filter{matchNone, true}
}

func (cs columns) join(ns []query.Node, op string) filter {
	out := filter{exact: true}
	parts := make([]string, len(ns))
	for i, c := range ns {
		f := cs.toLogsQL(c)
		parts[i] = f.q
		out.exact = out.exact && f.exact
	}
	out.q = "(" + strings.Join(parts, op) + ")"
	return out
}

func anyOf(parts ...string) filter {
	return filter{"(" + strings.Join(parts, " or ") + ")", true}
}

// col quotes a column name.
func col(name string) string { return strconv.Quote(name) }

func quote(s string) string { return strconv.Quote(s) }

// textMatch: every word of the value among the field's words, or the
// phrase's words in a run, or a word matching the wildcard.
func textMatch(m query.Match) string {
	c := col(m.Field + sufWords)
	if m.Wildcard {
		return tokenWildcard(c, strings.ToLower(m.Value))
	}
	words := query.Words(m.Value)
	if len(words) == 0 {
		return matchNone
	}
	if m.Phrase {
		toks := make([]string, len(words))
		for i, w := range words {
			toks[i] = token(w)
		}
		return c + ":" + quote(strings.Join(toks, " "))
	}
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = c + ":" + quote(token(w))
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// keywordsMatch: a bare word or phrase equal to one exact value (of any
// exact column, list or the keywords column), or a wildcard matching one
// (case-sensitive, as on a keyword field).
func (cs columns) keywordsMatch(m query.Match) string {
	if !m.Wildcard && (!query.Indexable(m.Value) || m.Value == "") {
		return matchNone
	}
	var parts []string
	for _, f := range cs.exact {
		if m.Wildcard {
			parts = append(parts, wildcard(col(f), m.Value))
		} else {
			parts = append(parts, col(f)+":="+quote(m.Value))
		}
	}
	toks := make([]string, 0, len(cs.lists)+1)
	for f := range cs.lists {
		toks = append(toks, f+sufList)
	}
	slices.Sort(toks)
	if cs.keywords {
		toks = append(toks, colKeywords)
	}
	for _, c := range toks {
		if m.Wildcard {
			parts = append(parts, tokenWildcard(col(c), m.Value))
		} else {
			parts = append(parts, col(c)+":"+quote(token(m.Value)))
		}
	}
	if len(parts) == 0 {
		return matchNone
	}
	return "(" + strings.Join(parts, " or ") + ")"
}

// keywordsRange: a bare range over every exact value as strings; values in
// lists and the keywords column are tokens, not ordered, so when there are
// any the rows having them are decided one by one.
func (cs columns) keywordsRange(r query.Range) filter {
	var parts []string
	for _, f := range cs.exact {
		parts = append(parts, stringRange(col(f), r.Min, r.Max, r.IncMin, r.IncMax))
	}
	exact := true
	for f := range cs.lists {
		parts = append(parts, col(f+sufList)+":*")
		exact = false
	}
	if cs.keywords {
		parts = append(parts, col(colKeywords)+":*")
		exact = false
	}
	if len(parts) == 0 {
		return filter{matchNone, true}
	}
	return filter{"(" + strings.Join(parts, " or ") + ")", exact}
}

// exactMatch: the whole string value (or a list's element), or the number
// the value spells; a wildcard matches strings only.
func exactMatch(m query.Match) string {
	f := m.Field
	if m.Wildcard {
		return "(" + wildcard(col(f), m.Value) + " or " + tokenWildcard(col(f+sufList), m.Value) + ")"
	}
	var parts []string
	if query.Indexable(m.Value) && m.Value != "" {
		parts = append(parts, col(f)+":="+quote(m.Value), col(f+sufList)+":"+quote(token(m.Value)))
	}
	if x, err := strconv.ParseFloat(m.Value, 64); err == nil && !math.IsInf(x, 0) && !math.IsNaN(x) {
		parts = append(parts, col(f+sufNumber)+":range["+number(x)+", "+number(x)+"]",
			col(f+sufListNum)+":"+quote(token(number(x))))
	}
	if len(parts) == 0 {
		return matchNone
	}
	return "(" + strings.Join(parts, " or ") + ")"
}

// wildcard matches a whole value against a Lucene wildcard (* any run, ?
// one character).
func wildcard(c, pattern string) string {
	if i := strings.IndexAny(pattern, "*?"); i == len(pattern)-1 && pattern[i] == '*' {
		if i == 0 {
			return c + ":*" // any value (logstorage's empty prefix matches missing ones too)
		}
		return c + ":=" + quote(pattern[:i]) + "*" // a prefix
	}
	var re strings.Builder
	re.WriteString("(?s)^")
	for _, r := range pattern {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	return c + ":~" + quote(re.String())
}

// A character in a token column (see token): a letter or digit, or an
// escaped rune.
const tokenRune = `(?:[A-Za-z0-9]|_[0-9a-f]+_)`

// tokenWildcard matches one token of a token column against a wildcard.
func tokenWildcard(c, pattern string) string {
	if i := strings.IndexAny(pattern, "*?"); i == len(pattern)-1 && pattern[i] == '*' {
		if i == 0 {
			return c + ":*"
		}
		return c + ":" + quote(token(pattern[:i])) + "*" // a prefix of a token
	}
	var re strings.Builder
	re.WriteString(`(?:^|[ \n])`)
	for _, r := range pattern {
		switch r {
		case '*':
			re.WriteString(tokenRune + "*")
		case '?':
			re.WriteString(tokenRune)
		default:
			re.WriteString(token(string(r)))
		}
	}
	re.WriteString(`(?:[ \n]|$)`)
	return c + ":~" + quote(re.String())
}

// rangeFilter: a number field's values compare as numbers (when both bounds
// are numbers), a date field's as times, every other value as a string.
// Values in lists are not ordered columns: such a range keeps the rows
// having the list, for query.Matches to decide.
func rangeFilter(r query.Range, hasList bool) filter {
	f := r.Field
	var parts []string
	if lo, hi, ok := numbers(r.Min, r.Max); ok {
		parts = append(parts, numberRange(col(f+sufNumber), lo, hi, r.IncMin, r.IncMax))
	}
	switch {
	case f == "@timestamp":
		if lo, hi, ok := times(r.Min, r.Max); ok {
			parts = append(parts, timeRange(lo, hi, r.IncMin, r.IncMax))
		}
	case query.IsDate(f):
		if lo, hi, ok := times(r.Min, r.Max); ok {
			lk, hk := "", ""
			if !lo.IsZero() {
				lk = timeKey(lo)
			}
			if !hi.IsZero() {
				hk = timeKey(hi)
			}
			parts = append(parts, stringRange(col(f+sufTime), lk, hk, r.IncMin, r.IncMax))
		}
	default:
		parts = append(parts, stringRange(col(f), r.Min, r.Max, r.IncMin, r.IncMax))
	}
	if hasList {
		// Lists' values: a superset, decided row by row.
		parts = append(parts, col(f+sufList)+":*", col(f+sufListNum)+":*")
	}
	if len(parts) == 0 {
		return filter{matchNone, true}
	}
	return filter{"(" + strings.Join(parts, " or ") + ")", !hasList}
}

// stringRange: lo ≤ v ≤ hi in byte order (string_range is [lo, hi); the
// string right after s is s+"\x00"). An empty bound is open.
func stringRange(c, lo, hi string, incLo, incHi bool) string {
	if lo != "" && !incLo {
		lo += "\x00"
	}
	switch {
	case hi == "":
		hi = "\xff\xff\xff\xff" // above every UTF-8 string
	case incHi:
		hi += "\x00"
	}
	// A missing field is an empty one to logstorage: "" is no value.
	return "(" + c + ":* " + c + ":string_range(" + quote(lo) + ", " + quote(hi) + "))"
}

func numberRange(c string, lo, hi *float64, incLo, incHi bool) string {
	var parts []string
	if lo != nil {
		op := ">"
		if incLo {
			op = ">="
		}
		parts = append(parts, c+":"+op+number(*lo))
	}
	if hi != nil {
		op := "<"
		if incHi {
			op = "<="
		}
		parts = append(parts, c+":"+op+number(*hi))
	}
	if len(parts) == 0 {
		return c + ":*"
	}
	return "(" + strings.Join(parts, " ") + ")"
}

func timeRange(lo, hi time.Time, incLo, incHi bool) string {
	var parts []string
	if !lo.IsZero() {
		if !incLo {
			lo = lo.Add(time.Nanosecond)
		}
		parts = append(parts, "_time:>="+lo.UTC().Format(time.RFC3339Nano))
	}
	if !hi.IsZero() {
		if !incHi {
			hi = hi.Add(-time.Nanosecond)
		}
		parts = append(parts, "_time:<="+hi.UTC().Format(time.RFC3339Nano))
	}
	if len(parts) == 0 {
		return col("@timestamp") + ":*"
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// numbers reads a range's bounds as numbers (an empty one is open, nil);
// ok is false unless both are.
func numbers(lo, hi string) (*float64, *float64, bool) {
	var out [2]*float64
	for i, s := range []string{lo, hi} {
		if s == "" {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) {
			return nil, nil, false
		}
		if math.IsInf(f, 0) {
			if (i == 0) == (f < 0) {
				continue // -Inf below, +Inf above: open
			}
			return nil, nil, false // no number stored is infinite
		}
		out[i] = &f
	}
	return out[0], out[1], true
}

func times(lo, hi string) (lot, hit time.Time, ok bool) {
	var out [2]time.Time
	for i, s := range []string{lo, hi} {
		if s == "" {
			continue
		}
		t, ok := query.ParseTime(s)
		if !ok {
			return lot, hit, false
		}
		out[i] = t
	}
	return out[0], out[1], true
}
