package embedded

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"
	"github.com/valyala/fastjson"

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
	return string(appendToken(make([]byte, 0, len(s)+8), s))
}

// appendToken appends token(s) to dst.
func appendToken(dst []byte, s string) []byte {
	if plainToken(s) {
		return append(dst, s...)
	}
	for _, r := range s {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			dst = append(dst, byte(r))
			continue
		}
		dst = append(dst, '_')
		dst = strconv.AppendInt(dst, int64(r), 16)
		dst = append(dst, '_')
	}
	return dst
}

func plainToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// appendWordTokens appends to dst the tokens of query.Words(s),
// space-separated: for ASCII text in one pass over its bytes (most log
// lines), else through query.Words (a test holds the two equal).
func appendWordTokens(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			for j, w := range query.Words(s) {
				if j > 0 {
					dst = append(dst, ' ')
				}
				dst = appendToken(dst, w)
			}
			return dst
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
			dst = append(dst, ' ')
		}
		first = false
	word:
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= 'A' && c <= 'Z':
				dst = append(dst, c+'a'-'A')
			case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
				dst = append(dst, c)
			case c == '_':
				dst = append(dst, "_5f_"...)
			case c == '.' && wordy(i-1) && wordy(i+1):
				dst = append(dst, "_2e_"...)
			case c == '\'' && wordy(i-1) && wordy(i+1):
				dst = append(dst, "_27_"...)
			default:
				break word
			}
		}
	}
	return dst
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
func timeKey(t time.Time) string { return t.UTC().Format(timeLayout) }

const timeLayout = "2006-01-02T15:04:05.000000000Z"

// rowBuilder builds the rows of documents from their JSON, reusing its
// parser and buffers: a row's names and values are views of the parsed
// document and of the builder's arena, valid until the next build — long
// enough, since logstorage's LogRows.MustAdd copies a row (Put adds each
// row before building the next). It says which exact and list columns a
// row has (the catalog, which bare words search).
type rowBuilder struct {
	p      fastjson.Parser
	arena  []byte
	fs     []logstorage.Field
	cols   []tokenColumn // the row's words and lists columns, n in use
	n      int
	exact  []string // exact columns of the row
	lists  []string // fields of the row that held a list
	keys   []string // scratch: an object's keys
	seenKW map[string]bool
	kw     []byte
	// odd is set when the document's JSON is one encoding/json (and so
	// query.Matches, over the decoded document) might read otherwise.
	odd bool
}

// tokenColumn is a column built of tokens, one value after another.
type tokenColumn struct {
	name string
	b    []byte
}

func (rb *rowBuilder) reset() {
	rb.arena = rb.arena[:0]
	rb.fs = rb.fs[:0]
	rb.exact = rb.exact[:0]
	rb.lists = rb.lists[:0]
	rb.n = 0
	if len(rb.seenKW) > 0 {
		clear(rb.seenKW)
	}
	rb.kw = rb.kw[:0]
	rb.odd = false
}

// view is the arena's bytes from start as a string, without a copy: the
// arena is only appended to until the next row, so the bytes stay as they
// are while the row is in use.
func (rb *rowBuilder) view(start int) string {
	if start == len(rb.arena) {
		return ""
	}
	return unsafe.String(&rb.arena[start], len(rb.arena)-start)
}

// str is a parsed string value, without a copy (a view of the parser's
// buffer, which the next parse reuses).
func str(v *fastjson.Value) string {
	b := v.GetStringBytes()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// join is name.key.
func (rb *rowBuilder) join(name string, key []byte) string {
	if name == "" {
		if len(key) == 0 {
			return ""
		}
		return unsafe.String(&key[0], len(key))
	}
	start := len(rb.arena)
	rb.arena = append(rb.arena, name...)
	rb.arena = append(rb.arena, '.')
	rb.arena = append(rb.arena, key...)
	return rb.view(start)
}

// parse parses a document's source into the builder's parser, and says
// the document's time: its @timestamp when it has one, else the time it
// was given. A source that is not a JSON object, or that encoding/json
// might read otherwise than fastjson (see plainJSON), is replaced by its
// decoding through encoding/json written out again: d.Fields when given,
// else the source decoded, else a document with the source as its message
// (as the live indexer always indexed what it could not decode).
func (rb *rowBuilder) parse(d index.Doc) (*fastjson.Object, time.Time, error) {
	var o *fastjson.Object
	if plainJSON(d.Source) {
		if v, err := rb.p.ParseBytes(d.Source); err == nil {
			o, _ = v.Object()
		}
	}
	if o == nil || !rb.check(o) {
		fields := d.Fields
		if fields == nil && json.Unmarshal(d.Source, &fields) != nil {
			fields = map[string]any{"message": string(d.Source)}
		}
		b, err := json.Marshal(fields)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("document %s: %w", d.ID, err)
		}
		v, err := rb.p.ParseBytes(b)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("document %s: %w", d.ID, err)
		}
		o, _ = v.Object()
	}
	t := d.Time
	if v := o.Get("@timestamp"); v != nil && v.Type() == fastjson.TypeString {
		if ts, err := event.ParseTime(str(v)); err == nil {
			t = ts
		}
	}
	return o, t, nil
}

