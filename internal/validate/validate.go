// Package validate checks API messages against the constraints their protos
// declare, so that the OpenAPI document and the servers enforce the same rules
// from one source: the field options in proto/hindsight/*/v1.
//
// The constraints are the ones protoc-gen-openapiv2 writes into the OpenAPI
// document:
//
//   - (google.api.field_behavior) = REQUIRED: the field must be set (a
//     non-empty string or list, a non-zero number, a present message);
//   - (grpc.gateway.protoc_gen_openapiv2.options.openapiv2_field): pattern,
//     min_length and max_length (characters) and enum of strings; minimum
//     and maximum (exclusive or not) of numbers; min_items and max_items of
//     lists (unique_items of lists of scalars) and max_properties of maps.
//     On a list of scalars, pattern and lengths apply to every item (the
//     OpenAPI document has them on "items"). A pattern applies to a value's JSON
//     form, so it also bounds 64-bit integers (decimal strings) and
//     durations and times ("30s", RFC 3339).
//
// Violations name fields by their JSON (lowerCamel) path from the message's
// root, e.g. "member.healthCheck.path" or "lines[3].source", as REST and gRPC
// clients see them. The checks are read from the descriptors once per message
// type and cached.
package validate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2/options"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
)

// TimePattern is the form of a google.protobuf.Timestamp in JSON that the
// REST gateway accepts and the OpenAPI document states: RFC 3339 with an
// upper-case T and Z or an offset, at most nine fraction digits, in the
// years 1679 to 2261 (nanoseconds since 1970 fit 64 bits there: the indices
// keep times so, and refuse to search outside).
const TimePattern = `^(1679|16[89][0-9]|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`

// Check returns an InvalidArgument status naming every field of m that breaks
// a declared constraint, or nil.
func Check(m proto.Message) error {
	return Violations(m, "").Err()
}

// Violations lists the fields of m that break a declared constraint, with
// paths under prefix ("" for m's root).
func Violations(m proto.Message, prefix string) badrequest.Violations {
	var v badrequest.Violations
	if m != nil {
		check(m.ProtoReflect(), prefix, &v)
	}
	return v
}

// rule is what one field declares.
type rule struct {
	fd       protoreflect.FieldDescriptor
	required bool
	schema   *options.JSONSchema // nil: none declared
	pattern  *regexp.Regexp
}

var rules sync.Map // protoreflect.FullName of a message -> []rule

// rulesOf compiles the rules of md's fields (those with constraints, and
// message fields, which may hold some).
func rulesOf(md protoreflect.MessageDescriptor) []rule {
	if r, ok := rules.Load(md.FullName()); ok {
		return r.([]rule)
	}
	var out []rule
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		r := rule{fd: fd}
		opts := fd.Options()
		for _, b := range proto.GetExtension(opts, annotations.E_FieldBehavior).([]annotations.FieldBehavior) {
			if b == annotations.FieldBehavior_REQUIRED {
				r.required = true
			}
		}
		if s, ok := proto.GetExtension(opts, options.E_Openapiv2Field).(*options.JSONSchema); ok && s != nil {
			r.schema = s
			if s.GetPattern() != "" {
				// A pattern that does not compile is a bug in the proto;
				// fail loudly on first use rather than accept everything.
				r.pattern = regexp.MustCompile(s.GetPattern())
			}
		}
		if r.required || r.schema != nil || fd.Message() != nil {
			out = append(out, r)
		}
	}
	rules.Store(md.FullName(), out)
	return out
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func check(m protoreflect.Message, prefix string, v *badrequest.Violations) {
	for _, r := range rulesOf(m.Descriptor()) {
		fd := r.fd
		path := join(prefix, fd.JSONName())
		has := m.Has(fd)
		if r.required && !has {
			v.Add(path, "required")
			continue
		}
		if !has {
			continue
		}
		val := m.Get(fd)
		switch {
		case fd.IsList():
			l := val.List()
			r.count(path, "items", l.Len(), v)
			if r.schema.GetUniqueItems() && fd.Message() == nil {
				seen := map[any]bool{}
				for i := 0; i < l.Len(); i++ {
					if k := l.Get(i).Interface(); seen[k] {
						v.Add(fmt.Sprintf("%s[%d]", path, i), "listed twice: %v", k)
					} else {
						seen[k] = true
					}
				}
			}
			for i := 0; i < l.Len(); i++ {
				item := fmt.Sprintf("%s[%d]", path, i)
				if fd.Message() != nil {
					check(l.Get(i).Message(), item, v)
				} else {
					r.scalar(item, l.Get(i), v)
				}
			}
		case fd.IsMap():
			mp := val.Map()
			if s := r.schema; s != nil && s.GetMaxProperties() > 0 && uint64(mp.Len()) > s.GetMaxProperties() {
				v.Add(path, "at most %d entries; got %d", s.GetMaxProperties(), mp.Len())
			}
			if fd.MapValue().Message() != nil {
				mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					check(mv.Message(), path+"."+k.String(), v)
					return true
				})
			}
		case fd.Message() != nil && r.pattern != nil:
			// A well-known type written as a string (a Duration, a
			// Timestamp): the pattern applies to its JSON form.
			b, err := protojson.Marshal(val.Message().Interface())
			var str string
			if err == nil && json.Unmarshal(b, &str) == nil {
				r.match(path, str, v)
			}
		case fd.Message() != nil:
			check(val.Message(), path, v)
		default:
			r.scalar(path, val, v)
		}
	}
}

