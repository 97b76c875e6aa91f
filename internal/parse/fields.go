package parse

import (
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hindsight-dev/hindsight/internal/event"
)

// record is what a format finds in a line, before it becomes an event.
type record struct {
	message string
	level   string
	service string
	time    time.Time // zero: the line had none
	timeKey string    // the key time was read from, when a format read it itself
	// fields are in the order they were set; a key set twice keeps its
	// last value (see event.SortFields).
	fields []event.Field
	// hint is how many fields to make room for (the format's usual count),
	// so that the list and the values are made once at their size.
	hint  int
	slots []slot
	// text holds strings copied for the line (see join).
	text []byte
	// keyed is where the keyed formats gather a line's keys (see keyedMap).
	keyed map[string]*structpb.Value
}

// A line's values are made from slabs, a handful per allocation: they are
// made together and live together (in the line's event), and two
// allocations per value (structpb.New*) were the largest part of parsing.
type slot struct {
	v structpb.Value
	s structpb.Value_StringValue
	n structpb.Value_NumberValue
}

// reset empties r for a line of a format with hint fields, keeping its
// memory (see Scratch).
func (r *record) reset(hint int) {
	*r = record{hint: hint, slots: r.slots[:0], fields: r.fields[:0], text: r.text[:0], keyed: r.keyed}
}

// keyedMap is an empty map for a keyed format's keys, room for about n:
// the one of the previous line, emptied (see Scratch), unless that grew
// large (clearing costs its size).
func (r *record) keyedMap(n int) map[string]*structpb.Value {
	if r.keyed == nil || len(r.keyed) > 256 {
		r.keyed = make(map[string]*structpb.Value, max(n, 8))
	} else {
		clear(r.keyed)
	}
	return r.keyed
}

// room empties r.text and makes room in it for n bytes.
func (r *record) room(n int) {
	if cap(r.text) < n {
		r.text = make([]byte, 0, n)
	}
	r.text = r.text[:0]
}

func (r *record) slot() *slot {
	if len(r.slots) == cap(r.slots) {
		// A new slab; the values of this line in the old one stay where
		// they are, and the next line reuses the new, larger one.
		r.slots = make([]slot, 0, max(2*cap(r.slots), r.hint, 8))
	}
	r.slots = r.slots[:len(r.slots)+1]
	return &r.slots[len(r.slots)-1]
}

// str is a string value of r's line.
func (r *record) str(s string) *structpb.Value {
	x := r.slot()
	x.s.StringValue = s
	x.v.Kind = &x.s
	return &x.v
}

// num is a number value of r's line.
func (r *record) num(f float64) *structpb.Value {
	x := r.slot()
	x.n.NumberValue = f
	x.v.Kind = &x.n
	return &x.v
}

func (r *record) set(k string, v *structpb.Value) {
	if r.fields == nil {
		r.fields = make([]event.Field, 0, max(r.hint+2, 8))
	}
	r.fields = append(r.fields, event.Field{Key: k, Value: v})
}

func (r *record) setString(k, v string) { r.set(k, r.str(v)) }

func (r *record) setNumber(k string, v float64) { r.set(k, r.num(v)) }

// mapKeyed turns the flat key/value pairs of a keyed format into r: the
// well-known keys become the message, level, service and time; the others
// are fields, those colliding with the event model moved under namespace.
func (p *Parser) mapKeyed(r *record, m map[string]*structpb.Value, namespace string, ref time.Time) {
	if k, v := first(m, p.keys.message); v != nil {
		if s, ok := v.Kind.(*structpb.Value_StringValue); ok {
			r.message = s.StringValue
			delete(m, k)
		}
	}
	if k, v := first(m, p.keys.level); v != nil {
		if l := p.keys.levelOf(v); l != "" {
			r.level = l
			delete(m, k)
		}
	}
	if k, v := first(m, p.keys.service); v != nil {
		if s, ok := v.Kind.(*structpb.Value_StringValue); ok && s.StringValue != "" {
			r.service = s.StringValue
			delete(m, k)
		}
	}
	if _, taken := m["host.hostname"]; !taken {
		if k, v := first(m, p.keys.host); v != nil {
			if _, ok := v.Kind.(*structpb.Value_StringValue); ok {
				m["host.hostname"] = v
				delete(m, k)
			}
		}
	}
	for _, k := range p.keys.time {
		if !r.time.IsZero() {
			break
		}
		if v, ok := m[k]; ok {
			if t, ok := p.times.value(v, ref); ok {
				r.time = t
				delete(m, k)
			}
		}
	}
	// The keys that collide with the model go last under namespace, so that
	// they win over a literal "namespace.key" of the line.
	if cap(r.fields)-len(r.fields) < len(m) {
		r.fields = append(make([]event.Field, 0, len(r.fields)+len(m)+2), r.fields...)
	}
	var buf [8]string
	moved := buf[:0]
	for k, v := range m {
		if owned(k) {
			moved = append(moved, k)
			continue
		}
		r.set(k, v)
	}
	for _, k := range moved {
		r.set(namespace+"."+k, m[k])
	}
}

func first(m map[string]*structpb.Value, keys []string) (string, *structpb.Value) {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return k, v
		}
	}
	return "", nil
}

// levelOf normalises a level value: strings to lower case, and the numeric
// levels of pino and bunyan (10 trace … 60 fatal) to their names.
func levelOf(v *structpb.Value) string {
	switch k := v.Kind.(type) {
	case *structpb.Value_StringValue:
		return strings.ToLower(strings.TrimSpace(k.StringValue))
	case *structpb.Value_NumberValue:
		switch k.NumberValue {
		case 10:
			return "trace"
		case 20:
			return "debug"
		case 30:
			return "info"
		case 40:
			return "warn"
		case 50:
			return "error"
		case 60:
			return "fatal"
		}
	}
	return ""
}

// The event model writes these fields itself (see internal/event): a parsed
// field at or under one of ownedTrees, or exactly at one of ownedParents
// (where the model writes an object), would clash with it in the document.
var (
	ownedTrees = map[string]bool{
		"@timestamp": true, "message": true, "tags": true, "labels": true,
		"data_stream": true, "hindsight": true, "event.id": true, "event.ingested": true,
		"log.level": true, "log.file": true, "log.offset": true,
		"host.name": true, "service.name": true,
	}
	ownedParents = map[string]bool{"event": true, "log": true, "host": true, "service": true}
)

// owned reports whether a parsed field named k would collide with the model.
// Case does not matter: JSON decoders of the document (encoding/json among
// them) match "Message" to message.
func owned(k string) bool {
	// Lower case into a stack buffer: this runs for every key of every keyed
	// line, and strings.ToLower allocated for every key with a capital.
	var buf [64]byte
	b := buf[:0]
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= utf8.RuneSelf { // Unicode lower case may map a rune to ASCII (K)
			return ownedLower([]byte(strings.ToLower(k)))
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return ownedLower(b)
}

func ownedLower(k []byte) bool {
	if ownedParents[string(k)] || ownedTrees[string(k)] {
		return true
	}
	for i, c := range k {
		if c == '.' && ownedTrees[string(k[:i])] {
			return true
		}
	}
	return false
}

// fieldName makes k a usable field name: OpenSearch rejects empty names and
// empty segments between dots, so each empty segment becomes "_".
func fieldName(k string) string {
	if k != "" && k[0] != '.' && k[len(k)-1] != '.' && !strings.Contains(k, "..") {
		return k
	}
	parts := strings.Split(k, ".")
	for i, s := range parts {
		if s == "" {
			parts[i] = "_"
		}
	}
	return strings.Join(parts, ".")
}
