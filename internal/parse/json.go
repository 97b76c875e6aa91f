package parse

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"
	"google.golang.org/protobuf/types/known/structpb"
)

// jsonParsers are reused: a fastjson.Parser keeps its value tree between
// lines, which is what makes it several times faster than decoding into
// map[string]any (measured in BenchmarkParse/json).
var jsonParsers fastjson.ParserPool

// parseJSON reads one JSON object. Nested objects become dotted keys
// ({"http":{"method":"GET"}} → "http.method"), so that the keys the event
// model maps are found wherever the writer nested them; when a literal
// "a.b" and a nested {"a":{"b":…}} meet, the later one in the line wins.
func parseJSON(p *Parser, s string, ref time.Time, r *record) error {
	if !strings.HasPrefix(strings.TrimLeft(s, " \t"), "{") {
		return errors.New("json: not an object")
	}
	jp := jsonParsers.Get()
	defer jsonParsers.Put(jp)
	v, err := jp.Parse(s)
	if err != nil {
		return jsonError(err)
	}
	obj, err := v.Object()
	if err != nil {
		return errors.New("json: not an object")
	}
	flat := r.keyedMap(obj.Len())
	// The line's keys and strings go into one buffer (see join): they fit
	// in the line's length, but for nested names' repeated prefixes.
	r.room(len(s) + 64)
	p.timeFromDigits(r, obj, ref)
	r.flatten(flat, "", obj)
	if !r.time.IsZero() {
		delete(flat, r.timeKey)
	}
	p.mapKeyed(r, flat, "json", ref)
	return nil
}

// jsonError shortens fastjson's errors, which quote the rest of the line.
func jsonError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "; unparsed tail"); i >= 0 {
		if strings.Contains(msg[:i], "cannot parse empty string") || strings.HasSuffix(msg[:i], "missing '\"'") {
			return errors.New("json: unexpected EOF")
		}
		msg = msg[:i]
	}
	if strings.Contains(msg, "unexpected tail") {
		return errors.New("json: data after the object")
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	if strings.Contains(msg, "missing") || strings.Contains(msg, "empty string") || strings.Contains(msg, "unexpected end") {
		return errors.New("json: unexpected EOF")
	}
	return errors.New("json: " + clip(msg))
}

// timeFromDigits reads the event time from the first time field present when
// it is a JSON number, from its digits rather than its float value, so that
// epoch nanoseconds stay exact. Other times are left to mapKeyed.
func (p *Parser) timeFromDigits(r *record, obj *fastjson.Object, ref time.Time) {
	for _, k := range p.keys.time {
		v := obj.Get(k)
		if v == nil {
			continue
		}
		if v.Type() == fastjson.TypeNumber {
			if t, ok := p.times.parse(r.digits(v), ref); ok {
				r.time, r.timeKey = t, k
			}
		}
		return
	}
}

// flatten adds obj's leaves to flat under prefix.
func (r *record) flatten(flat map[string]*structpb.Value, prefix string, obj *fastjson.Object) {
	obj.Visit(func(key []byte, v *fastjson.Value) {
		if v.Type() == fastjson.TypeObject {
			if sub, _ := v.Object(); sub.Len() > 0 {
				r.flatten(flat, r.join(prefix, view(key), "."), sub)
				return
			}
		}
		flat[fieldName(r.join(prefix, view(key)))] = r.jsonValue(v)
	})
}

// join is the parts put together in the line's text buffer, or alone when
// the buffer is full: the keys and strings of a line are copied out of the
// JSON parser (which reuses its memory) in one allocation, not one each.
func (r *record) join(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 || len(r.text)+n > cap(r.text) {
		return strings.Join(parts, "")
	}
	start := len(r.text)
	for _, p := range parts {
		r.text = append(r.text, p...)
	}
	// The buffer's bytes are written once and never changed after: the
	// string may share them.
	return unsafe.String(&r.text[start], n)
}

// view is b as a string without a copy, to be read (by join) before b
// changes, never kept.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// digits are the text of a JSON number.
func (r *record) digits(v *fastjson.Value) string {
	start := len(r.text)
	out := v.MarshalTo(r.text)
	if cap(out) != cap(r.text) || len(out) == start { // the buffer was full: out is new memory
		return string(out[start:])
	}
	r.text = out
	return unsafe.String(&r.text[start], len(out)-start)
}

// jsonValue converts a decoded JSON value; objects inside arrays stay objects.
func (r *record) jsonValue(v *fastjson.Value) *structpb.Value {
	switch v.Type() {
	case fastjson.TypeNull:
		return structpb.NewNullValue()
	case fastjson.TypeTrue:
		return structpb.NewBoolValue(true)
	case fastjson.TypeFalse:
		return structpb.NewBoolValue(false)
	case fastjson.TypeString:
		return r.str(r.join(view(v.GetStringBytes())))
	case fastjson.TypeNumber:
		digits := r.digits(v)
		f, err := strconv.ParseFloat(digits, 64)
		if err != nil { // out of float64's range
			return r.str(digits)
		}
		return r.num(f)
	case fastjson.TypeArray:
		a, _ := v.Array()
		l := make([]*structpb.Value, len(a))
		for i, e := range a {
			l[i] = r.jsonValue(e)
		}
		return structpb.NewListValue(&structpb.ListValue{Values: l})
	case fastjson.TypeObject:
		o, _ := v.Object()
		s := &structpb.Struct{Fields: make(map[string]*structpb.Value, o.Len())}
		o.Visit(func(k []byte, e *fastjson.Value) {
			s.Fields[fieldName(r.join(view(k)))] = r.jsonValue(e)
		})
		return structpb.NewStructValue(s)
	}
	return structpb.NewNullValue()
}
