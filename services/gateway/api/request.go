package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	"github.com/hindsight-dev/hindsight/internal/validate"
)

// errTooLarge is a body over Config.MaxBodyBytes: 413.
type errTooLarge struct{ limit int64 }

func (e errTooLarge) Error() string {
	return fmt.Sprintf("request body larger than %d bytes", e.limit)
}

// checkRequest reads and checks a request against its route before
// grpc-gateway transcodes it: the body (every message of a client stream),
// the query and the path, by their JSON shape and by the constraints the
// protos declare (internal/validate, the rules the OpenAPI document states).
// A refused request reaches no backend. On success r.Body holds the body
// again for grpc-gateway.
func (g *Gateway) checkRequest(rt route, vars map[string]string, r *http.Request) error {
	var body []byte
	if rt.body != "" {
		var err error
		body, err = io.ReadAll(r.Body)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge{mbe.Limit}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return err // BodyTimeout: 408
		}
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "reading the request body: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(rt.method.Input().FullName())
	if err != nil {
		return status.Errorf(codes.Internal, "no type for %s: %v", rt.method.Input().FullName(), err)
	}
	if rt.method.IsStreamingClient() {
		return checkStream(body, mt)
	}
	msg := mt.New().Interface()
	var v badrequest.Violations
	if rt.body != "" {
		v = append(v, decodeBody(body, rt, msg)...)
	}
	v = append(v, rt.populateQuery(r.URL.Query(), msg)...)
	for field, value := range vars {
		if err := runtime.PopulateFieldFromPath(msg, field, value); err != nil {
			v.Add(rt.paramName(field), "%v", err)
		}
	}
	if len(v) > 0 {
		return v.Err()
	}
	for _, f := range validate.Violations(msg, "") {
		v.Add(rt.clientPath(f.GetField()), "%s", f.GetDescription())
	}
	return v.Err()
}

// decodeBody checks body and decodes it into msg at the route's body field.
func decodeBody(body []byte, rt route, msg proto.Message) badrequest.Violations {
	target := msg.ProtoReflect()
	if rt.body != "*" {
		fd := target.Descriptor().Fields().ByName(protoreflect.Name(rt.body))
		target = target.Mutable(fd).Message()
	}
	if v := checkJSON(body, target.Descriptor(), ""); len(v) > 0 {
		return v
	}
	if err := protojson.Unmarshal(body, target.Interface()); err != nil {
		var v badrequest.Violations
		v.Add("", "%v", err)
		return v
	}
	return nil
}

// checkStream checks every message of a client stream's body (JSON values
// one after another, e.g. one per line) before any is sent: a stream that
// would be refused half-way is refused whole, and ingests nothing.
func checkStream(body []byte, mt protoreflect.MessageType) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v badrequest.Violations
	n := 0
	for ; ; n++ {
		start := dec.InputOffset()
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		where := fmt.Sprintf("message %d (line %d)", n+1, 1+bytes.Count(body[:start], []byte("\n"))+leadingNewlines(body[start:]))
		if err != nil {
			path, desc := syntaxError(body[start:], err)
			v.Add(path, "%s: %s", where, desc)
			break
		}
		shape := checkJSON(raw, mt.Descriptor(), "")
		if len(shape) == 0 {
			m := mt.New().Interface()
			if err := protojson.Unmarshal(raw, m); err != nil {
				shape.Add("", "%v", err)
			} else {
				shape = validate.Violations(m, "")
			}
		}
		for _, f := range shape {
			v.Add(f.GetField(), "%s: %s", where, f.GetDescription())
		}
		if len(v) > 0 {
			break
		}
	}
	if len(v) == 0 && n == 0 {
		v.Add("", "request body required: one or more JSON messages")
	}
	return v.Err()
}

func leadingNewlines(b []byte) int {
	n := 0
	for _, c := range b {
		switch c {
		case '\n':
			n++
		case ' ', '\t', '\r':
		default:
			return n
		}
	}
	return n
}

// populateQuery sets the query parameters on msg, refusing unknown names,
// repeated values of singular fields and values that do not parse.
func (rt route) populateQuery(q url.Values, msg proto.Message) badrequest.Violations {
	var v badrequest.Violations
	for key, vals := range q {
		fd, ok := fieldAt(msg.ProtoReflect().Descriptor(), key)
		switch {
		case !ok || fd.Message() != nil && !wkt(fd.Message()) || fd.IsMap():
			v.Add(key, "unknown query parameter")
			continue
		case rt.body == "*" || rt.body != "" && strings.HasPrefix(key+".", rt.bodyJSON()+"."):
			v.Add(key, "belongs in the request body")
			continue
		case !fd.IsList() && len(vals) > 1:
			v.Add(key, "given %d times; one value expected", len(vals))
			continue
		}
		for _, val := range vals {
			if err := queryValue(fd, val); err != "" {
				v.Add(key, "%s", err)
			} else if err := runtime.PopulateFieldFromPath(msg, key, val); err != nil {
				v.Add(key, "%v", err)
			}
		}
	}
	return v
}