// plainJSON reports whether fastjson reads src as encoding/json does, as
// far as one pass over its bytes can tell: valid UTF-8 (encoding/json
// replaces invalid bytes), no control characters (which encoding/json
// refuses inside strings and fastjson does not) and no escaped surrogate
// (fastjson keeps a lone one as written, encoding/json replaces it).
func plainJSON(src []byte) bool {
	ascii := true
	for i, c := range src {
		switch {
		case c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '\\' && i+2 < len(src) && src[i+1] == 'u' && (src[i+2] == 'd' || src[i+2] == 'D'):
			return false
		}
	}
	return len(src) > 0 && (ascii || utf8.Valid(src))
}

// check reports whether every object of the document has distinct keys
// (encoding/json keeps the last of a repeated key) and every number is
// one encoding/json reads (JSON's grammar, within float64's range).
func (rb *rowBuilder) check(o *fastjson.Object) bool {
	start := len(rb.keys)
	defer func() { rb.keys = rb.keys[:start] }()
	ok := true
	o.Visit(func(k []byte, v *fastjson.Value) {
		key := unsafe.String(unsafe.SliceData(k), len(k))
		if slices.Contains(rb.keys[start:], key) {
			ok = false
		}
		rb.keys = append(rb.keys, key)
		if ok {
			ok = rb.checkValue(v)
		}
	})
	return ok
}

func (rb *rowBuilder) checkValue(v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		return rb.check(o)
	case fastjson.TypeArray:
		for _, c := range v.GetArray() {
			if !rb.checkValue(c) {
				return false
			}
		}
	case fastjson.TypeNumber:
		start := len(rb.arena)
		rb.arena = v.MarshalTo(rb.arena)
		n := rb.view(start)
		rb.arena = rb.arena[:start]
		if !jsonNumber(n) {
			return false
		}
		if _, err := strconv.ParseFloat(n, 64); err != nil {
			return false
		}
	}
	return true
}

// jsonNumber reports whether s is a number by JSON's grammar: -?int frac? exp?.
func jsonNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, n = i+1, n+1
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// lookup is query.Lookup over a parsed document.
func lookup(o *fastjson.Object, field string) *fastjson.Value {
	if v := o.Get(field); v != nil {
		return v
	}
	for i := len(field) - 1; i > 0; i-- {
		if field[i] != '.' {
			continue
		}
		if sub := o.Get(field[:i]); sub != nil && sub.Type() == fastjson.TypeObject {
			so, _ := sub.Object()
			if v := lookup(so, field[i+1:]); v != nil && v.Type() != fastjson.TypeNull {
				return v
			}
		}
	}
	return nil
}

// build returns the row of a parsed document (its dataset first, the
// stream field).
func (rb *rowBuilder) build(id string, src []byte, doc *fastjson.Object) []logstorage.Field {
	if rb.seenKW == nil {
		rb.seenKW = map[string]bool{}
	}
	rb.reset()
	ds := ""
	if v := lookup(doc, colDataset); v != nil && v.Type() == fastjson.TypeString {
		ds = str(v)
	}
	start := len(rb.arena)
	for i := 0; i < len(id); i++ {
		rb.arena = append(rb.arena, 'a'+id[i]>>4, 'a'+id[i]&15) // sortID
	}
	rb.fs = append(rb.fs, logstorage.Field{Name: colDataset, Value: ds},
		logstorage.Field{Name: colID, Value: rb.view(start)},
		logstorage.Field{Name: colSource, Value: unsafe.String(unsafe.SliceData(src), len(src))})
	if ds != "" {
		rb.exact = append(rb.exact, colDataset)
	}
	doc.Visit(func(k []byte, c *fastjson.Value) {
		m := modeField
		if bytes.IndexByte(k, '#') >= 0 {
			m = modeKeyword
		}
		rb.walk(rb.join("", k), c, m)
	})
	for _, c := range rb.cols[:rb.n] {
		v := ""
		if len(c.b) > 0 {
			v = unsafe.String(&c.b[0], len(c.b))
		}
		if strings.HasSuffix(c.name, sufWords) {
			rb.add(c.name, v)
			continue
		}
		rb.lists = append(rb.lists, strings.TrimSuffix(strings.TrimSuffix(c.name, sufListNum), sufList))
		if !rb.add(c.name, v) {
			for _, t := range strings.Split(v, " ") {
				rb.keyword(t)
			}
		}
	}
	if len(rb.kw) > 0 {
		rb.fs = append(rb.fs, logstorage.Field{Name: colKeywords, Value: unsafe.String(&rb.kw[0], len(rb.kw))})
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
	if len(rb.kw) > 0 {
		rb.kw = append(rb.kw, ' ')
	}
	rb.kw = append(rb.kw, tok...)
}

// token is token(s), in the arena.
func (rb *rowBuilder) token(s string) string {
	if plainToken(s) {
		return s
	}
	start := len(rb.arena)
	rb.arena = appendToken(rb.arena, s)
	return rb.view(start)
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
		rb.keyword(rb.token(value))
	}
}