// match checks the pattern, if any, against a value's JSON string form.
func (r rule) match(path, str string, v *badrequest.Violations) {
	if r.pattern != nil && !r.pattern.MatchString(str) {
		v.Add(path, "must match %s; got %q", r.schema.GetPattern(), str)
	}
}

// count checks min_items/max_items.
func (r rule) count(path, what string, n int, v *badrequest.Violations) {
	s := r.schema
	if s == nil {
		return
	}
	if s.GetMinItems() > 0 && uint64(n) < s.GetMinItems() {
		v.Add(path, "at least %d %s; got %d", s.GetMinItems(), what, n)
	}
	if s.GetMaxItems() > 0 && uint64(n) > s.GetMaxItems() {
		v.Add(path, "at most %d %s; got %d", s.GetMaxItems(), what, n)
	}
}

func (r rule) scalar(path string, val protoreflect.Value, v *badrequest.Violations) {
	s := r.schema
	if s == nil {
		return
	}
	switch r.fd.Kind() {
	case protoreflect.StringKind:
		str := val.String()
		n := utf8.RuneCountInString(str)
		if s.GetMinLength() > 0 && uint64(n) < s.GetMinLength() {
			v.Add(path, "at least %d characters; got %d", s.GetMinLength(), n)
		} else if s.GetMaxLength() > 0 && uint64(n) > s.GetMaxLength() {
			v.Add(path, "at most %d characters; got %d", s.GetMaxLength(), n)
		} else if len(s.GetEnum()) > 0 && !slices.Contains(s.GetEnum(), str) {
			v.Add(path, "must be one of %q; got %q", s.GetEnum(), str)
		} else {
			r.match(path, str, v)
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		r.number(path, float64(val.Int()), fmt.Sprint(val.Int()), v)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		// 64-bit integers are strings in JSON: their bounds are patterns.
		r.number(path, float64(val.Int()), fmt.Sprint(val.Int()), v)
		r.match(path, fmt.Sprint(val.Int()), v)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		r.number(path, float64(val.Uint()), fmt.Sprint(val.Uint()), v)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		r.number(path, float64(val.Uint()), fmt.Sprint(val.Uint()), v)
		r.match(path, fmt.Sprint(val.Uint()), v)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		r.number(path, val.Float(), fmt.Sprint(val.Float()), v)
	}
}

// number checks minimum/maximum. A bound of 0 counts only when the schema
// also says the field is bounded that way (protobuf cannot tell 0 from
// unset), so a zero bound is expressed with exclusive_minimum or a pattern.
func (r rule) number(path string, x float64, shown string, v *badrequest.Violations) {
	s := r.schema
	if s.GetMinimum() != 0 || s.GetExclusiveMinimum() {
		if min := s.GetMinimum(); x < min || (s.GetExclusiveMinimum() && x == min) {
			v.Add(path, "must be %s %v; got %s", cmpWord(s.GetExclusiveMinimum(), "greater than", "at least"), min, shown)
		}
	}
	if s.GetMaximum() != 0 || s.GetExclusiveMaximum() {
		if max := s.GetMaximum(); x > max || (s.GetExclusiveMaximum() && x == max) {
			v.Add(path, "must be %s %v; got %s", cmpWord(s.GetExclusiveMaximum(), "less than", "at most"), max, shown)
		}
	}
}

func cmpWord(exclusive bool, strict, loose string) string {
	if exclusive {
		return strict
	}
	return loose
}
