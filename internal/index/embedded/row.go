package embedded

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

// The columns of a row. logstorage keeps every field as a string column
// and matches words by its own tokenizer (runs of letters, digits and '_',
// case-sensitive), so each field of the query language's classes is stored
// in the form whose logstorage filter means exactly what package query
// means (see logsql.go for the filters):
//
//	#id                 the document id, letters only (sortId): the tie-break of the sort
//	#src                the ECS JSON document, returned by searches
//	<field>             an exact field's string or boolean value, as is
//	<field>#n           an exact field's number, canonical (numbers compare as numbers)
//	<field>#l           a list's strings and booleans, one token each (token)
//	<field>#ln          a list's numbers, one token each
//	<field>#w           a text field's words (query.Words), one token each, in order
//	<date>#t            a date field's time, fixed width (string order is time order)
//	hindsight.keywords  exact values (query.Keywords) no column above holds, one token each
//
// A bare word searches every exact and list column the index's catalog
// names (embedded.go) and the keywords column: no copy of every value.
//
// '#' is not valid in a stored field's own name: a field whose name has one
// is kept in #src but not indexed.
const (
	colID       = "#id"
	colSource   = "#src"
	sufNumber   = "#n"
	sufList     = "#l"
	sufListNum  = "#ln"
	sufWords    = "#w"
	sufTime     = "#t"
	colKeywords = query.KeywordsField
	colDataset  = "data_stream.dataset"
)

// logstorage's limits on a row (it drops a row over them with a warning, so
// Put checks them first): field names, fields, and the whole row.
const (
	maxFieldName = 128
	maxFields    = 1900 // of logstorage's 2000, room for the columns above
	maxRowBytes  = 2 << 20
)

// token encodes s as one logstorage token: ASCII letters and digits as
// they are, every other rune (and '_', the escape) as _<hex>_. The code is
// prefix-free and injective, so a token filter matches exactly the value,
// a prefix filter exactly the values with that prefix.
func token(s string) string {
	if plainToken(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
			continue
		}
		b.WriteByte('_')
		b.WriteString(strconv.FormatInt(int64(r), 16))
		b.WriteByte('_')
	}
	return b.String()
}

func plainToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// wordTokens appends to b the tokens of query.Words(s), space-separated:
// for ASCII text in one pass over its bytes (most log lines), else through
// query.Words (a test holds the two equal).
func wordTokens(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			for j, w := range query.Words(s) {
				if j > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(token(w))
			}
			return
		}
	}
	wordy := func(i int) bool {
		if i < 0 || i >= len(s) {
			return false
		}
		c := s[i]
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
	}
	first := true
	for i := 0; i < len(s); {
		if !wordy(i) {
			i++
			continue
		}
		// A word: wordy bytes, and '.' or '\'' between two of them.
		if !first {
			b.WriteByte(' ')
		}
		first = false
	word:
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= 'A' && c <= 'Z':
				b.WriteByte(c + 'a' - 'A')
			case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
				b.WriteByte(c)
			case c == '_':
				b.WriteString("_5f_")
			case (c == '.' || c == '\'') && wordy(i-1) && wordy(i+1):
				b.WriteString(token(string(c)))
			default:
				break word
			}
		}
	}
}

// sortID encodes an id with letters only ('a'..'p' per half byte): its
// string order is the id's byte order, and logstorage's sort, which
// compares runs of digits as numbers, sees no digits.
func sortID(id string) string {
	b := make([]byte, 2*len(id))
	for i := 0; i < len(id); i++ {
		b[2*i], b[2*i+1] = 'a'+id[i]>>4, 'a'+id[i]&15
	}
	return string(b)
}