// queryValue checks one query value the way the body's JSON is checked:
// enums by name, booleans as true or false, numbers in range.
func queryValue(fd protoreflect.FieldDescriptor, val string) string {
	var err error
	switch fd.Kind() {
	case protoreflect.EnumKind:
		if fd.Enum().Values().ByName(protoreflect.Name(val)) == nil {
			return fmt.Sprintf("must be one of %s; got %q", enumNames(fd.Enum()), val)
		}
	case protoreflect.BoolKind:
		if val != "true" && val != "false" {
			return fmt.Sprintf("must be true or false; got %q", val)
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		_, err = strconv.ParseInt(val, 10, 32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		_, err = strconv.ParseInt(val, 10, 64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, err = strconv.ParseUint(val, 10, 32)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		_, err = strconv.ParseUint(val, 10, 64)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		_, err = strconv.ParseFloat(val, 64)
	case protoreflect.MessageKind:
		var v badrequest.Violations
		q, _ := json.Marshal(val)
		shapeWKT(q, fd.Message(), "", &v)
		if len(v) > 0 {
			return v[0].GetDescription()
		}
	}
	if err != nil {
		return fmt.Sprintf("must be an integer of the field's range; got %q", val)
	}
	return ""
}

// fieldAt resolves a dotted path of JSON names from md.
func fieldAt(md protoreflect.MessageDescriptor, path string) (protoreflect.FieldDescriptor, bool) {
	var fd protoreflect.FieldDescriptor
	for i, name := range strings.Split(path, ".") {
		if i > 0 {
			if fd.Message() == nil || fd.IsList() || fd.IsMap() {
				return nil, false
			}
			md = fd.Message()
		}
		if fd = md.Fields().ByJSONName(name); fd == nil {
			return nil, false
		}
	}
	return fd, fd != nil
}

// bodyJSON is the JSON name of the body field ("" for "*").
func (rt route) bodyJSON() string {
	if rt.body == "" || rt.body == "*" {
		return ""
	}
	return rt.method.Input().Fields().ByName(protoreflect.Name(rt.body)).JSONName()
}

// paramName is the name a path variable has in the OpenAPI document: the
// last segment of its field path ("dataset.name" is {name}).
func (rt route) paramName(field string) string {
	return field[strings.LastIndex(field, ".")+1:]
}

// clientPath turns a field path from the request's root, in proto or JSON
// names ("replay.max_events", "dataset.name"), into the path the REST client
// wrote: JSON names, relative to the body when the body is one field
// ("maxEvents"), and the parameter's name for a path variable ("name").
func (rt route) clientPath(path string) string {
	md := rt.method.Input()
	segs := strings.Split(path, ".")
	for i, s := range segs {
		name, index, _ := strings.Cut(s, "[")
		if md == nil {
			break
		}
		fields := md.Fields()
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil {
			fd = fields.ByJSONName(name)
		}
		if fd == nil {
			break
		}
		segs[i] = fd.JSONName()
		if index != "" {
			segs[i] += "[" + index
		}
		md = fd.Message()
		if fd.IsMap() {
			md = fd.MapValue().Message()
		}
	}
	joined := strings.Join(segs, ".")
	for field := range rt.pathVars() {
		if jp := rt.jsonPath(field); joined == jp {
			return rt.paramName(field)
		}
	}
	if b := rt.bodyJSON(); b != "" {
		if rest, ok := strings.CutPrefix(joined, b+"."); ok {
			return rest
		}
		if joined == b {
			return ""
		}
	}
	return joined
}

// pathVars are the field paths bound by the route's template.
func (rt route) pathVars() map[string]bool {
	vars := map[string]bool{}
	for _, s := range rt.segs {
		if v, ok := strings.CutPrefix(s, "{"); ok {
			vars[strings.TrimSuffix(v, "}")] = true
		}
	}
	return vars
}

// jsonPath spells a proto field path in JSON names.
func (rt route) jsonPath(field string) string {
	md := rt.method.Input()
	segs := strings.Split(field, ".")
	for i, s := range segs {
		if md == nil {
			break
		}
		fd := md.Fields().ByName(protoreflect.Name(s))
		if fd == nil {
			break
		}
		segs[i] = fd.JSONName()
		md = fd.Message()
	}
	return strings.Join(segs, ".")
}

// clientErr rewrites the field paths of a backend's BadRequest details (and
// of its message) into the paths the REST client wrote.
func (rt route) clientErr(st *status.Status) *status.Status {
	if st.Code() != codes.InvalidArgument {
		return st
	}
	var v badrequest.Violations
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, f := range br.GetFieldViolations() {
			v.Add(rt.clientPath(f.GetField()), "%s", f.GetDescription())
		}
	}
	if len(v) == 0 {
		// No details: say so in the one place a client looks.
		v.Add("", "%s", st.Message())
	}
	return status.Convert(v.Err())
}
