package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	"github.com/hindsight-dev/hindsight/internal/validate"
)

// The REST API accepts JSON exactly as its OpenAPI document describes it,
// which is protojson's output format: lowerCamel field names, 64-bit integers
// as strings, enums by name, times and durations as strings. protojson's
// parser is more lenient (proto names, numbers for enums and 64-bit integers,
// strings for 32-bit ones, null for anything) and its errors name a byte
// offset, not a field; so each body is first checked here, value by value,
// against the message it becomes, and every mismatch is reported with the
// JSON path the client wrote ("source.kind", "lines[2].line").

// checkJSON reports how body (one JSON value) does not fit md. Paths start at
// prefix.
func checkJSON(body []byte, md protoreflect.MessageDescriptor, prefix string) badrequest.Violations {
	var v badrequest.Violations
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		path, desc := syntaxError(body, err)
		v.Add(join(prefix, path), "%s", desc)
		return v
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		v.Add(prefix, "one JSON value expected; more follows at byte %d", dec.InputOffset())
		return v
	}
	shapeMessage(raw, md, prefix, &v)
	return v
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	if strings.HasPrefix(name, "[") {
		return prefix + name
	}
	return prefix + "." + name
}

// syntaxError says where in body decoding failed: the JSON path being read
// and a description with the byte offset.
func syntaxError(body []byte, err error) (string, string) {
	offset := int64(len(body))
	var se *json.SyntaxError
	if errors.As(err, &se) {
		offset = se.Offset
	}
	if errors.Is(err, io.EOF) {
		return "", "request body required: a JSON object"
	}
	// Replay the tokens up to the error, keeping the path of the value read.
	type level struct {
		array bool
		key   string
		index int
	}
	var stack []level
	path := func() string {
		var b strings.Builder
		for _, l := range stack {
			if l.array {
				fmt.Fprintf(&b, "[%d]", l.index)
			} else if l.key != "" {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(l.key)
			}
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	expectKey := false
	for {
		tok, terr := dec.Token()
		if terr != nil {
			break
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, level{})
				expectKey = true
			case '[':
				stack = append(stack, level{array: true, index: -1})
			default:
				stack = stack[:top]
				expectKey = len(stack) > 0 && !stack[len(stack)-1].array
			}
		default:
			if top >= 0 && !stack[top].array && expectKey {
				stack[top].key, _ = t.(string)
				expectKey = false
				continue
			}
			expectKey = top >= 0 && !stack[top].array
		}
		if top := len(stack) - 1; top >= 0 && stack[top].array {
			stack[top].index++
		}
	}
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of JSON input"
	}
	return path(), fmt.Sprintf("invalid JSON at byte %d: %s", offset, strings.TrimPrefix(msg, "json: "))
}

// kindOf names a raw JSON value's type.
func kindOf(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// members splits a raw JSON object or array (already known to be valid).
func members(raw json.RawMessage) (keys []string, vals []json.RawMessage) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	open, _ := dec.Token()
	object := open == json.Delim('{')
	for dec.More() {
		if object {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
		}
		var v json.RawMessage
		_ = dec.Decode(&v)
		vals = append(vals, v)
	}
	return keys, vals
}

func shapeMessage(raw json.RawMessage, md protoreflect.MessageDescriptor, path string, v *badrequest.Violations) {
	if wkt(md) {
		shapeWKT(raw, md, path, v)
		return
	}
	if !opens(raw, '{', "an object", path, v) {
		return
	}
	keys, vals := members(raw)
	fields := md.Fields()
	seen := map[string]bool{}
	oneofs := map[protoreflect.FullName]string{}
	for i, k := range keys {
		p := join(path, k)
		fd := fields.ByJSONName(k)
		if fd == nil {
			if alt := fields.ByName(protoreflect.Name(k)); alt != nil && alt.JSONName() != k {
				v.Add(p, "unknown field; did you mean %q?", alt.JSONName())
			} else {
				v.Add(p, "unknown field")
			}
			continue
		}
		if seen[k] {
			v.Add(p, "given twice")
			continue
		}
		seen[k] = true
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			if other, ok := oneofs[o.FullName()]; ok {
				v.Add(p, "only one of %s and %s may be set", join(path, other), p)
				continue
			}
			oneofs[o.FullName()] = k
		}
		shapeField(vals[i], fd, p, v)
	}
}

func shapeField(raw json.RawMessage, fd protoreflect.FieldDescriptor, path string, v *badrequest.Violations) {
	switch {
	case fd.IsMap():
		if !opens(raw, '{', "an object", path, v) {
			return
		}
		keys, vals := members(raw)
		for i, k := range keys {
			p := join(path, k)
			if fd.MapKey().Kind() != protoreflect.StringKind {
				if _, err := strconv.ParseInt(k, 10, 64); err != nil {
					v.Add(p, "map key must be an integer")
					continue
				}
			}
			shapeSingle(vals[i], fd.MapValue(), p, v)
		}
	case fd.IsList():
		if !opens(raw, '[', "an array", path, v) {
			return
		}
		_, vals := members(raw)
		for i, e := range vals {
			shapeSingle(e, fd, fmt.Sprintf("%s[%d]", path, i), v)
		}
	default:
		shapeSingle(raw, fd, path, v)
	}
}