// column is the token column name+suffix of the row, made empty if new.
func (rb *rowBuilder) column(name, suffix string) *tokenColumn {
	for i := range rb.cols[:rb.n] {
		if c := &rb.cols[i]; len(c.name) == len(name)+len(suffix) && strings.HasPrefix(c.name, name) && strings.HasSuffix(c.name, suffix) {
			return c
		}
	}
	if rb.n == len(rb.cols) {
		rb.cols = append(rb.cols, tokenColumn{})
	}
	c := &rb.cols[rb.n]
	rb.n++
	start := len(rb.arena)
	rb.arena = append(append(rb.arena, name...), suffix...)
	c.name, c.b = rb.view(start), c.b[:0]
	return c
}

// appendTo adds a token to a list column, a space between a list's
// elements (a phrase never spans two).
func (rb *rowBuilder) appendTo(name, suffix, tok string) {
	c := rb.column(name, suffix)
	if len(c.b) > 0 {
		c.b = append(c.b, ' ')
	}
	c.b = append(c.b, tok...)
}

type walkMode int

const (
	modeField   walkMode = iota // a field query.Lookup finds
	modeList                    // an element of a list
	modeKeyword                 // only among the keywords (query.Keywords), not a field
)

// walk indexes the leaves of v under name.
func (rb *rowBuilder) walk(name string, v *fastjson.Value, mode walkMode) {
	if mode == modeKeyword {
		// query.Keywords: every string and boolean, at any depth.
		switch v.Type() {
		case fastjson.TypeObject:
			o, _ := v.Object()
			o.Visit(func(k []byte, c *fastjson.Value) { rb.walk(rb.join(name, k), c, modeKeyword) })
		case fastjson.TypeArray:
			for _, c := range v.GetArray() {
				rb.walk(name, c, modeKeyword)
			}
		case fastjson.TypeString:
			if s := str(v); !query.IsText(name) && !query.IsDate(name) && name != colKeywords && query.Indexable(s) {
				rb.keyword(rb.token(s))
			}
		case fastjson.TypeTrue:
			rb.keyword("true")
		case fastjson.TypeFalse:
			rb.keyword("false")
		}
		return
	}
	switch v.Type() {
	case fastjson.TypeObject:
		if mode == modeList {
			// As query.Lookup, objects inside lists are not fields.
			rb.walk(name, v, modeKeyword)
			return
		}
		o, _ := v.Object()
		o.Visit(func(k []byte, c *fastjson.Value) {
			m := modeField
			if bytes.IndexByte(k, '#') >= 0 {
				m = modeKeyword
			}
			rb.walk(rb.join(name, k), c, m)
		})
		return
	case fastjson.TypeArray:
		if mode == modeList {
			rb.walk(name, v, modeKeyword)
			return
		}
		for _, c := range v.GetArray() {
			rb.walk(name, c, modeList)
		}
		return
	}
	if name == colKeywords {
		rb.walk(name, v, modeKeyword)
		return
	}
	switch v.Type() {
	case fastjson.TypeString:
		if name == colDataset && mode == modeField {
			return // the stream field, added first
		}
		s := str(v)
		switch {
		case query.IsText(name):
			c := rb.column(name, sufWords)
			if len(c.b) > 0 {
				c.b = append(c.b, '\n')
			}
			c.b = appendWordTokens(c.b, s)
		case !query.Indexable(s) || s == "":
		case mode == modeList:
			if query.IsDate(name) {
				return
			}
			rb.appendTo(name, sufList, rb.token(s))
		case query.IsDate(name):
			// Not a keyword: the raw string for exact matches, and the
			// time (but @timestamp's is the row's _time).
			rb.add(name, s)
			if name != "@timestamp" {
				if t, ok := query.ParseTime(s); ok {
					start := len(rb.arena)
					rb.arena = t.UTC().AppendFormat(rb.arena, timeLayout)
					rb.add(name+sufTime, rb.view(start))
				}
			}
		default:
			rb.addExact(name, s)
		}
	case fastjson.TypeTrue, fastjson.TypeFalse:
		b := "false"
		if v.Type() == fastjson.TypeTrue {
			b = "true"
		}
		switch {
		case query.IsText(name):
			rb.keyword(b)
		case mode == modeList:
			rb.appendTo(name, sufList, b)
		default:
			rb.addExact(name, b)
		}
	case fastjson.TypeNumber:
		if query.IsText(name) {
			return
		}
		start := len(rb.arena)
		rb.arena = v.MarshalTo(rb.arena)
		f, _ := strconv.ParseFloat(rb.view(start), 64) // check held it parses
		rb.arena = strconv.AppendFloat(rb.arena[:start], f, 'g', -1, 64)
		n := rb.view(start)
		if mode == modeList {
			rb.appendTo(name, sufListNum, rb.token(n))
			return
		}
		// The column's name after the number, in the arena too.
		nstart := len(rb.arena)
		rb.arena = append(append(rb.arena, name...), sufNumber...)
		rb.add(rb.view(nstart), n)
	}
}