// number is a number's canonical spelling, the same for a stored value and
// a query's value.
func number(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// timeKey is a time in fixed width, UTC, nanoseconds: for the years 0-9999
// string order is time order.
func timeKey(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// rowBuilder builds the fields of documents, reusing its buffers, and
// says which exact and list columns a row has (the catalog, which bare
// words search).
type rowBuilder struct {
	fs     []logstorage.Field
	words  map[string]*strings.Builder
	lists  map[string]*strings.Builder
	exact  []string // exact columns of the row
	seenKW map[string]bool
	kw     strings.Builder
}

func (rb *rowBuilder) reset() {
	rb.fs = rb.fs[:0]
	rb.exact = rb.exact[:0]
	clear(rb.words)
	clear(rb.lists)
	clear(rb.seenKW)
	rb.kw.Reset()
}

// docTime is a document's time: its @timestamp when it has one, else the
// time it was given.
func docTime(d index.Doc) time.Time {
	if s, ok := d.Fields["@timestamp"].(string); ok {
		if t, err := event.ParseTime(s); err == nil {
			return t
		}
	}
	return d.Time
}

// build returns the row of a document (its dataset first, the stream
// field).
func (rb *rowBuilder) build(id string, src []byte, doc map[string]any) []logstorage.Field {
	if rb.words == nil {
		rb.words, rb.lists, rb.seenKW = map[string]*strings.Builder{}, map[string]*strings.Builder{}, map[string]bool{}
	}
	rb.reset()
	ds, _ := query.Lookup(doc, colDataset).(string)
	rb.fs = append(rb.fs, logstorage.Field{Name: colDataset, Value: ds},
		logstorage.Field{Name: colID, Value: sortID(id)},
		logstorage.Field{Name: colSource, Value: string(src)})
	if ds != "" {
		rb.exact = append(rb.exact, colDataset)
	}
	rb.walk("", doc, modeField)
	for name, b := range rb.words {
		rb.add(name, b.String())
	}
	for name, b := range rb.lists {
		if !rb.add(name, b.String()) {
			for _, t := range strings.Split(b.String(), " ") {
				rb.keyword(t)
			}
		}
	}
	if rb.kw.Len() > 0 {
		rb.fs = append(rb.fs, logstorage.Field{Name: colKeywords, Value: rb.kw.String()})
	}
	return rb.fs
}

// keyword adds a token to the keywords column: the exact values
// (query.Keywords) no exact or list column of the row holds.
func (rb *rowBuilder) keyword(tok string) {
	if tok == "" || rb.seenKW[tok] {
		return
	}
	rb.seenKW[tok] = true
	if rb.kw.Len() > 0 {
		rb.kw.WriteByte(' ')
	}
	rb.kw.WriteString(tok)
}

// add adds a column; past logstorage's limits (a long name, too many
// fields) the field stays in the source but is not indexed, and add says
// so.
func (rb *rowBuilder) add(name, value string) bool {
	if len(name) > maxFieldName || len(rb.fs) >= maxFields {
		return false
	}
	rb.fs = append(rb.fs, logstorage.Field{Name: name, Value: value})
	return true
}

// addExact adds an exact column, or the value to the keywords column when
// the column cannot be added.
func (rb *rowBuilder) addExact(name, value string) {
	if rb.add(name, value) {
		rb.exact = append(rb.exact, name)
	} else {
		rb.keyword(token(value))
	}
}

// appendTo adds value to a column built of tokens (words, lists), sep
// between a list's elements (a phrase never spans two).
func (rb *rowBuilder) appendTo(m map[string]*strings.Builder, name, sep, value string) {
	b := m[name]
	if b == nil {
		b = &strings.Builder{}
		m[name] = b
	} else {
		b.WriteString(sep)
	}
	b.WriteString(value)
}

type walkMode int

const (
	modeField   walkMode = iota // a field query.Lookup finds
	modeList                    // an element of a list
	modeKeyword                 // only among the keywords (query.Keywords), not a field
)

// walk indexes the leaves of v under name.
func (rb *rowBuilder) walk(name string, v any, mode walkMode) {
	if mode == modeKeyword {
		// query.Keywords: every string and boolean, at any depth.
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if name != "" {
					k = name + "." + k
				}
				rb.walk(k, c, modeKeyword)
			}
		case []any:
			for _, c := range v {
				rb.walk(name, c, modeKeyword)
			}
		case string:
			if !query.IsText(name) && !query.IsDate(name) && name != colKeywords && query.Indexable(v) {
				rb.keyword(token(v))
			}
		case bool:
			rb.keyword(token(strconv.FormatBool(v)))
		}
		return
	}
	switch v := v.(type) {
	case map[string]any:
		if mode == modeList {
			// As query.Lookup, objects inside lists are not fields.
			rb.walk(name, v, modeKeyword)
			return
		}
		for k, c := range v {
			m := modeField
			if strings.IndexByte(k, '#') >= 0 {
				m = modeKeyword
			}
			if name != "" {
				k = name + "." + k
			}
			rb.walk(k, c, m)
		}
		return
	case []any:
		if mode == modeList {
			rb.walk(name, v, modeKeyword)
			return
		}
		for _, c := range v {
			rb.walk(name, c, modeList)
		}
		return
	}
	if name == colKeywords {
		rb.walk(name, v, modeKeyword)
		return
	}
	if name == colDataset && mode == modeField {
		if _, ok := v.(string); ok {
			return // the stream field, added first
		}
	}
	switch v := v.(type) {
	case string:
		switch {
		case query.IsText(name):
			b := rb.words[name+sufWords]
			if b == nil {
				b = &strings.Builder{}
				rb.words[name+sufWords] = b
			} else {
				b.WriteByte('\n')
			}
			wordTokens(b, v)
		case !query.Indexable(v) || v == "":
		case mode == modeList:
			if query.IsDate(name) {
				return
			}
			rb.appendTo(rb.lists, name+sufList, " ", token(v))
		case query.IsDate(name):
			// Not a keyword: the raw string for exact matches, and the
			// time (but @timestamp's is the row's _time).
			rb.add(name, v)
			if name != "@timestamp" {
				if t, ok := query.ParseTime(v); ok {
					rb.add(name+sufTime, timeKey(t))
				}
			}
		default:
			rb.addExact(name, v)
		}
	case bool:
		switch {
		case query.IsText(name):
			rb.keyword(token(strconv.FormatBool(v)))
		case mode == modeList:
			rb.appendTo(rb.lists, name+sufList, " ", token(strconv.FormatBool(v)))
		default:
			rb.addExact(name, strconv.FormatBool(v))
		}
	case float64:
		if query.IsText(name) || math.IsInf(v, 0) || math.IsNaN(v) {
			return
		}
		if mode == modeList {
			rb.appendTo(rb.lists, name+sufListNum, " ", token(number(v)))
		} else {
			rb.add(name+sufNumber, number(v))
		}
	}
}