// shapeSingle checks one value of fd's type (a list element, a map value or
// a singular field).
func shapeSingle(raw json.RawMessage, fd protoreflect.FieldDescriptor, path string, v *badrequest.Violations) {
	if raw[0] == 'n' && (fd.Message() == nil || fd.Message().FullName() != "google.protobuf.Value") {
		v.Add(path, "must not be null; leave the field out instead")
		return
	}
	want := func(kind string, ok bool) bool {
		if !ok {
			v.Add(path, "must be %s; got %s", kind, kindOf(raw))
		}
		return ok
	}
	str := func() string {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		shapeMessage(raw, fd.Message(), path, v)
	case protoreflect.StringKind:
		want("a string", raw[0] == '"')
	case protoreflect.BytesKind:
		if want("a base64 string", raw[0] == '"') {
			if _, err := decodeBase64(str()); err != nil {
				v.Add(path, "must be base64 (RFC 4648, standard or URL alphabet): %v", err)
			}
		}
	case protoreflect.BoolKind:
		want("true or false", raw[0] == 't' || raw[0] == 'f')
	case protoreflect.EnumKind:
		if want("a string (one of the enum's names)", raw[0] == '"') {
			if fd.Enum().Values().ByName(protoreflect.Name(str())) == nil {
				v.Add(path, "must be one of %s; got %q", enumNames(fd.Enum()), str())
			}
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if want("a string holding an integer (64-bit integers are strings in JSON)", raw[0] == '"') {
			if _, err := strconv.ParseInt(str(), 10, 64); err != nil || !canonicalInt(str()) {
				v.Add(path, "must be a 64-bit integer in a string; got %q", str())
			}
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if want("a string holding an integer (64-bit integers are strings in JSON)", raw[0] == '"') {
			if _, err := strconv.ParseUint(str(), 10, 64); err != nil || !canonicalInt(str()) {
				v.Add(path, "must be an unsigned 64-bit integer in a string; got %q", str())
			}
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if want("an integer", raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
			if _, err := strconv.ParseInt(string(raw), 10, 32); err != nil {
				v.Add(path, "must be a 32-bit integer; got %s", raw)
			}
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if want("an integer", raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
			if _, err := strconv.ParseUint(string(raw), 10, 32); err != nil {
				v.Add(path, "must be an unsigned 32-bit integer; got %s", raw)
			}
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if want("a number", raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
			if f, err := strconv.ParseFloat(string(raw), 64); err != nil || (fd.Kind() == protoreflect.FloatKind && math.Abs(f) > math.MaxFloat32) {
				v.Add(path, "must be a number in range; got %s", raw)
			}
		}
	}
}

var timeRE = regexp.MustCompile(validate.TimePattern)

// canonicalInt says whether s is an integer as protojson writes and reads
// it: no sign but '-', no leading zeros.
func canonicalInt(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && s[0] != '+' && (s == "0" || s[0] != '0')
}

// wkt says whether md is a well-known type with its own JSON form.
func wkt(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

// shapeWKT checks a well-known type's value by parsing it with protojson.
func shapeWKT(raw json.RawMessage, md protoreflect.MessageDescriptor, path string, v *badrequest.Violations) {
	var what string
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		what = `an RFC 3339 time in a string, e.g. "2026-01-02T15:04:05Z"`
	case "google.protobuf.Duration":
		what = `a duration in seconds in a string, e.g. "30s" or "1.5s"`
	case "google.protobuf.FieldMask":
		what = `a comma-separated list of field paths in a string, e.g. "description,topic.partitions"`
	}
	if what != "" && raw[0] != '"' {
		v.Add(path, "must be %s; got %s", what, kindOf(raw))
		return
	}
	if md.FullName() == "google.protobuf.Timestamp" {
		var str string
		if json.Unmarshal(raw, &str) != nil || !timeRE.MatchString(str) {
			v.Add(path, "must be %s, in the years 1679 to 2261; got %s", what, raw)
			return
		}
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil {
		return
	}
	if err := protojson.Unmarshal(raw, mt.New().Interface()); err != nil {
		if what == "" {
			what = "a valid " + string(md.Name())
		}
		v.Add(path, "must be %s; got %s", what, raw)
	}
}

func enumNames(ed protoreflect.EnumDescriptor) string {
	vals := ed.Values()
	names := make([]string, vals.Len())
	for i := range names {
		names[i] = string(vals.Get(i).Name())
	}
	return strings.Join(names, ", ")
}

// decodeBase64 accepts what protojson accepts: standard or URL alphabet,
// with or without padding.
func decodeBase64(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.DecodeString(s)
}

// opens reports whether raw starts with open (a JSON object or array); if
// not, the violation at path says it must be what.
func opens(raw json.RawMessage, open byte, what, path string, v *badrequest.Violations) bool {
	if raw[0] == open {
		return true
	}
	v.Add(path, "must be %s; got %s", what, kindOf(raw))
	return false
}
